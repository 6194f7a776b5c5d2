"""Train IRIS (Micheli et al. 2023) on an Atari game (or any pixel task) from 64x64 RGB frames.

The paper's schedule, one epoch at a time (§3, Appendix B):
    1. collect     `collect` env steps with the current agent (epsilon-greedy around its sample) into the replay
    2. tokenizer   `tokenizer_updates` updates on random frames, from epoch `tokenizer_start` (until
                   `tokenizer_stop`, after which it is frozen and each frame's tokens are cached)
    3. world model `world_model_updates` updates on sequences of `max_blocks` steps, from `world_model_start`
    4. agent       `actor_critic_updates` updates in imagination only, from `actor_critic_start`
    5. evaluate    every `eval_every` epochs: whole games (no life loss), the actor sampled at temperature 0.5
At the end: curve.png, and dream.gif / dream.png: the model watches 10 frames of an episode, then dreams on.

checkpoint.pt (+ replay.npz) is written at each evaluation, at the end and on Ctrl-C; `--resume RUN_DIR`
goes on from there. best.pt holds the agent of the best periodic evaluation so far.
Usage, from the repo root or from this folder:

    python -m paper5_iris.train                          # the cpu preset: Breakout, <= 120 min on 2 cores
    python -m paper5_iris.train --env ALE/Pong-v5        # another game, the same preset
    python -m paper5_iris.train --preset paper           # the paper's Atari 100k setting, for a GPU
    python train.py --use-solution tokenizer,transformer # the reference's tokenizer and GPT, the rest yours
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
from common.envs import KNOWN_ENVS, UnknownEnvError, env_info, make_env
from common.logger import RunLogger, plot_curves
from common.online import budget_spent, eval_summary, record_eval, save_run
from common.replay import EpisodeReplay

from .config import PRESETS, Config

PAPER = chapter_name(__package__)
MODULES = ("tokenizer", "transformer", "world_model", "sample", "actor_critic", "agent")
EVAL_TEMPERATURE = 0.5  # the authors' test-time sampling temperature (config/trainer.yaml, collection.test)


def make_env_for(cfg: Config, seed: int, train: bool = True) -> Any:
    """64x64 RGB frames; a training env of an Atari game ends an episode on a lost life."""
    if cfg.env not in KNOWN_ENVS:
        raise UnknownEnvError(f"Unknown environment {cfg.env!r}; known ids are {', '.join(KNOWN_ENVS)}.")
    atari = KNOWN_ENVS[cfg.env].atari
    env = make_env(cfg.env, obs="pixels", size=64, action_repeat=cfg.action_repeat, seed=seed,
                   life_loss=train and cfg.life_loss and atari)
    if not env_info(env)["discrete"]:
        raise UnknownEnvError(f"IRIS's actor and action tokens need discrete actions; {cfg.env} has continuous "
                              "ones (try ALE/Breakout-v5 or CartPole-v1).")
    return env


def run_episode(env: Any, agent: Any, seed: int | None = None, temperature: float = EVAL_TEMPERATURE
                ) -> tuple[float, dict[str, np.ndarray]]:
    """One whole episode; returns the return and the episode (obs (T+1, 64, 64, 3), one-hot action (T, A), reward)."""
    obs, _ = env.reset(seed=seed)
    state, done, total = None, False, 0.0
    observations, actions, rewards = [obs], [], []
    while not done:
        action, state = agent.policy(obs, state, temperature)
        obs, reward, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
        total += float(reward)
        observations.append(obs)
        actions.append(np.eye(agent.action_dim, dtype=np.float32)[action])
        rewards.append(reward)
    return total, {"obs": np.stack(observations), "action": np.stack(actions), "reward": np.asarray(rewards)}


class TokenCache:
    """Each replay row's frame tokens, kept until the tokenizer changes (or the row is overwritten)."""

    def __init__(self, capacity: int, tokens: int) -> None:
        self.tokens = np.zeros((capacity, tokens), np.int16)
        self.version = np.full(capacity, -1, np.int64)  # the tokenizer version that wrote each row (-1: none)
        self.current = 0  # bumped whenever the tokenizer is trained

    def get(self, rows: np.ndarray, obs: np.ndarray, encode) -> torch.Tensor:
        """Tokens (*rows.shape, K) long of replay rows `rows`; obs: the replay's frames; encode: frames -> tokens."""
        flat = rows.reshape(-1)
        stale = np.unique(flat[self.version[flat] != self.current])
        for chunk in np.array_split(stale, max(1, len(stale) // 256)):
            if len(chunk):
                self.tokens[chunk] = encode(obs[chunk]).cpu().numpy()
                self.version[chunk] = self.current
        return torch.as_tensor(self.tokens[flat].astype(np.int64)).reshape(*rows.shape, -1)


class Run:
    """Config, folder, environments, replay, token cache, agent, counters; save() writes checkpoint.pt."""

    def __init__(self, cfg: Config, run_dir: Path, mods: dict[str, ModuleType], ckpt: dict | None) -> None:
        self.cfg, self.dir, self.mods = cfg, run_dir, mods
        torch.manual_seed(cfg.seed)
        self.env, self.eval_env = make_env_for(cfg, cfg.seed), make_env_for(cfg, cfg.seed + 10_000, train=False)
        info = env_info(self.env)
        self.obs_shape, self.action_dim = info["obs_shape"], info["action_dim"]
        self.agent = mods["agent"].IRIS(self.action_dim, cfg)
        self.capacity = max(1, min(cfg.buffer_size, cfg.epochs * cfg.collect + 1000))
        self.replay = EpisodeReplay(self.capacity, self.obs_shape, self.action_dim, np.uint8)
        self.cache = TokenCache(self.capacity, cfg.tokens_side ** 2)
        self.rng = np.random.default_rng(cfg.seed)
        self.progress = {"epoch": 0, "env_steps": 0, "episodes": 0, "updates": 0, "best_eval": -1e9,
                         "best_step": 0, "elapsed": 0.0}
        if ckpt is not None:
            self.agent.load_state_dict(ckpt["agent"])
            self.progress.update(ckpt["progress"])
            if (run_dir / "replay.npz").exists():
                self.replay = EpisodeReplay.load(run_dir / "replay.npz", self.capacity)
        self.obs, self.state, self.ep_return = None, None, 0.0
        self.t0, self.last_metrics = time.time(), {}

    def elapsed(self) -> float:
        return self.progress["elapsed"] + time.time() - self.t0

    def save(self, name: str = "checkpoint.pt") -> None:
        self.progress["elapsed"], self.t0 = self.elapsed(), time.time()
        save_run(self.dir, name, self.replay, paper=PAPER, step=self.progress["env_steps"],
                 config=config_to_dict(self.cfg), agent=self.agent.state_dict(), progress=dict(self.progress),
                 obs_shape=list(self.obs_shape), action_dim=self.action_dim)

    def add(self, *row: Any) -> None:
        self.cache.version[self.replay.total_steps % self.capacity] = -1  # the row add() overwrites
        self.replay.add(*row)

    def collect(self, steps: int, log: RunLogger) -> None:
        """`steps` env steps with the agent (the episode in progress goes on from the last epoch)."""
        cfg, p = self.cfg, self.progress
        for _ in range(steps):
            if self.obs is None:
                self.obs, _ = self.env.reset()
                self.add(self.obs, np.zeros(self.action_dim, np.float32), 0.0, False, True)
                self.state, self.ep_return = None, 0.0
            action, self.state = self.agent.policy(self.obs, self.state, 1.0, cfg.epsilon, self.rng)
            self.obs, reward, terminated, truncated, _ = self.env.step(action)
            self.add(self.obs, action, float(reward), bool(terminated), False)
            p["env_steps"] += cfg.action_repeat
            log.update(cfg.action_repeat)
            self.ep_return += float(reward)
            if terminated or truncated:
                p["episodes"] += 1
                log.log(p["env_steps"], train_return=self.ep_return, episodes=p["episodes"])
                self.obs = None

    def train(self, epoch: int) -> None:
        """This epoch's updates of each component whose warm-up is over."""
        cfg, agent, replay, sums = self.cfg, self.agent, self.replay, {}

        def add(metrics: dict[str, float]) -> None:
            for k, v in metrics.items():
                sums.setdefault(k, []).append(v)

        if epoch >= cfg.tokenizer_start and (not cfg.tokenizer_stop or epoch < cfg.tokenizer_stop):
            for _ in range(cfg.tokenizer_updates):
                rows = self.rng.integers(0, len(replay), cfg.tokenizer_batch)
                add(agent.update_tokenizer(replay.obs[rows]))
            self.cache.current += 1
        length = min(cfg.max_blocks + 1, len(replay))
        encode = lambda obs: agent.tokenizer.encode(self.mods["agent"].to_frames(obs, cfg.device))
        if epoch >= cfg.world_model_start:
            for _ in range(cfg.world_model_updates):
                rows = replay.sample_rows(cfg.world_model_batch, length, self.rng)  # (B, T + 1)
                tokens = self.cache.get(rows, replay.obs, encode)
                add(agent.update_world_model(tokens, replay.action[rows], replay.reward[rows],
                                             replay.terminated[rows], replay.is_first[rows]))
        if epoch >= cfg.actor_critic_start:
            for _ in range(cfg.actor_critic_updates):
                rows = replay.sample_rows(cfg.actor_critic_batch, min(cfg.burn_in + 1, len(replay)), self.rng)
                add(agent.update_actor_critic(replay.obs[rows], replay.is_first[rows]))
        self.progress["updates"] = sum(agent.updates.values())
        self.last_metrics = {k: float(np.mean(v)) for k, v in sums.items()}

    def evaluate(self) -> tuple[float, dict[str, np.ndarray]]:
        returns, episode = [], None
        for i in range(self.cfg.eval_episodes):
            ret, episode = run_episode(self.eval_env, self.agent, seed=self.cfg.seed * 1000 + 100_000 + i)
            returns.append(ret)
        return float(np.mean(returns)), episode


def train_loop(run: Run, log: RunLogger) -> None:
    cfg, p = run.cfg, run.progress
    while p["epoch"] < cfg.epochs:
        if budget_spent(cfg.minutes, run.elapsed(), log):
            break
        epoch = p["epoch"]
        run.collect(cfg.collect, log)
        run.train(epoch)
        p["epoch"] = epoch + 1
        if run.last_metrics:
            log.log(p["env_steps"], epoch=p["epoch"], updates=p["updates"], minutes=run.elapsed() / 60,
                    **run.last_metrics)
        if epoch >= cfg.actor_critic_start and p["epoch"] % cfg.eval_every == 0:
            score, _ = run.evaluate()
            record_eval(log, p, score, run.elapsed() / 60, run.save)  # best.pt when it is the best so far


def wrap_up(run: Run) -> dict[str, Any]:
    """Pictures and the summary of a run that stopped (done or budget spent)."""
    plot_curves(run.dir / "metrics.jsonl", ["eval_return", "train_return", "tok_recon", "wm_obs", "wm_reward",
                                            "wm_end", "ac_value", "ac_entropy", "dream_return"],
                run.dir / "curve.png", title=f"IRIS on {run.cfg.env}")
    score, episode = run.evaluate()
    path = draw_dream(run.mods["agent"].IrisWorldModel(run.agent), episode, run.dir / "dream", env_id=run.cfg.env,
                      horizon=run.cfg.max_blocks - 2)
    return {"run_dir": str(run.dir), "env": run.cfg.env, "minutes": round(run.elapsed() / 60, 2),
            "epochs": run.progress["epoch"], **eval_summary(run.dir, run.progress, score), "dream": str(path)}


def main(argv: list[str] | None = None) -> Path:
    parser = chapter_parser(Config, PRESETS, __doc__, __package__, MODULES)  # --out, --resume, --use-solution
    cfg, args = parse_chapter_args(parser, Config, PRESETS, argv)
    use_solution = parse_use_solution(args.use_solution, MODULES)
    cfg, run_dir, ckpt = start_run(PAPER, Config, cfg, args.resume, args.out, args.minutes)  # --resume keeps its config
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Run(cfg, run_dir, load_modules(__package__, MODULES, use_solution), ckpt)
    print(f"run folder: {run_dir}  ({cfg.env}, {cfg.epochs} epochs of {cfg.collect} steps, "
          f"torch threads {torch.get_num_threads()})")
    total = cfg.epochs * cfg.collect * cfg.action_repeat
    log = RunLogger(run_dir, total=total, initial=run.progress["env_steps"], desc="iris")
    with log, save_on_ctrl_c(run_dir, run.save):  # the bar closes in any case; Ctrl-C saves a checkpoint
        train_loop(run, log)
        run.save()
        summary = wrap_up(run)
        run.save()
    finish(run_dir, summary, __package__, run.elapsed() / 60, " (the last agent, or the best-evaluated one)",
           ("checkpoint.pt", "best.pt"))
    return run_dir


def make_bench(cfg: Config):
    """For `python -m common.bench paper5_iris`: one update of each component, one acting step."""
    from common.bench import Bench

    mods = load_modules(__package__, MODULES, set())
    env = make_env_for(cfg, cfg.seed)
    action_dim = env_info(env)["action_dim"]
    agent = mods["agent"].IRIS(action_dim, cfg)
    T = cfg.max_blocks + 1
    replay = EpisodeReplay(4 * T + cfg.tokenizer_batch, env_info(env)["obs_shape"], action_dim, np.uint8)
    obs, _ = env.reset()
    replay.add(obs, np.zeros(action_dim, np.float32), 0.0, False, True)
    for _ in range(2 * T + cfg.tokenizer_batch):
        obs, reward, term, trunc, _ = env.step(env.action_space.sample())
        replay.add(obs, 0, reward, term or trunc, False)
    rng = np.random.default_rng(0)
    holder: dict[str, Any] = {"obs": obs, "state": None}

    def act() -> None:
        action, holder["state"] = agent.policy(holder["obs"], holder["state"])
        holder["obs"], _, term, trunc, _ = env.step(action)
        if term or trunc:
            holder["obs"], holder["state"] = env.reset()[0], None

    def tokenizer() -> None:
        agent.update_tokenizer(replay.obs[rng.integers(0, len(replay), cfg.tokenizer_batch)])

    def world_model() -> None:
        rows = replay.sample_rows(cfg.world_model_batch, T, rng)
        tokens = agent.tokenizer.encode(mods["agent"].to_frames(replay.obs[rows]))
        agent.update_world_model(tokens, replay.action[rows], replay.reward[rows], replay.terminated[rows],
                                 np.zeros_like(replay.is_first[rows]))

    def actor_critic() -> None:  # most of it is imagination: the dreams the agent learns from
        rows = replay.sample_rows(cfg.actor_critic_batch, cfg.burn_in + 1, rng)
        agent.update_actor_critic(replay.obs[rows], np.zeros_like(replay.is_first[rows]))

    parts = {"tokenizer update": tokenizer, "world-model update": world_model,
             "actor-critic update (imagination)": actor_critic}

    def update() -> None:
        for part in parts.values():
            part()

    return Bench(update=update, act=act, parts=parts,
                 modules=[agent.tokenizer, agent.wm, agent.ac],
                 act_label="acting step (tokenizer encode + decode + actor-critic, batch 1, + env step)",
                 note=f"update = one tokenizer update ({cfg.tokenizer_batch} frames) + one world-model update "
                      f"({cfg.world_model_batch} x {cfg.max_blocks} blocks) + one actor-critic update "
                      f"({cfg.actor_critic_batch} dreams of {cfg.horizon} steps)")


if __name__ == "__main__":
    cli(main)
