"""Train Dreamer (Hafner et al. 2020) on a continuous-control task, from state vectors or pixels.

    1. prefill   `prefill` env steps of uniformly random actions into the replay
    2. repeat    act with the actor + exploration noise; every `train_every` env steps, `train_steps`
                 updates (world model, then actor and value in imagination) on (batch x length) chunks
    3. evaluate  every `eval_every` env steps: episodes with the greedy action, no noise
    4. finish    curve.png (returns and losses), dream.png and dream.gif (pixels, or Pendulum from states):
                 the model watches the first steps of an episode, then imagines the rest from the actions alone

checkpoint.pt (+ replay.npz) is written at each evaluation, at the end and on Ctrl-C; `--resume RUN_DIR`
goes on from there. best.pt holds the agent of the best periodic evaluation so far.
Usage, from the repo root or from this folder:

    python -m paper2_dreamerv1.train                     # the cpu preset: Pendulum-v1 from states, <= 60 min
    python -m paper2_dreamerv1.train --obs pixels --cnn-depth 16 --batch 8 --minutes 85   # from 64x64 renders
    python -m paper2_dreamerv1.train --preset paper      # the paper's pixel setting, for a GPU
    python train.py --use-solution rssm,networks         # the reference's RSSM and networks, the rest yours
"""

from __future__ import annotations

if __package__ in (None, ""):  # `python train.py` from inside the folder
    from common.chapter import package_of

    __package__ = package_of(__file__)

import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from common.chapter import chapter_name, cli, finish, load_modules, parse_use_solution, save_on_ctrl_c, start_run
from common.config import chapter_parser, config_to_dict, parse_chapter_args
from common.dreams import draw_dream
from common.envs import UnknownEnvError, env_info, make_env
from common.logger import RunLogger, plot_curves, progress
from common.online import budget_spent, due, eval_summary, record_eval, save_run

from .config import PRESETS, Config

PAPER = chapter_name(__package__)
MODULES = ("buffer", "rssm", "networks", "actor_critic", "agent")


# ---------------------------------------------------------------- set-up
def parse_args(argv: list[str] | None = None) -> tuple[Config, Any]:
    parser = chapter_parser(Config, PRESETS, __doc__, __package__, MODULES)  # --out, --resume, --use-solution
    cfg, args = parse_chapter_args(parser, Config, PRESETS, argv)
    if cfg.obs not in ("state", "pixels"):
        parser.error(f"--obs must be state or pixels, got {cfg.obs!r}")
    return cfg, args


def make_envs(cfg: Config) -> tuple[Any, Any]:
    kw = dict(obs=cfg.obs, size=64, action_repeat=cfg.action_repeat)
    env, eval_env = make_env(cfg.env, seed=cfg.seed, **kw), make_env(cfg.env, seed=cfg.seed + 10_000, **kw)
    info = env_info(env)
    if info["discrete"]:
        raise UnknownEnvError(f"chapter 2's tanh-Normal actor needs continuous actions; {cfg.env} has "
                              "discrete ones (try Pendulum-v1 or LunarLanderContinuous-v3).")
    return env, eval_env


def to_env_action(action: np.ndarray, env: Any) -> np.ndarray:
    """[-1, 1] -> the env's [low, high] (the authors' NormalizeActions wrapper)."""
    low, high = env.action_space.low, env.action_space.high
    return (low + (action + 1.0) * 0.5 * (high - low)).astype(env.action_space.dtype)


def run_episode(env: Any, agent: Any, explore: bool = False, seed: int | None = None,
                frames: list[np.ndarray] | None = None) -> tuple[float, dict[str, np.ndarray]]:
    """One episode with the agent's policy; returns the (action-repeated) return and the episode
    (obs (T+1, ...), action (T, A), reward (T,)). `frames`: collect env.render() images too."""
    obs, _ = env.reset(seed=seed)
    state, done, total = None, False, 0.0
    observations, actions, rewards = [obs], [], []
    while not done:
        action, state = agent.policy(obs, state, explore)
        obs, reward, terminated, truncated, _ = env.step(to_env_action(action, env))
        done = terminated or truncated
        total += float(reward)
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
        if frames is not None:
            frames.append(env.render())
    episode = {"obs": np.stack(observations), "action": np.stack(actions), "reward": np.asarray(rewards)}
    return total, episode


