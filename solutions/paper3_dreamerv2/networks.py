"""DreamerV2's encoder, decoder and heads (the authors' dreamerv2/common/nets.py `Encoder`, `Decoder`,
`MLP`; configs.yaml: ELU everywhere, cnn_depth 48, heads of 4 x 400 units).

    pixels   ConvEncoder (..., C, 64, 64) -> 4 convs (k4, s2, ELU; 48-96-192-384 ch) -> (..., 32 * depth)
             ConvDecoder (..., F) -> dense -> 4 transposed convs (k5-5-6-6, s2) -> (..., C, 64, 64)
    vectors  MLPs in place of the convs
    heads    reward (mean of a unit Gaussian), discount (logit of a Bernoulli), critic (a unit Gaussian)

New in V2 is the discount head: it predicts whether the episode goes on, so imagination knows where an
imagined episode ends (§2 "Loss function", the discount predictor; a Bernoulli, loss scale 5).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F  # noqa: F401 (used in TODO 3.5)
from torch import nn

from common.nets import mlp

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def preprocess_obs(obs: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images (..., H, W, C) -> float32 (..., C, H, W) in [-0.5, 0.5]; vectors -> float32."""
    obs = torch.as_tensor(obs)
    if obs.dtype == torch.uint8:
        return (obs.float() / 255.0 - 0.5).movedim(-1, -3)
    return obs.float()


def normal_log_prob(x: torch.Tensor, mean: torch.Tensor, event_dims: int) -> torch.Tensor:
    """log N(x; mean, 1), summed over the last `event_dims` axes: (..., *event) -> (...)."""
    logp = -0.5 * (x - mean).pow(2) - LOG_SQRT_2PI
    return logp.flatten(logp.dim() - event_dims).sum(-1) if event_dims else logp


def bernoulli_log_prob(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log Bernoulli(target; sigmoid(logits)) elementwise, for targets in [0, 1]: (...) -> (...).

    The discount head's likelihood: target = 1 - terminated (1 while the episode goes on).
    """
    # TODO(3.5): the log-likelihood of the target under p = sigmoid(logits), written so that it stays
    # finite for logits of any size (no log of a sigmoid that rounded to 0). IMPLEMENTATION_GUIDE.md §3.5.
    # BEGIN SOLUTION
    return target * logits - F.softplus(logits)  # = t log p + (1 - t) log(1 - p)
    # END SOLUTION


class ConvEncoder(nn.Module):
    """(..., C, 64, 64) in [-0.5, 0.5] -> (..., 32 * depth)."""

    def __init__(self, channels: int = 1, depth: int = 48) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(channels, depth, 4, 2), nn.ELU(), nn.Conv2d(depth, 2 * depth, 4, 2), nn.ELU(),
            nn.Conv2d(2 * depth, 4 * depth, 4, 2), nn.ELU(), nn.Conv2d(4 * depth, 8 * depth, 4, 2), nn.ELU())
        self.out_dim = 32 * depth  # (8 * depth, 2, 2) flattened

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        lead = obs.shape[:-3]
        return self.convs(obs.reshape(-1, *obs.shape[-3:])).reshape(*lead, -1)


class ConvDecoder(nn.Module):
    """(..., F) -> the mean image (..., C, 64, 64) in the encoder's [-0.5, 0.5] scale."""

    def __init__(self, feat_dim: int, channels: int = 1, depth: int = 48) -> None:
        super().__init__()
        self.depth = depth
        self.fc = nn.Linear(feat_dim, 32 * depth)
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(32 * depth, 4 * depth, 5, 2), nn.ELU(),
            nn.ConvTranspose2d(4 * depth, 2 * depth, 5, 2), nn.ELU(),
            nn.ConvTranspose2d(2 * depth, depth, 6, 2), nn.ELU(), nn.ConvTranspose2d(depth, channels, 6, 2))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        lead = feat.shape[:-1]
        x = self.deconvs(self.fc(feat).reshape(-1, 32 * self.depth, 1, 1))  # (N, C, 64, 64)
        return x.reshape(*lead, *x.shape[1:])


class Head(nn.Module):
    """(..., F) -> (...): one number per state, an MLP of `layers` x `units` ELU units."""

    def __init__(self, feat_dim: int, units: int, layers: int) -> None:
        super().__init__()
        self.net = mlp(feat_dim, units, 1, layers=layers)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.net(feat).squeeze(-1)


def make_encoder(obs_shape: tuple[int, ...], cfg) -> tuple[nn.Module, int]:
    """The encoder for images (H, W, C) or vectors (D,), and its output size."""
    if len(obs_shape) == 3:
        enc = ConvEncoder(obs_shape[-1], cfg.cnn_depth)
        return enc, enc.out_dim
    return mlp(obs_shape[0], cfg.units, cfg.embed, layers=cfg.layers), cfg.embed


def make_decoder(obs_shape: tuple[int, ...], feat_dim: int, cfg) -> nn.Module:
    if len(obs_shape) == 3:
        return ConvDecoder(feat_dim, obs_shape[-1], cfg.cnn_depth)
    return mlp(feat_dim, cfg.units, obs_shape[0], layers=cfg.layers)
