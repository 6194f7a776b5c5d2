"""The spatiotemporal (ST) transformer of Genie (§2.1, Figure 4): every component of the chapter is built from it.

    x (B, T, N, E): T frames of N tokens (patches), E numbers each
    STBlock:  x = x + SpatialAttention(LN(x))     each frame's N tokens attend to each other, never to other frames
              x = x + TemporalAttention(LN(x))    each token attends to the same position in frames 1..t (causal)
              x = x + FFW(LN(x))                  one feed-forward layer, after both attentions (§2.1)

A full attention over T*N tokens costs (T N)^2; the ST block costs T N^2 + N T^2, linear in the number of frames
for a fixed frame size, which is what lets Genie train on 16 frames of 160x90. Temporal attention is causal, so the
output at frame t depends on frames 1..t only: the tokenizer's tokens, the latent actions and the dynamics'
predictions of frame t never see the future.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class SelfAttention(nn.Module):
    """Multi-head self-attention over the middle axis of x (M, L, E), optionally causal (given)."""

    def __init__(self, embed: int, heads: int) -> None:
        super().__init__()
        if embed % heads:
            raise ValueError(f"embed ({embed}) must be divisible by heads ({heads})")
        self.heads = heads
        self.qkv = nn.Linear(embed, 3 * embed)
        self.proj = nn.Linear(embed, embed)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """x (M, L, E) -> (M, L, E): each of the M sequences of L tokens attends within itself."""
        M, L, E = x.shape
        q, k, v = self.qkv(x).view(M, L, 3, self.heads, E // self.heads).permute(2, 0, 3, 1, 4)  # (M, h, L, d)
        att = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (M, h, L, L)
        if causal:  # position i sees positions j <= i
            allowed = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~allowed, float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(M, L, E)
        return self.proj(y)


def spatial_attention(x: torch.Tensor, attn: SelfAttention) -> torch.Tensor:
    """x (B, T, N, E) -> (B, T, N, E): attention among the N tokens of each frame, frame by frame."""
    # TODO(7.1): every frame is one sequence of N tokens for `attn`; no token may see another frame
    # (see IMPLEMENTATION_GUIDE.md §7.1). Out: the same shape as x.
    raise NotImplementedError("TODO(7.1): every frame is one sequence of N tokens for `attn`; no token...")


def temporal_attention(x: torch.Tensor, attn: SelfAttention) -> torch.Tensor:
    """x (B, T, N, E) -> (B, T, N, E): causal attention over time, separately for each of the N positions."""
    # TODO(7.2): every position n is one sequence of T tokens (frames 1..T) for `attn`, causal in time, and no
    # token may see another position (see IMPLEMENTATION_GUIDE.md §7.2). Out: the same shape as x.
    raise NotImplementedError("TODO(7.2): every position n is one sequence of T tokens (frames 1..T) for...")


class STBlock(nn.Module):
    """Spatial attention, causal temporal attention, one feed-forward layer; pre-LN residuals (§2.1)."""

    def __init__(self, embed: int, heads: int) -> None:
        super().__init__()
        self.ln_s, self.ln_t, self.ln_f = nn.LayerNorm(embed), nn.LayerNorm(embed), nn.LayerNorm(embed)
        self.spatial, self.temporal = SelfAttention(embed, heads), SelfAttention(embed, heads)
        self.ffw = nn.Sequential(nn.Linear(embed, 4 * embed), nn.GELU(), nn.Linear(4 * embed, embed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, N, E) -> (B, T, N, E)."""
        # TODO(7.3): three pre-LN residual updates in the paper's order: spatial attention, temporal attention,
        # then the feed-forward layer (see IMPLEMENTATION_GUIDE.md §7.3).
        raise NotImplementedError("TODO(7.3): three pre-LN residual updates in the paper's order...")


class STTransformer(nn.Module):
    """`layers` ST blocks over (B, T, N, E) with learned spatial and temporal position embeddings, then a LayerNorm."""

    def __init__(self, embed: int, heads: int, layers: int, tokens: int, frames: int) -> None:
        super().__init__()
        self.pos_space = nn.Parameter(torch.randn(tokens, embed) * 0.02)  # (N, E)
        self.pos_time = nn.Parameter(torch.randn(frames, embed) * 0.02)  # (T_max, E)
        self.blocks = nn.ModuleList(STBlock(embed, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, N, E), T <= frames -> (B, T, N, E)."""
        T = x.shape[1]
        if T > len(self.pos_time):
            raise ValueError(f"{T} frames, but the model was built for at most {len(self.pos_time)}")
        x = x + self.pos_space + self.pos_time[:T, None]
        for block in self.blocks:
            x = block(x)
        return self.ln(x)
