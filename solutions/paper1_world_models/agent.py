"""The three parts put together: the agent that drives, rollouts in worker processes, and dreams.

No exercise here: it glues V (vae.py), M (rnn.py) and C (controller.py) the way Fig. 4 of the paper does:

    frame -> V -> z_t ; C([z_t, h_t]) -> a_t ; env.step(a_t) ; M: h_{t+1} = LSTM([z_t, a_t], h_t)
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os

import numpy as np
import torch

from common.envs import make_env
from common.world_model import Trajectory

CROP = (0, 84, 0, 96)  # CarRacing's frame is 96x96; its bottom 12 rows are the dashboard
EVAL_SEED_BASE = 1_000_000_000  # eval.py's tracks; training never draws a seed this large


def make_car_env(env_id: str, render_mode: str | None = None):
    """CarRacing with the dashboard cropped and frames resized to 64x64x3 uint8 (§A.1)."""
    return make_env(env_id, obs="pixels", size=64, crop=CROP, render_mode=render_mode)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 (..., 64, 64, 3) -> float (..., 3, 64, 64) in [0, 1]."""
    x = torch.as_tensor(frames).float().div(255.0)
    return x.movedim(-1, -3)


class Agent:
    """V + M + C acting in a real environment, one step at a time (batch of 1)."""

    def __init__(self, vae, rnn, controller, controller_input: str = "zh") -> None:
        self.vae, self.rnn, self.controller = vae, rnn, controller
        self.controller_input = controller_input
        self.reset()

    def reset(self) -> None:
        self.state = self.rnn.initial_state(1)  # (h, c), each (1, 1, H)

    @torch.no_grad()
    def act(self, frame: np.ndarray) -> np.ndarray:
        mu, _ = self.vae.encode(to_tensor(frame)[None])  # z_t = mu: the mean code, as at test time
        h = self.state[0][0]  # (1, H)
        features = torch.cat([mu, h], -1) if self.controller_input == "zh" else mu
        action = self.controller(features)  # (1, 3)
        _, self.state = self.rnn(mu[:, None], action[:, None], self.state)  # M steps to h_{t+1}
        return action[0].numpy().astype(np.float64)


