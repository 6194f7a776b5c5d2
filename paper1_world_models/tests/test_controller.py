"""Graded tests for C, the linear controller and its evolution (guide, chapter 1, steps 1.9-1.12).

    pytest paper1_world_models --todo 1.12                # one step
    pytest paper1_world_models/tests/test_controller.py   # all of C

No environment here: CMA-ES is checked on a toy quadratic "return" in a few dimensions, which it must
climb in a few dozen generations of 8 candidates.
"""

from __future__ import annotations

import math

import cma
import numpy as np
import pytest
import torch
import torch.nn as nn

from common.grading import (
    assert_close,
    assert_shape,
    assert_true,
    copy_weights,
    reference,
    seeded,
    target,
)

CTRL = "paper1_world_models.controller"
PEAK = np.array([1.0, -2.0, 0.5, 3.0])  # where the toy return is highest


def controller_pair(in_dim: int = 10):
    ref, tgt = reference(CTRL), target(CTRL)
    with seeded(60):
        ref_model = ref.Controller(in_dim)
    tgt_model = tgt.Controller(in_dim)
    copy_weights(ref_model, tgt_model, step="1.9")
    return ref_model, tgt_model


# ---------------------------------------------------------------- 1.9 Controller.forward
@pytest.mark.todo("1.9")
def test_controller_matches_reference():
    ref_model, model = controller_pair()
    with seeded(61):
        features = 2 * torch.randn(6, 10)
    action = model(features)
    assert_shape(action, (6, 3), step="1.9", what="Controller(10)(features of shape (6, 10))")
    assert_close(action, ref_model(features), step="1.9",
                 what="the action (steer, gas, brake) for the same weights as the reference")


@pytest.mark.todo("1.9")
def test_controller_known_values_and_ranges():
    """Weights zero: the action is a function of the bias alone, worked out by hand."""
    ref_model, model = controller_pair(4)
    tanh = math.tanh
    cases = {(0.5, 0.0, -0.5): (tanh(0.5), 0.5, 0.0),
             (-0.3, -2.0, 0.8): (tanh(-0.3), (tanh(-2.0) + 1) / 2, tanh(0.8))}
    for bias, want in cases.items():
        with torch.no_grad():
            ref_model.fc.weight.zero_()
            ref_model.fc.bias.copy_(torch.tensor(bias))
        copy_weights(ref_model, model, step="1.9")
        with torch.no_grad():
            got = model(torch.randn(2, 4))
        assert_close(got, torch.tensor([want, want]), step="1.9",
                     what=f"the action for weight 0 and bias {bias}: steer = tanh(b0), "
                          "gas = (tanh(b1) + 1) / 2, brake = clip(tanh(b2), 0, 1)")
        assert_close(got, ref_model(torch.randn(2, 4)), step="1.9",
                     what=f"the action for weight 0 and bias {bias}, compared with the reference")
    ref_model, model = controller_pair(10)
    with seeded(62), torch.no_grad():
        action = model(10 * torch.randn(500, 10))
    lo, hi = action.min(0).values, action.max(0).values
    for j, (name, a, b) in enumerate((("steer", -1, 1), ("gas", 0, 1), ("brake", 0, 1))):
        assert_true(lo[j] >= a and hi[j] <= b,
                    f"{name} (column {j}) must stay in [{a}, {b}] for any input; it went from "
                    f"{lo[j].item():.3f} to {hi[j].item():.3f}", step="1.9")
    assert_true(lo[1] < 0.05 and hi[1] > 0.95,
                f"gas should use all of [0, 1] ((tanh + 1) / 2 reaches both ends for large inputs); it only "
                f"spanned [{lo[1].item():.3f}, {hi[1].item():.3f}]", step="1.9")


@pytest.mark.todo("1.9")
def test_controller_gradients():
    ref_model, model = controller_pair()
    with seeded(63):
        features = torch.randn(5, 10)
        weights = torch.randn(5, 3)
    try:
        (model(features) * weights).sum().backward()
    except RuntimeError as err:
        if "inplace" not in str(err).replace("in-place", "inplace"):
            raise
        assert_true(False, "the backward pass through your Controller failed: the tanh output was edited in "
                           "place (a[:, 1] = ...), but autograd needs it to differentiate tanh. Build a new "
                           f"(B, 3) tensor from the three columns instead (torch.stack).\n  torch said: {err}",
                    step="1.9")
    (ref_model(features) * weights).sum().backward()
    grad = model.fc.weight.grad
    assert_true(grad is not None and grad.abs().sum() > 0,
                "the action must be differentiable with respect to fc.weight (build a new tensor with "
                "torch.stack or torch.cat; do not edit the output in place)", step="1.9")
    assert_close(grad, ref_model.fc.weight.grad, step="1.9",
                 what="the gradient of sum(action * w) with respect to fc.weight")


