"""The dynamics model of Genie (§2.2, "Dynamics Model"): a MaskGIT transformer over video tokens.

    input:  tokens z_1..z_T (B, T, N), each masked with probability r ~ U(0.5, 1) per clip (7.10); latent actions
            a_1..a_{T-1} (B, T-1, D), stop-gradient, a_t added to every token of frame t+1 (7.11)
    output: logits (B, T, N, V) through a causal STTransformer: frame t is predicted from z_1..z_{t-1}, a_1..a_{t-1}
            and the unmasked tokens of frame t
    loss:   cross-entropy on the masked tokens only (7.12)
    sample: MaskGIT (Chang et al. 2022): start from a fully masked frame, keep the most confident sampled tokens,
            re-mask the rest on a cosine schedule (7.13), until no token is masked (7.14); §3: 25 steps, temperature 2
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .st_transformer import STTransformer


def bernoulli_mask(batch: int, frames: int, tokens: int, mask_min: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, T, N) bool, True = masked: per clip a rate r ~ U(mask_min, 1), each token masked with probability r;
    the first frame (the prompt) is never masked."""
    # TODO(7.10): one rate per clip drawn uniformly in the interval from mask_min to 1, then an independent Bernoulli
    # draw per token; frame 1 stays visible. Draw with the generator (see IMPLEMENTATION_GUIDE.md §7.10).
    raise NotImplementedError("TODO(7.10): one rate per clip drawn uniformly in the interval from...")


def masked_token_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy, accuracy), scalars, over the masked tokens only; both 0 when nothing is masked.

    logits (B, T, N, V), targets (B, T, N) long (the true tokens), mask (B, T, N) bool."""
    # TODO(7.12): the mean cross-entropy of the true token at the masked positions, and the share of those positions
    # where the most likely token is the true one (see IMPLEMENTATION_GUIDE.md §7.12).
    raise NotImplementedError("TODO(7.12): the mean cross-entropy of the true token at the masked...")


def masked_after(step: int, steps: int, n: int) -> int:
    """How many of the frame's n tokens are still masked after MaskGIT step `step` (0-based) of `steps`."""
    # TODO(7.13): the cosine schedule: n times cos(pi/2 times the fraction of steps done), rounded down; none is
    # left after the last step (see IMPLEMENTATION_GUIDE.md §7.13). Out: a Python int.
    raise NotImplementedError("TODO(7.13): the cosine schedule: n times cos(pi/2 times the fraction of...")


class DynamicsModel(nn.Module):
    """Token and mask embeddings, an action projection, a causal STTransformer, a head over the V codes."""

    def __init__(self, vocab: int, tokens: int, embed: int, heads: int, layers: int, action_dim: int,
                 frames: int) -> None:
        super().__init__()
        self.vocab, self.mask_id = vocab, vocab  # the extra id `vocab` is the mask token
        self.token_embed = nn.Embedding(vocab + 1, embed)
        self.action_in = nn.Linear(action_dim, embed)
        self.transformer = STTransformer(embed, heads, layers, tokens, frames)
        self.head = nn.Linear(embed, vocab)

    def forward(self, tokens: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """tokens (B, T, N) long, actions (B, T-1, D), mask (B, T, N) bool -> logits (B, T, N, V)."""
        # TODO(7.11): embed the tokens with the masked ones replaced by the mask id (leave the caller's tokens as they
        # are); add the projected, stop-gradient action t to every token of frame t+1 (frame 1 gets none); then the
        # transformer and the head (see IMPLEMENTATION_GUIDE.md §7.11).
        raise NotImplementedError("TODO(7.11): embed the tokens with the masked ones replaced by the...")

    def loss(self, tokens: torch.Tensor, actions: torch.Tensor, mask_min: float,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """tokens (B, T, N), actions (B, T-1, D) -> {"loss", "accuracy", "copy_accuracy"} on a random mask."""
        mask = bernoulli_mask(*tokens.shape, mask_min, generator).to(tokens.device)
        loss, acc = masked_token_loss(self(tokens, actions, mask), tokens, mask)
        copy = (tokens[:, 1:] == tokens[:, :-1])[mask[:, 1:]].float().mean()  # the previous frame's token, copied
        return {"loss": loss, "accuracy": acc, "copy_accuracy": copy}


@torch.no_grad()
def maskgit_generate(model: nn.Module, tokens: torch.Tensor, actions: torch.Tensor, steps: int, temperature: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """The next frame's tokens (B, N) by MaskGIT decoding.

    model(tokens, actions, mask) -> logits, with model.mask_id; tokens (B, t, N) the frames so far; actions
    (B, t, D) the actions so far, the last one the action to take now. temperature <= 0 takes the most likely token."""
    # TODO(7.14): start with every token of the new frame masked; at each step sample the masked tokens from the
    # tempered logits, keep the sampled ones, then re-mask the least confident of the newly sampled ones so that the
    # schedule's count stay masked; tokens once kept never change (see IMPLEMENTATION_GUIDE.md §7.14).
    raise NotImplementedError("TODO(7.14): start with every token of the new frame masked; at each step...")
