"""Evaluate a trained Genie on held-out videos (episodes never used in training) (§3, "Metrics").

    python -m paper7_genie.eval --checkpoint runs/.../checkpoint.pt --episodes 10 [--json out.json]

Reports, on non-overlapping clips of `seq_len` frames of `--episodes` new random-policy episodes (seeds from
1,000,000 on):
  controllability  ΔtPSNR at t = horizon (4): PSNR of the frame generated t steps after the first frame of a clip
                   with the latent actions the LAM infers from the real clip, minus PSNR with random latent actions;
                   beside the floor of copying the prompt frame
  latent actions   normalised mutual information with the logged true actions, codes in use, confusion.png
  tokenizer        PSNR of the reconstructed clips, codes in use (of vocab), perplexity, and how often a token stays
                   the same from one frame to the next beside how often its patch does (unstable tokens are noise
                   that the dynamics has to predict)
  dynamics         masked-token accuracy (random masks as in training) beside copying the previous frame's token
"""

from __future__ import annotations

if __package__ in (None, ""):  # `python eval.py` from inside the folder
    from common.chapter import package_of

    __package__ = package_of(__file__)

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from common.chapter import chapter_name, cli
from common.stats import summarize

from .data import EVAL_SEED_BASE, Clips, record
from .play import MODULES, load_genie

PAPER = chapter_name(__package__)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per item PSNR in dB of images in [0, 1]: x, y (B, ...) -> (B,)."""
    mse = (x - y).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1 / mse)


def normalized_mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """NMI(a; b) = 2 I(a; b) / (H(a) + H(b)) of two label arrays (0 when either is constant)."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    joint = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(joint, (ai, bi), 1)
    p = joint / joint.sum()
    pa, pb = p.sum(1), p.sum(0)
    h = lambda q: float(-(q[q > 0] * np.log(q[q > 0])).sum())  # noqa: E731
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / (pa[:, None] * pb[None, :])[nz])).sum())
    return 0.0 if h(pa) + h(pb) == 0 else 2 * mi / (h(pa) + h(pb))


