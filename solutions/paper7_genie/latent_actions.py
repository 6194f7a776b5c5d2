"""The latent action model (LAM) of Genie (§2.2, "Latent Action Model"): actions learned from video alone.

    encoder: frames x_1..x_T (pixels, P x P patches) -> causal STTransformer -> a_t (B, T-1, D) for t = 1..T-1,
             a_t read at frame t+1, where the causal encoder has seen x_1..x_{t+1}          (7.7)
    quantise: a_t -> the nearest of |A| codes (|A| = 8 in the paper): the latent action
    decoder: x_1..x_t and the codes a_1..a_t only -> x_hat_{t+1}; causal, it never sees x_{t+1}   (7.8)
    actions: standardised over the batch, on the unit sphere; |A| fixed orthonormal codes (guide: collapse)
    loss = sum over a frame's pixels of (x_{t+1} - x_hat_{t+1})^2 + VQ loss + information * (log|A| - I)   (7.9)

The only way information about x_{t+1} reaches the decoder is through a code of log2(8) = 3 bits, so the codes
must describe what changed between frames that the past cannot predict: in a game, mostly what the player did.
After training only the codebook is kept: a user picks one of the |A| codes, and the dynamics model does the rest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .st_transformer import STTransformer
from .tokenizer import VectorQuantizer, patchify, unpatchify


def action_information_loss(a: torch.Tensor, codebook: torch.Tensor, temperature: float) -> torch.Tensor:
    """log|A| - I, a scalar in [0, log|A|], with I = H(p_bar) - mean_m H(p_m) the mutual information between the
    batch's actions and their codes: 0 when every action is sure of its code and the batch uses all codes evenly;
    log|A| when the codes tell nothing (all actions on one code, or every action as near to all codes).

    a (..., D) continuous actions, codebook (A, D). p_m = softmax(-||a_m - e||^2 / temperature) over the codes for
    action m; p_bar their mean over all the actions of the batch; H the entropy (natural log)."""
    # TODO(7.9): soft assignments of every action to the codes; the entropy of their average over the whole batch minus
    # the average of their own entropies is I; return log|A| minus I (see IMPLEMENTATION_GUIDE.md §7.9).
    # Out: a scalar with gradients into a.
    # BEGIN SOLUTION
    flat = a.reshape(-1, a.shape[-1])  # (M, D)
    dist = (flat[:, None, :] - codebook[None]).pow(2).sum(-1)  # (M, A)
    p = (-dist / temperature).softmax(-1)  # (M, A): each action's soft code
    entropy = lambda q: -(q * q.clamp_min(1e-12).log()).sum(-1)  # noqa: E731
    information = entropy(p.mean(0)) - entropy(p).mean()  # H(p_bar) - mean H(p_m)
    return math.log(len(codebook)) - information
    # END SOLUTION


class LatentActionModel(nn.Module):
    """Encoder (frames -> continuous actions), a VQ of |A| codes, decoder (past frames + codes -> next frame)."""

    def __init__(self, size: int, channels: int, patch: int, embed: int, heads: int, layers: int, actions: int,
                 action_dim: int, frames: int, beta: float, temperature: float = 1.0) -> None:
        super().__init__()
        if size % patch:
            raise ValueError(f"the frame side {size} must be a multiple of the LAM patch side {patch}")
        self.size, self.patch, self.actions, self.temperature = size, patch, actions, temperature
        tokens, pixels = (size // patch) ** 2, patch * patch * channels
        self.enc_in, self.to_action = nn.Linear(pixels, embed), nn.Linear(embed, action_dim)
        self.encoder = STTransformer(embed, heads, layers, tokens, frames)
        self.action_norm = nn.BatchNorm1d(action_dim, affine=False)  # centred over the batch: no shared direction
        self.vq = VectorQuantizer(actions, action_dim, beta, normalize=True, fixed=True)  # |A| orthonormal codes
        self.dec_in, self.action_in = nn.Linear(pixels, embed), nn.Linear(action_dim, embed)
        self.decoder = STTransformer(embed, heads, layers, tokens, frames)
        self.dec_out = nn.Linear(embed, pixels)

    def pixels(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, H, W, C) uint8 -> patches (B, T, N, P*P*C) in [-1, 1]."""
        return patchify(frames.float() / 255.0, self.patch) * 2 - 1

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, H, W, C) -> continuous actions (B, T-1, D); action t explains the step frame t -> t+1."""
        # TODO(7.7): run the causal encoder on the patches of all T frames; action t is the mean over the patches of
        # the output at frame t+1 (the first output that has seen frame t+1), projected to D numbers
        # (see IMPLEMENTATION_GUIDE.md §7.7).
        # BEGIN SOLUTION
        h = self.encoder(self.enc_in(self.pixels(frames)))  # (B, T, N, E)
        return self.to_action(h[:, 1:].mean(2))  # (B, T-1, D)
        # END SOLUTION

    def decode(self, frames: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """frames (B, T, H, W, C), quantised actions (B, T-1, D) -> predictions of frames 2..T (B, T-1, H, W, C)."""
        # TODO(7.8): the causal decoder reads frames 1..T-1 only, with action t added to every patch of frame t; its
        # output at frame t, mapped back to pixels in about [0, 1], predicts frame t+1
        # (see IMPLEMENTATION_GUIDE.md §7.8).
        # BEGIN SOLUTION
        x = self.dec_in(self.pixels(frames[:, :-1])) + self.action_in(actions)[:, :, None]  # (B, T-1, N, E)
        out = self.dec_out(self.decoder(x)) * 0.5 + 0.5  # (B, T-1, N, P*P*C)
        return unpatchify(out, self.patch, self.size, self.size)
        # END SOLUTION

    def sphere(self, a: torch.Tensor) -> torch.Tensor:
        """continuous actions (B, T-1, D) -> the same, standardised over the batch (running statistics in eval mode)
        and put on the unit sphere, where the fixed codes are."""
        return F.normalize(self.action_norm(a.reshape(-1, a.shape[-1])).view_as(a), dim=-1)

    def loss(self, frames: torch.Tensor, information: float) -> dict[str, torch.Tensor]:
        """frames (B, T, H, W, C) uint8 -> {"loss", "recon", "vq", "information", "codes" (B, T-1)}."""
        a = self.sphere(self.encode(frames))  # (B, T-1, D) on the unit sphere, as the codes
        a_q, codes, vq = self.vq(a)
        err = (self.decode(frames, a_q) - frames[:, 1:].float() / 255.0).pow(2)  # (B, T-1, H, W, C)
        recon = err.flatten(2).sum(-1).mean()  # summed over a frame's pixels: it must outweigh the other terms
        info = action_information_loss(a, self.vq.codes(), self.temperature)
        return {"loss": recon + vq + information * info, "recon": recon, "vq": vq, "information": info,
                "codes": codes}

    @torch.no_grad()
    def calibrate(self, batches: Iterable[torch.Tensor]) -> None:
        """Re-estimate the standardisation's running statistics for the encoder as it is now, from batches of frames
        (B, T, H, W, C). Call it once the LAM is trained, before anything infers codes in eval mode. The loss cannot see
        the actions' mean and scale (the standardisation removes them), so they drift freely while the LAM trains and
        the running averages lag behind; stale ones push every action towards one code (guide: collapse)."""
        norm, was_training = self.action_norm, self.training
        norm.reset_running_stats()
        momentum, norm.momentum = norm.momentum, None  # None: a plain average over the batches
        self.eval()
        norm.train()  # only the standardisation updates its statistics
        for frames in batches:
            norm(self.encode(frames).reshape(-1, norm.num_features))
        norm.momentum = momentum
        self.train(was_training)

    @torch.no_grad()
    def infer(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, H, W, C) -> latent action codes (B, T-1) long, in 0..|A|-1."""
        return self.vq(self.sphere(self.encode(frames)))[1]

    def vectors(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (...) long -> the codebook vectors (..., D) the dynamics model reads."""
        return self.vq.codes()[codes]
