"""The world model of IRIS (§2.2): a GPT over frame tokens and actions, 17 tokens per time step.

    sequence  o_0^1 .. o_0^16  a_0   o_1^1 .. o_1^16  a_1   ...        (T blocks of K + 1 = 17 tokens)
    position  0   ..   15      16    17   ..   32     33

Every position predicts what comes next, with three heads read at different positions of a block:
    observation head: at o_t^k (k < 16) the next token o_t^{k+1}; at a_t the first token of the next frame o_{t+1}^1
    reward head:      at a_t, the class sign(r_t) + 1 in {0, 1, 2}
    end head:         at a_t, whether the episode ended after a_t
The loss is the sum of the three cross-entropies (Appendix A). Tokens are long tensors; actions are ints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .transformer import GPT, Cache, cache_length

IGNORE = -100  # target of a position that predicts nothing (cross_entropy's ignore_index)


def head(embed: int, out: int) -> nn.Sequential:
    """The authors' heads: Linear -> ReLU -> Linear."""
    return nn.Sequential(nn.Linear(embed, embed), nn.ReLU(), nn.Linear(embed, out))


class WorldModel(nn.Module):
    def __init__(self, vocab: int, actions: int, tokens: int, max_blocks: int, embed: int, layers: int,
                 heads: int, dropout: float) -> None:
        super().__init__()
        self.vocab, self.actions, self.K, self.max_blocks = vocab, actions, tokens, max_blocks
        self.block = tokens + 1  # 17 positions per time step
        self.obs_embed = nn.Embedding(vocab, embed)
        self.act_embed = nn.Embedding(actions, embed)
        self.pos_embed = nn.Embedding(max_blocks * self.block, embed)
        self.drop = nn.Dropout(dropout)
        self.gpt = GPT(embed, layers, heads, dropout)
        self.obs_head, self.reward_head, self.end_head = head(embed, vocab), head(embed, 3), head(embed, 2)

    @property
    def max_tokens(self) -> int:
        return self.max_blocks * self.block

    def embed(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        """ids (B, L) long: the tokens at positions start .. start + L - 1 of the sequence -> (B, L, E).

        Whether an id is a frame token or an action follows from its position alone (the last of each 17)."""
        # TODO(5.8): look each id up in the table its position calls for, add the position's embedding.
        # See IMPLEMENTATION_GUIDE.md §5.8.
        # BEGIN SOLUTION
        pos = torch.arange(start, start + ids.shape[1], device=ids.device)  # (L,)
        is_action = (pos % self.block == self.K)[None, :, None]  # (1, L, 1)
        obs = self.obs_embed(ids.clamp(0, self.vocab - 1))
        act = self.act_embed(ids.clamp(0, self.actions - 1))
        return torch.where(is_action, act, obs) + self.pos_embed(pos)
        # END SOLUTION

    def forward(self, ids: torch.Tensor, cache: Cache | None = None) -> tuple[dict[str, torch.Tensor], Cache]:
        """ids (B, L) continue the sequence held in `cache` (None: from position 0).

        Returns {"obs": (B, L, vocab), "reward": (B, L, 3), "end": (B, L, 2)} logits at every position (a
        caller reads each head where it means something) and the extended cache."""
        start = cache_length(cache)
        if start + ids.shape[1] > self.max_tokens:
            raise ValueError(f"the world model sees at most {self.max_tokens} tokens ({self.max_blocks} blocks); "
                             f"got {start} cached + {ids.shape[1]} new")
        x, cache = self.gpt(self.drop(self.embed(ids, start)), cache)
        return {"obs": self.obs_head(x), "reward": self.reward_head(x), "end": self.end_head(x)}, cache


def interleave(tokens: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """tokens (B, T, K), actions (B, T) long -> the sequence (B, T * (K + 1)): each frame, then its action."""
    return torch.cat([tokens, actions[..., None]], -1).flatten(1)


def targets(tokens: torch.Tensor, rewards: torch.Tensor, ends: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What each position of T blocks must predict.

    tokens (B, T + 1, K): the frames of the T steps and the frame after the last; rewards, ends (B, T).
    Returns obs targets (B, T, K + 1) long (IGNORE where a position predicts no frame token),
    reward classes (B, T) long in {0, 1, 2} and end targets (B, T) long in {0, 1}, for the action positions."""
    # TODO(5.9): line up each position with the token that follows it; reward classes from the sign.
    # See IMPLEMENTATION_GUIDE.md §5.9.
    # BEGIN SOLUTION
    B, T1, K = tokens.shape
    obs = torch.full((B, T1 - 1, K + 1), IGNORE, dtype=torch.long, device=tokens.device)
    obs[:, :, :K - 1] = tokens[:, :-1, 1:]  # o_t^k predicts o_t^{k+1}
    obs[:, :, K] = tokens[:, 1:, 0]  # a_t predicts o_{t+1}^1; o_t^K (before the action) predicts nothing
    return obs, (torch.sign(rewards) + 1).long(), ends.long()
    # END SOLUTION


def world_model_loss(model: WorldModel, tokens: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                     ends: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    """The world model's loss on T steps: tokens (B, T + 1, K), actions (B, T) long, rewards, ends (B, T),
    mask (B, T) 1 where step t is real (a chunk that runs into the next episode is 0 from there on).

    Returns {"loss", "obs", "reward", "end"}: three cross-entropies, each a mean over the unmasked targets."""
    B, T = actions.shape
    out, _ = model(interleave(tokens[:, :-1], actions))
    obs_t, reward_t, end_t = targets(tokens, rewards, ends)
    # TODO(5.10): read each head at its positions, drop the masked steps, three cross-entropies.
    # See IMPLEMENTATION_GUIDE.md §5.10.
    # BEGIN SOLUTION
    keep = mask.bool()  # (B, T)
    obs_t = obs_t.masked_fill(~keep[..., None], IGNORE)  # (B, T, K + 1)
    obs = F.cross_entropy(out["obs"].flatten(0, 1), obs_t.flatten(), ignore_index=IGNORE)
    at_action = lambda logits: logits.view(B, T, model.block, -1)[:, :, model.K][keep]  # (n, classes)
    reward = F.cross_entropy(at_action(out["reward"]), reward_t[keep])
    end = F.cross_entropy(at_action(out["end"]), end_t[keep])
    return {"loss": obs + reward + end, "obs": obs, "reward": reward, "end": end}
    # END SOLUTION


def step_mask(is_first: torch.Tensor) -> torch.Tensor:
    """is_first (B, T + 1) of the rows behind T steps -> mask (B, T): step t is real while no episode has
    started in rows 1 .. t + 1 (its frame, action and next frame all belong to the chunk's first episode)."""
    return (torch.cumsum(is_first[:, 1:].float(), 1) == 0).float()