def confusion_figure(true: np.ndarray, codes: np.ndarray, num_actions: int, A: int, names: list[str] | None,
                     path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = np.zeros((num_actions, A), np.int64)
    np.add.at(counts, (true, codes), 1)
    fig = Figure(figsize=(1.2 + 0.5 * A, 1.0 + 0.5 * num_actions), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.imshow(counts / counts.sum(1, keepdims=True).clip(1), cmap="viridis", vmin=0, vmax=1)
    for i in range(num_actions):
        for j in range(A):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color="w", fontsize=7)
    ax.set_xlabel("latent action (LAM code)")
    ax.set_ylabel("true action")
    ax.set_xticks(range(A))
    ax.set_yticks(range(num_actions), names or [str(i) for i in range(num_actions)])
    ax.set_title("rows: share of each true action's steps")
    fig.savefig(path, dpi=100)
    return path


@torch.no_grad()
def evaluate(model, frames: torch.Tensor, true: torch.Tensor, horizon: int, gen: torch.Generator
             ) -> tuple[dict, torch.Tensor]:
    """frames (K, T, H, W, C) uint8 clips, true (K, T-1) logged actions -> (the figures of the module docstring,
    the inferred latent actions (K, T-1))."""
    cfg, A = model.cfg, model.lam.actions
    x = frames.float() / 255
    out: dict = {"clips": len(frames)}
    tokens = model.tokenizer.encode(frames)  # (K, T, N)
    out["tokenizer_psnr"] = float(psnr(model.tokenizer.decode(tokens).flatten(0, 1), x.flatten(0, 1)).mean())
    counts = torch.bincount(tokens.flatten(), minlength=cfg.vocab).double()
    p = counts / counts.sum()
    out["tokenizer_codes_used"], out["vocab"] = int((counts > 0).sum()), cfg.vocab
    out["tokenizer_perplexity"] = float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))
    K, T, H, W, C = frames.shape  # is a token as still as its patch?
    P = model.tokenizer.patch
    grid = frames.reshape(K, T, H // P, P, W // P, P, C)
    out["tokens_unchanged"] = float((tokens[:, 1:] == tokens[:, :-1]).float().mean())
    out["patches_unchanged"] = float((grid[:, 1:] == grid[:, :-1]).all(dim=(3, 5, 6)).float().mean())
    codes = model.lam.infer(frames)  # (K, T-1)
    out["lam_codes_used"], out["actions"] = int(codes.unique().numel()), A
    out["nmi"] = normalized_mutual_info(true.flatten().numpy(), codes.flatten().numpy())
    dyn = model.dynamics.loss(tokens, model.lam.vectors(codes), cfg.mask_min, gen)
    out["masked_token_accuracy"], out["copy_accuracy"] = float(dyn["accuracy"]), float(dyn["copy_accuracy"])
    t = min(horizon, frames.shape[1] - 1)
    real = x[:, t]
    inferred = model.rollout(frames[:, 0], codes[:, :t], generator=gen)[:, t]
    random = model.rollout(frames[:, 0], torch.randint(A, (len(frames), t), generator=gen), generator=gen)[:, t]
    p_inf, p_rand, p_copy = psnr(inferred, real), psnr(random, real), psnr(x[:, 0], real)
    out["t"] = t
    out["delta_psnr"] = (p_inf - p_rand).tolist()
    out["psnr_inferred"], out["psnr_random"] = float(p_inf.mean()), float(p_rand.mean())
    out["psnr_copy_prompt"] = float(p_copy.mean())
    return out, codes


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt written by train.py")
    parser.add_argument("--episodes", type=int, default=10, help="held-out random-policy episodes to cut clips from")
    parser.add_argument("--max-clips", type=int, default=64, help="evaluate at most this many clips")
    parser.add_argument("--json", help="write the result to this file")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = the checkpoint's setting)")
    parser.add_argument("--use-solution", default="", help=f"modules taken from solutions/: {','.join(MODULES)}")
    args = parser.parse_args(argv)
    model, ckpt = load_genie(args.checkpoint, args.use_solution, args.threads)
    cfg = model.cfg
    data = record(cfg.env, args.episodes, cfg.size, cfg.action_repeat, EVAL_SEED_BASE, show=False)
    length = min(cfg.seq_len, int(data["lengths"].max()))
    clips = Clips(data, length)
    frames, true = clips.get(clips.tiles()[: args.max_clips])
    gen = torch.Generator().manual_seed(cfg.seed)
    result, codes = evaluate(model, frames, true, cfg.horizon, gen)
    d = summarize(result["delta_psnr"])
    fig = confusion_figure(true.flatten().numpy(), codes.flatten().numpy(), int(ckpt["num_actions"]),
                           model.lam.actions, None, Path(args.checkpoint).parent / "confusion.png")
    print(f"{PAPER} on {cfg.env} after {ckpt['step']} steps, {result['clips']} held-out clips of {length} frames "
          f"({args.episodes} episodes):")
    print(f"  ΔtPSNR (t={result['t']}): {d['mean']:.2f} ± {d['std']:.2f} dB  (inferred actions "
          f"{result['psnr_inferred']:.2f} dB, random actions {result['psnr_random']:.2f} dB, copying the prompt "
          f"{result['psnr_copy_prompt']:.2f} dB)")
    print(f"  latent actions: NMI with the true actions {result['nmi']:.3f}, {result['lam_codes_used']} of "
          f"{result['actions']} codes in use; confusion matrix: {fig}")
    print(f"  tokenizer: PSNR {result['tokenizer_psnr']:.2f} dB, {result['tokenizer_codes_used']} of {result['vocab']} "
          f"codes in use (perplexity {result['tokenizer_perplexity']:.1f}); tokens unchanged from the previous frame "
          f"{result['tokens_unchanged']:.3f}, patches unchanged {result['patches_unchanged']:.3f}")
    print(f"  dynamics: masked-token accuracy {result['masked_token_accuracy']:.3f} (copying the previous frame: "
          f"{result['copy_accuracy']:.3f})")
    result.update({"env": cfg.env, "step": ckpt["step"], "episodes": args.episodes, "delta_psnr_mean": d["mean"],
                   "delta_psnr_std": d["std"], "checkpoint": str(args.checkpoint), "confusion": str(fig)})
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    cli(main)
