"""Graded tests for the agent's losses: lambda-returns with imagined ends, and the actor-critic loss (guide,
chapter 5, steps 5.12-5.13).

    pytest paper5_iris --todo 5.13

Each step is compared with the reference on seeded inputs and checked against facts that hold for any correct
implementation: the guide's worked example, the two limits lambda = 0 (one-step bootstrap) and lambda = 1 (the
discounted sum), the loss recomputed with torch.distributions, and where its gradients may and may not go.
"""

from __future__ import annotations

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, reference, seeded, target

AC = "paper5_iris.actor_critic"


# ---------------------------------------------------------------- 5.12 lambda-returns
def returns(rewards, values, ends, gamma=0.5, lam=0.5):
    got = target(AC).lambda_returns(torch.tensor(rewards), torch.tensor(values), torch.tensor(ends), gamma, lam)
    assert_shape(got, tuple(torch.tensor(rewards).shape), step="5.12",
                 what="lambda_returns(rewards (B, H), values (B, H + 1), ends (B, H)) (B, H)")
    return got


@pytest.mark.todo("5.12")
def test_lambda_returns_guide_example():
    """gamma = lambda = 0.5, rewards [1, 1], values [0, 2, 4]: G = [2.25, 3];
    d_0 = 1: G_0 = 1; d_1 = 1: G = [1.75, 1]."""
    cases = [([0.0, 0.0], [2.25, 3.0]), ([1.0, 0.0], [1.0, 3.0]), ([0.0, 1.0], [1.75, 1.0])]
    for ends, want in cases:
        got = returns([[1.0, 1.0]], [[0.0, 2.0, 4.0]], [ends])
        # each wrong answer worked out for this example (lambda = 0.5 cannot tell lambda from 1 - lambda: the
        # limits test below does)
        named = {(1.625, 2.5): "G_t bootstraps from V_{t+1} (values[:, t + 1]), the state the action led to, not V_t",
                 (3.0, 2.25): "the returns come out in reverse order: the backward loop collects G_{H-1} first",
                 (2.0, 2.0): "G_H = V_H: the recursion starts from the last value, not from 0"}
        for wrong, why in named.items():
            if ends == [0.0, 0.0] and torch.allclose(got, torch.tensor([wrong])):
                assert_true(False, f"lambda_returns on the guide's example: {why}. Got {got.tolist()}.", step="5.12")
        if ends != [0.0, 0.0] and torch.allclose(got, torch.tensor([[2.25, 3.0]])):
            assert_true(False, f"with ends {ends} the returns are those without ends, {got.tolist()}: after an "
                        "imagined end nothing is bootstrapped (the discount is gamma (1 - d_t)).", step="5.12")
        assert_close(got, torch.tensor([want]), step="5.12", what=f"lambda_returns with gamma = lambda = 0.5, rewards "
                     f"[1, 1], values [0, 2, 4], ends {ends}")


@pytest.mark.todo("5.12")
def test_lambda_limits():
    """lambda = 0: G_t = r_t + gamma (1 - d_t) V_{t+1}; lambda = 1: the discounted sum of rewards plus gamma^(H-t) V_H,
    cut at the first end."""
    with seeded(0):
        r, v = torch.randn(3, 5), torch.randn(3, 6)
        d = (torch.rand(3, 5) < 0.3).float()
    f = target(AC).lambda_returns
    g = 0.9
    assert_close(f(r, v, d, g, 0.0), r + g * (1 - d) * v[:, 1:], step="5.12",
                 what="lambda_returns with lambda = 0 (must be the one-step bootstrap r_t + gamma (1 - d_t) V_{t+1})")
    want = torch.zeros(3, 5)
    for t in range(5):
        total, disc = torch.zeros(3), torch.ones(3)
        for k in range(t, 5):
            total = total + disc * r[:, k]
            disc = disc * g * (1 - d[:, k])
        want[:, t] = total + disc * v[:, 5]
    assert_close(f(r, v, d, g, 1.0), want, step="5.12", what="lambda_returns with lambda = 1 (must be the discounted "
                 "sum of rewards up to the first end, plus gamma^(H - t) V_H if no end came)")


@pytest.mark.todo("5.12")
def test_lambda_returns_match_reference_and_keep_gradients():
    with seeded(1):
        r, v = torch.randn(2, 6), torch.randn(2, 7)
        d = (torch.rand(2, 6) < 0.2).float()
    r.requires_grad_(True)
    got = target(AC).lambda_returns(r, v, d, 0.995, 0.95)
    assert_close(got, reference(AC).lambda_returns(r, v, d, 0.995, 0.95), step="5.12",
                 what="lambda_returns with gamma 0.995, lambda 0.95")
    assert_true(got.requires_grad, "the returns lost their graph: build them from the inputs without .detach(), "
                "torch.tensor(...) or in-place writes.", step="5.12")


# ---------------------------------------------------------------- 5.13 the actor-critic loss
def inputs(seed: int = 2, B: int = 3, H: int = 4, A: int = 3):
    with seeded(seed):
        logits = torch.randn(B, H, A) * 2
        actions = torch.randint(0, A, (B, H))
        values = torch.randn(B, H + 1)
        rets = torch.randn(B, H)
    weights = torch.ones(B, H)
    weights[0, 2:] = 0  # dream 0 ended at step 1
    return logits.requires_grad_(True), actions, values.requires_grad_(True), rets, weights


