"""Graded tests for behaviour learning (guide, chapter 2, steps 2.9-2.12).

    pytest paper2_dreamerv1 --todo 2.10
    pytest paper2_dreamerv1/tests/test_actor_critic.py
"""

from __future__ import annotations

import math

import pytest
import torch

from common.grading import (
    assert_close,
    assert_shape,
    assert_true,
    copy_weights,
    reference,
    seeded,
    target,
)

AC = "paper2_dreamerv1.actor_critic"
F_DIM, A_DIM = 7, 2


def actor_pair():
    ref, tgt = reference(AC), target(AC)
    with seeded(0):
        ref_actor = ref.Actor(F_DIM, A_DIM, 16, 2)
    actor = tgt.Actor(F_DIM, A_DIM, 16, 2)
    copy_weights(ref_actor, actor)
    return ref_actor, actor


# ---------------------------------------------------------------- 2.9 the tanh-Normal actor
@pytest.mark.todo("2.9")
def test_actor_forward_and_sample_match_reference():
    ref_actor, actor = actor_pair()
    with seeded(1):
        feat, eps = torch.randn(5, F_DIM) * 3, torch.randn(5, A_DIM)
    out = actor(feat)
    assert_true(isinstance(out, tuple) and len(out) == 2, "Actor.forward must return (mean, "
                                                          "std).", step="2.9")
    ref_mean, ref_std = ref_actor(feat)
    assert_close(out[0], ref_mean, step="2.9", what="the pre-tanh mean of Actor.forward")
    assert_close(out[1], ref_std, step="2.9", what="the pre-tanh std of Actor.forward")
    assert_close(actor.sample(feat, eps), ref_actor.sample(feat, eps), step="2.9",
                 what="Actor.sample(feat, eps) = tanh(mean + std * eps)")
    assert_close(actor.sample(feat, torch.zeros(5, A_DIM)), torch.tanh(out[0]), step="2.9",
                 what="Actor.sample(feat, eps=0) (it is tanh(mean))")


@pytest.mark.todo("2.9")
def test_actor_initial_std_and_mean_scale():
    _, actor = actor_pair()
    last = actor.net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    mean, std = actor(torch.randn(3, F_DIM))
    assert_close(std, torch.full((3, A_DIM), 5.0 + 1e-4), step="2.9", what="std when the last layer outputs "
                 "zeros: softplus(0 + raw_init_std) + min_std = init_std + min_std = 5.0001")
    with torch.no_grad():
        last.bias.fill_(1000.0)
    mean, _ = actor(torch.randn(3, F_DIM))
    assert_close(mean, torch.full((3, A_DIM), 5.0), step="2.9", atol=1e-4,
                 what="the mean for a huge raw output (mean_scale * tanh(raw / mean_scale) saturates at 5)")
    with torch.no_grad():
        last.bias.fill_(5.0)
    mean, _ = actor(torch.randn(3, F_DIM))
    assert_close(mean, torch.full((3, A_DIM), 5.0 * math.tanh(1.0)), step="2.9", atol=1e-4,
                 what="the mean for a raw output of 5: mean_scale * tanh(raw / mean_scale) = 5 tanh(1) = 3.808 "
                      "(divide by mean_scale inside the tanh)")


@pytest.mark.todo("2.9")
def test_actor_sample_is_bounded_random_and_differentiable():
    _, actor = actor_pair()
    feat = torch.randn(2000, F_DIM)
    with seeded(2):
        a = actor.sample(feat)
    assert_shape(a, (2000, A_DIM), step="2.9", what="Actor.sample(feat (2000, F))")
    assert_true(bool((a.abs() <= 1).all()), "actions must lie in [-1, 1] (the tanh).", step="2.9")
    assert_true(float(a.detach().std()) > 0.3, "Actor.sample must draw random actions (eps ~ N(0, I) when eps is "
                                      "None); "
                f"the std of 2000 samples is only {float(a.detach().std()):.3g}.", step="2.9")
    a.sum().backward()
    grad = actor.net[0].weight.grad
    assert_true(grad is not None and float(grad.abs().sum()) > 0, "the sample must be reparameterised "
                "(tanh(mean + std * eps)), so that gradients reach the actor.", step="2.9")


