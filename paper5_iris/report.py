"""The world-model report of chapter 5, on held-out frames (episodes the model never trained on).

No exercise here. Why these numbers and not PSNR alone: a tokenizer that has collapsed onto a few codes
draws the static background well (about 30 dB on Breakout) while no token ever changes between frames,
so the world model has nothing to predict. The report therefore puts side by side:

    tokenizer    perplexity of code use (of `vocab`), codes used, PSNR, PSNR on the 16x16 patches that
                 changed since the previous frame, and the fraction of tokens that change between
                 consecutive frames beside the fraction of patches whose pixels change; beside the
                 perplexity, the frames' own patch perplexity: what a tokenizer scores that gives every
                 distinct 16x16 patch its own code (lossless, and no two codes for one look). A tokenizer
                 scores above it only by giving identical patches different codes
    world model  next-token accuracy (teacher-forced) on all tokens and on the tokens that change (where
                 copying the last frame scores 0), reward-class accuracy on the steps with a nonzero
                 reward beside the majority-class baseline, end accuracy
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .agent import to_frames
from .world_model import interleave


def collect(env: Any, agent: Any, frames: int, seed: int, temperature: float = 0.5) -> dict[str, np.ndarray]:
    """`frames` frames of the agent's episodes in `env`, each episode's last frame included (the last episode
    is cut short where the frames run out): obs (N, H, W, 3); for frame t, the action taken after it, the reward
    and end that led to, and next_same: whether frame t + 1 follows it in the same episode (False at an
    episode's last frame, where action, reward and end are 0)."""
    obs_l, act_l, rew_l, end_l, next_l = [], [], [], [], []
    episode = 0
    while len(obs_l) < frames:
        obs, _ = env.reset(seed=seed + episode)
        state, done = None, False
        while not done and len(obs_l) < frames - 1:
            action, state = agent.policy(obs, state, temperature)
            obs_l.append(obs)
            obs, reward, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
            act_l.append(action)
            rew_l.append(reward)
            end_l.append(terminated)
            next_l.append(True)
        obs_l.append(obs)  # the episode's last frame: nothing follows it
        act_l.append(0)
        rew_l.append(0.0)
        end_l.append(False)
        next_l.append(False)
        episode += 1
    return {"obs": np.stack(obs_l), "action": np.asarray(act_l), "reward": np.asarray(rew_l, np.float32),
            "end": np.asarray(end_l, np.float32), "next_same": np.asarray(next_l)}


def entropy_perplexity(counts: np.ndarray) -> float:
    """exp(entropy) of a histogram: 1 for a single class, n for n equally common ones."""
    p = counts[counts > 0] / counts.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def patch_perplexity(obs: np.ndarray, side: int = 4) -> float:
    """obs (N, H, W, C) uint8 -> the perplexity of the distinct (H/side x W/side) patches, pixel for pixel."""
    n, h, w, c = obs.shape
    patches = obs.reshape(n, side, h // side, side, w // side, c).transpose(0, 1, 3, 2, 4, 5)
    rows = np.ascontiguousarray(patches).reshape(n * side * side, -1)  # one row of bytes per patch
    _, counts = np.unique(rows.view(np.dtype((np.void, rows.shape[1]))), return_counts=True)
    return entropy_perplexity(counts)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = (a - b).pow(2).mean().clamp(min=1e-10)
    return float(10 * torch.log10(1 / mse))


@torch.no_grad()
def tokenizer_report(tokenizer: Any, data: dict[str, np.ndarray], side: int = 4
                     ) -> tuple[dict[str, float], torch.Tensor]:
    """The tokenizer's figures, and the tokens (N, side^2) of data["obs"]."""
    tokenizer.eval()
    chunks = [tokenizer.encode(to_frames(o)) for o in np.array_split(data["obs"], max(1, len(data["obs"]) // 256))]
    tokens = torch.cat(chunks)  # (N, K)
    real = to_frames(data["obs"])  # (N, 3, H, W)
    recon = torch.cat([tokenizer.decode(t) for t in tokens.split(256)])
    usage = torch.bincount(tokens.flatten(), minlength=tokenizer.vocab).float()
    pairs = torch.as_tensor(data["next_same"][:-1])  # obs t and t + 1 in one episode
    size = real.shape[-1] // side  # 16: the pixels of one token
    patch = lambda x: x.unfold(2, size, size).unfold(3, size, size)  # (N, 3, side, side, size, size)
    diff = (patch(real[1:]) - patch(real[:-1])).abs().amax((1, 4, 5)).flatten(1)[pairs]  # (pairs, K)
    changed_patch = diff > 1.5 / 255  # any pixel of the patch moved
    changed_token = (tokens[1:] != tokens[:-1])[pairs]
    err = (patch(recon[1:]) - patch(real[1:])).pow(2).mean((1, 4, 5)).flatten(1)[pairs]  # (pairs, K) mse per patch
    psnr_changed = float(10 * torch.log10(1 / err[changed_patch].mean().clamp(min=1e-10))) if changed_patch.any() \
        else float("nan")
    report = {"frames": len(tokens), "vocab": tokenizer.vocab, "perplexity": entropy_perplexity(usage.numpy()),
              "patch_perplexity": patch_perplexity(data["obs"], side), "codes_used": int((usage > 0).sum()),
              "psnr": psnr(recon, real), "psnr_changed_patches": psnr_changed,
              "token_change_fraction": float(changed_token.float().mean()),
              "patch_change_fraction": float(changed_patch.float().mean())}
    report["change_ratio"] = report["token_change_fraction"] / max(report["patch_change_fraction"], 1e-9)
    return report, tokens


@torch.no_grad()
def world_model_report(wm: Any, tokens: torch.Tensor, data: dict[str, np.ndarray]) -> dict[str, float]:
    """Teacher-forced accuracies of the world model on windows of up to `max_blocks` steps, each inside one
    episode: an episode of n steps gives windows of max_blocks steps and one shorter one that ends with it."""
    wm.eval()
    K = wm.K
    last = np.flatnonzero(~data["next_same"])  # the index of each episode's last frame
    firsts = np.r_[0, last[:-1] + 1]  # each episode's first frame
    windows = [(start, min(wm.max_blocks, end - start)) for first, end in zip(firsts, last, strict=True)
               for start in range(first, end, wm.max_blocks)]  # (first frame, steps)
    hits: dict[str, list[np.ndarray]] = {"all": [], "changed": [], "reward": [], "reward_nonzero": [], "end": []}
    classes, nonzero_classes = [], []
    for start, T in windows:
        toks = tokens[start:start + T + 1][None]  # (1, T + 1, K)
        actions = torch.as_tensor(data["action"][start:start + T])[None].long()
        out, _ = wm(interleave(toks[:, :-1], actions))
        pred = out["obs"].view(1, T, K + 1, -1).argmax(-1)[0]  # (T, K + 1)
        nxt = toks[0, 1:]  # (T, K): frame t + 1
        # the prediction of frame t + 1's token k: position k - 1 of block t + 1 (k >= 1), the action of block t (k = 0)
        guess = torch.cat([pred[:, K:K + 1], torch.cat([pred[1:, :K - 1], pred.new_full((1, K - 1), -1)], 0)], 1)
        valid = torch.ones_like(nxt, dtype=torch.bool)
        valid[-1, 1:] = False  # frame T's tokens after the first have no position in the window
        hit = (guess == nxt)[valid]
        changed = (nxt != toks[0, :-1])[valid]
        hits["all"].append(hit.numpy())
        hits["changed"].append(hit[changed].numpy())
        reward_cls = np.sign(data["reward"][start:start + T]).astype(int) + 1
        r_pred = out["reward"].view(1, T, K + 1, 3)[0, :, K].argmax(-1).numpy()
        e_pred = out["end"].view(1, T, K + 1, 2)[0, :, K].argmax(-1).numpy()
        hits["reward"].append(r_pred == reward_cls)
        hits["reward_nonzero"].append((r_pred == reward_cls)[reward_cls != 1])
        hits["end"].append(e_pred == data["end"][start:start + T])
        classes.append(reward_cls)
        nonzero_classes.append(reward_cls[reward_cls != 1])
    mean = lambda k: float(np.concatenate(hits[k]).mean()) if hits[k] and len(np.concatenate(hits[k])) else float("nan")
    cls = np.concatenate(classes) if classes else np.zeros(0, int)
    nz = np.concatenate(nonzero_classes) if nonzero_classes else np.zeros(0, int)
    majority = lambda c: float(np.bincount(c).max() / len(c)) if len(c) else float("nan")
    return {"windows": len(hits["all"]), "next_token_accuracy": mean("all"), "changed_token_accuracy": mean("changed"),
            "changed_tokens": int(sum(len(h) for h in hits["changed"])), "reward_accuracy": mean("reward"),
            "reward_majority_baseline": majority(cls), "nonzero_reward_steps": int(len(nz)),
            "reward_accuracy_nonzero": mean("reward_nonzero"), "reward_majority_baseline_nonzero": majority(nz),
            "end_accuracy": mean("end")}
