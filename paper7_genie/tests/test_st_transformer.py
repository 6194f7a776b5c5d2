"""Graded tests for the spatiotemporal transformer: spatial attention, causal temporal attention and the ST block
(guide, chapter 7, steps 7.1-7.3).

    pytest paper7_genie --todo 7.2

Each step is compared with the reference and checked against facts that hold for any correct implementation: the
same attention written as a loop over frames (or positions), frames that never see each other (spatial), the future
that never reaches the past (temporal), and a block that is the identity when its sub-layers output zero.
Shapes: B clips, T frames, N tokens per frame, E width.
"""

from __future__ import annotations

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, copy_weights, reference, seeded, target

from .conftest import borrow

ST = "paper7_genie.st_transformer"
B, T, N, E = 2, 4, 5, 8


def attention(seed: int = 0):
    with seeded(seed):
        return reference(ST).SelfAttention(E, 2).requires_grad_(False)


def video(seed: int = 1) -> torch.Tensor:
    with seeded(seed):
        return torch.randn(B, T, N, E)


def by_frame(x: torch.Tensor, attn) -> torch.Tensor:
    """Spatial attention written as a loop: each frame on its own."""
    return torch.stack([attn(x[:, t]) for t in range(x.shape[1])], 1)


def by_position(x: torch.Tensor, attn) -> torch.Tensor:
    """Temporal attention written as a loop: each position on its own, causal in time."""
    return torch.stack([attn(x[:, :, n], causal=True) for n in range(x.shape[2])], 2)


# ---------------------------------------------------------------- 7.1 spatial attention
@pytest.mark.todo("7.1")
def test_spatial_attention_matches_reference():
    x, attn = video(), attention()
    got = target(ST).spatial_attention(x, attn)
    assert_shape(got, (B, T, N, E), step="7.1", what="spatial_attention(x (2, 4, 5, 8), attn)")
    assert_close(got, reference(ST).spatial_attention(x, attn), step="7.1", what="spatial_attention(x, attn)")


@pytest.mark.todo("7.1")
def test_spatial_attention_is_attention_within_each_frame():
    """The same as calling attn on each frame's (B, N, E) tokens in a loop; a frame never sees another frame; and
    (no position embedding inside) reordering the patches of a frame reorders the output the same way."""
    x, attn = video(), attention()
    f = target(ST).spatial_attention
    got = f(x, attn)
    assert_shape(got, (B, T, N, E), step="7.1", what="spatial_attention(x (2, 4, 5, 8), attn)")
    other = x.clone()
    other[:, 2] += 3 * torch.randn(B, N, E)
    changed = (f(other, attn) - got).abs().amax(dim=(0, 2, 3))  # (T,)
    assert_true(bool(changed[[0, 1, 3]].max() < 1e-5),
                f"changing frame 3 changed the output at other frames (largest change per frame: "
                f"{[round(float(c), 4) for c in changed]}): spatial attention mixes frames. Each frame must be its own "
                "sequence of N tokens: (B, T, N, E) becomes (B T, N, E) for attn.", step="7.1")
    perm = torch.tensor([3, 0, 4, 1, 2])
    assert_close(f(x[:, :, perm], attn), got[:, :, perm], step="7.1", atol=1e-5,
                 what="spatial_attention with the patches of every frame reordered (it must give the same outputs, "
                      "reordered: every patch sees every patch of its frame, no causal mask in space)")
    assert_close(got, by_frame(x, attn), step="7.1", atol=1e-5,
                 what="spatial_attention(x, attn) against attn applied to each frame x[:, t] in a loop")


# ---------------------------------------------------------------- 7.2 temporal attention
@pytest.mark.todo("7.2")
def test_temporal_attention_matches_reference():
    x, attn = video(2), attention(3)
    got = target(ST).temporal_attention(x, attn)
    assert_shape(got, (B, T, N, E), step="7.2", what="temporal_attention(x (2, 4, 5, 8), attn)")
    assert_close(got, reference(ST).temporal_attention(x, attn), step="7.2", what="temporal_attention(x, attn)")