def run_episode(env, policy, seed: int, max_steps: int, patience: int = 0, frames: list | None = None,
                render: bool = False) -> tuple[float, int]:
    """Drive one episode; stop early after `patience` steps with no positive reward (0 = never).

    Early stopping only cuts short hopeless candidates during evolution (off the road, standing still);
    evaluation always drives whole episodes.
    """
    obs, _ = env.reset(seed=int(seed))
    if hasattr(policy, "reset"):
        policy.reset()
    total, since_progress = 0.0, 0
    for t in range(max_steps):
        action = policy.act(obs) if hasattr(policy, "act") else policy(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        if frames is not None:
            frames.append(env.render() if render else obs)
        since_progress = 0 if reward > 0 else since_progress + 1
        if terminated or truncated or (patience and since_progress >= patience):
            return total, t + 1
    return total, max_steps


class RandomDriver:
    """The collection policy: random actions held for a few steps, biased to move (§A.1 random rollouts)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.left, self.action = rng, 0, np.zeros(3)

    def reset(self) -> None:
        self.left = 0

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.left == 0:
            self.left = int(self.rng.integers(4, 16))
            self.action = np.array([self.rng.uniform(-1, 1), self.rng.uniform(0.1, 1.0),
                                    self.rng.uniform(0, 0.3) * (self.rng.random() < 0.2)])
        self.left -= 1
        return self.action


# ---------------------------------------------------------------- worker processes
def collect_rollout(task: tuple[str, int, int, str]) -> int:
    """Drive RandomDriver on one seeded track; save frames (T, 64, 64, 3) uint8 and actions (T, 3)."""
    env_id, seed, steps, path = task
    env, driver, frames, actions = make_car_env(env_id), RandomDriver(np.random.default_rng(seed)), [], []
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        action = driver.act(obs)
        frames.append(obs)
        actions.append(action)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    env.close()
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, obs=np.stack(frames), action=np.stack(actions).astype(np.float32))
    os.replace(tmp, path)  # a rollout file exists only once complete, so collection can resume
    return len(frames)


_W: dict = {}


def _init_worker(modules: dict[str, str], cfg_dict: dict, vae_state: dict, rnn_state: dict) -> None:
    """Runs once per worker: one thread, one env, V and M loaded once."""
    torch.set_num_threads(1)
    mods = {k: importlib.import_module(v) for k, v in modules.items()}
    vae = mods["vae"].ConvVAE(cfg_dict["z_dim"])
    vae.load_state_dict(vae_state)
    rnn = mods["rnn"].MDNRNN(cfg_dict["z_dim"], 3, cfg_dict["hidden"], cfg_dict["n_mix"])
    rnn.load_state_dict(rnn_state)
    in_dim = cfg_dict["z_dim"] + (cfg_dict["hidden"] if cfg_dict["controller_input"] == "zh" else 0)
    controller = mods["controller"].Controller(in_dim)
    _W.update(env=make_car_env(cfg_dict["env"]), cfg=cfg_dict, mods=mods,
              agent=Agent(vae.eval(), rnn.eval(), controller, cfg_dict["controller_input"]))


def _episode(task: tuple[np.ndarray, int, int]) -> tuple[float, int]:
    params, seed, patience = task
    _W["mods"]["controller"].set_flat(_W["agent"].controller, params)
    return run_episode(_W["env"], _W["agent"], seed, _W["cfg"]["episode_steps"], patience)


class RolloutPool:
    """Evaluates controller parameter vectors on seeded tracks in parallel worker processes."""

    def __init__(self, workers: int, modules: dict[str, str], cfg_dict: dict, vae_state: dict,
                 rnn_state: dict) -> None:
        self.workers = workers or os.cpu_count() or 1
        ctx = mp.get_context("spawn")  # fresh interpreters: no torch thread pools copied by fork
        self.pool = ctx.Pool(self.workers, _init_worker, (modules, cfg_dict, vae_state, rnn_state))
        self.env_steps = 0  # environment steps driven so far, for the record

    def returns(self, solutions: list[np.ndarray], seeds: list[list[int]], patience: int) -> np.ndarray:
        """Mean return of each solution over its own list of track seeds."""
        tasks = [(np.asarray(s), seed, patience) for s, ss in zip(solutions, seeds, strict=True) for seed in ss]
        results = self.pool.map(_episode, tasks, chunksize=1)
        self.env_steps += sum(steps for _, steps in results)
        flat = [total for total, _ in results]
        out, i = [], 0
        for ss in seeds:
            out.append(float(np.mean(flat[i:i + len(ss)])))
            i += len(ss)
        return np.array(out)

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()


# ---------------------------------------------------------------- the WorldModel protocol (common/)
class VMWorldModel:
    """V and M seen through common.world_model's protocol, so `render_dream` can show their dreams.

    The latent state is (z, (h, c)): the VAE code and the LSTM state that has read everything before z.
    Frames in and out are in the env's layout, (B, 64, 64, 3).
    """

    lacks = ("loss",)  # V and M are trained separately (train.py), not by one loss

    def __init__(self, vae, rnn, tau: float = 1.0, generator: torch.Generator | None = None) -> None:
        self.vae, self.rnn, self.tau, self.generator = vae, rnn, tau, generator
        self.rnn_module = importlib.import_module(type(rnn).__module__)

    @torch.no_grad()
    def encode(self, obs: torch.Tensor):
        mu, _ = self.vae.encode(to_tensor(obs))  # obs (B, 64, 64, 3) uint8 -> z (B, Z)
        return mu, self.rnn.initial_state(obs.shape[0])

    @torch.no_grad()
    def _step(self, state, action: torch.Tensor):
        z, hc = state
        (log_pi, mu, log_sigma), hc = self.rnn(z[:, None], action[:, None], hc)
        return log_pi[:, 0], mu[:, 0], log_sigma[:, 0], hc

    def predict(self, state, action: torch.Tensor):
        """Dream one step: sample z_{t+1} from M's mixture at temperature tau."""
        log_pi, mu, log_sigma, hc = self._step(state, action)
        return self.rnn_module.sample_mdn(log_pi, mu, log_sigma, self.tau, self.generator), hc

    @torch.no_grad()
    def observe(self, state, action: torch.Tensor, obs: torch.Tensor):
        _, _, _, hc = self._step(state, action)
        return self.vae.encode(to_tensor(obs))[0], hc

    def imagine(self, state, actions: torch.Tensor) -> Trajectory:
        states = []
        for a in actions.unbind(1):  # actions (B, T, A)
            state = self.predict(state, a)
            states.append(state)
        return Trajectory(states=states, rewards=None, continues=None)

    @torch.no_grad()
    def decode(self, state) -> dict[str, torch.Tensor]:
        return {"obs": self.vae.decode(state[0]).movedim(1, -1)}  # (B, 64, 64, 3) in [0, 1]
