"""Graded tests for symlog, symexp, two-hot encoding, its decoding and its loss (guide, chapter 4, steps 4.1-4.3).

    pytest paper4_dreamerv3 --todo 4.2

Each step is compared with the reference and checked against facts that hold for any correct
implementation: values worked out by hand, symexp(symlog(x)) = x, two-hot weights that sum to 1 on the two
neighbouring bins and decode back to x, the gradient of the two-hot cross-entropy.
"""

from __future__ import annotations

import math

import pytest
import torch

from common.grading import assert_close, assert_finite, assert_shape, assert_true, reference, seeded, target

from .conftest import borrow

SYM = "paper4_dreamerv3.symlog"
E = math.e


# ---------------------------------------------------------------- 4.1 symlog and symexp
@pytest.mark.todo("4.1")
def test_symlog_known_values():
    x = torch.tensor([0.0, E - 1, -(E - 1), E ** 2 - 1, -(E ** 3 - 1), 1e-3])
    got = target(SYM).symlog(x)
    assert_shape(got, (6,), step="4.1", what="symlog of a (6,) tensor")
    assert_finite(got, step="4.1", what="symlog(x) (symlog(0) must be 0: ln(1 + |x|), not ln |x|)")
    want = torch.tensor([0.0, 1.0, -1.0, 2.0, -3.0, math.log1p(1e-3)])
    if torch.allclose(got, want.abs(), atol=1e-5):
        raise AssertionError("symlog lost the sign of negative inputs: symlog(x) = sign(x) * ln(1 + |x|) is an odd "
                             "function, symlog(-x) = -symlog(x).")
    assert_close(got, want, step="4.1", what="symlog(x) for x = 0, e - 1, -(e - 1), e^2 - 1, -(e^3 - 1), 0.001 "
                 "(expected 0, 1, -1, 2, -3, ~0.001)")
    with seeded(0):
        x = torch.randn(2, 3, 4) * 50
    assert_close(target(SYM).symlog(x), reference(SYM).symlog(x), step="4.1", what="symlog of a (2, 3, 4) tensor")


@pytest.mark.todo("4.1")
def test_symexp_known_values():
    y = torch.tensor([0.0, 1.0, -1.0, 2.0, -3.0])
    got = target(SYM).symexp(y)
    want = torch.tensor([0.0, E - 1, -(E - 1), E ** 2 - 1, -(E ** 3 - 1)])
    if torch.allclose(got[0], torch.tensor(1.0)):
        raise AssertionError("symexp(0) came out 1: the inverse of ln(1 + |x|) is exp(|x|) - 1 (the -1 is missing).")
    assert_close(got, want, step="4.1", what="symexp(y) for y = 0, 1, -1, 2, -3 (expected 0, e - 1, -(e - 1), "
                 "e^2 - 1, -(e^3 - 1): sign(y) * (exp(|y|) - 1))")
    with seeded(1):
        y = torch.randn(3, 5) * 4
    assert_close(target(SYM).symexp(y), reference(SYM).symexp(y), step="4.1", what="symexp of a (3, 5) tensor")


@pytest.mark.todo("4.1")
def test_symlog_and_symexp_are_inverses():
    sym = target(SYM)
    x = torch.tensor([-1e6, -12345.0, -3.0, -0.5, -1e-4, 0.0, 1e-4, 0.7, 42.0, 1e5], dtype=torch.float64)
    back = sym.symexp(sym.symlog(x))
    assert_close(back, x, step="4.1", rtol=1e-6, atol=1e-9,
                 what="symexp(symlog(x)) for x from -1e6 to 1e5 (must give x back)")
    y = torch.linspace(-15, 15, 31, dtype=torch.float64)
    assert_close(sym.symlog(sym.symexp(y)), y, step="4.1", rtol=1e-6, atol=1e-9, what="symlog(symexp(y))")


@pytest.mark.todo("4.1")
def test_symlog_gradient_is_one_over_one_plus_abs_x():
    x = torch.tensor([-100.0, -2.0, -0.3, 1e-3, 0.5, 9.0], requires_grad=True)
    out = target(SYM).symlog(x)
    assert_true(out.requires_grad, "symlog carries no gradient: write it with torch operations on x.", step="4.1")
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert_close(grad, 1 / (1 + x.detach().abs()), step="4.1",
                 what="d symlog(x) / dx (must be 1 / (1 + |x|): about 1 near 0, so small values pass almost unchanged, "
                      "and small for large |x|)")