# ---------------------------------------------------------------- 1.10 get_flat / set_flat
def small_net(seed: int) -> nn.Module:
    with seeded(seed):
        return nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 4))  # 6 + 2 + 8 + 4 = 20 parameters


@pytest.mark.todo("1.10")
def test_get_flat():
    ref, tgt = reference(CTRL), target(CTRL)
    net = small_net(70)
    flat = tgt.get_flat(net)
    assert_true(isinstance(flat, np.ndarray) and flat.ndim == 1,
                f"get_flat must return a 1-D numpy array; got {type(flat).__name__} "
                f"{getattr(flat, 'shape', '')}", step="1.10")
    assert_true(flat.dtype == np.float64,
                f"get_flat must return float64 numbers (CMA-ES works in float64, and its tiny late steps "
                f"vanish in float32); got dtype {flat.dtype}. Convert with .double() (or "
                f".astype(np.float64))", step="1.10")
    by_hand = np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])
    assert_close(flat, by_hand, step="1.10",
                 what="get_flat of Linear(3, 2) -> Tanh -> Linear(2, 4): every parameter, flattened, in "
                      "module.parameters() order (weight 0, bias 0, weight 2, bias 2)")
    assert_close(flat, ref.get_flat(net), step="1.10", what="get_flat compared with the reference")
    n = tgt.get_flat(reference(CTRL).Controller(32 + 256)).size
    assert_true(n == 867, f"the paper's controller ([z, h] = 288 inputs -> 3 actions) has 867 parameters; "
                          f"get_flat returned {n} numbers", step="1.10")


@pytest.mark.todo("1.10")
def test_get_flat_holds_parameters_only_and_a_copy():
    """A net with a BatchNorm: its running statistics are buffers, not parameters, so they are not in the
    vector; and writing into the vector must not change the net (get_flat returns a detached copy)."""
    tgt = target(CTRL)
    with seeded(74):
        net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))  # 6 + 2 + 2 + 2 = 12 parameters, 3 buffers
        nn.init.normal_(net[1].weight)
    flat = tgt.get_flat(net)
    n = sum(p.numel() for p in net.parameters())
    assert_true(isinstance(flat, np.ndarray) and flat.shape == (n,),
                f"get_flat of Linear(3, 2) -> BatchNorm1d(2) must hold its {n} parameters; got "
                f"{getattr(flat, 'shape', type(flat).__name__)}"
                + (" -- that is state_dict(), which also holds BatchNorm's buffers (running_mean, running_var, "
                   "num_batches_tracked): walk module.parameters()" if getattr(flat, "size", 0) == n + 5 else ""),
                step="1.10")
    by_hand = np.concatenate([p.detach().numpy().ravel() for p in net.parameters()])
    assert_close(flat, by_hand, step="1.10",
                 what="get_flat of Linear(3, 2) -> BatchNorm1d(2): weight, bias, BN weight, BN bias, in order")
    before = net[0].weight.detach().clone()
    flat[:] = 123.0
    assert_close(net[0].weight, before, step="1.10",
                 what="the net's first weight after writing 123 into the vector get_flat returned (the vector "
                      "must be a copy, detached from the parameters)")


@pytest.mark.todo("1.10")
def test_set_flat_rejects_a_vector_of_the_wrong_length():
    """The contract: a vector of the wrong length is a ValueError, and the net is left as it was."""
    tgt = target(CTRL)
    net = small_net(75)
    x = torch.randn(4, 3)
    before = net(x).detach()
    for size in (21, 19, 0):
        raised = None
        try:
            tgt.set_flat(net, np.ones(size))
        except NotImplementedError:
            raise
        except Exception as err:  # noqa: BLE001 -- the kind is checked below
            raised = err
        assert_true(isinstance(raised, ValueError),
                    f"set_flat(net with 20 parameters, a vector of {size} numbers) must raise ValueError; it "
                    + ("returned without complaint (compare flat's length with the parameter count first)"
                       if raised is None else f"raised {type(raised).__name__}: {raised}"), step="1.10")
        assert_close(net(x), before, step="1.10",
                     what=f"the net's output after set_flat rejected {size} numbers (check the length before "
                          "writing anything)")


