"""Train TD-MPC2 on a continuous-control task from state (Hansen, Su & Wang 2024; official online_trainer):

  1. seed steps: random actions fill the replay (max(1000, 5 x episode length) agent steps by default)
  2. then one update per seed step on that data at once, as the official trainer does
  3. then every agent step: plan with MPPI, act, store the step, one update
Steps count environment frames: with action repeat 2, one agent step is 2 env steps (official DMControl
setting). Every `eval_every` env steps the planner and the policy prior alone are evaluated (metrics.jsonl, curve.png)
and checkpoint.pt (+ replay.npz) is saved; Ctrl-C saves too and `--resume RUN_DIR` goes on. At the end,
reward_prediction.png shows the reward head's predictions beside the real rewards along one episode.

    python -m paper6_tdmpc2.train                     # the cpu preset: Pendulum-v1, 5,000 env steps
    python -m paper6_tdmpc2.train --preset smoke      # seconds
    python train.py --use-solution world_model        # the reference model, your planner
"""

from __future__ import annotations

if __package__ in (None, ""):  # `python train.py` from inside the folder
    from common.chapter import package_of

    __package__ = package_of(__file__)

import time
from pathlib import Path

import numpy as np
import torch

from common.chapter import chapter_name, cli, finish, load_modules, parse_use_solution, save_on_ctrl_c, start_run
from common.checkpoint import save_checkpoint
from common.config import chapter_parser, config_to_dict, parse_chapter_args
from common.envs import env_info
from common.logger import RunLogger, plot_curves, progress
from common.replay import EpisodeReplay

from .agent import (
    VAL_SEED_BASE,
    Agent,
    episode_length,
    evaluate,
    make_tdmpc_env,
    reward_figure,
    run_episode,
)
from .config import PRESETS, Config

PAPER = chapter_name(__package__)
MODULES = ("world_model", "planner")
CURVES = [("return", ["eval_return", "eval_prior", "train_return"]), "consistency", ("reward and value losses",
          ["reward", "value"]), "pi_loss", ("Q scale S (P95 - P5)", ["scale"]), ("policy entropy", ["entropy"])]


def parse_args(argv=None):
    parser = chapter_parser(Config, PRESETS, __doc__, __package__, MODULES)  # --out, --resume, --use-solution
    return parse_chapter_args(parser, Config, PRESETS, argv)  # an unknown env, a missing GPU: one sentence