# ---------------------------------------------------------------- 4.2 two-hot encoding
BINS5 = torch.linspace(-2.0, 2.0, 5)  # -2, -1, 0, 1, 2


@pytest.mark.todo("4.2")
def test_twohot_by_hand():
    x = torch.tensor([0.25, -1.5, 1.0, 2.0, 5.0, -7.0, -2.0, 0.9])
    got = target(SYM).twohot(x, BINS5)
    assert_shape(got, (8, 5), step="4.2", what="twohot(x (8,), bins (5,))")
    want = torch.tensor([
        [0.0, 0.0, 0.75, 0.25, 0.0],  # 0.25: 3/4 on bin 0, 1/4 on bin 1
        [0.5, 0.5, 0.0, 0.0, 0.0],  # -1.5: halfway between -2 and -1
        [0.0, 0.0, 0.0, 1.0, 0.0],  # exactly on bin 1
        [0.0, 0.0, 0.0, 0.0, 1.0],  # the top bin
        [0.0, 0.0, 0.0, 0.0, 1.0],  # above the range: all on the top bin
        [1.0, 0.0, 0.0, 0.0, 0.0],  # below the range: all on the bottom bin
        [1.0, 0.0, 0.0, 0.0, 0.0],  # the bottom bin
        [0.0, 0.0, 0.1, 0.9, 0.0],  # 0.9: 0.1 on bin 0, 0.9 on bin 1 (the nearer one)
    ])
    swapped = torch.tensor([[0.0, 0.0, 0.25, 0.75, 0.0]])
    if torch.allclose(got[:1].float(), swapped, atol=1e-5):
        raise AssertionError("the two weights are swapped: the bin *nearer* to x gets the larger weight, "
                             "(b_{k+1} - x) / (b_{k+1} - b_k) on the bin below x. For x = 0.25 between bins 0 and 1: "
                             "0.75 on bin 0, 0.25 on bin 1.")
    assert_close(got, want, step="4.2", what="twohot(x, bins -2..2) for x = 0.25, -1.5, 1, 2, 5, -7, -2, 0.9 "
                 "(rows: 0.75/0.25 on bins 0 and 1, 0.5/0.5 on -2 and -1, all on 1, on 2, on 2 (clamped), on -2 "
                 "(clamped), on -2, 0.1/0.9 on 0 and 1)")


@pytest.mark.todo("4.2")
def test_twohot_weights_sum_to_one_on_two_neighbours_and_decode_to_x():
    bins = torch.linspace(-20.0, 20.0, 255)
    with seeded(2):
        x = torch.cat([torch.randn(200) * 6, torch.tensor([-20.0, 20.0, 0.0, 19.99, -19.99])])
    w = target(SYM).twohot(x, bins)
    assert_shape(w, (205, 255), step="4.2", what="twohot(x (205,), bins (255,))")
    w = w.double()
    assert_true(bool((w >= -1e-6).all()), f"a two-hot weight is negative (min {float(w.min()):.3g}): both weights "
                "lie in [0, 1]; are the bins found on the right side of x?", step="4.2")
    assert_close(w.sum(-1), torch.ones(205, dtype=torch.float64), step="4.2",
                 what="the sum of each row's two-hot weights (must be 1)")
    nonzero = w > 1e-6
    count = nonzero.sum(-1)
    assert_true(bool((count <= 2).all()), f"a row has {int(count.max())} nonzero weights: two-hot puts weight on "
                "at most two bins.", step="4.2")
    first = nonzero.float().argmax(-1)
    last = 254 - nonzero.flip(-1).float().argmax(-1)
    assert_true(bool((last - first <= 1).all()), "the two weighted bins of a row are not neighbours: they must be "
                "the bin at or below x and the next one above it.", step="4.2")
    decoded = (w * bins.double()).sum(-1)
    assert_close(decoded, x.double(), step="4.2", atol=1e-4,
                 what="sum_k w_k b_k, the mean of the bins under the two-hot weights (must give x back)")
    below = bins[first.clamp(max=254)]
    assert_true(bool((below <= x + 1e-5).all() & (bins[last] >= x - 1e-5).all()),
                "the weighted bins do not surround x: the lower one must be <= x and the upper one >= x "
                "(an off-by-one in the bin index?).", step="4.2")


