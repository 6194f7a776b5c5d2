"""What train.py needs beside its five stages: --reuse, the CMA-ES time budget, and the timing bench.

No exercise here. `run` is train.py's Run (config, folder, modules, checkpoint state).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from common.chapter import chapter_name, load_modules
from common.checkpoint import CheckpointError, load_checkpoint

from .config import Config

PAPER = chapter_name(__package__)
MODULES = ("vae", "rnn", "controller")


def reuse(run, source: str) -> None:
    """Start at stage 5 with the rollouts, V and M of the run in `source` (to iterate on C alone)."""
    try:
        old = load_checkpoint(Path(source) / "checkpoint.pt", PAPER)
    except CheckpointError as err:
        raise SystemExit(f"error: cannot reuse: {err}") from None
    if old.get("stage") not in ("cma", "done"):
        raise SystemExit(f"error: cannot reuse {source}: it has not trained M yet (stage {old.get('stage')!r}).")
    same = ("z_dim", "hidden", "n_mix")
    if any(old["config"][k] != getattr(run.cfg, k) for k in same):
        raise SystemExit(f"error: cannot reuse {source}: its V and M have other sizes ("
                         + ", ".join(f"{k} {old['config'][k]}" for k in same) + "); pass the same flags.")
    run.state.update(stage="cma", vae=old["vae"], rnn=old["rnn"], env_steps=old.get("env_steps", 0),
                     reused=str(source))
    for name in ("vae_recon.png", "dream.gif"):
        if (Path(source) / name).exists():
            shutil.copy(Path(source) / name, run.dir / name)
    print(f"reusing the rollouts, V and M of {source}: starting at CMA-ES")


def cma_deadline(run) -> float:
    """Run seconds at which CMA-ES stops (inf: no budget). `minutes` is the whole run's budget, but CMA-ES
    always gets at least `cma_minutes`: when the earlier stages ate the budget, it says so and runs longer."""
    cfg = run.cfg
    if "cma_stop" not in run.state:
        left = cfg.minutes * 60 - run.elapsed() if cfg.minutes else float("inf")
        if cfg.minutes and left < cfg.cma_minutes * 60:
            print(f"note: collection, V and M took {run.elapsed() / 60:.0f} of the {cfg.minutes:g}-minute budget; "
                  f"CMA-ES still gets its protected {cfg.cma_minutes:g} minutes (--cma-minutes), so the run "
                  f"ends after about {run.elapsed() / 60 + cfg.cma_minutes:.0f} minutes")
            left = cfg.cma_minutes * 60
        run.state["cma_stop"] = run.elapsed() + left
    return run.state["cma_stop"]


def make_bench(cfg: Config):
    """For `python -m common.bench paper1_world_models`: one V update, one M update, one driving step."""
    from common.bench import Bench

    mods = load_modules(__package__, MODULES, set())
    vae, rnn = mods["vae"].ConvVAE(cfg.z_dim), mods["rnn"].MDNRNN(cfg.z_dim, 3, cfg.hidden, cfg.n_mix)
    controller = mods["controller"].Controller(cfg.z_dim + cfg.hidden)
    opt = torch.optim.Adam([*vae.parameters(), *rnn.parameters()], lr=1e-4)
    x = torch.rand(cfg.vae_batch, 3, 64, 64)
    seq = min(cfg.rnn_seq, 100) + 1
    z, a = torch.randn(cfg.rnn_batch, seq, cfg.z_dim), torch.rand(cfg.rnn_batch, seq, 3)  # (B, T, Z), (B, T, 3)

    def update() -> None:
        x_hat, mu, logvar = vae(x)
        loss = mods["vae"].vae_loss(x_hat, x, mu, logvar)["loss"] + mods["rnn"].sequence_loss(rnn, z, a)
        opt.zero_grad()
        loss.backward()
        opt.step()

    from .agent import Agent

    agent, frame = Agent(vae.eval(), rnn.eval(), controller), np.zeros((64, 64, 3), np.uint8)
    return Bench(update=update, act=lambda: agent.act(frame), modules=[vae, rnn, controller],
                 act_label="driving step (V + C + M, batch 1)",
                 note=f"update = one VAE step (batch {cfg.vae_batch}) + one MDN-RNN step (batch {cfg.rnn_batch})")
