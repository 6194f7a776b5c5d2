"""Chapter 5's optional foreground weight (Tokenizer(foreground_weight=w), ours, not the paper's): the L1 error of
pixels off the batch's static background counts 1 + w times; w = 0 is the paper's plain L1."""

from __future__ import annotations

import torch

from solutions.paper5_iris.tokenizer import Tokenizer


def frames_with_a_moving_ball(n: int = 8) -> torch.Tensor:
    x = torch.full((n, 3, 64, 64), 0.2)  # a static grey background
    for i in range(n):
        x[i, :, 40:42, 4 + 6 * i:6 + 6 * i] = 1.0  # a 2x2 ball, somewhere else in every frame
    return x


def recon_loss(weight: float, drawn: torch.Tensor, frames: torch.Tensor) -> float:
    tok = Tokenizer(16, 4, 4, foreground_weight=weight)
    tok.decode_codes = lambda codes: drawn  # the decoder draws `drawn`, whatever the codes
    return float(tok.loss(frames)["recon"].detach())


def test_weight_zero_is_plain_l1_and_the_weight_counts_only_what_moves() -> None:
    x = frames_with_a_moving_ball()
    no_ball = torch.full_like(x, 0.2)  # the background right, every ball missing
    ball_pixels = 8 * 3 * 4  # frames x channels x pixels
    plain = recon_loss(0.0, no_ball, x)
    assert abs(plain - ball_pixels * 0.8 / x.numel()) < 1e-6, "w = 0: the mean absolute error over every pixel"
    w = 10.0
    weighted = recon_loss(w, no_ball, x)
    ball_share = 8 * 4 / (8 * 64 * 64)  # of the pixels (the weight is per pixel, shared by the channels)
    expected = 0.8 * ball_share * (1 + w) / (1 + w * ball_share)  # sum(err * weight) / sum(weight)
    assert abs(weighted - expected) < 1e-6 and weighted > 5 * plain, "a missing ball must cost about 1 + w times more"
    grey_off = x.clone()
    grey_off[:, :, :8] += 0.1  # the ball right, the top of the background off by 0.1
    assert recon_loss(w, grey_off, x) < recon_loss(0.0, grey_off, x), "errors on the background count less"
