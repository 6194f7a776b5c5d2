"""A small protocol that the world models of all chapters follow, and one tool that uses it.

A chapter's model (or a thin adapter around its modules) offers some of these methods:

    encode(obs)                   -> state    the first state, from one observation
    observe(state, action, obs)   -> state    posterior: step with an action, then correct with the obs
    predict(state, action)        -> state    prior: step with an action, no observation (one dream step)
    imagine(state, actions)       -> Trajectory   predict over a whole action sequence
    decode(state)                 -> {"obs": ..., "reward": ..., "continue": ...}
    loss(batch)                   -> {"loss": ..., other named terms}

Shapes, batch first as everywhere in this repo: obs (B, *obs_shape) as the env gives it (uint8
(B, H, W, C) frames as a uint8 tensor; the model scales them itself); action (B, A); actions (B, T, A);
a state is whatever the model likes (a tensor, a tuple, a dict). decode(state)["obs"] is
(B, *obs_shape), images in [0, 1] (float) or uint8. A model that cannot do something (TD-MPC2 decodes
no observations) leaves the method out, or raises NotImplementedError and says so with a class attribute
`lacks = ("decode",)`; `capabilities(model)` reports what a model can do.

`render_dream` draws, for any model that can encode, observe, imagine and decode, a "real vs imagined"
video: the model watches the first frames of an episode, then dreams the rest from the actions taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from .video import side_by_side, to_uint8, write_video

METHODS = ("encode", "observe", "predict", "imagine", "decode", "loss")


@dataclass
class Trajectory:
    """What `imagine` returns: states[t] is the state after actions[:, t]."""

    states: list[Any]  # T states
    rewards: torch.Tensor | None = None  # (B, T) predicted rewards
    continues: torch.Tensor | None = None  # (B, T) probability that the episode goes on


@runtime_checkable
class WorldModel(Protocol):
    """The interface above. A class may subclass it; the stubs below mean "not implemented"."""

    def encode(self, obs: torch.Tensor) -> Any:
        raise NotImplementedError

    def observe(self, state: Any, action: torch.Tensor, obs: torch.Tensor) -> Any:
        raise NotImplementedError

    def predict(self, state: Any, action: torch.Tensor) -> Any:
        raise NotImplementedError

    def imagine(self, state: Any, actions: torch.Tensor) -> Trajectory:
        raise NotImplementedError

    def decode(self, state: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError


def capabilities(model: Any) -> dict[str, bool]:
    """{method: True if the model has it}; absent, listed in `model.lacks`, or the protocol's stub: False."""
    lacks = set(getattr(model, "lacks", ()))
    return {
        name: callable(getattr(model, name, None)) and name not in lacks
        and getattr(type(model), name, None) is not getattr(WorldModel, name)
        for name in METHODS
    }


def _device(model: Any) -> torch.device:
    if isinstance(model, nn.Module):
        for tensor in model.parameters():
            return tensor.device
    return torch.device("cpu")


def render_dream(model: Any, obs: np.ndarray, actions: np.ndarray, context: int, path: str | Path,
                 fps: int = 15, scale: int = 2) -> np.ndarray:
    """Write a real-vs-imagined video of one episode and return its frames (T, H', W', 3).

    obs: (T, H, W[, C]) uint8 real frames; actions: (>= T-1, A), actions[t] taken after seeing obs[t].
    The model encodes obs[0], observes obs[1:context], then imagines the remaining T - context frames
    from the actions alone. Each frame on the right is the decoded state: a reconstruction while the
    model watches, a dream after.
    """
    caps = capabilities(model)
    missing = [m for m in ("encode", "observe", "imagine", "decode") if not caps[m]]
    if missing:
        raise ValueError(f"{type(model).__name__} lacks {', '.join(missing)}, so render_dream cannot draw "
                         "its dreams.")
    obs = np.asarray(obs)
    steps = len(obs)
    if obs.dtype != np.uint8 or obs.ndim not in (3, 4):
        raise ValueError(f"render_dream needs uint8 frames (T, H, W[, C]), got {obs.dtype} {obs.shape}.")
    actions = np.asarray(actions, dtype=np.float32).reshape(len(actions), -1)  # (>= T-1, A)
    if not 1 <= context <= steps or len(actions) < steps - 1:
        raise ValueError(f"need 1 <= context <= {steps} frames and at least {steps - 1} actions, got "
                         f"context={context} and {len(actions)} actions.")

    device = _device(model)
    one = lambda x: torch.as_tensor(x[None], device=device)  # add a batch of 1
    was_training = getattr(model, "training", False)
    if isinstance(model, nn.Module):
        model.eval()
    try:
        with torch.no_grad():
            state = model.encode(one(obs[0]))
            states = [state]
            for t in range(1, context):
                state = model.observe(state, one(actions[t - 1]), one(obs[t]))
                states.append(state)
            if context < steps:
                future = one(actions[context - 1:steps - 1])  # (1, T - context, A)
                states += list(model.imagine(state, future).states)
            decoded = [to_uint8(model.decode(s)["obs"][0]) for s in states]
    finally:
        if isinstance(model, nn.Module):
            model.train(was_training)
    if len(decoded) != steps:
        raise ValueError(f"imagine returned {len(decoded) - context} states for {steps - context} actions.")
    imagined = np.stack(decoded)  # (T, H, W[, C])
    if imagined.shape[1:3] != obs.shape[1:3]:
        raise ValueError(f"decode(state)['obs'] must be frames in the env's layout {obs.shape[1:]} "
                         f"(H, W[, C]), got {imagined.shape[1:]}.")
    captions = [f"observed {t + 1}/{context}" if t < context else f"imagined {t - context + 1}"
                for t in range(steps)]
    strip = side_by_side(obs, imagined, labels=("real", "model"), scale=scale, captions=captions)
    write_video(strip, path, fps=fps)
    return strip
