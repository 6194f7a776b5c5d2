"""Small building blocks that several papers share and no chapter teaches."""

from __future__ import annotations

from torch import nn


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int = 2, act: type[nn.Module] = nn.ELU,
        norm: bool = False) -> nn.Sequential:
    """`layers` hidden layers of width `hidden` (Linear [-> LayerNorm] -> act), then a Linear to out_dim.

    layers=0 gives a single Linear(in_dim, out_dim).
    """
    blocks: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        blocks.append(nn.Linear(width, hidden))
        if norm:
            blocks.append(nn.LayerNorm(hidden))
        blocks.append(act())
        width = hidden
    blocks.append(nn.Linear(width, out_dim))
    return nn.Sequential(*blocks)
