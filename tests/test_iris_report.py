"""Chapter 5's world-model report (solutions/paper5_iris/report.py) sees every step of the held-out episodes,
the last one included: that is where the reward and the end of an episode like FrozenLake's are."""

from __future__ import annotations

import numpy as np
import torch

from solutions.paper5_iris.report import collect, patch_perplexity, tokenizer_report, world_model_report
from solutions.paper5_iris.world_model import WorldModel


class Corridor:
    """Episodes of `length` steps; the last step pays 1 and terminates. Frames show the step count."""

    def __init__(self, length: int) -> None:
        self.length, self.t = length, 0

    def reset(self, seed=None):
        self.t = 0
        return np.full((8, 8, 3), self.t, np.uint8), {}

    def step(self, action):
        self.t += 1
        done = self.t == self.length
        return np.full((8, 8, 3), self.t, np.uint8), float(done), done, False, {}


class Still:
    def policy(self, obs, state, temperature):
        return 1, state


def test_collect_keeps_each_episodes_last_frame_and_its_end() -> None:
    data = collect(Corridor(6), Still(), frames=20, seed=0)  # 7 + 7 frames, then 6 of a third episode
    assert len(data["obs"]) == 20
    assert list(np.flatnonzero(~data["next_same"])) == [6, 13, 19], \
        "an episode of 6 steps has 7 frames, the last one with nothing after it"
    assert data["obs"][6, 0, 0, 0] == 6, "the frame after the terminal step belongs to the data"
    assert list(np.flatnonzero(data["end"])) == list(np.flatnonzero(data["reward"])) == [5, 12], \
        "the end and the reward belong to the step from each episode's second-to-last frame"


def test_world_model_report_reads_the_terminal_steps_and_short_episodes() -> None:
    torch.manual_seed(0)
    data = collect(Corridor(6), Still(), frames=21, seed=0)  # 3 whole episodes of 6 steps
    model = WorldModel(vocab=8, actions=2, tokens=4, max_blocks=4, embed=16, layers=1, heads=2, dropout=0.0)
    tokens = torch.as_tensor(data["obs"][:, 0, 0, 0], dtype=torch.long)[:, None].repeat(1, 4) % 8  # (N, 4)
    report = world_model_report(model, tokens, data)
    assert report["windows"] == 6, "each episode of 6 steps gives a window of 4 steps and one of 2 (it ends there)"
    assert report["nonzero_reward_steps"] == 3, "the three goal rewards are on the episodes' last steps"
    assert report["changed_tokens"] > 0 and 0 <= report["end_accuracy"] <= 1


class PatchCode:
    """A tokenizer that gives each 16x16 patch the code of its (uniform) grey level: one code per distinct patch."""

    vocab = 256

    def eval(self):
        return self

    def encode(self, frames):  # (B, 3, 64, 64) in [0, 1] -> (B, 16)
        return (frames[:, 0, ::16, ::16] * 255).round().long().flatten(1)

    def decode(self, tokens):  # (B, 16) -> (B, 3, 64, 64)
        grid = tokens.float().view(-1, 1, 4, 4) / 255
        return grid.repeat_interleave(16, 2).repeat_interleave(16, 3).expand(-1, 3, -1, -1)


def test_patch_perplexity_is_what_one_code_per_distinct_patch_scores() -> None:
    rng = np.random.default_rng(0)
    levels = rng.choice([0, 40, 80, 120, 160, 200], size=(30, 4, 4), p=[0.5, 0.3, 0.1, 0.05, 0.03, 0.02])
    obs = np.repeat(np.repeat(levels, 16, 1), 16, 2)[..., None].repeat(3, -1).astype(np.uint8)  # (30, 64, 64, 3)
    counts = np.bincount(levels.flatten())
    p = counts[counts > 0] / counts.sum()
    assert np.isclose(patch_perplexity(obs), np.exp(-(p * np.log(p)).sum())), "exp(entropy) of the patch histogram"
    assert patch_perplexity(obs[:1] * 0) == 1.0, "one look, one code: perplexity 1"
    data = {"obs": obs, "next_same": np.ones(len(obs), bool)}
    report, _ = tokenizer_report(PatchCode(), data)
    assert np.isclose(report["perplexity"], report["patch_perplexity"]), \
        "a lossless tokenizer with one code per distinct patch scores exactly the patch perplexity"
    assert report["psnr"] > 90
