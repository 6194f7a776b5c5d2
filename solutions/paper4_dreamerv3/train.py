"""Train DreamerV3 (Hafner et al. 2023) on a discrete or continuous task, from state vectors or 64x64 pixels.

    1. prefill   `prefill` env steps of uniformly random actions into the replay
    2. repeat    act with a sample of the actor; every `train_every` env steps one update (world model,
                 then actor and critic in imagination) on a (batch x length) chunk of the replay
    3. evaluate  every `eval_every` env steps: episodes with the actor's greedy action
    4. finish    curve.png; dream.png/.gif: the model watches the first steps of an episode, then imagines
                 the rest from the actions alone (frames for pixels, traces and renders for vectors)

checkpoint.pt (+ replay.npz) is written at each evaluation, at the end and on Ctrl-C; `--resume RUN_DIR`
goes on from there. best.pt holds the agent of the best periodic evaluation so far.
Usage, from the repo root or from this folder:

    python -m paper4_dreamerv3.train                         # the cpu preset: CartPole-v1 from states
    python -m paper4_dreamerv3.train --env Pendulum-v1       # the same preset on a continuous task
    python -m paper4_dreamerv3.train --ablate return_norm,twohot    # switch tricks off (config.py)
    python -m paper4_dreamerv3.train --obs pixels            # from 64x64 renders
    python train.py --use-solution symlog,world_model        # the reference's modules, the rest yours
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
from common.config import config_to_dict, make_parser, parse_config
from common.dreams import draw_dream
from common.envs import KNOWN_ENVS, env_info, make_env
from common.logger import RunLogger, plot_curves
from common.online import budget_spent, due, eval_summary, record_eval, save_run
from common.replay import EpisodeReplay

from .config import PRESETS, Config, ablations

PAPER = chapter_name(__package__)
MODULES = ("symlog", "world_model", "actor_critic", "agent")


def parse_args(argv: list[str] | None = None) -> tuple[Config, Any]:
    parser = make_parser(Config, PRESETS, description=__doc__.split("\n")[0])
    parser.add_argument("--out", help=f"run folder (default runs/{PAPER}/<env>/<time>-s<seed>)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="go on with the run saved in RUN_DIR")
    parser.add_argument("--use-solution", default="",
                        help=f"modules taken from solutions/: {','.join(MODULES)} (or all)")
    cfg, args = parse_config(Config, PRESETS, argv, parser=parser)
    if cfg.env not in KNOWN_ENVS:
        parser.error(f"unknown env id {cfg.env!r}; known ids: {', '.join(KNOWN_ENVS)}")
    if cfg.obs not in ("state", "pixels"):
        parser.error(f"--obs must be state or pixels, got {cfg.obs!r}")
    try:
        ablations(cfg)
    except ValueError as err:
        parser.error(str(err))
    return cfg, args


def make_env_for(cfg: Config, seed: int, render: bool = False) -> Any:
    """The chapter's env: state vectors, or 64x64 RGB frames (Atari: grayscale)."""
    gray = cfg.obs == "pixels" and cfg.env.startswith("ALE/")
    return make_env(cfg.env, obs=cfg.obs, size=64, grayscale=gray, action_repeat=cfg.action_repeat, seed=seed,
                    render_mode="rgb_array" if render and cfg.obs == "state" else None)


def to_env(action: Any, env: Any) -> Any:
    """The agent's action as the env takes it: an int stays; [-1, 1] vectors are scaled to [low, high]."""
    if isinstance(action, int):
        return action
    low, high = env.action_space.low, env.action_space.high
    return (low + (action + 1.0) * 0.5 * (high - low)).astype(env.action_space.dtype)


def model_action(action: Any, action_dim: int) -> np.ndarray:
    """What the model sees: one-hot for an int, the [-1, 1] vector otherwise, (A,)."""
    return np.eye(action_dim, dtype=np.float32)[action] if isinstance(action, int) else np.asarray(action, np.float32)


def batch_tensors(raw: dict[str, np.ndarray], device: str | torch.device, preprocess) -> dict[str, torch.Tensor]:
    """A replay sample as float32 tensors: obs preprocessed, action (B, T, A), reward, terminated, is_first."""
    out = {"obs": preprocess(raw["obs"])}
    out.update({k: torch.as_tensor(raw[k], dtype=torch.float32) for k in ("action", "reward", "terminated",
                                                                           "is_first")})
    return {k: v.to(device) for k, v in out.items()}


def run_episode(env: Any, agent: Any, explore: bool = False, seed: int | None = None,
                frames: list[np.ndarray] | None = None) -> tuple[float, dict[str, np.ndarray]]:
    """One episode; returns the return and the episode (obs (T+1, ...), model action (T, A), reward (T,))."""
    obs, _ = env.reset(seed=seed)
    state, done, total = None, False, 0.0
    observations, actions, rewards = [obs], [], []
    while not done:
        action, state = agent.policy(obs, state, explore)
        obs, reward, terminated, truncated, _ = env.step(to_env(action, env))
        done = terminated or truncated
        total += float(reward)
        observations.append(obs)
        actions.append(model_action(action, agent.action_dim))
        rewards.append(reward)
        if frames is not None:
            frames.append(env.render())
    return total, {"obs": np.stack(observations), "action": np.stack(actions), "reward": np.asarray(rewards)}


def make_agent(mods: dict[str, ModuleType], cfg: Config, info: dict[str, Any]) -> Any:
    return mods["agent"].DreamerV3(info["obs_shape"], info["action_dim"], info["discrete"], cfg, cfg.device)