@pytest.mark.todo("4.2")
def test_twohot_with_unevenly_spaced_bins():
    """The contract takes any increasing bins (the 2025 code spaces them by symexp)."""
    bins = torch.tensor([-3.0, -1.0, 0.0, 0.5, 4.0])
    x = torch.tensor([2.0, -2.5, 0.1])
    got = target(SYM).twohot(x, bins)
    want = torch.tensor([[0.0, 0.0, 0.0, 4 / 7, 3 / 7], [0.75, 0.25, 0.0, 0.0, 0.0], [0.0, 0.0, 0.8, 0.2, 0.0]])
    assert_close(got, want, step="4.2", what="twohot(x, bins [-3, -1, 0, 0.5, 4]) for x = 2, -2.5, 0.1 (the "
                 "weights divide by the gap of the two neighbours, b_{k+1} - b_k, not by a fixed spacing)")
    with seeded(3):
        x = torch.randn(4, 6) * 3
    bins = torch.linspace(-5.0, 5.0, 11)
    assert_close(target(SYM).twohot(x, bins), reference(SYM).twohot(x, bins), step="4.2",
                 what="twohot of a (4, 6) tensor")


# ---------------------------------------------------------------- 4.3 decoding and loss
def logits_from(probs: list[float]) -> torch.Tensor:
    return torch.tensor(probs).clamp(min=1e-12).log()


@pytest.mark.todo("4.3")
def test_twohot_mean_by_hand(monkeypatch):
    f = borrow(monkeypatch, SYM, ("symlog", "symexp", "twohot")).twohot_mean
    logits = torch.stack([logits_from([0, 0, 0.5, 0.5, 0]), logits_from([0.2, 0, 0, 0, 0.8]), torch.zeros(5)])
    mean = torch.tensor([0.5, -0.4 + 1.6, 0.0])  # sum_k p_k b_k
    got = f(logits, BINS5, squash=False)
    assert_shape(got, (3,), step="4.3", what="twohot_mean(logits (3, 5), bins (5,))")
    if torch.allclose(got, (logits * BINS5).sum(-1), atol=1e-4):
        raise AssertionError("twohot_mean weighs the bins by the logits themselves: take softmax(logits) first.")
    assert_close(got, mean, step="4.3", atol=1e-4, what="twohot_mean(..., squash=False): sum_k softmax(logits)_k b_k "
                 "for probabilities [0, 0, .5, .5, 0], [.2, 0, 0, 0, .8] and uniform (expected 0.5, 1.2, 0)")
    got = f(logits, BINS5)
    if torch.allclose(got, mean, atol=1e-4):
        raise AssertionError("with squash=True the bins live in symlog space: the prediction is symexp of the "
                             "expected bin, symexp(0.5) = 0.649 here, not 0.5.")
    assert_close(got, torch.sign(mean) * torch.expm1(mean.abs()), step="4.3", atol=1e-4,
                 what="twohot_mean(..., squash=True) = symexp(expected bin) (expected 0.649, 2.320, 0)")
    with seeded(4):
        logits = torch.randn(2, 3, 15)
    bins = torch.linspace(-5.0, 5.0, 15)
    assert_close(f(logits, bins), reference(SYM).twohot_mean(logits, bins), step="4.3", what="twohot_mean")


def hand_weights(values: list[float]) -> torch.Tensor:
    """two-hot weights over BINS5 worked out by hand for the values used below."""
    table = {1.5: [0, 0, 0, 0.5, 0.5], 2.0: [0, 0, 0, 0, 1], -0.25: [0, 0.25, 0.75, 0, 0],
             0.916291: [0, 0, 0.083709, 0.916291, 0], -0.223144: [0, 0.223144, 0.776856, 0, 0]}
    return torch.tensor([table[v] for v in values])