# ---------------------------------------------------------------- 2.10 lambda-returns
def rollout(n: int = 3, h: int = 6, seed: int = 3):
    with seeded(seed):
        return torch.randn(n, h), torch.randn(n, h) * 5, torch.full((n, h), 0.9), torch.randn(n) * 5


@pytest.mark.todo("2.10")
def test_lambda_return_matches_reference():
    reward, value, pcont, boot = rollout()
    got = target(AC).lambda_return(reward, value, pcont, boot, 0.95)
    assert_shape(got, (3, 6), step="2.10", what="lambda_return(reward (3, 6), ...)")
    assert_close(got, reference(AC).lambda_return(reward, value, pcont, boot, 0.95), step="2.10", atol=1e-4,
                 what="lambda_return(reward, value, pcont, bootstrap, lam=0.95)")


@pytest.mark.todo("2.10")
def test_lambda_zero_is_one_step_td():
    reward, value, pcont, boot = rollout()
    got = target(AC).lambda_return(reward, value, pcont, boot, 0.0)
    next_value = torch.cat([value[:, 1:], boot[:, None]], 1)
    assert_close(got, reward + pcont * next_value, step="2.10", atol=1e-4,
                 what="lam = 0: V(t) = r_t + pcont_t * v_{t+1}, with v_H = the bootstrap (check which value "
                      "each step bootstraps from: the *next* state's)")


@pytest.mark.todo("2.10")
def test_lambda_one_is_discounted_sum_plus_bootstrap():
    reward, value, pcont, boot = rollout()
    got = target(AC).lambda_return(reward, value, pcont, boot, 1.0)
    h = reward.shape[1]
    for t in (0, h - 1):
        expected = sum(0.9 ** (k - t) * reward[:, k] for k in range(t, h)) + 0.9 ** (h - t) * boot
        assert_close(got[:, t], expected, step="2.10", atol=1e-4,
                     what=f"lam = 1 at t = {t}: the discounted rewards r_t .. r_(H-1) plus gamma^(H-t) * "
                          "bootstrap "
                          "(the values of intermediate states are not used)")


@pytest.mark.todo("2.10")
def test_lambda_return_of_a_consistent_value_is_that_value():
    gamma, r = 0.9, 2.0
    v = r / (1 - gamma)  # the value of receiving r forever
    ones = torch.ones(2, 5)
    got = target(AC).lambda_return(ones * r, ones * v, ones * gamma, torch.full((2,), v), 0.7)
    assert_close(got, ones * v, step="2.10", atol=1e-3,
                 what="lambda-returns when every value is already r / (1 - gamma) (they must equal it)")


# ---------------------------------------------------------------- 2.11 imagination
def imagination_parts():
    rssm_mod = reference("paper2_dreamerv1.rssm")
    with seeded(0):
        rssm = rssm_mod.RSSM(A_DIM, 6, 4, 8, 10)
        actor = reference(AC).Actor(12, A_DIM, 16, 2)
        start = {"mean": torch.randn(2, 3, 4), "std": torch.rand(2, 3, 4) + 0.1,
                 "stoch": torch.randn(2, 3, 4),
                 "deter": torch.randn(2, 3, 8)}
    return rssm, actor, start


