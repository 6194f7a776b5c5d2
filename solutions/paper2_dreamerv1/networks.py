"""Dreamer's observation encoder and decoder, and its dense heads (the authors' models.py).

    pixels  ConvEncoder  (..., 3, 64, 64) -> 4 convs (k4, s2, ReLU; 32-64-128-256 ch) -> (..., 1024)
            ConvDecoder  (..., F) -> dense 1024 -> 4 transposed convs (k5-5-6-6, s2) -> (..., 3, 64, 64)
    vectors StateEncoder / StateDecoder: MLPs (2 hidden layers, ELU), the usual stand-in for the convs
    heads   reward (2 hidden layers), value (3 hidden layers) of `units` (400) ELU units, one output

Every decoder output is the *mean* of a Gaussian with standard deviation 1 (models.py:
`tfd.Normal(mean, 1)`), so its log-likelihood is -0.5 * squared error - 0.5 * log(2 pi) per number
(`normal_log_prob`): the "Gaussian likelihoods" of the paper's reconstruction and reward terms (eq. 10).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: F401 (used in TODO 2.7)
from torch import nn

from common.nets import mlp

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def normal_log_prob(x: torch.Tensor, mean: torch.Tensor, event_dims: int) -> torch.Tensor:
    """log N(x; mean, 1), summed over the last `event_dims` axes: (..., *event) -> (...)."""
    logp = -0.5 * (x - mean).pow(2) - LOG_SQRT_2PI
    return logp.flatten(logp.dim() - event_dims).sum(-1) if event_dims else logp


class ConvEncoder(nn.Module):
    """(..., C, 64, 64) in [-0.5, 0.5] -> (..., 32 * depth): the embedding e_t of one frame."""

    def __init__(self, channels: int = 3, depth: int = 32) -> None:
        super().__init__()
        # (N,3,64,64) -> (N,32,31,31) -> (N,64,14,14) -> (N,128,6,6) -> (N,256,2,2)
        self.convs = nn.ModuleList([
            nn.Conv2d(channels, depth, 4, 2), nn.Conv2d(depth, 2 * depth, 4, 2),
            nn.Conv2d(2 * depth, 4 * depth, 4, 2), nn.Conv2d(4 * depth, 8 * depth, 4, 2)])
        self.out_dim = 32 * depth

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        # TODO(2.7): the conv encoder; see IMPLEMENTATION_GUIDE.md §2.7. In: obs (..., C, 64, 64), any leading
        # axes. Out: (..., 32 * depth). Run the frames, folded into one batch axis, through the four convs of
        # self.convs with a ReLU after each; flatten each frame and restore the leading axes.
        # BEGIN SOLUTION
        lead = obs.shape[:-3]
        x = obs.reshape(-1, *obs.shape[-3:])  # (N, C, H, W)
        for conv in self.convs:
            x = F.relu(conv(x))
        return x.reshape(*lead, -1)  # (..., 1024)
        # END SOLUTION


class ConvDecoder(nn.Module):
    """(..., F) -> the mean image (..., C, 64, 64), in the encoder's [-0.5, 0.5] scale."""

    def __init__(self, feat_dim: int, channels: int = 3, depth: int = 32) -> None:
        super().__init__()
        self.depth = depth
        self.fc = nn.Linear(feat_dim, 32 * depth)
        # (N,1024,1,1) -> (N,128,5,5) -> (N,64,13,13) -> (N,32,30,30) -> (N,3,64,64)
        self.deconvs = nn.ModuleList([
            nn.ConvTranspose2d(32 * depth, 4 * depth, 5, 2), nn.ConvTranspose2d(4 * depth, 2 * depth, 5, 2),
            nn.ConvTranspose2d(2 * depth, depth, 6, 2), nn.ConvTranspose2d(depth, channels, 6, 2)])

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        # TODO(2.7): the conv decoder; see IMPLEMENTATION_GUIDE.md §2.7. In: feat (..., F). Out: the mean
        # image (..., C, 64, 64). self.fc (no activation) gives a 1x1 image of 32 * depth channels per
        # feature, grown by the four transposed convs of self.deconvs with a ReLU after each but the last (a
        # Gaussian mean is unbounded); restore the leading axes.
        # BEGIN SOLUTION
        lead = feat.shape[:-1]
        x = self.fc(feat).reshape(-1, 32 * self.depth, 1, 1)  # (N, 1024, 1, 1)
        for i, deconv in enumerate(self.deconvs):
            x = deconv(x)
            if i < len(self.deconvs) - 1:
                x = F.relu(x)
        return x.reshape(*lead, *x.shape[1:])  # (..., C, 64, 64)
        # END SOLUTION


class StateEncoder(nn.Module):
    """(..., obs_dim) -> (..., embed): a state vector's embedding (an MLP in place of the convs)."""

    def __init__(self, obs_dim: int, units: int, embed: int) -> None:
        super().__init__()
        self.net = mlp(obs_dim, units, embed, layers=2)
        self.out_dim = embed

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


class StateDecoder(nn.Module):
    """(..., F) -> the mean state vector (..., obs_dim)."""

    def __init__(self, feat_dim: int, units: int, obs_dim: int) -> None:
        super().__init__()
        self.net = mlp(feat_dim, units, obs_dim, layers=2)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.net(feat)


class DenseHead(nn.Module):
    """(..., F) -> (...): one number per state (reward: 2 hidden layers; value: 3), ELU (models.py)."""

    def __init__(self, feat_dim: int, units: int, layers: int) -> None:
        super().__init__()
        self.net = mlp(feat_dim, units, 1, layers=layers)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.net(feat).squeeze(-1)


def make_encoder(obs_shape: tuple[int, ...], units: int, embed: int, depth: int = 32) -> nn.Module:
    """ConvEncoder for images (H, W, C), StateEncoder for vectors (D,)."""
    if len(obs_shape) == 3:
        return ConvEncoder(obs_shape[-1], depth)
    return StateEncoder(obs_shape[0], units, embed)


def make_decoder(obs_shape: tuple[int, ...], feat_dim: int, units: int, depth: int = 32) -> nn.Module:
    if len(obs_shape) == 3:
        return ConvDecoder(feat_dim, obs_shape[-1], depth)
    return StateDecoder(feat_dim, units, obs_shape[0])
