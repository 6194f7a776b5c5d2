"""Graded tests for the discount head's likelihood, KL balancing, lambda-returns and the discount
weights (guide, chapter 3, steps 3.5-3.8).

    pytest paper3_dreamerv2 --todo 3.6
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from common.grading import assert_close, assert_finite, assert_shape, assert_true, reference, seeded, target

NETS, UTILS = "paper3_dreamerv2.networks", "paper3_dreamerv2.utils"


# ---------------------------------------------------------------- 3.5 Bernoulli log-likelihood
@pytest.mark.todo("3.5")
def test_bernoulli_log_prob_known_values():
    logits = torch.tensor([0.0, 0.0, math.log(3.0), math.log(3.0), 0.0])
    tgt = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.9])
    got = target(NETS).bernoulli_log_prob(logits, tgt)
    want = torch.tensor([math.log(0.5), math.log(0.5), math.log(0.75), math.log(0.25), math.log(0.5)])
    if torch.allclose(got, torch.tensor([math.log(0.5), math.log(0.5), math.log(0.25), math.log(0.75),
                                         math.log(0.5)]), atol=1e-5):
        raise AssertionError("the target is flipped: the head predicts p = P(the episode goes on), so a target "
                             "of 1 scores log p and a target of 0 scores log(1 - p).")
    assert_close(got, want, step="3.5", what="log Bernoulli(t; sigmoid(x)) for x = 0, 0, ln 3, ln 3, 0 and "
                 "t = 1, 0, 1, 0, 0.9 (sigmoid(ln 3) = 0.75)")
    assert_close(got, reference(NETS).bernoulli_log_prob(logits, tgt), step="3.5", what="bernoulli_log_prob")


@pytest.mark.todo("3.5")
def test_bernoulli_log_prob_is_stable_for_large_logits():
    logits = torch.tensor([200.0, -200.0, 200.0, -200.0, 40.0])
    tgt = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0])
    got = target(NETS).bernoulli_log_prob(logits, tgt)
    assert_finite(got, step="3.5", what="bernoulli_log_prob of logits +-200 (log(sigmoid(x)) rounds to log 0: "
                  "write it with softplus, log sigmoid(x) = x - softplus(x))")
    assert_close(got, -F.binary_cross_entropy_with_logits(logits, tgt, reduction="none"), step="3.5",
                 what="log-likelihood of logits +-200 (the right answers are 0, 0, -200, -200, ~0)", atol=1e-4)
    x = torch.randn(8, requires_grad=True)
    target(NETS).bernoulli_log_prob(x, torch.ones(8)).sum().backward()
    assert_close(x.grad, 1 - torch.sigmoid(x.detach()), step="3.5", what="gradient of log p w.r.t. the logit "
                 "for target 1 (1 - sigmoid(x))")


# ---------------------------------------------------------------- 3.6 KL balancing
def kl_by_hand(post: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """(B, T, S, K) logits -> (B, T): the KL of S independent categoricals, with torch.distributions."""
    q = torch.distributions.Categorical(logits=post)
    p = torch.distributions.Categorical(logits=prior)
    return torch.distributions.kl_divergence(q, p).sum(-1)


def logits_pair(seed: int = 0, b: int = 3, t: int = 4, s: int = 5, k: int = 6):
    with seeded(seed):
        return torch.randn(b, t, s, k) * 1.5, torch.randn(b, t, s, k)


@pytest.mark.todo("3.6")
def test_kl_balance_value_sums_over_variables_and_classes():
    post, prior = logits_pair()
    loss, kl = target(UTILS).kl_balance(post, prior, 0.8, 0.0)
    want = kl_by_hand(post, prior).mean()
    assert_shape(loss, (), step="3.6", what="the KL loss (a scalar)")
    assert_close(kl, want, step="3.6", what="the mean KL (summed over the K classes and the S variables, averaged "
                 "over B * T); a value S times smaller means the variables were averaged, not summed", rtol=1e-4)
    assert_close(loss, want, step="3.6", what="the balanced loss without free nats (both terms have the KL's "
                 "value; balancing changes only the gradients)", rtol=1e-4)
    ref_loss, _ = reference(UTILS).kl_balance(post, prior, 0.8, 0.0)
    assert_close(loss, ref_loss, step="3.6", what="kl_balance loss")


@pytest.mark.todo("3.6")
def test_kl_balance_gradients_are_split_alpha_and_one_minus_alpha():
    post, prior = logits_pair(1)
    q, p = post.clone().requires_grad_(True), prior.clone().requires_grad_(True)
    loss, _ = target(UTILS).kl_balance(q, p, 0.8, 0.0)
    assert_true(loss.requires_grad, "the KL loss carries no gradient.", step="3.6")
    gq, gp = torch.autograd.grad(loss, (q, p), allow_unused=True)
    q2, p2 = post.clone().requires_grad_(True), prior.clone().requires_grad_(True)
    hq, hp = torch.autograd.grad(kl_by_hand(q2, p2).mean(), (q2, p2))
    zero = torch.zeros_like(post)
    gq, gp = (zero if gq is None else gq), (zero if gp is None else gp)
    if torch.allclose(gp, 0.2 * hp, atol=1e-6) and torch.allclose(gq, 0.8 * hq, atol=1e-6):
        raise AssertionError("alpha and 1 - alpha are swapped: the prior's term KL(sg(q) || p) gets alpha = 0.8, "
                             "the posterior's KL(q || sg(p)) gets 0.2 (Algorithm 2).")
    if gq.abs().max() == 0:
        raise AssertionError("the posterior gets no gradient from the KL: only its own side of the second term "
                             "is stopped, KL(q || sg(p)), not both.")
    assert_close(gp, 0.8 * hp, step="3.6", what="gradient w.r.t. the prior logits (alpha times the KL's)")
    assert_close(gq, 0.2 * hq, step="3.6", what="gradient w.r.t. the posterior logits ((1 - alpha) times the KL's)")


@pytest.mark.todo("3.6")
def test_kl_balance_free_nats_clip_the_mean():
    post, prior = logits_pair(2)
    per_state = kl_by_hand(post, prior)  # (B, T)
    free = float(per_state.mean()) + 1.0  # above the mean: the loss is the constant `free`
    q = post.clone().requires_grad_(True)
    loss, kl = target(UTILS).kl_balance(q, prior, 0.8, free)
    assert_close(loss, free, step="3.6", what=f"the loss when the mean KL ({float(per_state.mean()):.3f}) is under "
                 f"free = {free:.3f}")
    assert_close(kl, per_state.mean(), step="3.6", what="the raw mean KL that kl_balance returns for logging")
    between = float(per_state.min() + per_state.mean()) / 2  # some states under it, the mean above it
    loss, _ = target(UTILS).kl_balance(post, prior, 0.8, between)
    assert_close(loss, per_state.mean(), step="3.6", rtol=1e-4,
                 what=f"the loss when the mean KL is over free = {between:.3f} but some states are under it "
                      "(free_avg: clip the batch mean, not each state)")


# ---------------------------------------------------------------- 3.7 lambda-returns
def returns_case():
    reward = torch.tensor([[1.0, 2.0, 3.0]])
    value = torch.tensor([[10.0, 20.0, 30.0]])
    discount = torch.tensor([[0.5, 0.8, 0.9]])
    bootstrap = torch.tensor([40.0])
    return reward, value, discount, bootstrap


@pytest.mark.todo("3.7")
def test_lambda_return_by_hand():
    r, v, d, b = returns_case()
    f = target(UTILS).lambda_return
    td = r + d * torch.tensor([[20.0, 30.0, 40.0]])  # lam = 0: r_t + d_t v_{t+1}
    got0 = f(r, v, d, b, 0.0)
    assert_shape(got0, (1, 3), step="3.7", what="lambda_return of (1, 3) inputs")
    assert_close(got0, td, step="3.7", what="lambda = 0: one-step targets r_t + discount_t * v_{t+1} "
                 "(a result of r_t + discount_t * v_t means the values are not shifted by one)")
    mc = torch.tensor([[1 + 0.5 * (2 + 0.8 * (3 + 0.9 * 40)), 2 + 0.8 * (3 + 0.9 * 40), 3 + 0.9 * 40]])
    assert_close(f(r, v, d, b, 1.0), mc, step="3.7", what="lambda = 1: the rewards discounted by the predicted "
                 "discounts, plus the discounted bootstrap")
    v2 = 3 + 0.9 * 40
    v1 = 2 + 0.8 * (0.5 * 30 + 0.5 * v2)
    v0 = 1 + 0.5 * (0.5 * 20 + 0.5 * v1)
    assert_close(f(r, v, d, b, 0.5), torch.tensor([[v0, v1, v2]]), step="3.7",
                 what="lambda = 0.5 (worked out by hand: V(t) = r_t + d_t ((1 - lam) v_{t+1} + lam V(t+1)))")
    assert_close(f(r, v, d, b, 0.5), reference(UTILS).lambda_return(r, v, d, b, 0.5), step="3.7",
                 what="lambda_return")


@pytest.mark.todo("3.7")
def test_lambda_return_stops_at_a_predicted_episode_end():
    with seeded(3):
        r, v, b = torch.randn(4, 5), torch.randn(4, 5), torch.randn(4)
    d = torch.full((4, 5), 0.95)
    d[:, 2] = 0.0  # the episode ends at state 2
    got = target(UTILS).lambda_return(r, v, d, b, 0.95)
    assert_close(got[:, 2], r[:, 2], step="3.7", what="the return of a state whose discount is 0 (its reward only)")
    v2 = v.clone()
    v2[:, 3:] += 100.0
    b2 = b + 100.0
    again = target(UTILS).lambda_return(r + torch.cat([torch.zeros(4, 3), torch.ones(4, 2) * 50], 1), v2, d, b2, 0.95)
    assert_close(again[:, :3], got[:, :3], step="3.7", what="returns up to the episode end after changing every "
                 "reward and value beyond it (nothing after a zero discount may count)")


# ---------------------------------------------------------------- 3.8 discount weights
@pytest.mark.todo("3.8")
def test_discount_weights_by_hand():
    d = torch.tensor([[0.9, 0.5, 0.0, 0.8]], requires_grad=True)
    w = target(UTILS).discount_weights(d)
    assert_shape(w, (1, 4), step="3.8", what="discount_weights of (1, 4)")
    assert_close(w, torch.tensor([[1.0, 0.9, 0.45, 0.0]]), step="3.8",
                 what="weights of discounts [0.9, 0.5, 0, 0.8]: 1, d0, d0 d1, d0 d1 d2 (the start weighs 1)")
    assert_true(not w.requires_grad, "the weights carry a gradient: they are fixed numbers (detach them), or the "
                "actor could lower its loss by predicting that episodes end.", step="3.8")
    with seeded(4):
        d = torch.rand(3, 6)
    assert_close(target(UTILS).discount_weights(d), reference(UTILS).discount_weights(d), step="3.8",
                 what="discount_weights")
