"""Evaluate a trained IRIS agent on unseen games, and (with --report) its world model on held-out frames.

    python -m paper5_iris.eval --checkpoint runs/.../checkpoint.pt --episodes 10 [--video] [--dream] [--report]

Episodes are seeded 1,000,000 + i (training and its evaluations use other seeds), whole games (no life
loss), the actor sampled at temperature 0.5 as the authors test. --report plays `report_frames` more steps
on seeds 2,000,000 + i with training's episode ends (a lost life) and prints the tokenizer and world-model
figures of report.py (perplexity, changed-token fractions, PSNR, next-token accuracy on changed tokens,
reward accuracy against the majority class).
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
from common.stats import summarize
from common.video import write_video

from .config import Config
from .report import collect, tokenizer_report, world_model_report
from .train import MODULES, make_env_for, run_episode

PAPER = chapter_name(__package__)
EVAL_SEED_BASE, REPORT_SEED_BASE = 1_000_000, 2_000_000


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt or best.pt written by train.py")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--video", action="store_true", help="also film the first episode (eval.mp4 beside it)")
    parser.add_argument("--dream", action="store_true",
                        help="also draw the model's dream of the first episode (<checkpoint name>_dream.png/.gif)")
    parser.add_argument("--report", action="store_true", help="also the world-model report on held-out frames")
    parser.add_argument("--json", help="write the result to this file")
    parser.add_argument("--use-solution", default="", help=f"modules taken from solutions/: {','.join(MODULES)}")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = the checkpoint's setting)")
    args = parser.parse_args(argv)
    try:
        ckpt = load_checkpoint(args.checkpoint, PAPER)
    except CheckpointError as err:
        sys.exit(f"error: {err}")
    if "agent" not in ckpt:
        sys.exit(f"error: {args.checkpoint} holds no trained agent; train (or --resume) it first.")
    cfg = config_from_dict(Config, {**ckpt["config"], "device": "cpu"})
    if args.threads or cfg.threads:
        torch.set_num_threads(args.threads or cfg.threads)
    mods = load_modules(__package__, MODULES, parse_use_solution(args.use_solution, MODULES))
    agent = mods["agent"].IRIS(int(ckpt["action_dim"]), cfg)
    try:
        agent.load_state_dict(ckpt["agent"])
    except (RuntimeError, KeyError) as err:
        sys.exit(f"error: {args.checkpoint} does not fit this chapter's model ({type(err).__name__}); was it "
                 "saved by another version of the code?")
    env = make_env_for(cfg, EVAL_SEED_BASE, train=False)
    seeds = [EVAL_SEED_BASE + i for i in range(args.episodes)]
    returns, first = [], None
    with torch.no_grad():
        for seed in seeds:
            ret, episode = run_episode(env, agent, seed=seed)
            returns.append(ret)
            first = episode if first is None else first
    stats = summarize(returns)
    print(f"{PAPER} on {cfg.env}: {stats['mean']:.1f} ± {stats['std']:.1f} over {len(returns)} episodes "
          f"(IQM {stats['iqm']:.1f}; per episode: {', '.join(f'{r:.0f}' for r in returns)})")
    result = {"env": cfg.env, "episodes": len(returns), "seeds": seeds, "returns": returns, "mean": stats["mean"],
              "std": stats["std"], "iqm": stats["iqm"], "env_steps": int(ckpt["step"]),
              "checkpoint": str(args.checkpoint)}
    stem = Path(args.checkpoint).with_suffix("")
    if args.dream and first is not None:
        path = draw_dream(mods["agent"].IrisWorldModel(agent), first, stem.with_name(stem.name + "_dream"), cfg.env,
                          horizon=cfg.max_blocks - 2)
        print(f"dream: {path}")
    if args.video and first is not None:
        path = write_video(np.asarray(first["obs"]), Path(args.checkpoint).parent / "eval.mp4", fps=15)
        result["video"] = str(path)
        print(f"video (the agent's 64x64 frames): {path}")
    if args.report:
        data = collect(make_env_for(cfg, REPORT_SEED_BASE, train=True), agent, cfg.report_frames, REPORT_SEED_BASE)
        tok, tokens = tokenizer_report(agent.tokenizer, data, cfg.tokens_side)
        wm = world_model_report(agent.wm, tokens, data)
        result["report"] = {"tokenizer": tok, "world_model": wm}
        print(f"tokenizer on {tok['frames']} held-out frames: perplexity {tok['perplexity']:.1f} of {tok['vocab']} "
              f"codes ({tok['codes_used']} used; one per distinct patch would score {tok['patch_perplexity']:.1f}), "
              f"PSNR {tok['psnr']:.1f} dB ({tok['psnr_changed_patches']:.1f} dB on "
              f"changed patches); tokens changing {tok['token_change_fraction']:.3f} vs patches changing "
              f"{tok['patch_change_fraction']:.3f} (ratio {tok['change_ratio']:.2f})")
        nonzero = (f"reward accuracy on the {wm['nonzero_reward_steps']} nonzero-reward steps "
                   f"{wm['reward_accuracy_nonzero']:.3f} (majority class {wm['reward_majority_baseline_nonzero']:.3f})"
                   if wm["nonzero_reward_steps"] else "no nonzero reward in these steps (the reward head is untested)")
        print(f"world model on {wm['windows']} windows: next-token accuracy {wm['next_token_accuracy']:.3f}, "
              f"on the {wm['changed_tokens']} changed tokens {wm['changed_token_accuracy']:.3f} (copying scores 0); "
              f"{nonzero}, on all steps {wm['reward_accuracy']:.3f} (majority {wm['reward_majority_baseline']:.3f}); "
              f"end accuracy {wm['end_accuracy']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    cli(main)
