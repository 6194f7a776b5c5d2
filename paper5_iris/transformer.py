"""A small GPT (Radford et al. 2019; IRIS §2.2, Table 3): causal self-attention, pre-LN blocks, a key/value cache.

    x (B, L, E) -> Block x layers -> LayerNorm -> (B, L, E)
    Block:  x = x + Attention(LN(x));  x = x + MLP(LN(x))          (pre-LN: the norm comes first)
    Attention: softmax(q k^T / sqrt(d) + mask) v, per head, where position i sees positions j <= i

The cache holds each layer's keys and values of the positions already seen, so one new token costs one
row of attention instead of a whole new pass: imagination (sample.py) feeds 17 tokens per step this way.
"""

from __future__ import annotations

import math

import torch
from torch import nn

Cache = list  # one (keys, values) pair per layer, each (B, heads, seen, d), or None before the first call


def causal_mask(queries: int, keys: int, device: torch.device | None = None) -> torch.Tensor:
    """(queries, keys) bool, True where attention is allowed. The queries are the *last* `queries` of the
    `keys` positions (keys - queries of them come from the cache): query i sits at position keys - queries + i."""
    # TODO(5.5): a bool (queries, keys) mask, True where the query (one of the last `queries` positions) may see
    # the key: every key up to and including its own position. See IMPLEMENTATION_GUIDE.md §5.5.
    raise NotImplementedError("TODO(5.5): a bool (queries, keys) mask, True where the query (one of the...")


class SelfAttention(nn.Module):
    def __init__(self, embed: int, heads: int, dropout: float) -> None:
        super().__init__()
        if embed % heads:
            raise ValueError(f"embed ({embed}) must be divisible by heads ({heads})")
        self.heads = heads
        self.qkv = nn.Linear(embed, 3 * embed)
        self.proj = nn.Linear(embed, embed)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, L, E) new positions; past: cached (keys, values) (B, h, S, d) of the S positions before them.
        Returns y (B, L, E) and the (keys, values) of all S + L positions, the cache for the next call."""
        B, L, E = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, E // self.heads).permute(2, 0, 3, 1, 4)  # (B, h, L, d) each
        # TODO(5.6): put the cached keys and values before the new ones, attend with the causal mask, merge the
        # heads back to (B, L, E). See IMPLEMENTATION_GUIDE.md §5.6.
        raise NotImplementedError("TODO(5.6): put the cached keys and values before the new ones, attend...")


class Block(nn.Module):
    def __init__(self, embed: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(embed), nn.LayerNorm(embed)
        self.attn = SelfAttention(embed, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(embed, 4 * embed), nn.GELU(), nn.Linear(4 * embed, embed),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, past: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """x (B, L, E) -> (B, L, E) and this layer's new cache."""
        # TODO(5.7): the pre-LN residual block: attention on the normalised input, then the MLP on the
        # normalised result, each added to the stream. See IMPLEMENTATION_GUIDE.md §5.7.
        raise NotImplementedError("TODO(5.7): the pre-LN residual block: attention on the normalised...")


class GPT(nn.Module):
    """`layers` blocks and a final LayerNorm over embedded inputs (the world model embeds the tokens)."""

    def __init__(self, embed: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(Block(embed, heads, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(embed)
        self.apply(_init)

    def forward(self, x: torch.Tensor, cache: Cache | None = None) -> tuple[torch.Tensor, Cache]:
        """x (B, L, E) -> (B, L, E), and the cache extended by these L positions."""
        new = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, cache[i] if cache else None)
            new.append(kv)
        return self.ln(x), new


def cache_length(cache: Cache | None) -> int:
    """How many positions a cache holds."""
    return cache[0][0].shape[2] if cache else 0


def _init(module: nn.Module) -> None:
    """GPT-2's initialisation: normal(0, 0.02) weights, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if getattr(module, "bias", None) is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)

