"""Graded tests for the world-model loss and the behaviour update (guide, chapter 3, steps 3.12-3.13).

    pytest paper3_dreamerv2 --todo 3.12

Your agent.py runs with the *reference* RSSM, networks, utils and actor-critic functions (swapped in),
so a mistake in an earlier step does not fail these steps too.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from common.grading import assert_close, assert_true, copy_weights, reference, seeded

from .conftest import wired

AGENT = "paper3_dreamerv2.agent"
SIBLINGS = ("rssm", "networks", "utils", "actor_critic")
A = 2


@pytest.fixture
def agent_mod(monkeypatch):
    return wired(monkeypatch, AGENT, SIBLINGS)


def batch(b: int = 3, t: int = 5, obs_dim: int = 4, seed: int = 1) -> dict[str, torch.Tensor]:
    with seeded(seed):
        out = {"obs": torch.randn(b, t, obs_dim), "action": torch.eye(A)[torch.randint(0, A, (b, t))],
               "reward": torch.randn(b, t), "terminated": (torch.rand(b, t) < 0.3).float(),
               "is_first": torch.zeros(b, t)}
    out["is_first"][:, 0] = 1.0
    out["action"][:, 0] = 0.0
    return out


def agents(agent_mod, cfg):
    with seeded(0):
        ref = reference(AGENT).DreamerV2((4,), A, cfg)
    mine = agent_mod.DreamerV2((4,), A, cfg)
    for name in ("wm", "actor", "critic", "target_critic"):
        copy_weights(getattr(ref, name), getattr(mine, name), step="3.12")
    return ref, mine


# ---------------------------------------------------------------- 3.12 world-model loss
@pytest.mark.todo("3.12")
def test_world_model_loss_matches_reference(agent_mod, small_cfg, no_noise):
    ref, mine = agents(agent_mod, small_cfg)
    got, want = mine.wm.loss(batch()), ref.wm.loss(batch())
    for key in ("loss", "obs_ll", "reward_ll", "cont_ll", "kl"):
        assert_true(key in got, f"wm.loss must return a dict with {key!r}.", step="3.12")
        assert_close(got[key], want[key], step="3.12", what=f"wm.loss(batch)[{key!r}]", atol=1e-4)


@pytest.mark.todo("3.12")
def test_world_model_loss_terms_by_hand(agent_mod, small_cfg, no_noise):
    """Each term recomputed from the posterior that loss() returns, and the sum with the config's scales."""
    cfg = dataclasses.replace(small_cfg, kl_scale=0.3, discount_scale=7.0)
    _, mine = agents(agent_mod, cfg)
    data = batch(seed=2)
    out = mine.wm.loss(data)
    nets, utils = reference("paper3_dreamerv2.networks"), reference("paper3_dreamerv2.utils")
    with torch.no_grad():
        post, prior = mine.wm.rssm.observe(mine.wm.encoder(data["obs"]), data["action"], data["is_first"])
        feat = mine.wm.rssm.feat(post)
        obs_ll = nets.normal_log_prob(data["obs"], mine.wm.decoder(feat), 1).mean()
        reward_ll = nets.normal_log_prob(data["reward"], mine.wm.reward(feat), 0).mean()
        cont_ll = nets.bernoulli_log_prob(mine.wm.discount(feat), 1 - data["terminated"]).mean()
        wrong = nets.bernoulli_log_prob(mine.wm.discount(feat), data["terminated"]).mean()
        kl_loss, _ = utils.kl_balance(post["logits"], prior["logits"], cfg.kl_balance, cfg.kl_free)
    assert_close(out["obs_ll"], obs_ll, step="3.12", what="obs_ll (log N(o; decoder(feat), 1) summed over the "
                 "observation, averaged over B * T)", atol=1e-4)
    assert_close(out["reward_ll"], reward_ll, step="3.12", what="reward_ll", atol=1e-4)
    if torch.allclose(out["cont_ll"].detach(), wrong, atol=1e-5) and not torch.allclose(wrong, cont_ll):
        raise AssertionError("cont_ll scores `terminated` itself: the discount head predicts that the episode "
                             "goes on, so its target is 1 - terminated.")
    assert_close(out["cont_ll"], cont_ll, step="3.12", what="cont_ll (Bernoulli, target 1 - terminated)", atol=1e-4)
    want = cfg.kl_scale * kl_loss - obs_ll - reward_ll - cfg.discount_scale * cont_ll
    assert_close(out["loss"], want, step="3.12", atol=1e-4,
                 what="loss = kl_scale * balanced KL - obs_ll - reward_ll - discount_scale * cont_ll "
                      "(kl_scale 0.3 and discount_scale 7 here)")


@pytest.mark.todo("3.12")
def test_world_model_loss_falls_when_overfitting_one_batch(agent_mod, small_cfg):
    _, mine = agents(agent_mod, small_cfg)
    data = batch(seed=3)
    opt = torch.optim.Adam(mine.wm.parameters(), lr=3e-3)
    first = None
    with seeded(4):
        for _ in range(60):
            loss = mine.wm.loss(data)["loss"]
            first = loss.item() if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert_true(loss.item() < first - 1.0, f"60 Adam steps on one batch took the world-model loss from {first:.2f} "
                f"to {loss.item():.2f}; it should fall (is every term connected to the model's parameters?)",
                step="3.12")