@pytest.mark.todo("7.2")
def test_temporal_attention_is_causal_and_per_position():
    """Changing frames 3 and 4 leaves the outputs at frames 1 and 2 unchanged (causal); changing one position at
    every frame leaves the other positions unchanged; and the result equals a loop over positions."""
    x, attn = video(2), attention(3)
    f = target(ST).temporal_attention
    got = f(x, attn)
    assert_shape(got, (B, T, N, E), step="7.2", what="temporal_attention(x (2, 4, 5, 8), attn)")
    future = x.clone()
    future[:, 2:] += 3 * torch.randn(B, T - 2, N, E)
    leak = float((f(future, attn)[:, :2] - got[:, :2]).abs().max())
    assert_true(leak < 1e-5, f"changing frames 3 and 4 changed the output at frames 1 and 2 (by up to {leak:.3g}): "
                "temporal attention is not causal. Frame t may attend to frames 1..t only (attn's causal flag).",
                step="7.2")
    one = x.clone()
    one[:, :, 1] += 3 * torch.randn(B, T, E)
    moved = (f(one, attn) - got).abs().amax(dim=(0, 1, 3))  # (N,)
    assert_true(bool(moved[[0, 2, 3, 4]].max() < 1e-5),
                f"changing position 2 at every frame changed other positions (largest change per position: "
                f"{[round(float(c), 4) for c in moved]}): each position must be its own sequence over time. Move N "
                "next to B before merging them: (B, T, N, E) -> (B, N, T, E) -> (B N, T, E).", step="7.2")
    assert_close(got, by_position(x, attn), step="7.2", atol=1e-5,
                 what="temporal_attention(x, attn) against causal attn applied to each position x[:, :, n] in a loop")


# ---------------------------------------------------------------- 7.3 the ST block
def blocks(monkeypatch, seed: int = 4):
    """(the reference's STBlock, yours with the same weights), with the reference's attentions (7.1, 7.2) in yours."""
    borrow(monkeypatch, ST, ("spatial_attention", "temporal_attention"))
    with seeded(seed):
        ref = reference(ST).STBlock(E, 2)
    mine = copy_weights(ref, target(ST).STBlock(E, 2), step="7.3")
    return ref.requires_grad_(False), mine.requires_grad_(False)


@pytest.mark.todo("7.3")
def test_st_block_matches_reference(monkeypatch):
    ref, mine = blocks(monkeypatch)
    x = video(5)
    got = mine(x)
    assert_shape(got, (B, T, N, E), step="7.3", what="STBlock(8, 2)(x (2, 4, 5, 8))")
    assert_close(got, ref(x), step="7.3", what="STBlock(x) with the reference's weights")


@pytest.mark.todo("7.3")
def test_st_block_by_hand(monkeypatch):
    """x1 = x + S(LN_s(x)); x2 = x1 + T(LN_t(x1)); out = x2 + FFW(LN_f(x2)), with S and T written as loops; and with
    every sub-layer's output layer at zero the block is the identity (three residuals)."""
    _, mine = blocks(monkeypatch, 6)
    x = video(7)
    with torch.no_grad():
        x1 = x + by_frame(mine.ln_s(x), mine.spatial)
        x2 = x1 + by_position(mine.ln_t(x1), mine.temporal)
        want = x2 + mine.ffw(mine.ln_f(x2))
    got = mine(x)
    swapped = None
    with torch.no_grad():
        y1 = x + by_position(mine.ln_t(x), mine.temporal)
        y2 = y1 + by_frame(mine.ln_s(y1), mine.spatial)
        swapped = y2 + mine.ffw(mine.ln_f(y2))
    assert_true(not torch.allclose(got, swapped, atol=1e-5), "the block applies temporal attention before spatial "
                "attention: the paper's order is spatial, temporal, then the feed-forward layer.", step="7.3")
    assert_close(got, want, step="7.3", atol=1e-5,
                 what="STBlock(x) against x + S(LN_s(x)), then + T(LN_t(.)), then + FFW(LN_f(.)) (pre-LN residuals)")
    with torch.no_grad():
        for layer in (mine.spatial.proj, mine.temporal.proj, mine.ffw[-1]):
            layer.weight.zero_()
            layer.bias.zero_()
    assert_close(mine(x), x, step="7.3", atol=1e-6,
                 what="STBlock(x) with the output layers of both attentions and of the FFW zeroed (each sub-layer "
                      "adds zero, so the block must return x: a residual around each, and no norm after the sum)")