def run_ac(*args) -> dict:
    got = target(AC).actor_critic_loss(*args)
    assert_true(isinstance(got, dict) and {"loss", "actor", "value", "entropy"} <= set(got), "actor_critic_loss must "
                "return a dict with 'loss', 'actor', 'value' and 'entropy'.", step="5.13")
    for key in ("loss", "actor", "value", "entropy"):
        assert_shape(got[key], (), step="5.13", what=f"actor_critic_loss(...)['{key}'] (a scalar)")
    return got


def by_distributions(logits, actions, values, rets, weights, eta):
    dist = torch.distributions.Categorical(logits=logits)
    w = weights / weights.sum()
    adv = rets - values[:, :-1]
    actor = -(w * dist.log_prob(actions) * adv).sum() - eta * (w * dist.entropy()).sum()
    value = (w * (values[:, :-1] - rets) ** 2).sum()
    return actor.detach(), value.detach(), (w * dist.entropy()).sum().detach()


@pytest.mark.todo("5.13")
def test_actor_critic_loss_by_hand():
    args = inputs()
    got = run_ac(*args, 0.01)
    actor, value, entropy = by_distributions(*args, 0.01)
    assert_close(got["value"], value, step="5.13", what="the value loss: mean_w((V_t - G_t)^2) over V_0..V_{H-1}, "
                 "weighted by w and divided by the sum of the weights")
    assert_close(got["entropy"], entropy, step="5.13", what="the entropy: mean_w of -sum_a pi(a) log pi(a)")
    assert_close(got["actor"], actor, step="5.13", what="the actor loss: mean_w(-log pi(a_t) (G_t - V_t)) - "
                 "eta * mean_w(entropy), with eta = 0.01")
    assert_close(got["loss"], actor + value, step="5.13", what="'loss' (actor + value)")


@pytest.mark.todo("5.13")
def test_entropy_bonus_lowers_the_loss():
    """loss(eta = 1) - loss(eta = 0) = -mean_w(entropy) < 0: the bonus is subtracted."""
    args = inputs(3)
    a, b = run_ac(*args, 0.0), run_ac(*args, 1.0)
    diff = float(b["loss"] - a["loss"])
    assert_true(diff < 0, f"raising the entropy scale from 0 to 1 raised the loss by {diff:.4g}: the entropy is a "
                "bonus, subtracted from the actor's loss (minimising the loss raises the entropy).", step="5.13")
    assert_close(b["loss"] - a["loss"], -b["entropy"], step="5.13",
                 what="loss(eta = 1) - loss(eta = 0) (must be -mean_w(entropy))")


@pytest.mark.todo("5.13")
def test_gradients_go_where_they_should():
    """The actor term trains the logits only; the value term the values only, never the returns."""
    logits, actions, values, rets, weights = inputs(4)
    rets = rets.clone().requires_grad_(True)
    got = run_ac(logits, actions, values, rets, weights, 0.001)
    g_v = torch.autograd.grad(got["actor"], values, allow_unused=True, retain_graph=True)[0]
    assert_true(g_v is None or g_v.abs().max() < 1e-8, "the actor's loss sends a gradient into the values: the "
                "advantage G_t - V_t is a constant weight (detach it); only the value loss trains the critic.",
                step="5.13")
    g_r = torch.autograd.grad(got["value"], rets, allow_unused=True, retain_graph=True)[0]
    assert_true(g_r is None or g_r.abs().max() < 1e-8, "the value loss sends a gradient into the returns: G_t is the "
                "critic's target (detach it).", step="5.13")
    g_l = torch.autograd.grad(got["actor"], logits, retain_graph=True)[0]
    assert_true(g_l.abs().sum() > 0, "the actor's loss gives the logits no gradient.", step="5.13")
    g_vv = torch.autograd.grad(got["value"], values)[0]
    assert_true(g_vv[:, -1].abs().max() < 1e-8 and g_vv[:, :-1].abs().sum() > 0, "the value loss must train V_0 .. "
                "V_{H-1} (values[:, :-1]) and not V_H, which has no return of its own.", step="5.13")


@pytest.mark.todo("5.13")
def test_steps_after_an_end_count_for_nothing():
    """Steps with weight 0 can hold anything; the means divide by the sum of the weights."""
    logits, actions, values, rets, weights = inputs(5)
    base = run_ac(logits, actions, values, rets, weights, 0.001)
    logits2, values2, rets2 = logits.detach().clone(), values.detach().clone(), rets.clone()
    logits2[0, 2:] *= -3
    values2[0, 2:4] += 5
    rets2[0, 2:] -= 7
    moved = run_ac(logits2, actions, values2, rets2, weights, 0.001)
    for key in ("actor", "value", "entropy"):
        assert_close(moved[key], base[key], step="5.13", what=f"'{key}' after changing only the steps whose weight "
                     "is 0 (they must count for nothing: weighted means)")
    twice = run_ac(logits, actions, values, rets, weights * 2, 0.001)
    assert_close(twice["value"], base["value"], step="5.13", what="the value loss with every weight doubled (a "
                 "weighted *mean*: divide by the sum of the weights, not by the number of steps)")


@pytest.mark.todo("5.13")
def test_actor_critic_loss_matches_reference():
    args = inputs(6)
    got = run_ac(*args, 0.001)
    want = reference(AC).actor_critic_loss(*args, 0.001)
    for key in ("loss", "actor", "value", "entropy"):
        assert_close(got[key], want[key], step="5.13", what=f"actor_critic_loss(...)['{key}']")
