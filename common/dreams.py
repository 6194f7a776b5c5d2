"""Pictures of a world model's dreams, for any model that follows common.world_model's protocol.

`draw_dream(model, episode, path, env_id)`: the model watches the first `context` steps of a real episode,
then imagines the rest from the actions alone.

    pixels (uint8 frames)  path.gif: real beside imagined (common.world_model.render_dream); path.png: a strip
    state vectors          path.png: one panel per state dimension (real vs model), one for the reward and
                           one for P(episode goes on); CartPole-v1 and Pendulum-v1 also get path.gif, both
                           state sequences drawn by the env's own renderer

episode: {"obs": (T + 1, ...), "action": (T, A) as the model takes them, "reward": (T,)}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .envs import make_env
from .video import image_grid, save_image, side_by_side, write_video
from .world_model import render_dream


def _states(model: Any, obs: np.ndarray, actions: np.ndarray, context: int):
    """Decoded states: posteriors for `context` steps, then the dream; and the dream's Trajectory."""
    with torch.no_grad():
        state = model.encode(torch.as_tensor(obs[:1]))
        seen = [model.decode(state)["obs"][0].cpu().numpy()]
        for t in range(1, context):
            state = model.observe(state, torch.as_tensor(actions[t - 1:t]), torch.as_tensor(obs[t:t + 1]))
            seen.append(model.decode(state)["obs"][0].cpu().numpy())
        traj = model.imagine(state, torch.as_tensor(actions[None, context - 1:len(obs) - 1]))
        dreamt = [model.decode(s)["obs"][0].cpu().numpy() for s in traj.states]
    return np.stack(seen + dreamt), traj


def draw_dream(model: Any, episode: dict[str, np.ndarray], path: str | Path, env_id: str = "", context: int = 10,
               horizon: int = 50) -> Path:
    """Draw the dream of one episode (see the module docstring); returns the main file written."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    context = max(1, min(context, len(episode["action"])))  # an episode may end within the context
    steps = min(len(episode["obs"]), context + horizon)
    obs, actions = episode["obs"][:steps], np.asarray(episode["action"][:steps], np.float32)
    if obs.dtype == np.uint8:
        strip = render_dream(model, obs, actions, context, path.with_suffix(".gif"), fps=10)  # (T, H, W', 3)
        every = max(1, len(strip) // 10)
        save_image(image_grid(strip[::every][:10], nrow=10), path.with_suffix(".png"))
        return path.with_suffix(".gif")
    pred, traj = _states(model, obs, actions, context)  # (steps, D)
    dims = obs.shape[1]
    fig = Figure(figsize=(3.2 * (dims + 2), 2.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, dims + 2)
    x = np.arange(steps)
    for d in range(dims):
        axes[d].plot(x, obs[:, d], label="real", lw=1.5)
        axes[d].plot(x, pred[:, d], "--", label="model", lw=1.5)
        axes[d].set_title(f"state[{d}]")
    if traj.rewards is not None:
        axes[dims].plot(x[1:], np.asarray(episode["reward"][:steps - 1]), label="real", lw=1.5)
        axes[dims].plot(x[context:], traj.rewards[0].cpu().numpy(), "--", label="model", lw=1.5)
    axes[dims].set_title("reward")
    if traj.continues is not None:
        axes[-1].plot(x[context:], traj.continues[0].cpu().numpy(), "--", color="C1", label="model")
    axes[-1].axhline(1.0 if steps < len(episode["obs"]) else np.nan, color="C0", lw=1.5, label="real")
    axes[-1].set_ylim(-0.05, 1.05)
    axes[-1].set_title("P(episode goes on)")
    for ax in axes:
        ax.axvline(context - 0.5, color="gray", lw=0.8)
    axes[0].legend()
    fig.suptitle(f"observed {context} steps (left of the line), then imagined from the actions alone")
    fig.savefig(path.with_suffix(".png"), dpi=90)
    if env_id in RENDERERS:
        state_video(env_id, obs, pred, context, path.with_suffix(".gif"))
    return path.with_suffix(".png")


def _cartpole(env: Any, vec: np.ndarray) -> None:
    env.unwrapped.state = np.asarray(vec, dtype=np.float64)  # (x, x_dot, theta, theta_dot)


def _pendulum(env: Any, vec: np.ndarray) -> None:
    env.unwrapped.state = np.array([np.arctan2(vec[1], vec[0]), vec[2]])  # the angle from (cos, sin)
    env.unwrapped.last_u = None  # no torque arrow


RENDERERS = {"CartPole-v1": _cartpole, "Pendulum-v1": _pendulum}


def state_video(env_id: str, real: np.ndarray, dreamt: np.ndarray, context: int, path: str | Path,
                size: int = 160) -> Path:
    """State vectors (T, D) of CartPole-v1 or Pendulum-v1 drawn by the env's renderer, real beside model."""
    import cv2

    env = make_env(env_id, obs="state", render_mode="rgb_array")
    env.reset(seed=0)

    def frame(vec: np.ndarray) -> np.ndarray:
        RENDERERS[env_id](env, vec)
        image = env.render()
        return cv2.resize(image, (size * image.shape[1] // image.shape[0], size), interpolation=cv2.INTER_AREA)

    captions = [f"observed {t + 1}/{context}" if t < context else f"imagined {t - context + 1}"
                for t in range(len(real))]
    video = side_by_side(np.stack([frame(v) for v in real]), np.stack([frame(v) for v in dreamt]),
                         labels=("real", "model"), scale=1, captions=captions)
    env.close()
    return write_video(video, path, fps=10)