@pytest.mark.todo("1.10")
def test_set_flat_inverts_get_flat():
    ref, tgt = reference(CTRL), target(CTRL)
    net, ref_net = small_net(71), small_net(71)
    values = np.arange(20, dtype=np.float64) / 10
    tgt.set_flat(net, values)
    ref.set_flat(ref_net, values)
    weight0 = torch.arange(0, 6, dtype=torch.float32).view(2, 3) / 10
    assert_close(net[0].weight, weight0, step="1.10",
                 what="the first Linear's weight after set_flat(net, arange(20) / 10): the first 6 numbers, "
                      "viewed as its (2, 3) shape")
    assert_close(net[2].bias, torch.arange(16, 20, dtype=torch.float32) / 10, step="1.10",
                 what="the last Linear's bias after set_flat(net, arange(20) / 10): the last 4 numbers")
    for (name, p), r in zip(net.named_parameters(), ref_net.parameters(), strict=True):
        assert_true(p.dtype == torch.float32 and p.requires_grad,
                    f"after set_flat, {name} must still be a float32 parameter (got {p.dtype}, requires_grad="
                    f"{p.requires_grad}): copy the numbers into it (p.copy_ under torch.no_grad()), do not "
                    "replace it by a float64 tensor", step="1.10")
        assert_close(p, r, step="1.10", what=f"{name} after set_flat, compared with the reference")
    assert_close(ref.get_flat(net), values, step="1.10", atol=1e-6,
                 what="get_flat(net) after set_flat(net, values) must give back values")
    other = small_net(72)
    tgt.set_flat(other, ref.get_flat(small_net(73)))
    x = torch.randn(5, 3)
    assert_close(other(x), small_net(73)(x), step="1.10",
                 what="a network after set_flat(net, get_flat(other_net)) must compute what other_net "
                      "computes")


# ---------------------------------------------------------------- 1.11 penalised_fitness
@pytest.mark.todo("1.11")
def test_penalised_fitness_matches_reference():
    ref, tgt = reference(CTRL), target(CTRL)
    rng = np.random.default_rng(80)
    returns, solutions = 100 * rng.standard_normal(8), rng.standard_normal((8, 5))
    for wd in (0.0, 0.01, 3.0):
        got = tgt.penalised_fitness(returns, solutions, wd)
        assert_shape(got, (8,), step="1.11",
                     what=f"penalised_fitness(returns (8,), solutions (8, 5), weight_decay={wd})")
        assert_close(got, ref.penalised_fitness(returns, solutions, wd), step="1.11",
                     what=f"penalised_fitness with weight_decay = {wd}")
        assert_true(np.all(np.asarray(got) <= returns + 1e-9),
                    f"with weight_decay = {wd} >= 0 no candidate can be fitter than its return: the L2 "
                    "penalty is subtracted", step="1.11")


@pytest.mark.todo("1.11")
def test_penalised_fitness_known_values():
    """Same return 10, parameters of mean square 0, 1 and 4, weight decay 0.5: fitness 10, 9.5, 8."""
    ref, tgt = reference(CTRL), target(CTRL)
    returns = np.array([10.0, 10.0, 10.0])
    solutions = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, -2.0]])
    got = tgt.penalised_fitness(returns, solutions, 0.5)
    assert_close(got, np.array([10.0, 9.5, 8.0]), step="1.11",
                 what="fitness = return - 0.5 * mean(theta^2) for mean squares (0, 1, 4): larger weights "
                      "must be LESS fit (if you got 10, 10.5, 12 the penalty has the wrong sign)")
    assert_close(got, ref.penalised_fitness(returns, solutions, 0.5), step="1.11",
                 what="penalised_fitness compared with the reference")
    assert_close(tgt.penalised_fitness(returns, solutions, 0.0), returns, step="1.11",
                 what="penalised_fitness with weight_decay = 0 (the returns, unchanged)")


# ---------------------------------------------------------------- 1.12 evolve_step
def toy_returns(solutions) -> np.ndarray:
    """A 'return' that is highest (0) at PEAK: -|x - PEAK|^2, one number per candidate."""
    return -np.sum((np.asarray(solutions) - PEAK) ** 2, axis=1)


def new_es(x0, sigma0: float = 0.5, seed: int = 3) -> cma.CMAEvolutionStrategy:
    return cma.CMAEvolutionStrategy(np.asarray(x0, dtype=np.float64), sigma0,
                                    {"popsize": 8, "seed": seed, "verbose": -9})


@pytest.fixture
def tgt_ctrl(monkeypatch):
    """The module under test, with the reference penalised_fitness, so a bug in 1.11 cannot fail 1.12."""
    tgt = target(CTRL)
    monkeypatch.setattr(tgt, "penalised_fitness", reference(CTRL).penalised_fitness, raising=False)
    return tgt