@pytest.mark.todo("2.11")
def test_imagine_ahead_matches_reference():
    rssm, actor, start = imagination_parts()
    with seeded(4):
        feats = target(AC).imagine_ahead(rssm, actor, start, 5)
    assert_shape(feats, (6, 5, 12), step="2.11", what="imagine_ahead(start (2, 3, ...), horizon 5): (N = B "
                                                      "* T, H, F)")
    with seeded(4):
        expected = reference(AC).imagine_ahead(rssm, actor, start, 5)
    assert_close(feats, expected, step="2.11", atol=1e-4, what="imagined features (same seed as the "
                                                               "reference; "
                 "each step draws the action first, then img_step draws z)")


@pytest.mark.todo("2.11")
def test_imagine_ahead_follows_the_prior_from_the_start_states(no_noise, monkeypatch):
    rssm, actor, start = imagination_parts()
    monkeypatch.setattr(actor, "sample", lambda feat, eps=None: actor.mode(feat))  # deterministic policy
    feats = target(AC).imagine_ahead(rssm, actor, start, 3)
    state = {k: v.reshape(6, -1) for k, v in start.items()}  # (B * T, ...): start (b, t) is row b * 3 + t
    for h in range(3):
        state = rssm.img_step(state, actor.mode(rssm.feat(state)))
        assert_close(feats[:, h], rssm.feat(state), step="2.11", atol=1e-5,
                     what=f"imagined feature {h}: the state after {h + 1} img_step(s) from the flattened "
                          "starts, "
                          "each with the actor's action for the current state (the start itself is not "
                          "included)")


@pytest.mark.todo("2.11")
def test_imagine_ahead_stops_gradients_at_the_start_but_trains_the_actor():
    rssm, actor, start = imagination_parts()
    start = {k: v.clone().requires_grad_() for k, v in start.items()}
    with seeded(6):
        feats = target(AC).imagine_ahead(rssm, actor, start, 4)
    feats.sum().backward()
    leaked = [k for k, v in start.items() if v.grad is not None and float(v.grad.abs().sum()) > 0]
    assert_true(not leaked, f"gradient reached the start states ({', '.join(leaked)}): detach them before "
                "imagining, or the actor's loss would train the encoder and the posterior.", step="2.11")
    grad = actor.net[0].weight.grad
    assert_true(grad is not None and float(grad.abs().sum()) > 0, "no gradient reached the actor through the "
                "imagined states: keep the graph of the sampled actions and of img_step.", step="2.11")


@pytest.mark.todo("2.11")
def test_imagine_ahead_actor_reads_detached_states(monkeypatch):
    """The policy reads a stopped-gradient feature (official code: policy(stop_gradient(feat))): the
    actor's gradient reaches the imagined states only through its actions."""
    rssm, actor, start = imagination_parts()
    seen: list[bool] = []
    sample = actor.sample

    def spy(feat, eps=None):
        seen.append(bool(feat.requires_grad))
        return sample(feat, eps)

    monkeypatch.setattr(actor, "sample", spy)
    with seeded(6):
        target(AC).imagine_ahead(rssm, actor, start, 4)
    assert_true(len(seen) == 4, f"imagine_ahead(horizon 4) called actor.sample {len(seen)} times; it draws one "
                "action per imagined step.", step="2.11")
    assert_true(not any(seen[1:]), "the actor read an imagined feature that carries a gradient: give it "
                "rssm.feat(state).detach() (its gradient must flow through the action, into img_step, not "
                "back through its own input).", step="2.11")


@pytest.mark.todo("2.11")
def test_imagine_ahead_samples_the_prior(monkeypatch):
    """From 400 copies of one start state with a deterministic policy, the imagined z's still differ:
    each step draws z ~ prior (the prior's std is at least min_std = 0.1), so they spread by about its std."""
    rssm, actor, start = imagination_parts()
    monkeypatch.setattr(actor, "sample", lambda feat, eps=None: actor.mode(feat))
    one = {k: v[:1, :1].expand(20, 20, -1) for k, v in start.items()}  # 400 copies of start (0, 0)
    with seeded(7):
        feats = target(AC).imagine_ahead(rssm, actor, one, 2)
    prior = rssm.img_step({k: v[0, 0][None] for k, v in start.items()},
                          actor.mode(rssm.feat({k: v[0, 0][None] for k, v in start.items()})), sample=False)
    spread = feats[:, 0, :4].detach().std(0)  # stoch part of the first imagined feature
    assert_close(spread, prior["std"][0], step="2.11", atol=0.05, rtol=0.2,
                 what="the spread of the first imagined z over 400 copies of one start (it must be a sample "
                      "of the prior, with its std: call img_step with sampling on)")


