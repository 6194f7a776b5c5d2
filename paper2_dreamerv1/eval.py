"""Evaluate a trained Dreamer agent: greedy actions (no exploration noise) on unseen episode seeds.

    python -m paper2_dreamerv1.eval --checkpoint runs/.../checkpoint.pt --episodes 10 [--video]

Episodes are seeded 1,000,000 + i (training and its evaluations use other seeds) and run to the env's
time limit; the result is mean ± std of the returns (Pendulum-v1: random ≈ -1200, solved ≈ -150).
"""

from __future__ import annotations

if __package__ in (None, ""):  # `python eval.py` from inside the folder
    from common.chapter import package_of

    __package__ = package_of(__file__)

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from common.chapter import chapter_name, cli, load_modules, parse_use_solution
from common.checkpoint import CheckpointError, load_checkpoint
from common.config import config_from_dict
from common.dreams import draw_dream
from common.envs import make_env
from common.stats import summarize
from common.video import write_video

from .config import Config
from .train import MODULES, run_episode

PAPER = chapter_name(__package__)
EVAL_SEED_BASE = 1_000_000


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt written by train.py")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--video", action="store_true", help="also film the first episode (eval.mp4)")
    parser.add_argument("--dream", action="store_true", help="also draw the model's dream of the first episode "
                        "(<checkpoint name>_dream.png, and a .gif for pixels and Pendulum-v1)")
    parser.add_argument("--json", help="write the result to this file")
    parser.add_argument("--use-solution", default="", help="modules taken from solutions/ (or all)")
    args = parser.parse_args(argv)
    try:
        ckpt = load_checkpoint(args.checkpoint, PAPER)
    except CheckpointError as err:
        sys.exit(f"error: {err}")
    if "agent" not in ckpt:
        sys.exit(f"error: {args.checkpoint} holds no trained agent; train (or --resume) it first.")
    cfg = config_from_dict(Config, ckpt["config"])
    mods = load_modules(__package__, MODULES, parse_use_solution(args.use_solution, MODULES))
    kw = dict(obs=cfg.obs, size=64, action_repeat=cfg.action_repeat)
    env = make_env(cfg.env, render_mode="rgb_array" if cfg.obs == "state" else None, **kw)
    agent = mods["agent"].Dreamer(tuple(ckpt["obs_shape"]), int(ckpt["action_dim"]), cfg, "cpu")
    try:
        agent.load_state_dict(ckpt["agent"], optimizers=False)
    except (RuntimeError, KeyError) as err:
        sys.exit(f"error: {args.checkpoint} does not fit this chapter's model ({type(err).__name__}); was it "
                 "saved by another version of the code?")
    seeds = [EVAL_SEED_BASE + i for i in range(args.episodes)]
    returns, frames = [], []
    with torch.no_grad():
        for i, seed in enumerate(seeds):
            ret, episode = run_episode(env, agent, explore=False, seed=seed,
                                       frames=frames if args.video and i == 0 else None)
            returns.append(ret)
            if args.dream and i == 0:
                stem = Path(args.checkpoint).with_suffix("")
                print(f"dream: {draw_dream(agent.wm, episode, stem.with_name(stem.name + '_dream'), env_id=cfg.env)}")
    stats = summarize(returns)
    print(f"{PAPER} on {cfg.env} ({cfg.obs}): {stats['mean']:.1f} ± {stats['std']:.1f} over {len(returns)} "
          f"episodes (IQM {stats['iqm']:.1f}; per episode: {', '.join(f'{r:.0f}' for r in returns)})")
    result = {"env": cfg.env, "obs": cfg.obs, "episodes": len(returns), "seeds": seeds, "returns": returns,
              "mean": stats["mean"], "std": stats["std"], "iqm": stats["iqm"], "env_steps": int(ckpt["step"]),
              "checkpoint": str(args.checkpoint)}
    if args.video and frames:
        path = write_video(np.stack(frames), Path(args.checkpoint).parent / "eval.mp4", fps=25)
        result["video"] = str(path)
        print(f"video: {path}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    cli(main)