@pytest.mark.todo("1.12")
def test_evolve_step_matches_reference(tgt_ctrl):
    """Two identical CMA-ES runs, one stepped by your evolve_step and one by the reference's."""
    ref = reference(CTRL)
    with seeded(90):
        es = new_es(np.zeros(4))
        ours = [tgt_ctrl.evolve_step(es, toy_returns, 0.01) for _ in range(5)]
        es_ref = new_es(np.zeros(4))
        theirs = [ref.evolve_step(es_ref, toy_returns, 0.01) for _ in range(5)]
    for gen, (got, want) in enumerate(zip(ours, theirs, strict=True)):
        assert_true(isinstance(got, dict) and {"mean", "best", "worst"} <= set(got),
                    f"evolve_step must return a dict with 'mean', 'best', 'worst'; got {got!r}", step="1.12")
        assert_true(got["worst"] <= got["mean"] <= got["best"],
                    f"generation {gen}: expected worst <= mean <= best, got {got}", step="1.12")
        for key in ("mean", "best", "worst"):
            assert_close(got[key], want[key], step="1.12", atol=1e-6,
                         what=f"generation {gen}: evolve_step(...)['{key}'] (from the same CMA-ES state as "
                              "the reference)")
    assert_close(es.mean, es_ref.mean, step="1.12", atol=1e-6,
                 what="the CMA-ES mean after 5 generations, compared with the reference's")


@pytest.mark.todo("1.12")
def test_evolve_step_climbs_a_toy_return(tgt_ctrl):
    """cma minimises; evolve_step must make it MAXIMISE the return. 60 generations reach the peak."""
    ref = reference(CTRL)
    with seeded(91):
        es = new_es(np.zeros(4))
        first = tgt_ctrl.evolve_step(es, toy_returns)
        for _ in range(59):
            last = tgt_ctrl.evolve_step(es, toy_returns)
        es_ref = new_es(np.zeros(4))
        for _ in range(60):
            ref.evolve_step(es_ref, toy_returns)
    dist = float(np.linalg.norm(es.mean - PEAK))
    assert_true(dist < 0.1,
                f"after 60 generations the CMA-ES mean should sit at the best parameters {PEAK.tolist()} "
                f"(distance < 0.1); it is {dist:.3g} away, at {np.round(es.mean, 2).tolist()}. The mean "
                f"return went from {first['mean']:.2f} to {last['mean']:.2f}. cma MINIMISES what you tell "
                "it: tell it the negated fitness", step="1.12")
    assert_close(es.mean, es_ref.mean, step="1.12", atol=1e-3,
                 what="the CMA-ES mean after 60 generations, compared with the reference's")


@pytest.mark.todo("1.12")
def test_evolve_step_uses_weight_decay_and_reports_raw_returns(tgt_ctrl):
    """A flat return (0 everywhere) with weight decay: only the penalty speaks, so CMA-ES shrinks to 0."""
    ref = reference(CTRL)
    flat = lambda sols: np.zeros(len(sols))
    with seeded(92):
        es = new_es(2 * np.ones(4))
        for _ in range(40):
            stats = tgt_ctrl.evolve_step(es, flat, weight_decay=1.0)
        es_ref = new_es(2 * np.ones(4))
        for _ in range(40):
            ref.evolve_step(es_ref, flat, weight_decay=1.0)
    norm = float(np.linalg.norm(es.mean))
    assert_true(norm < 0.2,
                f"with a flat return and weight_decay = 1 the fitness is -mean(theta^2), so CMA-ES should "
                f"walk from (2, 2, 2, 2) to 0; its mean is still {norm:.3g} from 0. Pass weight_decay on to "
                "penalised_fitness", step="1.12")
    assert_close(es.mean, es_ref.mean, step="1.12", atol=1e-3,
                 what="the CMA-ES mean after 40 generations with weight decay, compared with the reference's")
    assert_close(stats["mean"], 0.0, step="1.12",
                 what="evolve_step(...)['mean'] is the mean RAW return (here 0), not the penalised fitness")
    ramp = lambda sols: np.arange(len(sols), dtype=np.float64)  # returns 0, 1, ..., 7
    with seeded(93):
        got = tgt_ctrl.evolve_step(new_es(np.ones(4)), ramp, weight_decay=10.0)
        want = ref.evolve_step(new_es(np.ones(4)), ramp, weight_decay=10.0)
    for key, value in (("mean", 3.5), ("best", 7.0), ("worst", 0.0)):
        assert_close(got[key], value, step="1.12",
                     what=f"evolve_step(...)['{key}'] when the 8 candidates return 0, 1, ..., 7")
        assert_close(got[key], want[key], step="1.12", what=f"evolve_step(...)['{key}'], vs the reference")