# ---------------------------------------------------------------- 3.13 behaviour update
def fake_trajectory(agent, n: int, horizon: int, seed: int = 5):
    """A fixed imagined trajectory (N, H+1, F) and one-hot actions, in place of imagine()."""
    with seeded(seed):
        feats = torch.randn(n, horizon + 1, agent.wm.feat_dim)
        actions = torch.eye(A)[torch.randint(0, A, (n, horizon + 1))]
    actions[:, 0] = 0.0
    return feats, actions


def expected_losses(agent, feats, actions, terminated, cfg):
    """The actor and critic losses of the update, worked out from the chapter's definitions."""
    utils, ac = reference("paper3_dreamerv2.utils"), reference("paper3_dreamerv2.actor_critic")
    with torch.no_grad():
        reward = agent.wm.reward(feats)
        disc = cfg.discount * torch.sigmoid(agent.wm.discount(feats))
        disc[:, 0] = cfg.discount * (1 - terminated.reshape(-1))
        value = agent.target_critic(feats)
        ret = utils.lambda_return(reward[:, :-1], value[:, :-1], disc[:, :-1], value[:, -1], cfg.lam)
        w = utils.discount_weights(disc)
        logits = agent.actor(feats[:, :-2])
        a_loss = ac.actor_loss(ac.log_prob(logits, actions[:, 1:-1]), ac.entropy(logits), ret[:, 1:], value[:, :-2],
                               w[:, :-2], cfg.actor_grad_mix, cfg.actor_entropy)
        c_loss = ac.critic_loss(agent.critic(feats[:, :-1]), ret, w[:, :-1])
    return a_loss, c_loss, ret.mean()


@pytest.mark.todo("3.13")
def test_update_behavior_losses_by_hand(agent_mod, small_cfg, monkeypatch):
    """imagine() is replaced by a fixed trajectory; the target critic differs from the critic; some starts are
    terminal; the discount head predicts endings: the losses must follow the chapter's definitions."""
    cfg = dataclasses.replace(small_cfg, actor_entropy=0.05)
    _, mine = agents(agent_mod, cfg)
    with torch.no_grad(), seeded(6):
        for p in mine.target_critic.parameters():
            p.add_(torch.randn_like(p))  # a target critic that lags behind
        mine.wm.discount.net[-1].bias.fill_(-0.5)  # P(goes on) ~ 0.4: imagined episodes end
    mine.updates = 1  # not a copy step
    feats, actions = fake_trajectory(mine, 6, cfg.horizon)
    monkeypatch.setattr(agent_mod, "imagine", lambda *args, **kw: (feats, actions))
    terminated = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    post = {"deter": torch.zeros(2, 3, cfg.deter)}
    want_a, want_c, want_ret = expected_losses(mine, feats, actions, terminated, cfg)
    metrics = mine.update_behavior(post, terminated)
    for key in ("actor_loss", "critic_loss", "imag_return"):
        assert_true(key in metrics, f"update_behavior must return a dict with {key!r}.", step="3.13")
    assert_close(metrics["imag_return"], float(want_ret), step="3.13", atol=1e-4,
                 what="imag_return, the mean lambda-return (returns from the *target* critic's values, discounts "
                      "gamma * sigmoid(discount head), the start's gamma * (1 - terminated))")
    assert_close(metrics["actor_loss"], float(want_a), step="3.13", atol=1e-4,
                 what="actor_loss (the policy at states 0..H-2, the actions that followed them, returns[:, 1:], the "
                      "target critic's values as baseline, weights[:, :-2])")
    assert_close(metrics["critic_loss"], float(want_c), step="3.13", atol=1e-4,
                 what="critic_loss (the critic at states 0..H-1 against all H returns, weights[:, :-1])")


@pytest.mark.todo("3.13")
def test_update_behavior_steps_only_actor_and_critic(agent_mod, small_cfg):
    _, mine = agents(agent_mod, small_cfg)
    data = batch(seed=7)
    _, post = mine.update_world_model(data)
    snap = {name: [p.detach().clone() for p in getattr(mine, name).parameters()]
            for name in ("wm", "actor", "critic", "target_critic")}
    mine.updates = 1
    mine.update_behavior(post, data["terminated"])
    changed = {name: any(not torch.equal(a, b)
                         for a, b in zip(snap[name], getattr(mine, name).parameters(), strict=True))
               for name in snap}
    assert_true(not changed["wm"], "update_behavior changed the world model: only its own loss may (step the actor "
                "and critic optimisers only).", step="3.13")
    assert_true(changed["actor"] and changed["critic"], "update_behavior must take one step of the actor and one "
                f"of the critic (changed: {changed}).", step="3.13")
    assert_true(not changed["target_critic"], "the target critic changed at update 1: it is only copied every "
                "target_every updates (update_target).", step="3.13")
    mine.updates = 2 * small_cfg.target_every
    before = [v.clone() for v in mine.critic.state_dict().values()]
    mine.update_behavior(post, data["terminated"])
    slow = list(mine.target_critic.state_dict().values())
    same = any(all(torch.equal(a, b) for a, b in zip(critic, slow, strict=True))
               for critic in (before, list(mine.critic.state_dict().values())))
    assert_true(same, f"at update {mine.updates - 1} (a multiple of target_every) the target critic must be copied "
                "from the critic: call update_target with the agent's update count.", step="3.13")