# ---------------------------------------------------------------- the run
class Run:
    """Config, folder, environments, replay, agent, counters; save() writes checkpoint.pt + replay.npz."""

    def __init__(self, cfg: Config, run_dir: Path, mods: dict[str, ModuleType], ckpt: dict | None) -> None:
        self.cfg, self.dir, self.mods = cfg, run_dir, mods
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.env, self.eval_env = make_envs(cfg)
        info = env_info(self.env)
        self.obs_shape, self.action_dim = info["obs_shape"], info["action_dim"]
        self.agent = mods["agent"].Dreamer(self.obs_shape, self.action_dim, cfg, cfg.device)
        capacity = max(1, min(cfg.buffer_size, cfg.steps // cfg.action_repeat + 1000))
        self.buffer = mods["buffer"].SequenceBuffer(capacity, self.obs_shape, self.action_dim, info["pixels"],
                                                    cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.progress = {"env_steps": 0, "episodes": 0, "updates": 0, "last_train": 0, "last_eval": 0,
                         "last_log": 0, "pretrained": 0, "best_eval": -1e9, "best_step": 0, "elapsed": 0.0}
        if ckpt is not None:
            self.agent.load_state_dict(ckpt["agent"])
            self.progress.update(ckpt["progress"])
            if (run_dir / "replay.npz").exists():
                self.buffer.replay = type(self.buffer.replay).load(run_dir / "replay.npz", capacity)
        self.t0 = time.time()

    def elapsed(self) -> float:
        return self.progress["elapsed"] + time.time() - self.t0

    def save(self, name: str = "checkpoint.pt") -> None:
        """checkpoint.pt (+ replay.npz): everything needed to resume. best.pt: the same agent, no replay."""
        self.progress["elapsed"], self.t0 = self.elapsed(), time.time()
        save_run(self.dir, name, self.buffer.replay, paper=PAPER, step=self.progress["env_steps"],
                 config=config_to_dict(self.cfg), agent=self.agent.state_dict(), progress=dict(self.progress),
                 obs_shape=list(self.obs_shape), action_dim=self.action_dim)

    def train(self, updates: int, log: RunLogger, desc: str | None = None) -> None:
        """`updates` updates; with `desc`, a phase of its own (the pretraining) that shows its own bar."""
        cfg, sums = self.cfg, {}
        length = min(cfg.length, len(self.buffer))
        steps = progress(range(updates), desc=desc, leave=False) if desc else range(updates)
        for _ in steps:
            batch = self.buffer.sample(cfg.batch, length, cfg.device)
            for k, v in self.agent.update(batch).items():
                sums[k] = sums.get(k, 0.0) + v
        self.progress["updates"] += updates
        self.last_metrics = {k: v / updates for k, v in sums.items()}

    def evaluate(self) -> tuple[float, dict[str, np.ndarray]]:
        returns, episode = [], None
        for i in range(self.cfg.eval_episodes):
            ret, episode = run_episode(self.eval_env, self.agent, explore=False,
                                       seed=self.cfg.seed * 1000 + 100_000 + i)
            returns.append(ret)
        return float(np.mean(returns)), episode


def train_loop(run: Run, log: RunLogger) -> None:
    cfg, p, env = run.cfg, run.progress, run.env
    obs, state, ep_return = None, None, 0.0
    run.last_metrics = {}
    while p["env_steps"] < cfg.steps:
        if budget_spent(cfg.minutes, run.elapsed(), log):
            break
        if obs is None:
            obs, _ = env.reset()
            run.buffer.start_episode(obs)
            state, ep_return = None, 0.0
        if p["env_steps"] < cfg.prefill:
            action = run.rng.uniform(-1, 1, run.action_dim).astype(np.float32)
        else:
            action, state = run.agent.policy(obs, state, explore=True)
        obs, reward, terminated, truncated, _ = env.step(to_env_action(action, env))
        run.buffer.add(obs, action, float(reward) * cfg.reward_scale, bool(terminated))
        p["env_steps"] += cfg.action_repeat
        log.update(cfg.action_repeat)
        ep_return += float(reward)
        if terminated or truncated:
            p["episodes"] += 1
            log.log(p["env_steps"], train_return=ep_return, episodes=p["episodes"])
            obs = None
        if p["env_steps"] >= cfg.prefill:  # learn: first the pretraining, then every train_every steps
            if not p["pretrained"]:
                run.train(cfg.pretrain, log, desc="pretraining")
                p["pretrained"], p["last_train"] = 1, p["env_steps"]
            elif due(p, "last_train", cfg.train_every):
                run.train(cfg.train_steps, log)
        if run.last_metrics and due(p, "last_log", cfg.log_every):
            log.log(p["env_steps"], updates=p["updates"], minutes=run.elapsed() / 60, **run.last_metrics)
        if p["pretrained"] and due(p, "last_eval", cfg.eval_every):
            score, _ = run.evaluate()
            record_eval(log, p, score, run.elapsed() / 60, run.save)  # best.pt when it is the best so far


def wrap_up(run: Run) -> dict[str, Any]:
    """Pictures and the summary of a run that stopped (done or budget spent)."""
    plot_curves(run.dir / "metrics.jsonl", ["eval_return", "train_return", "model_loss", "kl", "actor_loss",
                                            "critic_loss"], run.dir / "curve.png",
                title=f"Dreamer on {run.cfg.env} ({run.cfg.obs})")
    score, episode = run.evaluate()
    path = draw_dream(run.agent.wm, episode, run.dir / "dream", context=10, env_id=run.cfg.env)
    return {"run_dir": str(run.dir), "env": run.cfg.env, "obs": run.cfg.obs, "minutes": round(run.elapsed() / 60, 2),
            **eval_summary(run.dir, run.progress, score), "dream": str(path)}


def main(argv: list[str] | None = None) -> Path:
    cfg, args = parse_args(argv)
    use_solution = parse_use_solution(args.use_solution, MODULES)
    cfg, run_dir, ckpt = start_run(PAPER, Config, cfg, args.resume, args.out, args.minutes)  # --resume keeps its config
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Run(cfg, run_dir, load_modules(__package__, MODULES, use_solution), ckpt)
    print(f"run folder: {run_dir}  ({cfg.env}, {cfg.obs}, preset-resolved steps {cfg.steps}, "
          f"torch threads {torch.get_num_threads()})")
    log = RunLogger(run_dir, total=cfg.steps, initial=run.progress["env_steps"], desc="dreamer")
    with log, save_on_ctrl_c(run_dir, run.save):  # the bar closes in any case; Ctrl-C saves a checkpoint
        train_loop(run, log)
        run.save()
        summary = wrap_up(run)
        run.save()
    finish(run_dir, summary, __package__, run.elapsed() / 60, " (the last agent, or the best-evaluated one)",
           ("checkpoint.pt", "best.pt"))
    return run_dir


def make_bench(cfg: Config):
    """For `python -m common.bench paper2_dreamerv1`: one Dreamer update, one acting step."""
    from common.bench import Bench

    mods = load_modules(__package__, MODULES, set())
    env = make_env(cfg.env, obs=cfg.obs, size=64, action_repeat=cfg.action_repeat, seed=cfg.seed)
    info = env_info(env)
    agent = mods["agent"].Dreamer(info["obs_shape"], info["action_dim"], cfg, cfg.device)
    buffer = mods["buffer"].SequenceBuffer(4 * cfg.length, info["obs_shape"], info["action_dim"],
                                           info["pixels"])
    obs, _ = env.reset()
    buffer.start_episode(obs)
    for _ in range(2 * cfg.length):
        action = env.action_space.sample()
        obs, reward, term, trunc, _ = env.step(action)
        buffer.add(obs, np.clip(action / env.action_space.high, -1, 1), reward, term)
        if term or trunc:
            obs, _ = env.reset()
            buffer.start_episode(obs)
    holder: dict[str, Any] = {"obs": obs, "state": None}

    def act() -> None:
        action, holder["state"] = agent.policy(holder["obs"], holder["state"], True)
        holder["obs"], _, term, trunc, _ = env.step(to_env_action(action, env))
        if term or trunc:
            holder["obs"], holder["state"] = env.reset()[0], None

    return Bench(update=lambda: agent.update(buffer.sample(cfg.batch, cfg.length, cfg.device)), act=act,
                 modules=[agent.wm, agent.actor, agent.value],
                 act_label="acting step (encoder + RSSM + actor, batch 1, + env step)",
                 note=f"update = world model + actor + value on a {cfg.batch}x{cfg.length} batch, "
                      f"imagining {cfg.horizon} steps from each of the {cfg.batch * cfg.length} states")


if __name__ == "__main__":
    cli(main)
