"""Evaluate a trained World Models agent on CarRacing tracks never used in training.

    python -m paper1_world_models.eval --checkpoint runs/.../checkpoint.pt --episodes 10 [--video]

Tracks are seeded 1,000,000,000 + i (training draws seeds below 1,000,000), episodes run to the end
(1000 steps, no early stopping), and the result is mean +- std of the returns (the paper: 906 +- 21
over 100 tracks). Beside each track's return it prints the track's sharpest bend (the largest change of
heading over 6 road tiles): the hairpins are where a small controller leaves the road.
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
from common.config import config_from_dict, config_to_dict
from common.stats import summarize
from common.video import write_video

from .agent import EVAL_SEED_BASE, Agent, RolloutPool, make_car_env, run_episode
from .config import Config

PAPER = chapter_name(__package__)
MODULES = ("vae", "rnn", "controller")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt written by train.py")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--workers", type=int, default=0, help="parallel episodes (0 = one per core)")
    parser.add_argument("--video", action="store_true",
                        help="also film the first episode (drive.mp4 beside the checkpoint)")
    parser.add_argument("--json", help="write the result to this file")
    parser.add_argument("--use-solution", default="", help="modules taken from solutions/")
    args = parser.parse_args(argv)
    try:
        ckpt = load_checkpoint(args.checkpoint, PAPER)
    except CheckpointError as err:
        sys.exit(f"error: {err}")
    if "controller" not in ckpt:
        sys.exit(f"error: {args.checkpoint} has no controller yet (stage {ckpt.get('stage')!r}); "
                 "finish training or --resume it first.")
    cfg = config_from_dict(Config, ckpt["config"])
    use_solution = parse_use_solution(args.use_solution, MODULES)
    names = {name: mod.__name__ for name, mod in load_modules(__package__, MODULES, use_solution).items()}
    seeds = [EVAL_SEED_BASE + i for i in range(args.episodes)]
    pool = RolloutPool(args.workers, names, config_to_dict(cfg), ckpt["vae"], ckpt["rnn"])
    try:
        returns = pool.returns([ckpt["controller"].numpy()] * len(seeds), [[s] for s in seeds], patience=0)
    finally:
        pool.close()
    stats, bends = summarize(returns), [sharpest_bend(cfg.env, s) for s in seeds]
    print(f"{PAPER} on {cfg.env}: {stats['mean']:.1f} ± {stats['std']:.1f} over {len(returns)} unseen tracks "
          f"(IQM {stats['iqm']:.1f})")
    for i, (ret, bend) in enumerate(zip(returns, bends, strict=True)):
        print(f"  track {i}: {ret:6.0f}   sharpest bend {bend:3.0f} degrees over 6 tiles")
    result = {"env": cfg.env, "episodes": len(returns), "seeds": seeds, "returns": returns.tolist(),
              "mean": stats["mean"], "std": stats["std"], "iqm": stats["iqm"], "sharpest_bend_deg": bends,
              "checkpoint": str(args.checkpoint)}
    if args.video:
        result["video"] = str(film(cfg, ckpt, names, seeds[0], Path(args.checkpoint).parent / "drive.mp4"))
        print(f"video: {result['video']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


def sharpest_bend(env_id: str, seed: int, tiles: int = 6) -> float:
    """The largest change of heading, in degrees, over `tiles` consecutive road tiles of track `seed`."""
    env = make_car_env(env_id)
    env.reset(seed=seed)
    heading = np.unwrap([tile[1] for tile in env.unwrapped.track])  # (n_tiles,) radians
    env.close()
    return round(float(np.degrees(np.abs(heading[tiles:] - heading[:-tiles]).max())), 1)


def film(cfg: Config, ckpt: dict, names: dict[str, str], seed: int, path: Path) -> Path:
    """Drive one episode in this process and save what the environment renders (600x400 frames)."""
    import importlib

    mods = {k: importlib.import_module(v) for k, v in names.items()}
    vae = mods["vae"].ConvVAE(cfg.z_dim)
    vae.load_state_dict(ckpt["vae"])
    rnn = mods["rnn"].MDNRNN(cfg.z_dim, 3, cfg.hidden, cfg.n_mix)
    rnn.load_state_dict(ckpt["rnn"])
    controller = mods["controller"].Controller(cfg.z_dim + (cfg.hidden if cfg.controller_input == "zh" else 0))
    mods["controller"].set_flat(controller, ckpt["controller"].numpy())
    agent = Agent(vae.eval(), rnn.eval(), controller, cfg.controller_input)
    frames: list[np.ndarray] = []
    env = make_car_env(cfg.env, render_mode="rgb_array")
    with torch.no_grad():
        run_episode(env, agent, seed, cfg.episode_steps, frames=frames, render=True)
    write_video(np.stack(frames[::2]), path, fps=25)
    return path


if __name__ == "__main__":
    cli(main)
