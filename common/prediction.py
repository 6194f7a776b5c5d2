"""Open-loop prediction error against horizon, for any world model of common.world_model's protocol.

The held-out episodes are the same for every model of a task: reset with seeds 3,000,000 + i and driven by
uniformly random actions (seeded by the episode), each held for `hold` env steps, so that models with
different action repeats (which must divide `hold`) see the same physical episode, sampled at their own rate.
Along each episode the model filters the observations (encode, then observe); every `stride` env steps from
`context` on, it imagines the next `horizon` env steps from the actions alone, and

    obs error      mean squared error of decode(state)["obs"] against the real observation, per number
                   (state vectors in the env's units; images in [0, 1]); models that do not decode: None
    reward error   |predicted - real reward| of one model step, divided by its action repeat (per env step);
                   models that predict no reward (chapter 1's M): None
    copy baseline  the obs error of "nothing moves": the last observed frame or vector held for the horizon

are averaged over all windows at each horizon h (in env steps). Random actions are not the agent's: this
measures the model on the states random play visits, identical for all models.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .any_model import Opened
from .world_model import capabilities

SEED_BASE = 3_000_000
HOLD = {"CartPole-v1": 1, "Pendulum-v1": 2}  # chapters 3-4: repeat 1; chapters 2, 4, 6: repeat 2 or 1; else 4


def held_out_episode(opened: Opened, index: int, hold: int, max_steps: int | None = None) -> dict[str, np.ndarray]:
    """Episode `index` of the held-out set as this model sees it: obs (T+1, ...), action (T, A), reward (T,)."""
    repeat = opened.action_repeat
    if hold % repeat:
        raise ValueError(f"{opened.paper} repeats each action {repeat} times, which does not divide hold={hold}.")
    rng = np.random.default_rng(SEED_BASE + index)
    env = opened.make_env(SEED_BASE + index)
    obs, _ = env.reset(seed=SEED_BASE + index)
    frames, actions, rewards, action = [obs], [], [], None
    done, step = False, 0
    while not done and (max_steps is None or step < max_steps):
        if step % hold == 0:  # a new random action every `hold` env steps
            action = opened.random_action(rng)
        obs, reward, terminated, truncated, _ = env.step(opened.to_env(action))
        frames.append(obs)
        actions.append(action)
        rewards.append(float(reward))
        done, step = terminated or truncated, step + repeat
    env.close()
    return {"obs": np.stack(frames), "action": np.stack(actions).astype(np.float32), "reward": np.asarray(rewards)}


def _as_float(x: Any) -> np.ndarray:
    """Observations as floats: images in [0, 1] (uint8 / 255), vectors as they are."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)


def _obs_mse(pred: Any, real: np.ndarray) -> float:
    p, r = _as_float(pred), _as_float(real)
    return float(np.mean((p.reshape(r.shape) - r) ** 2))


def default_hold(env_id: str) -> int:
    """Env steps per random action: a multiple of the action repeat of every chapter on the task."""
    return HOLD.get(env_id, 4)


@torch.no_grad()
def prediction_error(opened: Opened, episodes: int = 8, hold: int | None = None, context: int = 4,
                     horizon: int = 32, stride: int = 8, max_steps: int | None = 400) -> dict[str, Any]:
    """The errors of the module docstring for one model; lists indexed by horizon (env steps, ascending).

    context, stride: in env steps, rounded up to multiples of `hold`, so that every model's windows start at the
    same moments of the same episodes."""
    caps = capabilities(opened.model)
    missing = [m for m in ("encode", "observe", "imagine") if not caps[m]]
    if missing:
        raise ValueError(f"{opened.paper}'s model lacks {', '.join(missing)}, so it cannot predict open loop.")
    repeat, hold = opened.action_repeat, hold or default_hold(opened.env_id)
    up = lambda n: max(hold, -(-n // hold) * hold)  # a positive multiple of hold
    context, stride, steps_h = up(context), up(stride), max(1, horizon // repeat)
    obs_sum, copy_sum, rew_sum = np.zeros(steps_h), np.zeros(steps_h), np.zeros(steps_h)
    count, has_reward = np.zeros(steps_h, int), False
    torch.manual_seed(0)  # models that sample their dreams (chapters 1 and 5)
    to_t = lambda x: torch.as_tensor(np.asarray(x)[None])
    for index in range(episodes):
        ep = held_out_episode(opened, index, hold, max_steps)
        obs, actions, rewards = ep["obs"], ep["action"], ep["reward"]
        state = opened.model.encode(to_t(obs[0]))
        for t in range(len(actions)):
            if t * repeat >= context and (t * repeat - context) % stride == 0:  # obs[0..t] seen: dream from t
                h = min(steps_h, len(actions) - t)
                traj = opened.model.imagine(state, to_t(actions[t:t + h]))
                for k in range(h):
                    real = obs[t + k + 1]
                    if caps["decode"]:
                        obs_sum[k] += _obs_mse(opened.model.decode(traj.states[k])["obs"][0], real)
                    copy_sum[k] += float(np.mean((_as_float(obs[t]) - _as_float(real)) ** 2))
                    if traj.rewards is not None:
                        has_reward = True
                        rew_sum[k] += abs(float(traj.rewards[0, k]) - rewards[t + k]) / repeat
                    count[k] += 1
            state = opened.model.observe(state, to_t(actions[t]), to_t(obs[t + 1]))
    seen = count > 0
    mean = lambda s: [round(float(v), 6) for v in s[seen] / count[seen]]
    return {"chapter": opened.paper, "env": opened.env_id, "obs": opened.obs, "seed": int(opened.cfg.seed),
            "trained_env_steps": opened.step, "action_repeat": repeat, "hold": hold, "context": context,
            "stride": stride,
            "horizon": [int((k + 1) * repeat) for k in np.flatnonzero(seen)], "windows": count[seen].tolist(),
            "obs_mse": mean(obs_sum) if caps["decode"] else None, "copy_obs_mse": mean(copy_sum),
            "reward_abs_error": mean(rew_sum) if has_reward else None}