@pytest.mark.todo("4.3")
def test_twohot_loss_by_hand_symlog_once(monkeypatch):
    """Targets y with symlog(y) = 1.5 and -0.25: two-hot(symlog(y)) is known, so is the cross-entropy."""
    sym = borrow(monkeypatch, SYM, ("symlog", "symexp", "twohot"))
    y = torch.tensor([E ** 1.5 - 1, -(E ** 0.25 - 1)])
    with seeded(5):
        logits = torch.randn(2, 5)
    logp = logits.log_softmax(-1)
    loss = sym.twohot_loss(logits, y, BINS5)
    assert_shape(loss, (2,), step="4.3", what="twohot_loss(logits (2, 5), target (2,), bins (5,))")
    want = -(hand_weights([1.5, -0.25]) * logp).sum(-1)
    twice = -(hand_weights([0.916291, -0.223144]) * logp).sum(-1)  # symlog(symlog(y)) = 0.916, -0.223
    never = -(hand_weights([2.0, -0.25]) * logp).sum(-1)[:1]  # y = 3.48 clamps to the top bin
    if torch.allclose(loss, twice, atol=1e-4):
        raise AssertionError("the target is symlog'd twice: twohot_loss applies symlog once to the raw target "
                             "(do not symlog it before calling, or inside twohot as well).")
    if torch.allclose(loss[:1], never, atol=1e-4):
        raise AssertionError("the target is not symlog'd: with squash=True the bins live in symlog space, so encode "
                             "twohot(symlog(y)), not twohot(y).")
    if torch.allclose(loss, (hand_weights([1.5, -0.25]) * logp).sum(-1), atol=1e-4):
        raise AssertionError("the loss has the wrong sign: the cross-entropy is -sum_k w_k log softmax(logits)_k.")
    assert_close(loss, want, step="4.3", atol=1e-4,
                 what="twohot_loss for symlog(y) = 1.5 (weights 0.5/0.5 on bins 1 and 2) and -0.25 (0.25/0.75 on -1 "
                      "and 0): -sum_k w_k log softmax(logits)_k")
    raw = sym.twohot_loss(logits, torch.tensor([1.5, -0.25]), BINS5, squash=False)
    assert_close(raw, want, step="4.3", atol=1e-4, what="twohot_loss(..., squash=False) for targets 1.5 and -0.25 "
                 "(no symlog: the target is encoded as it is)")


@pytest.mark.todo("4.3")
def test_twohot_loss_gradient_and_fixed_target(monkeypatch):
    """d loss / d logits = softmax(logits) - twohot(symlog(y)); no gradient reaches the target."""
    sym = borrow(monkeypatch, SYM, ("symlog", "symexp", "twohot"))
    with seeded(6):
        logits = (torch.randn(2, 5) * 2).requires_grad_(True)
    y = torch.tensor([E ** 1.5 - 1, -(E ** 0.25 - 1)], requires_grad=True)
    loss = sym.twohot_loss(logits, y, BINS5)
    assert_true(loss.requires_grad, "twohot_loss carries no gradient to the logits.", step="4.3")
    g_logits, g_y = torch.autograd.grad(loss.sum(), (logits, y), allow_unused=True)
    want = logits.detach().softmax(-1) - hand_weights([1.5, -0.25])
    assert_close(g_logits, want, step="4.3", atol=1e-4,
                 what="d twohot_loss / d logits (the cross-entropy's gradient, softmax(logits) - two-hot weights)")
    assert_true(g_y is None or float(g_y.abs().max()) == 0.0, "twohot_loss sends a gradient into its target: the "
                "target is a fixed label (detach it before encoding).", step="4.3")
    with seeded(7):
        logits, tgt = torch.randn(3, 4, 15), torch.randn(3, 4) * 30
    bins = torch.linspace(-5.0, 5.0, 15)
    assert_close(sym.twohot_loss(logits, tgt, bins), reference(SYM).twohot_loss(logits, tgt, bins), step="4.3",
                 what="twohot_loss of (3, 4, 15) logits")


@pytest.mark.todo("4.3")
def test_twohot_head_trained_by_its_loss_predicts_the_target(monkeypatch):
    """Gradient descent on twohot_loss from uniform logits: twohot_mean then gives the targets back."""
    sym = borrow(monkeypatch, SYM, ("symlog", "symexp", "twohot"))
    bins = torch.linspace(-20.0, 20.0, 41)
    y = torch.tensor([0.0, 3.0, -250.0, 1234.0])
    logits = torch.zeros(4, 41, requires_grad=True)
    opt = torch.optim.Adam([logits], lr=0.3)
    for _ in range(150):
        opt.zero_grad()
        sym.twohot_loss(logits, y, bins).sum().backward()
        opt.step()
    got = sym.twohot_mean(logits.detach(), bins)
    assert_close(got, y, step="4.3", rtol=0.05, atol=0.05,
                 what="twohot_mean after 150 Adam steps on twohot_loss for targets 0, 3, -250, 1234 (encoding and "
                      "decoding must agree: symlog once in the loss, symexp once in the mean)")
