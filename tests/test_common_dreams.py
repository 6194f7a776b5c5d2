"""common.dreams: draw_dream for state vectors (traces, and the env's renderer for CartPole and Pendulum)
and for frames, with tiny fake protocol models."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from common.dreams import draw_dream
from common.world_model import Trajectory
from tests.test_common_world_model import DotModel, episode


class EchoModel(nn.Module):
    """A vector world model whose state is the last observation and whose dream stands still."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float()

    def observe(self, state: torch.Tensor, action: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return obs.float()

    def imagine(self, state: torch.Tensor, actions: torch.Tensor) -> Trajectory:  # (B, T, A)
        steps = actions.shape[1]
        return Trajectory([state] * steps, rewards=torch.ones(1, steps), continues=torch.ones(1, steps))

    def decode(self, state: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"obs": state}


@pytest.mark.parametrize("env_id, dims", [("CartPole-v1", 4), ("Pendulum-v1", 3), ("", 2)])
def test_vector_dream_draws_traces_and_renders(env_id: str, dims: int, tmp_path) -> None:
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(20, dims)).astype(np.float32) * 0.05
    obs[:, 0] = 1.0 if env_id == "Pendulum-v1" else obs[:, 0]  # cos of the angle
    ep = {"obs": obs, "action": np.eye(2, dtype=np.float32)[rng.integers(2, size=19)], "reward": np.ones(19)}
    path = draw_dream(EchoModel(), ep, tmp_path / "dream", env_id=env_id, context=5)
    assert path == tmp_path / "dream.png" and path.stat().st_size > 0
    assert (tmp_path / "dream.gif").exists() == bool(env_id), "CartPole and Pendulum get a rendered GIF"


def test_frame_dream_writes_a_gif_and_a_strip(tmp_path) -> None:
    frames, actions = episode()
    path = draw_dream(DotModel(), {"obs": frames, "action": actions, "reward": np.zeros(len(actions))},
                      tmp_path / "dream", context=3)
    assert path == tmp_path / "dream.gif" and path.stat().st_size > 0
    assert (tmp_path / "dream.png").stat().st_size > 0
