"""Graded tests for imagination, the actor loss, the critic loss and the target critic (guide, chapter 3,
steps 3.9-3.11).

    pytest paper3_dreamerv2 --todo 3.10
"""

from __future__ import annotations

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, reference, seeded, target

from .conftest import wired

AC = "paper3_dreamerv2.actor_critic"
A, E, S, K, D, H = 3, 6, 3, 4, 12, 10


# ---------------------------------------------------------------- 3.9 imagination
def models():
    rssm_mod = reference("paper3_dreamerv2.rssm")
    with seeded(0):
        rssm = rssm_mod.RSSM(A, E, S, K, D, H)
        actor = reference(AC).Actor(S * K + D, A, 16, 1)
    return rssm, actor


def start_states(b: int = 2, t: int = 3, grad: bool = False):
    with seeded(1):
        logits = torch.randn(b, t, S, K)
        start = {"logits": logits, "stoch": torch.nn.functional.one_hot(logits.argmax(-1), K).float(),
                 "deter": torch.randn(b, t, D)}
    return {k: v.requires_grad_(grad) for k, v in start.items()}


@pytest.mark.todo("3.9")
def test_imagine_shapes_and_start(monkeypatch):
    rssm, actor = models()
    imagine = wired(monkeypatch, AC, ("rssm",)).imagine
    start = start_states()
    with seeded(2):
        feats, actions = imagine(rssm, actor, start, 4)
    assert_shape(feats, (6, 5, S * K + D), step="3.9", what="feats of imagine (N = 2 * 3 starts, horizon 4)")
    assert_shape(actions, (6, 5, A), step="3.9", what="actions of imagine")
    flat = {k: v.reshape(6, *v.shape[2:]) for k, v in start.items()}
    assert_close(feats[:, 0], rssm.feat(flat), step="3.9", what="feats[:, 0] (the start state itself)")
    assert_close(actions[:, 0], torch.zeros(6, A), step="3.9", what="actions[:, 0] (no action led to the start)")
    picked = actions[:, 1:].detach()
    assert_true(bool(((picked.round() == 1).sum(-1) == 1).all()), "actions[:, 1:] must be one-hot samples of the "
                "actor (actor.sample).", step="3.9")
    with seeded(2):
        ref_feats, _ = reference(AC).imagine(rssm, actor, start, 4)
    assert_close(feats, ref_feats, step="3.9", what="imagined features (same seed as the reference)", atol=1e-4)


@pytest.mark.todo("3.9")
def test_imagine_gradients_match_reference(monkeypatch):
    """The actor reads a detached feature; its actions and the steps keep their graph."""
    grads = []
    for imagine in (wired(monkeypatch, AC, ("rssm",)).imagine, reference(AC).imagine):
        rssm, actor = models()
        with seeded(9):
            feats, _ = imagine(rssm, actor, start_states(), 3)
        feats[:, -1].sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in actor.parameters()]))
    assert_close(grads[0], grads[1], step="3.9", atol=1e-5,
                 what="gradient of the last imagined feature w.r.t. the actor (a mismatch: is the actor's input "
                      "feature detached, and are the actions left attached?)")


@pytest.mark.todo("3.9")
def test_imagine_each_step_follows_from_the_previous_one(monkeypatch):
    """deter_{t+1} = img_step(state_t, actions[:, t+1])["deter"]: the GRU is deterministic given the state."""
    rssm, actor = models()
    imagine = wired(monkeypatch, AC, ("rssm",)).imagine
    with seeded(3):
        feats, actions = imagine(rssm, actor, start_states(), 4)
    for t in range(4):
        state = {"stoch": feats[:, t, :S * K].reshape(-1, S, K), "deter": feats[:, t, S * K:]}
        nxt = rssm.img_step(state, actions[:, t + 1])
        assert_close(feats[:, t + 1, S * K:], nxt["deter"], step="3.9", atol=1e-5,
                     what=f"deter of imagined state {t + 1} vs one prior step from state {t} with actions[:, {t + 1}] "
                          "(actions[:, t] is the action that led *to* state t)")


@pytest.mark.todo("3.9")
def test_imagine_cuts_the_graph_to_the_starts(monkeypatch):
    rssm, actor = models()
    imagine = wired(monkeypatch, AC, ("rssm",)).imagine
    start = start_states(grad=True)
    with seeded(4):
        feats, _ = imagine(rssm, actor, start, 3)
    assert_true(feats.requires_grad, "the imagined features carry no gradient: keep the graph of the steps and "
                "actions (only the starts and the actor's inputs are detached).", step="3.9")
    feats.sum().backward()
    leaked = [k for k, v in start.items() if v.grad is not None and v.grad.abs().max() > 0]
    assert_true(not leaked, f"gradient reached the start states ({', '.join(leaked)}): detach them, so the "
                "behaviour losses cannot train the encoder and the posterior.", step="3.9")
    got = [p.grad is not None and p.grad.abs().max() > 0 for p in actor.parameters()]
    assert_true(any(got), "no gradient reached the actor through the imagined actions: sample them with "
                "straight-through gradients (actor.sample) and do not detach the actions.", step="3.9")


# ---------------------------------------------------------------- 3.10 actor loss
def actor_inputs(seed: int = 5):
    with seeded(seed):
        return [torch.randn(4, 3).requires_grad_(True) for _ in range(4)] + [torch.rand(4, 3)]


