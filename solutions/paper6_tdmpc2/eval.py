"""Evaluate a trained TD-MPC2 agent on episodes never seen in training: the planner, or the policy prior.

    python -m paper6_tdmpc2.eval --checkpoint runs/.../checkpoint.pt --episodes 10 [--policy prior] [--video]

Episodes are seeded 1,000,000,000 + i (training never uses such seeds) and run in eval mode: the planner
acts without exploration noise, the policy prior with its mean action. Prints mean ± std of the returns.
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
from common.envs import env_info
from common.stats import summarize
from common.video import write_video

from .agent import EVAL_SEED_BASE, Agent, make_tdmpc_env, run_episode
from .config import Config

PAPER = chapter_name(__package__)
MODULES = ("world_model", "planner")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt written by train.py")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--policy", choices=("planner", "prior"), default="planner",
                        help="act by MPPI planning, or with the policy prior's mean action alone")
    parser.add_argument("--video", action="store_true", help="also film the first episode (<policy>.mp4)")
    parser.add_argument("--json", help="write the result to this file")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = the checkpoint's setting)")
    parser.add_argument("--use-solution", default="", help="modules taken from solutions/: world_model,planner")
    args = parser.parse_args(argv)
    try:
        ckpt = load_checkpoint(args.checkpoint, PAPER)
    except CheckpointError as err:
        sys.exit(f"error: {err}")
    cfg = config_from_dict(Config, ckpt["config"])
    if args.threads or cfg.threads:
        torch.set_num_threads(args.threads or cfg.threads)
    use_solution = parse_use_solution(args.use_solution, MODULES)
    mods = load_modules(__package__, MODULES, use_solution)
    wm, pl = mods["world_model"], mods["planner"]
    torch.manual_seed(cfg.seed)
    env = make_tdmpc_env(cfg.env, cfg.action_repeat, render_mode="rgb_array" if args.video else None)
    info = env_info(env)
    model = wm.TDMPC2Model(ckpt["obs_dim"], ckpt["action_dim"], cfg)
    model.load_state_dict(ckpt["model"])
    agent = Agent(model.eval(), pl.Planner(cfg, ckpt["action_dim"]), ckpt["discount"], info["action_low"],
                  info["action_high"])
    returns, video = [], None
    for i in range(args.episodes):
        frames = [] if args.video and i == 0 else None
        returns.append(run_episode(env, agent, args.policy, EVAL_SEED_BASE + i, frames=frames)["return"])
        if frames:
            video = write_video(np.stack(frames), Path(args.checkpoint).parent / f"{args.policy}.mp4", fps=30)
    stats = summarize(returns)
    print(f"{PAPER} ({args.policy}) on {cfg.env} after {ckpt['step']} steps: {stats['mean']:.1f} ± "
          f"{stats['std']:.1f} over {len(returns)} episodes (per episode: {', '.join(f'{r:.0f}' for r in returns)})")
    result = {"env": cfg.env, "policy": args.policy, "step": ckpt["step"], "episodes": len(returns),
              "seeds": [EVAL_SEED_BASE + i for i in range(len(returns))], "returns": returns,
              "mean": stats["mean"], "std": stats["std"], "checkpoint": str(args.checkpoint)}
    if video is not None:
        result["video"] = str(video)
        print(f"video: {video}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    cli(main)
