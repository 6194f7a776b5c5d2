"""common.world_model: the protocol, capabilities, and render_dream with a tiny fake model."""

from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from torch import nn

from common.world_model import Trajectory, WorldModel, capabilities, render_dream

H, W = 6, 24  # wide enough for the captions to show the step number


def frame(x: float) -> np.ndarray:
    """A black (H, W, 3) frame with a white dot in row 3, column x."""
    image = np.zeros((H, W, 3), np.uint8)
    image[3, int(round(x)) % W] = 255
    return image


def episode(steps: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A dot that moves right by the action (0 or 1 pixel) each step."""
    actions = np.array([[1], [1], [0], [1], [0], [0], [1], [1], [1]], np.float32)[: steps - 1]
    xs = np.concatenate([[2.0], 2.0 + np.cumsum(actions[:, 0])])
    return np.stack([frame(x) for x in xs]), actions


class DotModel(nn.Module):
    """A world model of the dot: the state is the dot's column (B,). `drift` makes its dreams wrong."""

    def __init__(self, drift: float = 0.0):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # so that it has a device and a training mode
        self.drift = drift

    def encode(self, obs: torch.Tensor) -> torch.Tensor:  # (B, H, W, 3) uint8 -> (B,)
        assert obs.dtype == torch.uint8 and obs.shape[1:] == (H, W, 3) and not self.training
        return obs[:, 3, :, 0].float().argmax(dim=1).float()

    def observe(self, state: torch.Tensor, action: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return self.encode(obs)

    def predict(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:  # action (B, 1)
        return state + action[:, 0] + self.drift

    def imagine(self, state: torch.Tensor, actions: torch.Tensor) -> Trajectory:  # (B, T, 1)
        states = []
        for t in range(actions.shape[1]):
            state = self.predict(state, actions[:, t])
            states.append(state)
        return Trajectory(states, rewards=torch.zeros(actions.shape[:2]))

    def decode(self, state: torch.Tensor) -> dict[str, torch.Tensor]:
        images = np.stack([frame(x) for x in state.tolist()]).astype(np.float32) / 255.0
        return {"obs": torch.from_numpy(images)}  # floats in [0, 1]

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"loss": self.scale * 0.0}


class NoDecoder:
    lacks = ("decode",)

    def encode(self, obs): return obs
    def observe(self, state, action, obs): return obs
    def predict(self, state, action): return state
    def imagine(self, state, actions): return Trajectory([state] * actions.shape[1])
    def decode(self, state): raise NotImplementedError("an implicit model")
    def loss(self, batch): return {}


class OnlyEncoder(WorldModel):
    def encode(self, obs):
        return obs


def test_protocol_and_capabilities():
    assert isinstance(DotModel(), WorldModel)
    assert capabilities(DotModel()) == dict.fromkeys(
        ("encode", "observe", "predict", "imagine", "decode", "loss"), True)
    caps = capabilities(NoDecoder())
    assert caps["decode"] is False and caps["imagine"] is True
    caps = capabilities(OnlyEncoder())  # subclassing the protocol: the stubs do not count
    assert caps["encode"] and not any(v for k, v in caps.items() if k != "encode")
    assert not any(capabilities(object()).values())
    assert Trajectory([1, 2]).rewards is None and Trajectory([1]).continues is None


def test_a_perfect_model_dreams_the_real_episode(tmp_path):
    obs, actions = episode(8)
    model = DotModel()
    model.train()
    strip = render_dream(model, obs, actions, context=3, path=tmp_path / "dream.gif", fps=5, scale=2)
    assert model.training  # mode restored
    header, gap = 16, 4
    body = strip[:, header:header + 2 * H]  # (T, 2H, 2W + gap + 2W, 3)
    left, right = body[:, :, : 2 * W], body[:, :, 2 * W + gap:]
    assert strip.shape[0] == 8
    np.testing.assert_array_equal(left, right)  # every imagined frame equals the real one
    np.testing.assert_array_equal(left[:, ::2, ::2], obs)  # the left panel is the real episode, 2x
    assert len(imageio.mimread(tmp_path / "dream.gif")) == 8


def test_a_wrong_model_differs_only_after_the_context(tmp_path):
    obs, actions = episode(8)
    strip = render_dream(DotModel(drift=1.0), obs, actions, context=4, path=tmp_path / "d.mp4")
    body = strip[:, 16:16 + 2 * H]
    left, right = body[:, :, : 2 * W], body[:, :, 2 * W + 4:]
    same = [np.array_equal(a, b) for a, b in zip(left, right, strict=True)]
    assert same == [True] * 4 + [False] * 4  # reconstructions while watching, dreams drift after
    assert (tmp_path / "d.mp4").stat().st_size > 0


def test_context_of_the_whole_episode_and_bad_arguments(tmp_path):
    obs, actions = episode(5)
    strip = render_dream(DotModel(drift=1.0), obs, actions, context=5, path=tmp_path / "a.gif")
    assert strip.shape[0] == 5
    with pytest.raises(ValueError, match="context"):
        render_dream(DotModel(), obs, actions, context=0, path=tmp_path / "b.gif")
    with pytest.raises(ValueError, match="actions"):
        render_dream(DotModel(), obs, actions[:2], context=2, path=tmp_path / "b.gif")
    with pytest.raises(ValueError, match="uint8"):
        render_dream(DotModel(), obs / 255.0, actions, context=2, path=tmp_path / "b.gif")


def test_a_model_without_decoder_is_told_so(tmp_path):
    obs, actions = episode(4)
    with pytest.raises(ValueError, match="NoDecoder lacks decode"):
        render_dream(NoDecoder(), obs, actions, context=2, path=tmp_path / "x.gif")
