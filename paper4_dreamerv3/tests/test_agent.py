"""Graded tests for the behaviour update (guide, chapter 4, step 4.13).

    pytest paper4_dreamerv3 --todo 4.13

Your agent.py runs with the *reference* symlog.py, world_model.py and actor_critic.py (swapped in), so a
mistake in an earlier step does not fail this one too. imagine() is replaced by a fixed trajectory, so the
losses can be worked out from the chapter's definitions.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from common.grading import assert_close, assert_true, copy_weights, reference, seeded

from .conftest import wired

AGENT = "paper4_dreamerv3.agent"
AC = "paper4_dreamerv3.actor_critic"
SIBLINGS = ("symlog", "world_model", "actor_critic")
A = 2


@pytest.fixture
def agent_mod(monkeypatch):
    return wired(monkeypatch, AGENT, SIBLINGS)


def agents(agent_mod, cfg, discrete: bool = True):
    with seeded(0):
        ref = reference(AGENT).DreamerV3((4,), A, discrete, cfg)
    mine = agent_mod.DreamerV3((4,), A, discrete, cfg)
    for name in ("wm", "actor", "critic", "slow_critic"):
        copy_weights(getattr(ref, name), getattr(mine, name), step="4.13")
    with torch.no_grad(), seeded(1):
        mine.wm.reward.net[-1].weight.normal_(0, 0.5)  # heads that do not predict 0 everywhere
        mine.critic.net[-1].weight.normal_(0, 0.5)
        mine.critic.net[-1].bias.normal_(0, 0.5)
        for p in mine.slow_critic.parameters():  # a slow critic that differs from the critic
            p.add_(torch.randn_like(p) * 0.3)
    return ref, mine


def fake_trajectory(agent, n: int, horizon: int, discrete: bool = True, seed: int = 5):
    """A fixed imagined trajectory (N, H + 1, F) and its actions (N, H, A), in place of imagine()."""
    with seeded(seed):
        feats = torch.randn(n, horizon + 1, agent.wm.feat_dim)
        actions = torch.eye(A)[torch.randint(0, A, (n, horizon))] if discrete else torch.rand(n, horizon, A) * 2 - 1
    return feats, actions


def expected(agent, feats, actions, terminated, cfg, reinforce: bool):
    """The losses, mean return and scale of the update, worked out from the chapter's definitions."""
    ac = reference(AC)
    with torch.no_grad():
        reward = agent.wm.reward.mean(feats[:, 1:])  # rewards of states 1..H
        cont = (agent.wm.cont(feats[:, 1:])[..., 0] > 0).float()  # the continue head's mode
        value = agent.critic.mean(feats)  # the critic (not the slow one) at states 0..H
        ret = ac.lambda_return(reward, cont, value, cfg.discount, cfg.lam)
        first = 1 - terminated.reshape(-1, 1)
        weights = ac.imag_weights(torch.cat([first, cont], 1), cfg.discount)
        scale = copy.deepcopy(agent.retnorm)(ret) if "return_norm" not in cfg.ablate else torch.tensor(1.0)
        dist = agent.actor.dist(feats[:, :-1])  # the policy at states 0..H-1, where the actions were chosen
        a_loss = ac.actor_loss(dist.log_prob(actions), dist.entropy(), ret, value[:, :-1], scale, weights[:, :-1],
                               cfg.actor_entropy, reinforce)
        c_loss = ac.critic_loss(agent.critic, agent.slow_critic, feats[:, :-1], ret, weights[:, :-1], cfg.slow_reg)
        soft = ac.lambda_return(reward, torch.sigmoid(agent.wm.cont(feats[:, 1:])[..., 0]), value, cfg.discount,
                                cfg.lam)
        slow_ret = ac.lambda_return(reward, cont, agent.slow_critic.mean(feats), cfg.discount, cfg.lam)
    return {"actor_loss": float(a_loss), "critic_loss": float(c_loss), "imag_return": float(ret.mean()),
            "return_scale": float(scale), "soft_return": float(soft.mean()), "slow_return": float(slow_ret.mean())}


def run_update(agent_mod, small_cfg, monkeypatch, discrete: bool = True, **changes):
    cfg = dataclasses.replace(small_cfg, actor_entropy=0.05, slow_reg=0.5, slow_fraction=0.1, retnorm_decay=0.0,
                              **changes)
    _, mine = agents(agent_mod, cfg, discrete)
    feats, actions = fake_trajectory(mine, 6, cfg.horizon, discrete)
    monkeypatch.setattr(agent_mod, "imagine", lambda *args, **kw: (feats, actions))
    terminated = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    post = {"deter": torch.zeros(2, 3, cfg.deter)}
    want = expected(mine, feats, actions, terminated, cfg, discrete)
    metrics = mine.update_behavior(post, terminated)
    assert_true(isinstance(metrics, dict), "update_behavior must return a dict of metrics.", step="4.13")
    for key in ("actor_loss", "critic_loss", "imag_return", "return_scale"):
        assert_true(key in metrics, f"update_behavior must return a dict with {key!r}.", step="4.13")
    return mine, metrics, want


