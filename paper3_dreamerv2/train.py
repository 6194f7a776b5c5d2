"""Train DreamerV2 (Hafner et al. 2021) on a discrete-action task, from state vectors or 64x64 pixels.

    1. prefill   `prefill` env steps of uniformly random actions into the replay
    2. repeat    act with a sample of the actor; every `train_every` env steps one update (world model,
                 then actor and critic in imagination) on a (batch x length) chunk of the replay
    3. evaluate  every `eval_every` env steps: episodes with the actor's most likely action
    4. finish    curve.png; dream.png and dream.gif: the model watches the first steps of an episode,
                 then imagines the rest from the actions alone (frames for pixels, traces for vectors)

checkpoint.pt (+ replay.npz) is written at each evaluation, at the end and on Ctrl-C; `--resume RUN_DIR`
goes on from there. best.pt holds the agent of the best periodic evaluation so far.
Usage, from the repo root or from this folder:

    python -m paper3_dreamerv2.train                     # the cpu preset: CartPole-v1 from states, <= 45 min
    python -m paper3_dreamerv2.train --preset atari      # Boxing from 64x64 grayscale frames, <= 120 min
    python -m paper3_dreamerv2.train --preset paper      # the paper's Atari setting, for a GPU
    python train.py --use-solution rssm,utils            # the reference's RSSM and losses, the rest yours
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
from common.logger import RunLogger, plot_curves
from common.online import budget_spent, due, eval_summary, record_eval, save_run
from common.replay import EpisodeReplay

from .config import PRESETS, Config

PAPER = chapter_name(__package__)
MODULES = ("rssm", "networks", "utils", "actor_critic", "agent")


def parse_args(argv: list[str] | None = None) -> tuple[Config, Any]:
    parser = chapter_parser(Config, PRESETS, __doc__, __package__, MODULES)  # --out, --resume, --use-solution
    cfg, args = parse_chapter_args(parser, Config, PRESETS, argv)
    if cfg.obs not in ("state", "pixels"):
        parser.error(f"--obs must be state or pixels, got {cfg.obs!r}")
    return cfg, args


def make_env_for(cfg: Config, seed: int, render: bool = False) -> Any:
    """The chapter's env: Atari frames are 64x64 grayscale, other pixels 64x64 grayscale renders."""
    env = make_env(cfg.env, obs=cfg.obs, size=64, grayscale=cfg.obs == "pixels", action_repeat=cfg.action_repeat,
                   seed=seed, render_mode="rgb_array" if render and cfg.obs == "state" else None)
    if not env_info(env)["discrete"]:
        raise UnknownEnvError(f"chapter 3's actor is categorical and needs discrete actions; {cfg.env} has "
                              "continuous ones (try CartPole-v1 or an ALE game; Pendulum-v1 is chapter 2's).")
    return env


def batch_tensors(raw: dict[str, np.ndarray], device: str | torch.device, preprocess) -> dict[str, torch.Tensor]:
    """A replay sample as float32 tensors: obs preprocessed, action (B, T, A), reward, terminated, is_first."""
    out = {"obs": preprocess(raw["obs"])}
    out.update({k: torch.as_tensor(raw[k], dtype=torch.float32) for k in ("action", "reward", "terminated",
                                                                           "is_first")})
    return {k: v.to(device) for k, v in out.items()}


def run_episode(env: Any, agent: Any, explore: bool = False, seed: int | None = None,
                frames: list[np.ndarray] | None = None) -> tuple[float, dict[str, np.ndarray]]:
    """One episode; returns the return and the episode (obs (T+1, ...), one-hot action (T, A), reward (T,))."""
    obs, _ = env.reset(seed=seed)
    state, done, total = None, False, 0.0
    observations, actions, rewards = [obs], [], []
    while not done:
        action, state = agent.policy(obs, state, explore)
        obs, reward, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
        total += float(reward)
        observations.append(obs)
        actions.append(np.eye(agent.action_dim, dtype=np.float32)[action])
        rewards.append(reward)
        if frames is not None:
            frames.append(env.render())
    return total, {"obs": np.stack(observations), "action": np.stack(actions), "reward": np.asarray(rewards)}


