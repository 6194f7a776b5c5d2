"""The sequence replay of Dreamer: store every step, sample (B, T) chunks as training tensors.

`common.replay.EpisodeReplay` keeps the rows (obs_t, action_{t-1}, reward_t, terminated_t, is_first_t):
an observation with the action that led to it and the reward received on arriving there. This file adds
what Dreamer's training step needs on top of it (dreamer.py `preprocess`, `load_dataset`):

    obs       (B, T, *obs_shape) float32   state vectors as they are; images (B, T, C, H, W) in [-0.5, 0.5]
    action    (B, T, A)          float32   the action *before* obs_t (zeros at an episode's first step)
    reward    (B, T)             float32   the reward on arriving at obs_t
    is_first  (B, T)             float32   1.0 where a new episode starts: the RSSM resets its state there
"""

from __future__ import annotations

import numpy as np
import torch

from common.replay import EpisodeReplay


def preprocess_obs(obs: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Observations as the networks read them.

    uint8 images (..., H, W, C) -> float32 (..., C, H, W) in [-0.5, 0.5] (pixel / 255 - 0.5, as the
    authors' `preprocess`); anything else (state vectors) -> float32, unchanged.
    """
    # TODO(2.1): preprocess observations; see IMPLEMENTATION_GUIDE.md §2.1. uint8 images (..., H, W, C) become
    # float32 (..., C, H, W) with values in [-0.5, 0.5] (torch's conv layout); anything else (state vectors)
    # only becomes float32.
    raise NotImplementedError("TODO(2.1): preprocess observations; see IMPLEMENTATION_GUIDE.md §2.1.")


class SequenceBuffer:
    """Dreamer's replay: `add` one environment step at a time, `sample` (B, T) training batches."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], action_dim: int, pixels: bool,
                 seed: int = 0) -> None:
        self.replay = EpisodeReplay(capacity, obs_shape, action_dim, np.uint8 if pixels else np.float32)
        self.action_dim = action_dim
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.replay)

    def start_episode(self, obs: np.ndarray) -> None:
        """The first row of an episode: its first observation, a zero action, reward 0, is_first."""
        self.replay.add(obs, np.zeros(self.action_dim, np.float32), 0.0, False, True)

    def add(self, obs: np.ndarray, action: np.ndarray, reward: float, terminated: bool) -> None:
        """A later row: the observation reached by taking `action`, and the reward received."""
        self.replay.add(obs, action, reward, terminated, False)

    def sample(self, batch: int, length: int, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """`batch` chunks of `length` consecutive steps as float32 tensors (see the module docstring)."""
        return to_tensors(self.replay.sample(batch, length, self.rng), device)


def to_tensors(raw: dict[str, np.ndarray], device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """A batch of EpisodeReplay.sample (numpy) as the training step reads it (see the module docstring)."""
    # TODO(2.1): a batch as tensors; see IMPLEMENTATION_GUIDE.md §2.1. A sampled batch as training tensors.
    # In: the numpy arrays of EpisodeReplay.sample, each (B, T, ...). Out: {obs through preprocess_obs, action
    # (B, T, A), reward (B, T), is_first (B, T) as 0.0 / 1.0}, all float32 on `device` (the RSSM multiplies by
    # 1 - is_first). Leave out `terminated`.
    raise NotImplementedError("TODO(2.1): a batch as tensors; see IMPLEMENTATION_GUIDE.md §2.1.")