@pytest.mark.todo("3.10")
def test_actor_loss_by_hand():
    f = target(AC).actor_loss
    logp = torch.tensor([[-1.0, -2.0]])
    ent = torch.tensor([[0.5, 1.0]])
    tgt, base = torch.tensor([[3.0, 1.0]]), torch.tensor([[1.0, 2.0]])
    w = torch.tensor([[1.0, 0.5]])
    # rho = 1: -mean(w * (logp * (target - baseline) + eta * ent))
    want = -((1.0 * (-1.0 * 2.0 + 0.1 * 0.5)) + 0.5 * (-2.0 * -1.0 + 0.1 * 1.0)) / 2
    got = f(logp, ent, tgt, base, w, 1.0, 0.1)
    if torch.allclose(torch.as_tensor(got, dtype=torch.float32), torch.tensor(-want), atol=1e-5):
        raise AssertionError("the actor loss has the wrong sign: the optimiser minimises, so "
                             "loss = -mean(w * objective).")
    no_base = -((1.0 * (-1.0 * 3.0 + 0.1 * 0.5)) + 0.5 * (-2.0 * 1.0 + 0.1 * 1.0)) / 2
    if torch.allclose(torch.as_tensor(got, dtype=torch.float32), torch.tensor(no_base), atol=1e-5):
        raise AssertionError("the REINFORCE term uses the return itself: subtract the critic's baseline, "
                             "advantage = sg(target - baseline).")
    assert_close(got, torch.tensor(want), step="3.10", what="actor_loss with rho = 1, eta = 0.1 on a worked example")
    want0 = -((1.0 * (3.0 + 0.1 * 0.5)) + 0.5 * (1.0 + 0.1 * 1.0)) / 2  # rho = 0: the returns themselves
    assert_close(f(logp, ent, tgt, base, w, 0.0, 0.1), torch.tensor(want0), step="3.10",
                 what="actor_loss with rho = 0 (dynamics backpropagation: maximise the returns themselves)")
    args = actor_inputs()
    assert_close(f(*args, 0.3, 0.01), reference(AC).actor_loss(*args, 0.3, 0.01), step="3.10", what="actor_loss")


@pytest.mark.todo("3.10")
def test_actor_loss_gradients_go_where_they_belong():
    logp, ent, tgt, base, w = actor_inputs(6)
    rho, eta, n = 0.3, 0.01, 12
    loss = target(AC).actor_loss(logp, ent, tgt, base, w, rho, eta)
    g_logp, g_ent, g_tgt, g_base = torch.autograd.grad(loss, (logp, ent, tgt, base), allow_unused=True)
    zero = torch.zeros(4, 3)
    g_logp, g_ent, g_tgt, g_base = (zero if g is None else g for g in (g_logp, g_ent, g_tgt, g_base))
    adv = (tgt - base).detach()
    assert_close(g_logp, -rho * w * adv / n, step="3.10", what="d loss / d logp (-rho * w * advantage / N)")
    assert_close(g_ent, -eta * w / n, step="3.10", what="d loss / d entropy (-eta * w / N: the entropy is a bonus)")
    assert_close(g_tgt, -(1 - rho) * w / n, step="3.10", what="d loss / d target (only the dynamics term, "
                 "-(1 - rho) * w / N: the advantage of the REINFORCE term is a fixed weight)")
    assert_close(g_base, zero, step="3.10", what="d loss / d baseline (none: the advantage is detached)")


# ---------------------------------------------------------------- 3.11 critic and target critic
@pytest.mark.todo("3.11")
def test_critic_loss_by_hand_and_fixed_targets():
    v = torch.tensor([[1.0, 2.0, 0.0]], requires_grad=True)
    tgt = torch.tensor([[3.0, 2.0, 10.0]], requires_grad=True)
    w = torch.tensor([[1.0, 0.5, 0.0]])
    loss = target(AC).critic_loss(v, tgt, w)
    assert_close(loss, torch.tensor((1.0 * 0.5 * 4.0 + 0.5 * 0 + 0.0 * 50) / 3), step="3.11",
                 what="critic_loss = mean(w * 0.5 * (v - target)^2) on a worked example (the third state weighs 0)")
    g_v, g_t = torch.autograd.grad(loss, (v, tgt), allow_unused=True)
    assert_close(g_v, torch.tensor([[-2.0 / 3, 0.0, 0.0]]), step="3.11", what="d loss / d v")
    assert_true(g_t is None or g_t.abs().max() == 0, "the critic loss sends gradient into its targets: the "
                "lambda-returns are fixed numbers (detach them).", step="3.11")
    args = [x.detach() for x in actor_inputs(7)[:2]] + [torch.rand(4, 3)]
    assert_close(target(AC).critic_loss(*args), reference(AC).critic_loss(*args), step="3.11", what="critic_loss")


@pytest.mark.todo("3.11")
def test_target_critic_is_copied_every_100_updates_only():
    f = target(AC).update_target
    with seeded(8):
        critic, slow = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    copied = []
    for updates in range(0, 250):
        with torch.no_grad():
            critic.weight.add_(0.01)  # the critic learns every update
        before = slow.weight.detach().clone()
        did = f(critic, slow, updates, 100)
        same = torch.equal(slow.weight, critic.weight) and torch.equal(slow.bias, critic.bias)
        if updates % 100 == 0:
            assert_true(same, f"at update {updates} the target critic must become a copy of the critic.", step="3.11")
            copied.append(updates)
        else:
            assert_true(torch.equal(slow.weight, before), f"the target critic changed at update {updates}: it is "
                        "copied only every 100 updates (updates % every == 0).", step="3.11")
        assert_true(bool(did) == (updates % 100 == 0), f"update_target must return whether it copied (update "
                    f"{updates} returned {did}).", step="3.11")
    assert_true(copied == [0, 100, 200], f"copies at {copied}, expected [0, 100, 200].", step="3.11")