class Run:
    """Config, folder, environments, replay, agent, counters; save() writes checkpoint.pt + replay.npz."""

    def __init__(self, cfg: Config, run_dir: Path, mods: dict[str, ModuleType], ckpt: dict | None) -> None:
        self.cfg, self.dir, self.mods = cfg, run_dir, mods
        torch.manual_seed(cfg.seed)
        self.env, self.eval_env = make_env_for(cfg, cfg.seed), make_env_for(cfg, cfg.seed + 10_000)
        info = env_info(self.env)
        self.obs_shape, self.action_dim = info["obs_shape"], info["action_dim"]
        self.agent = mods["agent"].DreamerV2(self.obs_shape, self.action_dim, cfg, cfg.device)
        self.capacity = max(1, min(cfg.buffer_size, cfg.steps // cfg.action_repeat + 1000))
        self.replay = EpisodeReplay(self.capacity, self.obs_shape, self.action_dim,
                                    np.uint8 if info["pixels"] else np.float32)
        self.rng = np.random.default_rng(cfg.seed)
        self.progress = {"env_steps": 0, "episodes": 0, "updates": 0, "last_train": 0, "last_eval": 0,
                         "last_log": 0, "pretrained": 0, "best_eval": -1e9, "best_step": 0, "elapsed": 0.0}
        if ckpt is not None:
            self.agent.load_state_dict(ckpt["agent"])
            self.progress.update(ckpt["progress"])
            if (run_dir / "replay.npz").exists():
                self.replay = EpisodeReplay.load(run_dir / "replay.npz", self.capacity)
        self.t0, self.last_metrics = time.time(), {}

    def elapsed(self) -> float:
        return self.progress["elapsed"] + time.time() - self.t0

    def save(self, name: str = "checkpoint.pt") -> None:
        self.progress["elapsed"], self.t0 = self.elapsed(), time.time()
        save_run(self.dir, name, self.replay, paper=PAPER, step=self.progress["env_steps"],
                 config=config_to_dict(self.cfg), agent=self.agent.state_dict(), progress=dict(self.progress),
                 obs_shape=list(self.obs_shape), action_dim=self.action_dim)  # best.pt: no replay

    def train(self, updates: int) -> None:
        cfg, sums = self.cfg, {}
        length = min(cfg.length, len(self.replay))
        for _ in range(updates):
            raw = self.replay.sample(cfg.batch, length, self.rng)
            batch = batch_tensors(raw, cfg.device, self.mods["networks"].preprocess_obs)
            for k, v in self.agent.update(batch).items():
                sums[k] = sums.get(k, 0.0) + v
        self.progress["updates"] += updates
        self.last_metrics = {k: v / updates for k, v in sums.items()}

    def evaluate(self) -> tuple[float, dict[str, np.ndarray]]:
        returns, episode = [], None
        for i in range(self.cfg.eval_episodes):
            ret, episode = run_episode(self.eval_env, self.agent, seed=self.cfg.seed * 1000 + 100_000 + i)
            returns.append(ret)
        return float(np.mean(returns)), episode


def train_loop(run: Run, log: RunLogger) -> None:
    cfg, p, env = run.cfg, run.progress, run.env
    obs, state, ep_return = None, None, 0.0
    while p["env_steps"] < cfg.steps:
        if budget_spent(cfg.minutes, run.elapsed(), log):
            break
        if obs is None:
            obs, _ = env.reset()
            run.replay.add(obs, np.zeros(run.action_dim, np.float32), 0.0, False, True)
            state, ep_return = None, 0.0
        if p["env_steps"] < cfg.prefill:
            action = int(run.rng.integers(run.action_dim))
        else:
            action, state = run.agent.policy(obs, state, explore=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        stored = float(np.tanh(reward)) if cfg.reward_tanh else float(reward)
        run.replay.add(obs, action, stored, bool(terminated), False)
        p["env_steps"] += cfg.action_repeat
        log.update(cfg.action_repeat)
        ep_return += float(reward)
        if terminated or truncated:
            p["episodes"] += 1
            log.log(p["env_steps"], train_return=ep_return, episodes=p["episodes"])
            obs = None
        if p["env_steps"] >= cfg.prefill:
            if not p["pretrained"]:
                log.write(f"prefill done ({len(run.replay)} steps); {cfg.pretrain} pretraining updates")
                run.train(cfg.pretrain)
                p["pretrained"], p["last_train"] = 1, p["env_steps"]
            elif due(p, "last_train", cfg.train_every):
                run.train(1)
        if run.last_metrics and due(p, "last_log", cfg.log_every):
            log.log(p["env_steps"], updates=p["updates"], minutes=run.elapsed() / 60, **run.last_metrics)
        if p["pretrained"] and due(p, "last_eval", cfg.eval_every):
            score, _ = run.evaluate()
            record_eval(log, p, score, run.elapsed() / 60, run.save)  # best.pt when it is the best so far


def wrap_up(run: Run) -> dict[str, Any]:
    """Pictures and the summary of a run that stopped (done or budget spent)."""
    plot_curves(run.dir / "metrics.jsonl", ["eval_return", "train_return", "model_loss", "kl", "cont_ll",
                                            "actor_loss", "critic_loss", "actor_entropy"], run.dir / "curve.png",
                title=f"DreamerV2 on {run.cfg.env} ({run.cfg.obs})")
    score, episode = run.evaluate()
    path = draw_dream(run.agent.wm, episode, run.dir / "dream", env_id=run.cfg.env)
    return {"run_dir": str(run.dir), "env": run.cfg.env, "obs": run.cfg.obs, "minutes": round(run.elapsed() / 60, 2),
            **eval_summary(run.dir, run.progress, score), "dream": str(path)}


def main(argv: list[str] | None = None) -> Path:
    cfg, args = parse_args(argv)
    use_solution = parse_use_solution(args.use_solution, MODULES)
    cfg, run_dir, ckpt = start_run(PAPER, Config, cfg, args.resume, args.out, args.minutes)  # --resume keeps its config
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Run(cfg, run_dir, load_modules(__package__, MODULES, use_solution), ckpt)
    print(f"run folder: {run_dir}  ({cfg.env}, {cfg.obs}, {cfg.steps} env steps, "
          f"torch threads {torch.get_num_threads()})")
    log = RunLogger(run_dir, total=cfg.steps, initial=run.progress["env_steps"], desc="dreamerv2")
    with log, save_on_ctrl_c(run_dir, run.save):  # the bar closes in any case; Ctrl-C saves a checkpoint
        train_loop(run, log)
        run.save()
        summary = wrap_up(run)
        run.save()
    finish(run_dir, summary, __package__, run.elapsed() / 60, " (the last agent, or the best-evaluated one)",
           ("checkpoint.pt", "best.pt"))
    return run_dir


def make_bench(cfg: Config):
    """For `python -m common.bench paper3_dreamerv2`: one DreamerV2 update, one acting step."""
    from common.bench import Bench

    mods = load_modules(__package__, MODULES, set())
    env = make_env_for(cfg, cfg.seed)
    info = env_info(env)
    agent = mods["agent"].DreamerV2(info["obs_shape"], info["action_dim"], cfg, cfg.device)
    replay = EpisodeReplay(4 * cfg.length, info["obs_shape"], info["action_dim"],
                           np.uint8 if info["pixels"] else np.float32)
    obs, _ = env.reset()
    replay.add(obs, np.zeros(info["action_dim"], np.float32), 0.0, False, True)
    for _ in range(2 * cfg.length):
        obs, reward, term, trunc, _ = env.step(env.action_space.sample())
        replay.add(obs, 0, reward, term, False)
        if term or trunc:
            obs, _ = env.reset()
            replay.add(obs, np.zeros(info["action_dim"], np.float32), 0.0, False, True)
    holder: dict[str, Any] = {"obs": obs, "state": None}
    rng = np.random.default_rng(0)

    def act() -> None:
        action, holder["state"] = agent.policy(holder["obs"], holder["state"], True)
        holder["obs"], _, term, trunc, _ = env.step(action)
        if term or trunc:
            holder["obs"], holder["state"] = env.reset()[0], None

    update = lambda: agent.update(batch_tensors(replay.sample(cfg.batch, cfg.length, rng), cfg.device,
                                                mods["networks"].preprocess_obs))
    starts = cfg.imag_starts or cfg.batch * cfg.length
    return Bench(update=update, act=act, modules=[agent.wm, agent.actor, agent.critic],
                 act_label="acting step (encoder + RSSM + actor, batch 1, + env step)",
                 note=f"update = world model + actor + critic on a {cfg.batch}x{cfg.length} batch, imagining "
                      f"{cfg.horizon} steps from {starts} states")


if __name__ == "__main__":
    cli(main)
