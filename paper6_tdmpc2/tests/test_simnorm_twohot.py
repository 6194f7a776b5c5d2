"""Graded tests for SimNorm and the symlog two-hot helpers (guide, chapter 6, steps 6.1-6.3).

    pytest paper6_tdmpc2 --todo 6.2          # one step
    pytest paper6_tdmpc2/tests/test_simnorm_twohot.py

Shapes below: B batch, L latent size (a multiple of 8), K bins (101 on [-10, 10] unless said otherwise).
"""

from __future__ import annotations

import math

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, reference, seeded, target

WM = "paper6_tdmpc2.world_model"
K, VMIN, VMAX = 101, -10.0, 10.0
BINS = torch.linspace(VMIN, VMAX, K)


# ---------------------------------------------------------------- 6.1 SimNorm
@pytest.mark.todo("6.1")
def test_simnorm_matches_reference():
    with seeded(1):
        x = 3 * torch.randn(4, 5, 32)
    got = target(WM).simnorm(x, 8)
    assert_shape(got, (4, 5, 32), step="6.1", what="simnorm(x of shape (4, 5, 32), group=8)")
    assert_close(got, reference(WM).simnorm(x, 8), step="6.1", what="simnorm(x, 8)")


@pytest.mark.todo("6.1")
def test_simnorm_makes_every_group_a_distribution():
    """Each consecutive group of 8 numbers is non-negative and sums to 1, and each group only sees itself:
    adding a different constant to each group (softmax is shift invariant) changes nothing."""
    tgt = target(WM)
    with seeded(2):
        x = 3 * torch.randn(6, 64)
    y = tgt.simnorm(x, 8)
    groups = y.view(6, 8, 8)
    assert_true(bool((groups >= 0).all()), "simnorm returned negative numbers; a softmax never does.", step="6.1")
    assert_close(groups.sum(-1), torch.ones(6, 8), step="6.1",
                 what="the sum of each group of 8 consecutive numbers (softmax within a group, over the "
                      "last axis of x.view(..., L // 8, 8), not across groups)")
    shift = torch.arange(8.0).repeat_interleave(8) * 5.0  # a different constant for each group
    assert_close(tgt.simnorm(x + shift, 8), y, step="6.1", atol=1e-5,
                 what="simnorm(x + a different constant per group): each group must be normalised on its own")
    assert_close(tgt.simnorm(x, 4).view(6, 16, 4).sum(-1), torch.ones(6, 16), step="6.1",
                 what="the group sums with group=4 (use the `group` argument, not a hard-coded 8)")


# ---------------------------------------------------------------- 6.2 symlog, symexp, two_hot
@pytest.mark.todo("6.2")
def test_symlog_and_symexp_known_values():
    tgt, ref = target(WM), reference(WM)
    x = torch.tensor([-1000.0, -math.e + 1, -0.5, 0.0, 0.5, math.e - 1, 1000.0])
    assert_close(tgt.symlog(x), ref.symlog(x), step="6.2", what="symlog(x)")
    assert_close(tgt.symlog(torch.tensor([0.0, math.e - 1])), torch.tensor([0.0, 1.0]), step="6.2",
                 what="symlog([0, e - 1]) (symlog(0) = 0 and symlog(e - 1) = ln(e) = 1)")
    assert_close(tgt.symexp(tgt.symlog(x)), x, step="6.2", rtol=1e-4,
                 what="symexp(symlog(x)): symexp must undo symlog")
    assert_close(tgt.symlog(-x), -tgt.symlog(x), step="6.2", what="symlog(-x) (symlog is odd: keep the sign)")


@pytest.mark.todo("6.2")
def test_two_hot_matches_reference():
    x = torch.tensor([[-1e5, -300.0, -7.3, -1.0], [0.0, 0.3, 4.2, 1e5]])
    got = target(WM).two_hot(x, K, VMIN, VMAX)
    assert_shape(got, (2, 4, K), step="6.2", what="two_hot(x of shape (2, 4), 101 bins)")
    assert_close(got, reference(WM).two_hot(x, K, VMIN, VMAX), step="6.2", what="two_hot(x, 101, -10, 10)")