class Run:
    """Config, folder, environments, replay, agent, counters; save() writes checkpoint.pt + replay.npz."""

    def __init__(self, cfg: Config, run_dir: Path, mods: dict[str, ModuleType], ckpt: dict | None) -> None:
        self.cfg, self.dir, self.mods = cfg, run_dir, mods
        torch.manual_seed(cfg.seed)
        self.env, self.eval_env = make_env_for(cfg, cfg.seed), make_env_for(cfg, cfg.seed + 10_000)
        self.info = info = env_info(self.env)
        self.agent = make_agent(mods, cfg, info)
        self.capacity = max(1, min(cfg.buffer_size, cfg.steps // cfg.action_repeat + 1000))
        self.replay = EpisodeReplay(self.capacity, info["obs_shape"], info["action_dim"],
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
                 obs_shape=list(self.info["obs_shape"]), action_dim=self.info["action_dim"],
                 discrete=self.info["discrete"], ablate=sorted(ablations(self.cfg)))  # best.pt: no replay

    def train(self, updates: int) -> None:
        cfg, sums = self.cfg, {}
        length = min(cfg.length, len(self.replay))
        for _ in range(updates):
            raw = self.replay.sample(cfg.batch, length, self.rng)
            batch = batch_tensors(raw, cfg.device, self.mods["world_model"].preprocess_obs)
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
            run.replay.add(obs, np.zeros(run.info["action_dim"], np.float32), 0.0, False, True)
            state, ep_return = None, 0.0
        if p["env_steps"] < cfg.prefill:  # uniformly random: an index, or a vector in [-1, 1]
            action = (int(run.rng.integers(run.info["action_dim"])) if run.info["discrete"]
                      else run.rng.uniform(-1, 1, run.info["action_dim"]).astype(np.float32))
        else:
            action, state = run.agent.policy(obs, state, explore=True)
        obs, reward, terminated, truncated, _ = env.step(to_env(action, env))
        run.replay.add(obs, model_action(action, run.info["action_dim"]), float(reward), bool(terminated), False)
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
    metrics, cfg = run.dir / "metrics.jsonl", run.cfg
    if metrics.exists():
        plot_curves(metrics, ["eval_return", "train_return", "model_loss", "kl", "reward_loss", "actor_loss",
                              "critic_loss", "return_scale", "actor_entropy"], run.dir / "curve.png",
                    title=f"DreamerV3 on {cfg.env} ({cfg.obs}{', ablate ' + cfg.ablate if cfg.ablate else ''})")
    score, episode = run.evaluate()
    path = draw_dream(run.agent.wm, episode, run.dir / "dream", env_id=cfg.env)
    return {"run_dir": str(run.dir), "env": cfg.env, "obs": cfg.obs, "ablate": sorted(ablations(cfg)),
            "minutes": round(run.elapsed() / 60, 2), **eval_summary(run.dir, run.progress, score), "dream": str(path)}


def main(argv: list[str] | None = None) -> Path:
    cfg, args = parse_args(argv)
    use_solution = parse_use_solution(args.use_solution, MODULES)
    cfg, run_dir, ckpt = start_run(PAPER, Config, cfg, args.resume, args.out, args.minutes)  # --resume keeps its config
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Run(cfg, run_dir, load_modules(__package__, MODULES, use_solution), ckpt)
    print(f"run folder: {run_dir}  ({cfg.env}, {cfg.obs}, {cfg.steps} env steps, ablate: {cfg.ablate or 'none'}, "
          f"torch threads {torch.get_num_threads()})")
    log = RunLogger(run_dir, total=cfg.steps, initial=run.progress["env_steps"], desc="dreamerv3")
    with log, save_on_ctrl_c(run_dir, run.save):  # the bar closes in any case; Ctrl-C saves a checkpoint
        train_loop(run, log)
        run.save()
        summary = wrap_up(run)
        run.save()
    finish(run_dir, summary, __package__, run.elapsed() / 60, " (the last agent, or the best-evaluated one)",
           ("checkpoint.pt", "best.pt"))
    return run_dir


def make_bench(cfg: Config):
    """For `python -m common.bench paper4_dreamerv3`: one DreamerV3 update, one acting step."""
    from common.bench import Bench

    mods = load_modules(__package__, MODULES, set())
    env = make_env_for(cfg, cfg.seed)
    info = env_info(env)
    agent = make_agent(mods, cfg, info)
    replay = EpisodeReplay(4 * cfg.length, info["obs_shape"], info["action_dim"],
                           np.uint8 if info["pixels"] else np.float32)
    obs, done = None, True
    for _ in range(2 * cfg.length):  # random steps to sample from
        if done:
            obs, done = env.reset()[0], False
            replay.add(obs, np.zeros(info["action_dim"], np.float32), 0.0, False, True)
        action = env.action_space.sample()
        obs, reward, term, trunc, _ = env.step(action)
        replay.add(obs, action, reward, term, False)
        done = term or trunc
    holder: dict[str, Any] = {"obs": env.reset()[0], "state": None}
    rng = np.random.default_rng(0)

    def act() -> None:
        action, holder["state"] = agent.policy(holder["obs"], holder["state"], True)
        holder["obs"], _, term, trunc, _ = env.step(to_env(action, env))
        if term or trunc:
            holder["obs"], holder["state"] = env.reset()[0], None

    update = lambda: agent.update(batch_tensors(replay.sample(cfg.batch, cfg.length, rng), cfg.device,
                                                mods["world_model"].preprocess_obs))
    starts = cfg.imag_starts or cfg.batch * cfg.length
    return Bench(update=update, act=act, modules=[agent.wm, agent.actor, agent.critic],
                 act_label="acting step (encoder + RSSM + actor, batch 1, + env step)",
                 note=f"update = world model + actor + critic on a {cfg.batch}x{cfg.length} batch, imagining "
                      f"{cfg.horizon} steps from {starts} states")


if __name__ == "__main__":
    cli(main)
