"""The random policy's score on an environment: the floor every chapter's result is read against.

    python -m common.baseline ALE/Boxing-v5 --episodes 10 --action-repeat 4 [--json FILE]

Each step samples a uniformly random action; episodes are seeded 1,000,000 + i like the chapters' eval.py,
and run through `common.envs.make_env` (state observations: the policy never looks at them, so pixels
would give the same returns more slowly). Prints the mean, the standard deviation and the standard error
of the mean (std / sqrt(n)): "above random by more than twice its standard error" compares with this.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from .envs import UnknownEnvError, make_env

EVAL_SEED_BASE = 1_000_000


def random_returns(env_id: str, episodes: int, action_repeat: int = 1, seed_base: int = EVAL_SEED_BASE) -> list[float]:
    """The returns of `episodes` episodes of uniformly random actions (seeds seed_base + i)."""
    env = make_env(env_id, action_repeat=action_repeat, seed=seed_base)
    returns = []
    for i in range(episodes):
        env.reset(seed=seed_base + i)
        env.action_space.seed(seed_base + i)
        done, total = False, 0.0
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def summary(returns: list[float]) -> dict[str, float]:
    """mean, std (population, as the chapters' results) and se = sample std / sqrt(n)."""
    values = np.asarray(returns, dtype=float)
    n = len(values)
    se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"mean": float(values.mean()), "std": float(values.std()), "se": se, "episodes": n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.baseline", description=__doc__.splitlines()[0])
    parser.add_argument("env", help="an environment id, e.g. CartPole-v1 or ALE/Boxing-v5")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--action-repeat", type=int, default=1, help="as the chapter's config (Atari: 4)")
    parser.add_argument("--json", type=Path, default=None, help="also write the result to this file")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        raise SystemExit("error: --episodes must be at least 1.")
    try:
        returns = random_returns(args.env, args.episodes, args.action_repeat)
    except UnknownEnvError as err:
        raise SystemExit(f"error: {err}") from None
    result = {"env": args.env, "policy": "uniform random", "action_repeat": args.action_repeat,
              "seeds": [EVAL_SEED_BASE + i for i in range(args.episodes)], "returns": returns, **summary(returns)}
    each = (f"per episode: {', '.join(f'{r:g}' for r in returns)}" if len(returns) <= 20 else  # else: --json has them
            f"{len(set(returns))} distinct returns, from {min(returns):g} to {max(returns):g}")
    print(f"random policy on {args.env}: {result['mean']:.3g} ± {result['std']:.3g} over {args.episodes} episodes "
          f"(standard error of the mean {result['se']:.2g}; {each})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