@pytest.mark.todo("6.2")
def test_two_hot_encodes_symlog_of_the_value():
    """The weights sum to 1, sit on two neighbouring bins, and their mean is symlog(x), not x."""
    tgt = target(WM)
    x = torch.tensor([-250.0, -5.0, -0.01, 0.7, 5.0, 250.0])
    w = tgt.two_hot(x, K, VMIN, VMAX)  # (6, K)
    assert_close(w.sum(-1), torch.ones(6), step="6.2", what="the two-hot weights summed over the bins")
    assert_true(bool(((w > 1e-6).sum(-1) <= 2).all()), "two_hot put weight on more than two bins.", step="6.2")
    symlog_x = torch.sign(x) * torch.log1p(x.abs())
    assert_close((w * BINS).sum(-1), symlog_x, step="6.2", atol=1e-4,
                 what="sum_k w_k * bin_k for x = [-250, -5, -0.01, 0.7, 5, 250]: it must equal symlog(x) "
                      "(the bins live in symlog space; encode symlog(x), not x)")
    assert_close(tgt.two_hot(torch.tensor([0.0]), K, VMIN, VMAX)[0, 50], torch.tensor(1.0), step="6.2",
                 what="the weight of the middle bin (index 50) for x = 0")
    edges = tgt.two_hot(torch.tensor([1e9, -1e9]), K, VMIN, VMAX)
    assert_close(edges[:, [0, -1]], torch.tensor([[0.0, 1.0], [1.0, 0.0]]), step="6.2",
                 what="the weights of the first and last bins for x = +1e9 and -1e9 (clamp to [vmin, vmax])")


# ---------------------------------------------------------------- 6.3 two_hot_inv, soft_ce
@pytest.mark.todo("6.3")
def test_two_hot_inv_matches_reference():
    with seeded(3):
        logits = 2 * torch.randn(4, 7, K)
    got = target(WM).two_hot_inv(logits, VMIN, VMAX)
    assert_shape(got, (4, 7), step="6.3", what="two_hot_inv(logits of shape (4, 7, 101))")
    assert_close(got, reference(WM).two_hot_inv(logits, VMIN, VMAX), step="6.3", what="two_hot_inv(logits)")


@pytest.mark.todo("6.3")
def test_two_hot_inv_inverts_two_hot():
    """Logits log(two_hot(x)) decode back to x; uniform logits decode to symexp(0) = 0."""
    tgt, ref = target(WM), reference(WM)
    x = torch.tensor([-300.0, -12.5, -1.0, 0.0, 0.25, 3.0, 80.0])
    logits = ref.two_hot(x, K, VMIN, VMAX).clamp_min(1e-30).log()
    assert_close(tgt.two_hot_inv(logits, VMIN, VMAX), x, step="6.3", rtol=1e-3, atol=1e-4,
                 what="two_hot_inv(log two_hot(x)) for x = [-300, -12.5, -1, 0, 0.25, 3, 80] (take the "
                      "expectation in symlog space, then symexp)")
    assert_close(tgt.two_hot_inv(torch.zeros(3, K), VMIN, VMAX), torch.zeros(3), step="6.3",
                 what="two_hot_inv of all-zero logits (a uniform distribution over symmetric bins)")


@pytest.mark.todo("6.3")
def test_soft_ce_matches_reference_and_its_gradient():
    """CE(uniform, anything) = ln K, and d CE / d logits = softmax(logits) - two_hot(target)."""
    tgt, ref = target(WM), reference(WM)
    with seeded(4):
        logits = torch.randn(5, K, requires_grad=True)
        y = 50 * torch.randn(5)
    got = tgt.soft_ce(logits, y, VMIN, VMAX)
    assert_shape(got, (5,), step="6.3", what="soft_ce(logits (5, 101), target (5,))")
    assert_close(got, ref.soft_ce(logits, y, VMIN, VMAX), step="6.3", what="soft_ce(logits, target)")
    got.sum().backward()
    want = torch.softmax(logits.detach(), -1) - ref.two_hot(y, K, VMIN, VMAX)
    assert_close(logits.grad, want, step="6.3", atol=1e-5,
                 what="the gradient of soft_ce with respect to the logits (softmax - two_hot(target))")
    assert_close(tgt.soft_ce(torch.zeros(2, K), torch.tensor([3.0, -40.0]), VMIN, VMAX),
                 torch.full((2,), math.log(K)), step="6.3", what="soft_ce of uniform logits (must be ln 101)")
