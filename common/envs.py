"""Environments: one `make_env` for every chapter, built from gymnasium's own wrappers.

    env = make_env("CarRacing-v3", obs="pixels", size=64, crop=(0, 84, 0, 96), action_repeat=2, seed=0)
    env = make_env("Pendulum-v1", obs="pixels", size=64)     # pixels from env.render()
    env = make_env("ALE/Pong-v5", obs="pixels", size=64, grayscale=True, action_repeat=4)

The wrapper stack, innermost first:

    gym.make (TimeLimit)  ->  ActionRepeat (ours; Atari: AtariPreprocessing's frame skip)
      ->  AddRenderObservation (pixels of a state env)  ->  CropObservation (ours)
      ->  ResizeObservation  ->  GrayscaleObservation

Pixel observations are uint8 arrays of shape (H, W, C), C = 3, or 1 with `grayscale=True`.
`max_episode_steps` counts raw environment steps, before action repeat (as gymnasium's TimeLimit does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import (
    AddRenderObservation,
    AtariPreprocessing,
    GrayscaleObservation,
    ResizeObservation,
)

OBS_KINDS = ("state", "pixels")


class UnknownEnvError(ValueError):
    """An environment id (or observation kind) this repo does not know."""


@dataclass(frozen=True)
class EnvSpec:
    """What `make_env` needs to know about one environment id."""

    description: str
    obs: tuple[str, ...]  # observation kinds it offers; the first is the default
    gym_id: str | None = None  # the id to pass to gym.make when it differs from ours
    kwargs: dict[str, Any] = field(default_factory=dict)
    atari: bool = False
    rendered: bool = False  # its pixels come from render(): its own observation is not an image (FrozenLake's cell)


KNOWN_ENVS: dict[str, EnvSpec] = {
    "CarRacing-v3": EnvSpec("top-down racing from 96x96 pixels, 3 continuous actions (steer, gas, brake)",
                            ("pixels",)),
    "Pendulum-v1": EnvSpec("swing a pendulum up and hold it; 3-d state, 1 continuous torque",
                           ("state", "pixels")),
    "CartPole-v1": EnvSpec("balance a pole on a cart; 4-d state, 2 discrete pushes", ("state", "pixels")),
    "LunarLander-v3": EnvSpec("land a module between flags; 8-d state, 4 discrete engines",
                              ("state", "pixels")),
    "LunarLanderContinuous-v3": EnvSpec("LunarLander with 2 continuous throttles", ("state", "pixels"),
                                        gym_id="LunarLander-v3", kwargs={"continuous": True}),
    "FrozenLake-v1": EnvSpec("walk a 4x4 frozen lake to the goal past the holes; 4 discrete moves (not slippery: "
                             "a move shows in the next frame unless it hits the edge)", ("pixels",),
                             kwargs={"is_slippery": False},
                             rendered=True),
    "ALE/Pong-v5": EnvSpec("Atari Pong from 210x160 pixels, 6 discrete actions", ("pixels",), atari=True),
    "ALE/Breakout-v5": EnvSpec("Atari Breakout from 210x160 pixels, 4 discrete actions", ("pixels",),
                               atari=True),
    "ALE/Boxing-v5": EnvSpec("Atari Boxing from 210x160 pixels, 18 discrete actions", ("pixels",),
                             atari=True),
}


class ActionRepeat(gym.Wrapper):
    """Repeat each action `repeat` times, sum the rewards, stop early when the episode ends."""

    def __init__(self, env: gym.Env, repeat: int):
        super().__init__(env)
        if repeat < 1:
            raise ValueError(f"action_repeat must be at least 1, got {repeat}.")
        self.repeat = repeat

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class CropObservation(gym.ObservationWrapper):
    """Keep the pixel rows top:bottom and columns left:right of an (H, W, C) image observation."""

    def __init__(self, env: gym.Env, crop: tuple[int, int, int, int]):
        super().__init__(env)
        top, bottom, left, right = crop
        space = env.observation_space
        height, width = space.shape[:2]
        if not (0 <= top < bottom <= height and 0 <= left < right <= width):
            raise ValueError(f"crop={crop} does not fit inside a {height}x{width} image; "
                             "give (top, bottom, left, right) with top < bottom and left < right.")
        self.crop = crop
        self.observation_space = spaces.Box(0, 255, (bottom - top, right - left, *space.shape[2:]), np.uint8)

    def observation(self, obs: np.ndarray) -> np.ndarray:
        top, bottom, left, right = self.crop
        return np.ascontiguousarray(obs[top:bottom, left:right])


class SeedFirstReset(gym.Wrapper):
    """Use `seed` on the first `reset()` that gives none, so `make_env(..., seed=s)` is reproducible."""

    def __init__(self, env: gym.Env, seed: int):
        super().__init__(env)
        self._seed: int | None = seed
        env.action_space.seed(seed)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if seed is None:
            seed, self._seed = self._seed, None
        else:
            self._seed = None
        return self.env.reset(seed=seed, options=options)


def _spec(env_id: str) -> EnvSpec:
    if env_id not in KNOWN_ENVS:
        raise UnknownEnvError(f"Unknown environment {env_id!r}; known ids are {', '.join(KNOWN_ENVS)}.")
    return KNOWN_ENVS[env_id]


def make_env(env_id: str, *, obs: str | None = None, size: int = 64, grayscale: bool = False,
             action_repeat: int = 1, crop: tuple[int, int, int, int] | None = None, seed: int | None = None,
             render_mode: str | None = None, max_episode_steps: int | None = None,
             life_loss: bool = False) -> gym.Env:
    """Make a known environment with state or pixel observations.

    obs: "state" or "pixels"; None takes the env's own kind (state where it has one, else pixels).
    size, grayscale, crop: pixel observations only; the image is cropped to (top, bottom, left, right),
        resized to size x size, then made grayscale (H, W, 1).
    action_repeat: the same action this many times per step (Atari: AtariPreprocessing's frame skip,
        which also max-pools the last two frames).
    seed: used by the first reset() and for action_space.sample().
    life_loss: Atari only: a lost life ends the episode (terminated=True), as IRIS trains; the next reset()
        starts a new game.
    """
    spec = _spec(env_id)
    obs = obs or spec.obs[0]
    if obs not in OBS_KINDS:
        raise UnknownEnvError(f"Unknown observation kind {obs!r}; choose one of {', '.join(OBS_KINDS)}.")
    if obs not in spec.obs:
        raise UnknownEnvError(f"{env_id} has only {' and '.join(spec.obs)} observations, not {obs!r}.")
    if life_loss and not spec.atari:
        raise ValueError(f"life_loss applies to Atari games only; {env_id} has no lives.")
    pixels = obs == "pixels"
    if pixels and (spec.obs[0] == "state" or spec.rendered):  # pixels come from render()
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"obs='pixels' renders frames itself, so render_mode must be None or "
                             f"'rgb_array', not {render_mode!r}.")
        render_mode = "rgb_array"

    if render_mode != "human":  # off-screen: no window, so no "XDG_RUNTIME_DIR not set" from pygame's SDL
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")  # else SDL swallows SIGTERM: `kill` would not stop a run
    kwargs: dict[str, Any] = dict(spec.kwargs, render_mode=render_mode)
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps  # gym.make wraps it in TimeLimit
    if spec.atari:
        import ale_py

        gym.register_envs(ale_py)
        env = gym.make(spec.gym_id or env_id, frameskip=1, **kwargs)
        native = env.observation_space.shape  # (210, 160, 3)
        screen = (native[1], native[0]) if crop else (size, size)  # crop needs the full frame first
        gray_here = grayscale and crop is None  # then it max-pools grayscale frames, as DQN did
        env = AtariPreprocessing(env, frame_skip=action_repeat, screen_size=screen, noop_max=30,
                                 grayscale_obs=gray_here, grayscale_newaxis=True, terminal_on_life_loss=life_loss)
        grayscale = grayscale and not gray_here
    else:
        env = gym.make(spec.gym_id or env_id, **kwargs)
        if action_repeat != 1:
            env = ActionRepeat(env, action_repeat)

    if pixels:
        if spec.obs[0] == "state" or spec.rendered:
            env = AddRenderObservation(env, render_only=True)
        if crop is not None:
            env = CropObservation(env, crop)
        if env.observation_space.shape[:2] != (size, size):
            env = ResizeObservation(env, (size, size))
        if grayscale:
            env = GrayscaleObservation(env, keep_dim=True)
    elif crop is not None or grayscale:
        raise ValueError("crop and grayscale apply to pixel observations only; pass obs='pixels'.")

    if seed is not None:
        env = SeedFirstReset(env, seed)
    return env


def env_info(env: gym.Env) -> dict[str, Any]:
    """Shapes and kinds a model needs: obs_shape, obs_dtype, pixels, action_dim, discrete, action_low/high.

    A discrete action space of n actions has action_dim n (one-hot actions) and no low/high.
    """
    space = env.observation_space
    act = env.action_space
    info: dict[str, Any] = {
        "obs_shape": tuple(space.shape),
        "obs_dtype": str(space.dtype),
        "pixels": space.dtype == np.uint8 and len(space.shape) == 3,
    }
    if isinstance(act, spaces.Discrete):
        info.update(action_dim=int(act.n), discrete=True, action_low=None, action_high=None)
    elif isinstance(act, spaces.Box):
        info.update(action_dim=int(np.prod(act.shape)), discrete=False,
                    action_low=act.low.astype(float).tolist(), action_high=act.high.astype(float).tolist())
    else:
        raise TypeError(f"Unsupported action space {act}; expected Discrete or Box.")
    return info
