"""Graded tests for lambda-returns and weights, return normalisation, the critic with its slow copy, and the
actor (guide, chapter 4, steps 4.9-4.12).

    pytest paper4_dreamerv3 --todo 4.10

Your actor_critic.py runs with the reference's symlog.py and world_model.py (swapped in), so a mistake in an
earlier step does not fail these steps too.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, copy_weights, reference, seeded, target

from .conftest import wired

AC = "paper4_dreamerv3.actor_critic"
SIBLINGS = ("symlog", "world_model")


@pytest.fixture
def ac(monkeypatch):
    return wired(monkeypatch, AC, SIBLINGS)


# ---------------------------------------------------------------- 4.9 lambda-returns and weights
def returns_case(cont: list[float] | None = None):
    reward = torch.tensor([[1.0, 2.0, 3.0]])
    cont = torch.tensor([cont or [1.0, 1.0, 1.0]])
    value = torch.tensor([[10.0, 20.0, 30.0, 40.0]])  # v_0..v_3: v_3 is the bootstrap
    return reward, cont, value


@pytest.mark.todo("4.9")
def test_lambda_return_by_hand(ac):
    f = ac.lambda_return
    r, c, v = returns_case()
    got0 = f(r, c, v, 0.5, 0.0)
    assert_shape(got0, (1, 3), step="4.9", what="lambda_return of reward (1, 3), cont (1, 3), value (1, 4)")
    if torch.allclose(got0, torch.tensor([[6.0, 12.0, 18.0]])):
        raise AssertionError("each step bootstraps from its own value v_t: the return of state t uses the *next* "
                             "state's value, v_{t+1} = value[:, t + 1] (value holds H + 1 entries).")
    assert_close(got0, torch.tensor([[11.0, 17.0, 23.0]]), step="4.9",
                 what="lambda = 0, discount 0.5: one-step targets r_t + discount * c_t * v_{t+1}")
    assert_close(f(r, c, v, 0.5, 1.0), torch.tensor([[7.75, 13.5, 23.0]]), step="4.9",
                 what="lambda = 1, discount 0.5: the discounted rewards plus the discounted bootstrap v_H")
    want = torch.tensor([[9.8125, 15.25, 23.0]])
    if torch.allclose(f(r, c, v, 0.5, 0.5), torch.tensor([[8.375, 14.75, 23.0]])):
        raise AssertionError("lambda and 1 - lambda are swapped: lambda weighs the longer return R_{t+1}, 1 - lambda "
                             "the one-step bootstrap v_{t+1}.")
    assert_close(f(r, c, v, 0.5, 0.5), want, step="4.9",
                 what="lambda = 0.5, discount 0.5 (by hand: R_t = r_t + discount c_t ((1 - lam) v_{t+1} "
                      "+ lam R_{t+1}), R_H = v_H)")
    r, c, v = returns_case([1.0, 0.0, 1.0])
    assert_close(f(r, c, v, 0.5, 0.5), torch.tensor([[6.5, 2.0, 23.0]]), step="4.9",
                 what="lambda = 0.5 with the episode ending at state 2 (c_1 = 0): R_1 = r_1 only, and R_0 bootstraps "
                      "from v_1 and R_1")
    with seeded(0):
        r, c, v = torch.randn(4, 5), (torch.rand(4, 5) > 0.2).float(), torch.randn(4, 6)
    assert_close(f(r, c, v, 0.97, 0.95), reference(AC).lambda_return(r, c, v, 0.97, 0.95), step="4.9",
                 what="lambda_return")


@pytest.mark.todo("4.9")
def test_lambda_return_stops_at_a_predicted_episode_end(ac):
    with seeded(1):
        r, v = torch.randn(4, 5), torch.randn(4, 6)
    c = torch.ones(4, 5)
    c[:, 2] = 0.0  # the episode ends on arriving at state 3
    got = ac.lambda_return(r, c, v, 0.95, 0.95)
    assert_close(got[:, 2], r[:, 2], step="4.9", what="the return of a step whose continue flag is 0 (its reward only)")
    v2 = v.clone()
    v2[:, 3:] += 100.0
    again = ac.lambda_return(r + torch.cat([torch.zeros(4, 3), torch.ones(4, 2) * 50], 1), c, v2, 0.95, 0.95)
    assert_close(again[:, :3], got[:, :3], step="4.9", what="returns up to the episode end after changing every "
                 "reward and value beyond it (nothing after a zero continue flag may count)")


@pytest.mark.todo("4.9")
def test_imag_weights_by_hand(ac):
    f = ac.imag_weights
    cont = torch.tensor([[1.0, 1.0, 0.0, 1.0], [0.0, 1.0, 1.0, 1.0], [0.5, 1.0, 1.0, 1.0]], requires_grad=True)
    w = f(cont, 0.5)
    assert_shape(w, (3, 4), step="4.9", what="imag_weights of (3, 4) continue flags")
    want = torch.tensor([[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.5, 0.25, 0.125, 0.0625]])
    if torch.allclose(w, want * 0.5):
        raise AssertionError("the weights are one discount too small: w_t = discount^t * c_0 ... c_t, so divide the "
                             "running product of discount * cont by one discount (w_0 = c_0).")
    if torch.allclose(w[0], torch.tensor([1.0, 0.5, 0.25, 0.0])):
        raise AssertionError("the weights are shifted by one (chapter 3's layout): here w_t includes c_t itself, so a "
                             "state where the episode has ended weighs 0.")
    assert_close(w, want, step="4.9", what="imag_weights with discount 0.5 for cont [1, 1, 0, 1], [0, 1, 1, 1], "
                 "[0.5, 1, 1, 1] (w_t = discount^t c_0 c_1 ... c_t)")
    assert_true(not w.requires_grad, "the weights carry a gradient: they are fixed numbers (detach them), or the "
                "losses could be lowered by predicting that episodes end.", step="4.9")
    with seeded(2):
        cont = (torch.rand(3, 6) > 0.1).float()
    assert_close(f(cont, 0.97), reference(AC).imag_weights(cont, 0.97), step="4.9", what="imag_weights")


# ---------------------------------------------------------------- 4.10 return normalisation
@pytest.mark.todo("4.10")
def test_return_norm_percentile_ema_by_hand(ac):
    """Returns 0..100: the 5th percentile is 5, the 95th 95. With decay 0.9, from low = high = 0:
    low 0.5, high 9.5, S = 9; then low 0.95, high 18.05, S = 17.1."""
    norm = ac.ReturnNorm(decay=0.9)
    ret = torch.arange(101.0).reshape(1, 101)
    s1 = norm(ret)
    assert_shape(torch.as_tensor(s1), (), step="4.10", what="the scale ReturnNorm returns (a scalar tensor)")
    if abs(float(s1) - float(ret.std())) < 1e-3 or abs(float(s1) - max(1.0, 0.1 * float(ret.std()))) < 1e-3:
        raise AssertionError("the scale is the standard deviation of the returns: DreamerV3 uses the range between "
                             "the 5th and the 95th percentile (robust to outliers), tracked by an EMA.")
    if abs(float(s1) - 90.0) < 1e-3:
        raise AssertionError("the percentiles are not averaged over time: low and high are EMAs, "
                             "low <- decay * low + (1 - decay) * percentile(R, 5), starting at 0.")
    if abs(float(s1) - 81.0) < 1e-3:
        raise AssertionError("decay and 1 - decay are swapped: the new percentile gets 1 - decay = 0.1, the old EMA "
                             "decay = 0.9.")
    assert_close(norm.low, 0.5, step="4.10", what="ReturnNorm.low after one update (0.9 * 0 + 0.1 * 5)")
    assert_close(norm.high, 9.5, step="4.10", what="ReturnNorm.high after one update (0.9 * 0 + 0.1 * 95)")
    assert_close(s1, 9.0, step="4.10", what="the scale after one update: max(1, high - low) = 9")
    s2 = norm(ret)
    assert_close(s2, 17.1, step="4.10", what="the scale after a second update with the same returns (low 0.95, "
                 "high 18.05: the buffers must be updated in place and kept)", rtol=1e-4)
    ref = reference(AC).ReturnNorm(decay=0.9)
    with seeded(3):
        ret = torch.randn(8, 15) * 7 + 3
    assert_close(ac.ReturnNorm(decay=0.9)(ret), ref(ret), step="4.10", what="the scale of ReturnNorm")


@pytest.mark.todo("4.10")
def test_return_norm_floors_the_scale_at_one(ac):
    norm = ac.ReturnNorm(decay=0.0)  # no memory: the scale is this batch's range
    small = torch.linspace(0.0, 0.2, 21).reshape(3, 7)
    s = norm(small)
    if float(s) < 0.999:
        raise AssertionError(f"returns spread over 0.2 gave a scale of {float(s):.3g}: the scale is max(1, S), so "
                             "small returns are never scaled *up* (the advantages of a task with tiny rewards would "
                             "be amplified noise).")
    assert_close(s, 1.0, step="4.10", what="the scale of returns whose range is under 1 (max(1, S) = 1)")
    big = torch.linspace(0.0, 200.0, 21).reshape(3, 7)
    assert_close(norm(big), 180.0, step="4.10", what="the scale of returns 0..200 with decay 0 (95th - 5th "
                 "percentile = 190 - 10)", rtol=1e-4)


@pytest.mark.todo("4.10")
def test_return_norm_takes_percentiles_over_the_whole_batch(ac):
    """Rows far apart: the percentiles of all N * H numbers span them, those of each row (or column) do not."""
    ret = torch.arange(101.0)[None] + 1000.0 * torch.arange(4.0)[:, None]  # (4, 101)
    ret.requires_grad_(True)
    norm = ac.ReturnNorm(decay=0.0)
    s = norm(ret)
    lo, hi = np.percentile(ret.detach().numpy().ravel(), [5, 95])
    if abs(float(s) - 90.0) < 1e-2:
        raise AssertionError("the percentiles were taken over each row (the horizon) and averaged: take them over "
                             "every return of the batch, all N * H numbers together.")
    assert_true(torch.as_tensor(s).dim() == 0, f"the scale has shape {tuple(torch.as_tensor(s).shape)}: the "
                "percentiles are over all N * H returns (flatten them), giving one scale.", step="4.10")
    assert_close(s, float(hi - lo), step="4.10", rtol=1e-4,
                 what="the scale for rows 0..100, 1000..1100, 2000..2100, 3000..3100 with decay 0 (the 95th minus "
                      "the 5th percentile of all 404 numbers)")
    assert_true(not torch.as_tensor(s).requires_grad, "the scale carries a gradient: the percentiles are statistics "
                "of the returns, not part of the actor's objective (no gradient).", step="4.10")
    for name in ("low", "high"):
        assert_true(name in dict(norm.named_buffers()), f"ReturnNorm keeps {name} in a buffer (saved with the agent); "
                    "update it in place.", step="4.10")


# ---------------------------------------------------------------- 4.11 critic and slow critic
F_DIM = 6


def critics(seed: int = 4):
    wm = reference("paper4_dreamerv3.world_model")
    bins = torch.linspace(-5.0, 5.0, 15)
    with seeded(seed), torch.no_grad():
        critic = wm.ScalarHead(F_DIM, 8, 1, bins)
        critic.net[-1].weight.normal_(0, 0.5)  # a critic that does not predict 0 everywhere
        slow = copy.deepcopy(critic)
        for p in slow.parameters():  # a slow critic that lags behind
            p.add_(torch.randn_like(p) * 0.5)
    return critic, slow


@pytest.mark.todo("4.11")
def test_critic_loss_by_hand(ac):
    critic, slow = critics()
    with seeded(5):
        feats, ret = torch.randn(3, 4, F_DIM), torch.randn(3, 4) * 20
    weights = torch.tensor([[1.0, 0.5, 0.0, 0.25]] * 3)
    ret.requires_grad_(True)
    loss = ac.critic_loss(critic, slow, feats, ret, weights, 0.5)
    assert_shape(loss, (), step="4.11", what="critic_loss (a scalar)")
    with torch.no_grad():
        out, slow_mean = critic(feats), slow.mean(feats)
        nll_ret, nll_slow = critic.nll(out, ret), critic.nll(out, slow_mean)
        want = (weights * (nll_ret + 0.5 * nll_slow)).mean()
    if torch.allclose(loss.detach(), (weights * nll_ret).mean(), atol=1e-5):
        raise AssertionError("the slow-critic regulariser is missing: add slow_reg times the critic's NLL of the slow "
                             "critic's mean predictions.")
    if torch.allclose(loss.detach(), (nll_ret + 0.5 * nll_slow).mean(), atol=1e-5):
        raise AssertionError("the critic loss is not weighted: states after an imagined episode end (weight 0) must "
                             "not count.")
    assert_close(loss, want, step="4.11", atol=1e-5,
                 what="critic_loss = mean(w * (nll(R) + slow_reg * nll(slow_critic.mean(feats)))), slow_reg 0.5 "
                      "(nll(y) = critic.nll(critic(feats), y))")
    (g_ret,) = torch.autograd.grad(loss, ret, retain_graph=True, allow_unused=True)
    assert_true(g_ret is None or float(g_ret.abs().max()) == 0, "the critic loss sends gradient into the returns: "
                "they are fixed targets (detach them).", step="4.11")
    slow.requires_grad_(True)
    loss = ac.critic_loss(critic, slow, feats, ret.detach(), weights, 0.5)
    loss.backward()
    leaked = [n for n, p in slow.named_parameters() if p.grad is not None and float(p.grad.abs().max()) > 0]
    assert_true(not leaked, f"the critic loss sends gradient into the slow critic ({', '.join(leaked)}): its "
                "predictions are fixed targets (no_grad or detach); it moves only by update_slow.", step="4.11")
    got = [p.grad is not None and float(p.grad.abs().max()) > 0 for p in critic.parameters()]
    assert_true(all(got), "the critic's parameters got no gradient from critic_loss.", step="4.11")
    critic2, slow2 = critics()
    assert_close(loss, reference(AC).critic_loss(critic2, slow2, feats, ret.detach(), weights, 0.5), step="4.11",
                 what="critic_loss")


@pytest.mark.todo("4.11")
def test_update_slow_moves_by_the_fraction(ac):
    with seeded(6):
        critic, slow = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    with torch.no_grad():
        for p in critic.parameters():
            p.fill_(1.0)
        for p in slow.parameters():
            p.fill_(0.0)
    ac.update_slow(critic, slow, 0.02)
    for p in critic.parameters():
        assert_true(bool((p == 1.0).all()), "update_slow changed the critic: only the slow critic moves, towards "
                    "the critic.", step="4.11")
    first = slow.weight.detach().clone()
    if torch.allclose(first, torch.full_like(first, 0.98)):
        raise AssertionError("the slow critic moved 98 % of the way: it keeps 1 - fraction of itself and takes "
                             "`fraction` = 2 % of the critic, slow <- (1 - f) slow + f critic.")
    if torch.allclose(first, torch.ones_like(first)):
        raise AssertionError("the slow critic became a copy of the critic: it is not slow. Move it a fraction "
                             "of the way, slow <- (1 - f) slow + f critic.")
    assert_close(first, torch.full_like(first, 0.02), step="4.11",
                 what="the slow critic after one update_slow(critic = 1, slow = 0, fraction 0.02)")
    for _ in range(9):
        ac.update_slow(critic, slow, 0.02)
    want = 1 - 0.98 ** 10
    assert_close(slow.bias, torch.full((2,), want), step="4.11",
                 what=f"the slow critic after 10 updates towards a fixed critic (1 - 0.98^10 = {want:.4f})")
    with seeded(7):
        a, b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    a2, b2 = copy.deepcopy(a), copy.deepcopy(b)
    ac.update_slow(a, b, 0.3)
    reference(AC).update_slow(a2, b2, 0.3)
    assert_close(b.weight, b2.weight, step="4.11", what="the slow critic's weight after update_slow(..., 0.3)")


# ---------------------------------------------------------------- 4.12 the actor
def actor_pair(discrete: bool, action_dim: int = 3):
    with seeded(8):
        ref = reference(AC).Actor(F_DIM, action_dim, discrete, 8, 1, 0.01, 0.1, 1.0)
    return ref, copy_weights(ref, target(AC).Actor(F_DIM, action_dim, discrete, 8, 1, 0.01, 0.1, 1.0), step="4.12")


@pytest.mark.todo("4.12")
def test_discrete_actor_is_a_unimixed_onehot_categorical(ac):
    ref, actor = actor_pair(True, 4)
    with torch.no_grad():
        for a in (ref, actor):
            a.net[-1].weight.mul_(200.0)  # confident: without unimix some actions would get probability ~0
    with seeded(9):
        feat = torch.randn(5, F_DIM)
    dist = actor.dist(feat)
    assert_true(tuple(dist.batch_shape) == (5,) and tuple(dist.event_shape) == (4,),
                f"the discrete policy at (5, F) states must have batch shape (5,) and event shape (4,) (a one-hot "
                f"categorical); got {tuple(dist.batch_shape)} and {tuple(dist.event_shape)}.", step="4.12")
    with torch.no_grad():
        raw = actor.net(feat).softmax(-1)
    want = 0.99 * raw + 0.01 / 4
    probs = dist.probs.detach()
    low = float(probs.min())
    assert_true(low >= 0.01 / 4 * (1 - 1e-4), f"an action got probability {low:.3g}: the discrete actor is unimixed "
                "too, every action keeps at least 0.01 / A.", step="4.12")
    assert_close(probs, want, step="4.12", atol=1e-5,
                 what="the policy's probabilities: 0.99 softmax(net(feat)) + 0.01 / A")
    onehot = torch.eye(4)[torch.tensor([0, 1, 2, 3, 0])]
    assert_close(dist.log_prob(onehot), (want * onehot).sum(-1).log(), step="4.12", atol=1e-5,
                 what="log_prob of one-hot actions (the log of the mixture's probability)")
    assert_close(dist.entropy(), -(want * want.log()).sum(-1), step="4.12", atol=1e-5,
                 what="the policy's entropy (of the unimixed probabilities)")
    with seeded(10):
        draw = dist.sample()
    assert_true(bool(((draw == 0) | (draw == 1)).all() and (draw.sum(-1) == 1).all()),
                "a draw of the discrete policy must be a one-hot vector.", step="4.12")
    assert_close(dist.probs, ref.dist(feat).probs, step="4.12", what="the policy's probabilities")


@pytest.mark.todo("4.12")
def test_continuous_actor_has_tanh_mean_and_bounded_std(ac):
    ref, actor = actor_pair(False, 2)
    with torch.no_grad():
        actor.net[-1].weight.zero_()
        actor.net[-1].bias.copy_(torch.tensor([0.5, -3.0, 0.0, -2.0]))  # [mean (A), raw std (A)]
    dist = actor.dist(torch.randn(3, F_DIM))
    assert_true(tuple(dist.batch_shape) == (3,) and tuple(dist.event_shape) == (2,),
                f"the continuous policy at (3, F) states must have batch shape (3,) and event shape (2,): wrap the "
                f"Normal in Independent(..., 1); got {tuple(dist.batch_shape)} and {tuple(dist.event_shape)}.",
                step="4.12")
    assert_close(dist.mean, torch.tensor([[math.tanh(0.5), math.tanh(-3.0)]] * 3), step="4.12",
                 what="the policy's mean for raw means [0.5, -3] (tanh(mean), so that it lies in (-1, 1))")
    sig = lambda x: 1 / (1 + math.exp(-x))
    std = [0.9 * sig(2.0) + 0.1, 0.9 * sig(0.0) + 0.1]
    assert_close(dist.stddev, torch.tensor([std] * 3), step="4.12",
                 what="the policy's std for raw stds [0, -2]: (max - min) * sigmoid(raw + 2) + min, [0.893, 0.55]")
    with torch.no_grad():
        actor.net[-1].bias.copy_(torch.tensor([0.0, 0.0, 60.0, -60.0]))
    std = actor.dist(torch.randn(3, F_DIM)).stddev
    assert_close(std, torch.tensor([[1.0, 0.1]] * 3), step="4.12", atol=1e-4,
                 what="the std for raw stds [60, -60] (bounded: max_std = 1 and min_std = 0.1)")
    with seeded(11):
        feat = torch.randn(4, F_DIM)
    a = torch.randn(4, 2) * 0.5
    mine, want = actor_pair(False, 2)[1].dist(feat), ref.dist(feat)
    assert_close(mine.log_prob(a), want.log_prob(a), step="4.12", what="log_prob of continuous actions (one number per "
                 "state: the sum over the action's dimensions)")


@pytest.mark.todo("4.12")
def test_actor_loss_by_hand(ac):
    f = ac.actor_loss
    logp = torch.tensor([[-1.0, -2.0]])
    ent = torch.tensor([[0.5, 1.0]])
    ret, base = torch.tensor([[9.0, 1.0]]), torch.tensor([[1.0, 5.0]])
    w = torch.tensor([[1.0, 0.5]])
    eta, scale = 0.1, 4.0
    # REINFORCE: -mean(w * (logp * (ret - base) / scale + eta * ent)); advantages 2 and -1
    want = -((1.0 * (-1.0 * 2.0 + 0.1 * 0.5)) + 0.5 * (-2.0 * -1.0 + 0.1 * 1.0)) / 2
    got = f(logp, ent, ret, base, scale, w, eta, True)
    as_t = lambda x: torch.as_tensor(x, dtype=torch.float32)
    if torch.allclose(as_t(got), torch.tensor(-want), atol=1e-5):
        raise AssertionError("the actor loss has the wrong sign: the optimiser minimises, so "
                             "loss = -mean(w * objective).")
    unscaled = -((1.0 * (-1.0 * 8.0 + 0.1 * 0.5)) + 0.5 * (-2.0 * -4.0 + 0.1 * 1.0)) / 2
    if torch.allclose(as_t(got), torch.tensor(unscaled), atol=1e-5):
        raise AssertionError("the advantage is not divided by the return scale: adv = (R - v) / scale.")
    times = -((1.0 * (-1.0 * 32.0 + 0.1 * 0.5)) + 0.5 * (-2.0 * -16.0 + 0.1 * 1.0)) / 2
    if torch.allclose(as_t(got), torch.tensor(times), atol=1e-5):
        raise AssertionError("the advantage is multiplied by the return scale: divide, adv = (R - v) / scale.")
    no_base = -((1.0 * (-1.0 * 2.25 + 0.1 * 0.5)) + 0.5 * (-2.0 * 0.25 + 0.1 * 1.0)) / 2
    if torch.allclose(as_t(got), torch.tensor(no_base), atol=1e-5):
        raise AssertionError("the REINFORCE term uses the return itself: subtract the critic's value, "
                             "adv = (R - v) / scale.")
    assert_close(got, torch.tensor(want), step="4.12", what="actor_loss with REINFORCE, scale 4, eta 0.1 on a worked "
                 "example (advantages (9 - 1) / 4 = 2 and (1 - 5) / 4 = -1)")
    want_bp = -((1.0 * (2.0 + 0.1 * 0.5)) + 0.5 * (-1.0 + 0.1 * 1.0)) / 2
    assert_close(f(logp, ent, ret, base, scale, w, eta, False), torch.tensor(want_bp), step="4.12",
                 what="actor_loss with dynamics backpropagation (reinforce=False: the objective is the scaled "
                      "advantage itself)")
    with seeded(12):
        args = [torch.randn(4, 3) for _ in range(4)]
    w = torch.rand(4, 3)
    assert_close(f(*args, torch.tensor(2.5), w, 0.01, True), reference(AC).actor_loss(*args, torch.tensor(2.5), w, 0.01,
                 True), step="4.12", what="actor_loss")


@pytest.mark.todo("4.12")
def test_actor_loss_gradients_go_where_they_belong(ac):
    with seeded(13):
        logp, ent, ret, base = (torch.randn(4, 3).requires_grad_(True) for _ in range(4))
        w = torch.rand(4, 3)
    eta, scale, n = 0.01, 2.5, 12
    zero = torch.zeros(4, 3)
    adv = (ret - base).detach() / scale
    for reinforce in (True, False):
        loss = ac.actor_loss(logp, ent, ret, base, torch.tensor(scale), w, eta, reinforce)
        grads = torch.autograd.grad(loss, (logp, ent, ret, base), allow_unused=True)
        g_logp, g_ent, g_ret, g_base = (zero if g is None else g for g in grads)
        name = "REINFORCE" if reinforce else "dynamics backprop"
        assert_close(g_ent, -eta * w / n, step="4.12", what=f"d loss / d entropy ({name}: -eta * w / N, the entropy is "
                     "a bonus)")
        if reinforce:
            assert_close(g_logp, -w * adv / n, step="4.12", what="d loss / d logp (REINFORCE: -w * adv / N)")
            assert_close(g_ret, zero, step="4.12", what="d loss / d returns (REINFORCE: none, the advantage is a fixed "
                         "weight of the log-probability)")
            assert_close(g_base, zero, step="4.12", what="d loss / d values (REINFORCE: none)")
        else:
            assert_close(g_ret, -w / scale / n, step="4.12", what="d loss / d returns (dynamics backprop: "
                         "-w / scale / N, the returns carry the gradient through the imagined dynamics)")
            assert_close(g_logp, zero, step="4.12", what="d loss / d logp (dynamics backprop: no log-probability term)")
