"""How two figures of docs/results/paper5_iris.md were measured (not part of the course; run from the repo root).

    python docs/results/paper5_iris/tokenizer_study.py patches ALE/Breakout-v5 --frames 4000
        the patch perplexity (report.patch_perplexity) of frames played by a uniformly random policy
    python docs/results/paper5_iris/tokenizer_study.py train --weight 10 [--channels 16 --restart 200 --seed 0 --png F]
        a tokenizer alone, trained as the cpu preset trains it (2,320 updates of 32 frames, lr 1e-3, a dead-code
        restart every 200) on the first 12,000 frames of runs/p5_cpu_s1/replay.npz, then report.tokenizer_report on
        the last 2,000 frames of runs/p5_cpu_s2/replay.npz (another seed's episodes). --weight W is the tokenizer's
        foreground_weight: the L1 error of the pixels that are not static background (farther than 0.05 from the
        batch's per-pixel median in some channel) counts 1 + W times; 0 is the preset's plain L1.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from common.envs import make_env
from solutions.paper5_iris.agent import to_frames
from solutions.paper5_iris.report import patch_perplexity, tokenizer_report
from solutions.paper5_iris.tokenizer import Tokenizer


def patches(env_id: str, frames: int) -> dict:
    env = make_env(env_id, obs="pixels", size=64, action_repeat=4, seed=0)
    rng, obs_l, episode = np.random.default_rng(0), [], 0
    obs, _ = env.reset(seed=0)
    while len(obs_l) < frames:
        obs_l.append(obs)
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset(seed=episode)
    return {"env": env_id, "frames": frames, "patch_perplexity": patch_perplexity(np.stack(obs_l))}


def train(a: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    frames = np.load("runs/p5_cpu_s1/replay.npz")["obs"][:12000]
    held = np.load("runs/p5_cpu_s2/replay.npz")
    first = held["is_first"][-2000:]
    data = {"obs": held["obs"][-2000:], "next_same": np.r_[~first[1:], False]}
    tok = Tokenizer(512, a.code_dim, a.channels, foreground_weight=a.weight)  # the cpu preset's tokenizer
    opt = torch.optim.Adam(tok.parameters(), 1e-3)
    start = time.time()
    for update in range(1, a.updates + 1):
        tok.train()
        loss = tok.loss(to_frames(frames[rng.integers(0, len(frames), 32)]))["loss"]  # 32 frames
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tok.parameters(), 10)
        opt.step()
        if a.restart and update % a.restart == 0:
            tok.restart()
    report, _ = tokenizer_report(tok, data)
    if a.png:  # six held-out frames, real (top) above the tokenizer's reconstruction (bottom), 3x enlarged
        import matplotlib.pyplot as plt

        real = to_frames(data["obs"][np.linspace(100, 1900, 6).astype(int)])  # (6, 3, 64, 64)
        row = lambda x: torch.cat(list(x), 2)  # (3, 64, 6 * 64)
        img = torch.cat([row(real), torch.ones(3, 2, 64 * 6), row(tok.decode(tok.encode(real)))], 1)
        plt.imsave(a.png, np.kron(img.permute(1, 2, 0).numpy(), np.ones((3, 3, 1))).clip(0, 1))
    return {**report, **{k: v for k, v in vars(a).items() if k != "command"}, "seconds": round(time.time() - start)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("patches")
    p.add_argument("env")
    p.add_argument("--frames", type=int, default=4000)
    t = sub.add_parser("train")
    for flag, kind, default in (("--weight", float, 0.0), ("--channels", int, 16), ("--code-dim", int, 32),
                                ("--updates", int, 2320), ("--restart", int, 200), ("--seed", int, 0),
                                ("--png", str, "")):
        t.add_argument(flag, type=kind, default=default)
    a = parser.parse_args()
    print(json.dumps(patches(a.env, a.frames) if a.command == "patches" else train(a)))


if __name__ == "__main__":
    main()
