"""Glue around the world model: the environment, the acting agent, episodes, a figure, the protocol.

No exercise here. The agent acts in [-1, 1]^A (what the planner and the tanh policy produce); `to_env`
maps that box onto the environment's own bounds (Pendulum: torque in [-2, 2]).
"""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from common.envs import KNOWN_ENVS, UnknownEnvError, env_info, make_env
from common.world_model import Trajectory

EVAL_SEED_BASE = 1_000_000_000  # eval.py's episodes; training never resets with a seed this large
VAL_SEED_BASE = 999_000_000  # the periodic evaluations during training


def make_tdmpc_env(env_id: str, action_repeat: int = 1, seed: int | None = None,
                   render_mode: str | None = None) -> gym.Env:
    """A state-based env with continuous actions, or UnknownEnvError with one sentence saying why not."""
    if env_id in KNOWN_ENVS and "state" not in KNOWN_ENVS[env_id].obs:
        raise UnknownEnvError(f"{env_id} offers pixels only; this chapter learns from state vectors "
                              "(try Pendulum-v1 or LunarLanderContinuous-v3).")
    env = make_env(env_id, obs="state", action_repeat=action_repeat, seed=seed, render_mode=render_mode)
    if env_info(env)["discrete"]:
        raise UnknownEnvError(f"{env_id} has discrete actions; TD-MPC2's planner samples continuous ones "
                              "(try Pendulum-v1 or LunarLanderContinuous-v3).")
    return env


def episode_length(env: gym.Env, action_repeat: int) -> int:
    """Agent steps per episode (the time limit divided by the action repeat)."""
    return math.ceil(env.spec.max_episode_steps / action_repeat)


class Agent:
    """A trained model acting in the env: with the MPPI planner, or with the policy prior alone."""

    def __init__(self, model, planner, discount: float, low: list[float], high: list[float]) -> None:
        self.model, self.planner, self.discount = model, planner, discount
        self.low, self.high = np.asarray(low, np.float32), np.asarray(high, np.float32)

    def to_env(self, action: np.ndarray) -> np.ndarray:
        """[-1, 1]^A -> the env's [low, high]."""
        return self.low + (np.asarray(action, np.float32) + 1.0) * 0.5 * (self.high - self.low)

    @torch.no_grad()
    def act(self, obs: np.ndarray, t0: bool, policy: str = "planner", eval_mode: bool = True) -> np.ndarray:
        """obs (D,) -> action (A,) in [-1, 1]. policy: "planner" (MPPI) or "prior" (the policy network)."""
        device = next(self.model.parameters()).device
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=device)
        if policy == "planner":
            action = self.planner.plan(self.model, x, self.discount, t0=t0, eval_mode=eval_mode)
        else:
            sample, info = self.model.pi(self.model.encode(x[None]))
            action = (info["mean"] if eval_mode else sample)[0]
        return action.cpu().numpy()

    @torch.no_grad()
    def predicted_reward(self, obs: np.ndarray, action: np.ndarray, two_hot_inv) -> float:
        """R(h(s), a) decoded: what the model expects to receive for `action` in `obs`."""
        device = next(self.model.parameters()).device
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=device)[None]
        a = torch.as_tensor(np.asarray(action), dtype=torch.float32, device=device)[None]
        return float(two_hot_inv(self.model.reward(self.model.encode(x), a), self.model.vmin, self.model.vmax))


def run_episode(env: gym.Env, agent: Agent, policy: str, seed: int | None, eval_mode: bool = True,
                frames: list | None = None, two_hot_inv=None) -> dict[str, list[float] | float]:
    """Play one episode; returns {"return", "rewards", "predicted"} (predicted only with two_hot_inv)."""
    obs, _ = env.reset(seed=seed)
    rewards, predicted, t, done = [], [], 0, False
    while not done:
        action = agent.act(obs, t0=t == 0, policy=policy, eval_mode=eval_mode)
        if two_hot_inv is not None:
            predicted.append(agent.predicted_reward(obs, action, two_hot_inv))
        obs, reward, terminated, truncated, _ = env.step(agent.to_env(action))
        rewards.append(float(reward))
        if frames is not None:
            frames.append(env.render())
        done, t = terminated or truncated, t + 1
    return {"return": float(sum(rewards)), "rewards": rewards, "predicted": predicted}


def evaluate(env: gym.Env, agent: Agent, policy: str, episodes: int, seed_base: int) -> list[float]:
    """Returns of `episodes` whole episodes in eval mode (means, no exploration noise)."""
    return [run_episode(env, agent, policy, seed_base + i)["return"] for i in range(episodes)]


def reward_figure(real: list[float], predicted: list[float], path: str | Path, title: str = "") -> Path:
    """Real rewards and the reward head's one-step predictions R(h(s_t), a_t) along one episode."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot(real, lw=2, label="real reward")
    ax.plot(predicted, lw=1.2, ls="--", label="predicted R(h(s), a)")
    ax.set_xlabel("step of the episode")
    ax.set_ylabel("reward")
    ax.set_title(title or "reward head vs the environment")
    ax.grid(alpha=0.3)
    ax.legend()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return Path(path)


class TDMPC2WorldModel:
    """The model seen through common.world_model's protocol (batch first).

    TD-MPC2 is *implicit*: its latent is built to predict rewards and values, not observations, so it
    has no decoder. It has no memory either: the latent of a step comes from that step's observation
    alone, so `observe` simply encodes the new observation.
    """

    lacks = ("decode", "loss")  # no decoder; the loss needs TD targets and a rollout (world_model.py)

    def __init__(self, model, two_hot_inv) -> None:
        self.model, self.two_hot_inv = model, two_hot_inv

    @torch.no_grad()
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.model.encode(obs.float())  # (B, D) -> (B, L)

    def observe(self, state: torch.Tensor, action: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        return self.encode(obs)

    @torch.no_grad()
    def predict(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.model.next(state, action.float())

    @torch.no_grad()
    def imagine(self, state: torch.Tensor, actions: torch.Tensor) -> Trajectory:
        """actions (B, T, A) -> T latents and the predicted rewards (B, T)."""
        states, rewards = [], []
        for t in range(actions.shape[1]):
            a = actions[:, t].float()
            rewards.append(self.two_hot_inv(self.model.reward(state, a), self.model.vmin, self.model.vmax))
            state = self.model.next(state, a)
            states.append(state)
        return Trajectory(states=states, rewards=torch.stack(rewards, 1))