@pytest.mark.todo("4.13")
def test_update_behavior_losses_by_hand(agent_mod, small_cfg, monkeypatch):
    """imagine() is replaced by a fixed trajectory; the slow critic differs from the critic; some starts are
    terminal; the continue head predicts endings: the metrics must follow the chapter's definitions."""
    _, metrics, want = run_update(agent_mod, small_cfg, monkeypatch)
    if abs(metrics["imag_return"] - want["slow_return"]) < 1e-5 < abs(want["slow_return"] - want["imag_return"]):
        raise AssertionError("the returns use the slow critic's values: in DreamerV3 the returns and the baseline "
                             "come from the critic itself; the slow critic only regularises it.")
    if abs(metrics["imag_return"] - want["soft_return"]) < 1e-5 < abs(want["soft_return"] - want["imag_return"]):
        raise AssertionError("the returns are discounted by the continue head's probability: use its mode, "
                             "c = 1 where its logit is > 0 and 0 elsewhere.")
    assert_close(metrics["imag_return"], want["imag_return"], step="4.13", atol=1e-4,
                 what="imag_return, the mean lambda-return (rewards and continue flags (the head's mode) of states "
                      "1..H, the critic's values of states 0..H)")
    assert_close(metrics["return_scale"], want["return_scale"], step="4.13", atol=1e-5,
                 what="return_scale (self.retnorm of the lambda-returns)")
    assert_close(metrics["actor_loss"], want["actor_loss"], step="4.13", atol=1e-4,
                 what="actor_loss (REINFORCE for discrete actions: the policy at states 0..H-1 and the actions taken "
                      "there, the critic's values as baseline, weights[:, :-1] with the start's weight 1 - terminated)")
    assert_close(metrics["critic_loss"], want["critic_loss"], step="4.13", atol=1e-4,
                 what="critic_loss (the critic at states 0..H-1 against the H returns, the slow critic's regulariser, "
                      "weights[:, :-1])")


@pytest.mark.todo("4.13")
def test_update_behavior_continuous_actions_use_dynamics_backprop(agent_mod, small_cfg, monkeypatch):
    _, metrics, want = run_update(agent_mod, small_cfg, monkeypatch, discrete=False)
    assert_close(metrics["actor_loss"], want["actor_loss"], step="4.13", atol=1e-4,
                 what="actor_loss for continuous actions (reinforce=False: the scaled advantage itself, which "
                      "backpropagates through the imagined dynamics)")


@pytest.mark.todo("4.13")
def test_update_behavior_without_return_norm_uses_scale_one(agent_mod, small_cfg, monkeypatch):
    mine, metrics, want = run_update(agent_mod, small_cfg, monkeypatch, ablate="return_norm")
    assert_close(metrics["return_scale"], 1.0, step="4.13", what="return_scale under --ablate return_norm (1)")
    assert_close(metrics["actor_loss"], want["actor_loss"], step="4.13", atol=1e-4,
                 what="actor_loss under --ablate return_norm (advantages not scaled)")


@pytest.mark.todo("4.13")
def test_update_behavior_steps_actor_and_critic_and_moves_the_slow_critic(agent_mod, small_cfg):
    cfg = dataclasses.replace(small_cfg, slow_fraction=0.1)
    _, mine = agents(agent_mod, cfg)
    with seeded(7):
        data = {"obs": torch.randn(3, 5, 4), "action": torch.eye(A)[torch.randint(0, A, (3, 5))],
                "reward": torch.randn(3, 5), "terminated": torch.zeros(3, 5), "is_first": torch.zeros(3, 5)}
    data["is_first"][:, 0] = 1.0
    with torch.no_grad(), seeded(8):
        post = reference("paper4_dreamerv3.world_model").WorldModel.loss(mine.wm, data)["post"]
    snap = {name: [p.detach().clone() for p in getattr(mine, name).parameters()]
            for name in ("wm", "actor", "critic", "slow_critic")}
    with seeded(9):
        mine.update_behavior(post, data["terminated"])
    changed = {name: any(not torch.equal(a, b)
                         for a, b in zip(snap[name], getattr(mine, name).parameters(), strict=True))
               for name in snap}
    assert_true(not changed["wm"], "update_behavior changed the world model: only its own loss may (step the actor "
                "and the critic with their own losses only).", step="4.13")
    assert_true(changed["actor"] and changed["critic"], "update_behavior must take one step of the actor and one "
                f"of the critic (changed: {changed}).", step="4.13")
    for old, new, critic in zip(snap["slow_critic"], mine.slow_critic.parameters(), mine.critic.parameters(),
                                strict=True):
        want = old + 0.1 * (critic.detach() - old)
        if torch.allclose(new, critic.detach()) and not torch.allclose(old, critic.detach()):
            raise AssertionError("the slow critic became a copy of the critic: it is not slow. update_slow moves it "
                                 "`slow_fraction` of the way, after the critic's step.")
        assert_close(new, want, step="4.13", atol=1e-6,
                     what="the slow critic after the update (old slow + slow_fraction * (the *updated* critic - old "
                          "slow); slow_fraction 0.1 here)")
    assert_true(bool(mine.retnorm.high != 0) or bool(mine.retnorm.low != 0),
                "update_behavior did not update the return scale's EMAs: call self.retnorm on the returns.",
                step="4.13")