def sample_batch(replay: EpisodeReplay, batch: int, horizon: int, rng: np.random.Generator,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """B chunks of H+1 steps inside one episode each -> obs (H+1, B, D), action (H, B, A), reward (H, B).

    Replay rows are (s_t, a_{t-1}, r_{t-1}): row t+1 holds the action taken in s_t and its reward.
    """
    data = replay.sample(batch, horizon + 1, rng)
    bad = data["is_first"][:, 1:].any(1)  # chunks that run into the next episode: draw them again
    while bad.any():
        more = replay.sample(int(bad.sum()), horizon + 1, rng)
        for key in data:
            data[key][bad] = more[key]
        bad = data["is_first"][:, 1:].any(1)
    t = lambda x: torch.as_tensor(np.ascontiguousarray(x.swapaxes(0, 1)), dtype=torch.float32, device=device)
    return t(data["obs"]), t(data["action"][:, 1:]), t(data["reward"][:, 1:])


class Run:
    """Model, optimisers, planner and replay of one run, and how to save them."""

    def __init__(self, cfg: Config, run_dir: Path, use_solution: set[str]) -> None:
        self.cfg, self.dir = cfg, run_dir
        mods = load_modules(__package__, MODULES, use_solution)
        self.wm, self.pl = mods["world_model"], mods["planner"]
        self.env = make_tdmpc_env(cfg.env, cfg.action_repeat, seed=cfg.seed)
        self.eval_env = make_tdmpc_env(cfg.env, cfg.action_repeat)
        info = env_info(self.env)
        self.obs_dim, self.action_dim = info["obs_shape"][0], info["action_dim"]
        self.episode_length = episode_length(self.env, cfg.action_repeat)
        self.discount = self.wm.discount_from_episode_length(self.episode_length, cfg.discount_denom,
                                                             cfg.discount_min, cfg.discount_max)
        self.seed_steps = cfg.seed_steps or cfg.action_repeat * max(1000, 5 * self.episode_length)  # env steps
        self.device = torch.device(cfg.device)
        self.model = self.wm.TDMPC2Model(self.obs_dim, self.action_dim, cfg).to(self.device).eval()
        self.optim, self.pi_optim = self.wm.make_optimizers(self.model, cfg)
        self.scale = self.wm.RunningScale(cfg.tau).to(self.device)
        self.planner = self.pl.Planner(cfg, self.action_dim)
        self.agent = Agent(self.model, self.planner, self.discount, info["action_low"], info["action_high"])
        self.eval_agent = Agent(self.model, self.pl.Planner(cfg, self.action_dim), self.discount,  # own warm start
                                info["action_low"], info["action_high"])
        agent_steps = cfg.steps // cfg.action_repeat
        self.replay = EpisodeReplay(min(cfg.buffer_size, agent_steps + agent_steps // self.episode_length + 1),
                                    (self.obs_dim,), self.action_dim)
        self.step, self.episodes = 0, 0  # env steps, episodes
        self.cpu_offset = 0.0  # CPU seconds of earlier sessions (--resume)

    def cpu_minutes(self) -> float:
        """CPU time of this process (all threads), which a shared machine does not inflate as it does wall time."""
        return (self.cpu_offset + time.process_time()) / 60

    def save(self) -> None:
        self.replay.save(self.dir / "replay.npz")
        save_checkpoint(self.dir / "checkpoint.pt", paper=PAPER, step=self.step, config=config_to_dict(self.cfg),
                        model=self.model.state_dict(), optim=self.optim.state_dict(),
                        pi_optim=self.pi_optim.state_dict(), scale=self.scale.state_dict(),
                        obs_dim=self.obs_dim, action_dim=self.action_dim, discount=self.discount,
                        episodes=self.episodes, cpu_seconds=self.cpu_minutes() * 60)

    def load(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optim.load_state_dict(ckpt["optim"])
        self.pi_optim.load_state_dict(ckpt["pi_optim"])
        self.scale.load_state_dict(ckpt["scale"])
        self.step, self.episodes, self.cpu_offset = ckpt["step"], ckpt["episodes"], ckpt["cpu_seconds"]
        if (self.dir / "replay.npz").exists():
            self.replay = EpisodeReplay.load(self.dir / "replay.npz", self.replay.capacity)

    def evaluate(self, log: RunLogger) -> dict[str, float]:
        cfg, out = self.cfg, {}
        # the agent is the planner: its mean return is the shared eval_return; the policy prior's is this chapter's own
        for policy, name in (("planner", "eval_return"), ("prior", "eval_prior")):
            returns = evaluate(self.eval_env, self.eval_agent, policy, cfg.eval_episodes, VAL_SEED_BASE)
            out[name] = float(np.mean(returns))
        log.log(self.step, minutes=log.wall() / 60, cpu_minutes=self.cpu_minutes(), **out)
        log.write(f"step {self.step}: planner {out['eval_return']:.1f}, policy prior {out['eval_prior']:.1f} "
                  f"(mean of {cfg.eval_episodes} episodes)")
        return out


def crossed(before: int, after: int, every: int) -> bool:
    """Did the step count pass a multiple of `every` going from `before` to `after`?"""
    return after // every > before // every


def train(run: Run, log: RunLogger) -> None:
    cfg, repeat = run.cfg, run.cfg.action_repeat
    rng = np.random.default_rng([cfg.seed, run.step])
    obs, done, t, ep_return, recent = None, True, 0, 0.0, []
    while run.step < cfg.steps:
        if done:
            if obs is not None:
                run.episodes += 1
                log.log(run.step, train_return=ep_return, episodes=run.episodes)
            obs, _ = run.env.reset()
            run.replay.add(obs, np.zeros(run.action_dim, np.float32), 0.0, False, True)
            t, ep_return = 0, 0.0
        if run.step < run.seed_steps:
            action = rng.uniform(-1.0, 1.0, run.action_dim).astype(np.float32)
        else:
            action = run.agent.act(obs, t0=t == 0, policy="planner" if cfg.mpc else "prior", eval_mode=False)
        obs, reward, terminated, truncated, _ = run.env.step(run.agent.to_env(action))
        run.replay.add(obs, action, reward, terminated, False)
        done, t, ep_return = terminated or truncated, t + 1, ep_return + float(reward)
        before, run.step = run.step, run.step + repeat
        if run.step >= run.seed_steps:
            updates, bar = range(1), None
            if before < run.seed_steps:  # the seed phase just ended: one update per seed step, at once
                updates = bar = progress(range(run.seed_steps // repeat), desc="pretraining", leave=False)
                log.write(f"pretraining on the {run.seed_steps} seed steps ({len(bar)} updates)...")
            for _ in updates:
                batch = sample_batch(run.replay, cfg.batch_size, cfg.horizon, rng, run.device)
                recent.append(run.wm.update(run.model, run.optim, run.pi_optim, run.scale, batch, run.discount, cfg))
            if bar is not None:
                bar.close()
        if recent and (crossed(before, run.step, 100) or run.step >= cfg.steps):
            means = {k: float(np.mean([m[k] for m in recent])) for k in recent[0]}
            log.log(run.step, **means)
            recent = []
        log.update(run.step - before)
        if crossed(before, run.step, cfg.eval_every) or run.step >= cfg.steps:
            run.evaluate(log)
            plot_curves(log.path, CURVES, run.dir / "curve.png", title=f"TD-MPC2 on {cfg.env}", ncols=3)
        if crossed(before, run.step, cfg.checkpoint_every) or run.step >= cfg.steps:
            run.save()


def main(argv=None) -> Path:
    cfg, args = parse_args(argv)
    use_solution = parse_use_solution(args.use_solution, MODULES)
    cfg, run_dir, ckpt = start_run(PAPER, Config, cfg, args.resume, args.out)  # --resume keeps its config
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    run = Run(cfg, run_dir, use_solution)  # an unknown env or an unwritten step: one sentence (cli)
    if ckpt is not None:
        run.load(ckpt)
    size = sum(p.numel() for p in run.model.parameters() if p.requires_grad)  # the target Qs not counted
    print(f"run folder: {run_dir}  (step {run.step}/{cfg.steps}, discount {run.discount:.3f}, "
          f"{run.seed_steps} seed steps, {size:,} parameters)")
    log = RunLogger(run_dir, total=cfg.steps, desc="TD-MPC2", initial=run.step)
    with log, save_on_ctrl_c(run_dir, run.save):  # the bar closes in any case; Ctrl-C saves a checkpoint
        train(run, log)
        result = run_episode(run.eval_env, run.eval_agent, "planner", VAL_SEED_BASE, two_hot_inv=run.wm.two_hot_inv)
        reward_figure(result["rewards"], result["predicted"], run_dir / "reward_prediction.png",
                      title=f"{cfg.env}: one planner episode (return {result['return']:.0f})")
    summary = {"run_dir": str(run_dir), "env_steps": run.step, "minutes": round(log.wall() / 60, 2),
               "cpu_minutes": round(run.cpu_minutes(), 2)}
    finish(run_dir, summary, __package__, log.wall() / 60, f" ({summary['cpu_minutes']} CPU min)")
    return run_dir


def make_bench(cfg: Config):
    """For `python -m common.bench paper6_tdmpc2`: one update (batch of cfg.batch_size), one planning step."""
    from common.bench import Bench

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Run(cfg, Path("."), set())
    rng = np.random.default_rng(0)
    obs, _ = run.env.reset(seed=0)
    run.replay.add(obs, np.zeros(run.action_dim, np.float32), 0.0, False, True)
    for _ in range(max(cfg.horizon + 1, 50)):
        action = rng.uniform(-1, 1, run.action_dim).astype(np.float32)
        obs, reward, terminated, truncated, _ = run.env.step(run.agent.to_env(action))
        run.replay.add(obs, action, reward, terminated, False)

    def update() -> None:
        batch = sample_batch(run.replay, cfg.batch_size, cfg.horizon, rng, run.device)
        run.wm.update(run.model, run.optim, run.pi_optim, run.scale, batch, run.discount, cfg)

    return Bench(update=update, act=lambda: run.agent.act(obs, t0=False, eval_mode=False), modules=[run.model],
                 act_label="planning step (MPPI)",
                 note=f"MPPI: {cfg.num_samples} samples x {cfg.iterations} iterations, horizon {cfg.horizon}")


if __name__ == "__main__":
    cli(main)