# ---------------------------------------------------------------- 2.12 actor and value losses
@pytest.mark.todo("2.12")
def test_actor_loss_known_value_and_gradient():
    returns = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    weights = torch.tensor([[1.0, 0.5], [1.0, 0.5]])
    loss = target(AC).actor_loss(returns, weights)
    assert_close(loss, -(1 + 1 + 3 + 2) / 4, step="2.12", what="actor_loss = -mean(weights * returns)")
    assert_close(loss, reference(AC).actor_loss(returns, weights), step="2.12", what="actor_loss")
    loss.backward()
    assert_true(returns.grad is not None, "the actor loss must keep the returns' graph (do not detach them: "
                                          "their "
                "gradient through the imagined dynamics is how the actor learns).", step="2.12")
    assert_close(returns.grad, -weights / 4, step="2.12", what="d actor_loss / d returns")


@pytest.mark.todo("2.12")
def test_value_loss_matches_reference_and_known_value():
    with seeded(7):
        pred, returns, weights = torch.randn(3, 4), torch.randn(3, 4), torch.rand(3, 4)
    got = target(AC).value_loss(pred, returns, weights)
    assert_close(got, reference(AC).value_loss(pred, returns, weights), step="2.12", what="value_loss")
    perfect = target(AC).value_loss(returns, returns, torch.ones(3, 4))
    assert_close(perfect, 0.5 * math.log(2 * math.pi), step="2.12",
                 what="value_loss when the prediction equals the target (-log N(x; x, 1) = 0.5 * log(2 pi))")


@pytest.mark.todo("2.12")
def test_value_loss_targets_get_no_gradient():
    with seeded(8):
        pred = torch.randn(3, 4, requires_grad=True)
        returns = torch.randn(3, 4, requires_grad=True)
    loss = target(AC).value_loss(pred, returns * 1.0, torch.ones(3, 4))
    loss.backward()
    assert_true(returns.grad is None or float(returns.grad.abs().sum()) == 0.0, "the value loss sent "
                                                                                "gradient "
                "into its targets: detach the lambda-returns (stop-gradient, eq. 8), or the value model "
                "would "
                "move its own targets (and the actor through them).", step="2.12")
    assert_close(pred.grad, (pred - returns).detach() / 12, step="2.12", atol=1e-5,
                 what="d value_loss / d value_pred (it is (v - target) / count with unit weights)")


@pytest.mark.todo("2.12")
def test_value_loss_is_the_weighted_gaussian_nll():
    """-mean(w * log N(target; v, 1)) with log N(x; v, 1) = -(x - v)^2 / 2 - log(2 pi) / 2, worked out here."""
    pred = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    returns = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    weights = torch.tensor([[1.0, 0.5], [1.0, 0.25]])
    nll = 0.5 * (returns - pred).pow(2) + 0.5 * math.log(2 * math.pi)
    want = (weights * nll).mean()
    got = target(AC).value_loss(pred, returns, weights)
    assert_true(abs(float(got) - float(nll.mean())) > 1e-4 or abs(float(want) - float(nll.mean())) < 1e-4,
                f"value_loss = {float(got):.4f} is the unweighted mean NLL; weight each step by its discount "
                f"weight: -mean(weights * log N(target; v, 1)) = {float(want):.4f}.", step="2.12")
    assert_close(got, want, step="2.12", what="value_loss(pred, returns, weights) worked out by hand")
