"""Graded tests for the world-model loss and the behaviour update (guide, chapter 2, steps 2.8, 2.13).

    pytest paper2_dreamerv1 --todo 2.8
    pytest paper2_dreamerv1 --todo 2.13

Here your agent.py runs with the *reference* RSSM, networks and actor-critic functions (the test swaps
them in), so a mistake in an earlier step does not fail these steps too.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from common.grading import (
    assert_close,
    assert_finite,
    assert_shape,
    assert_true,
    copy_weights,
    reference,
    seeded,
    target,
    wired,
)

AGENT = "paper2_dreamerv1.agent"
SIBLINGS = ("rssm", "networks", "actor_critic", "buffer")


@pytest.fixture
def agent_mod(monkeypatch):
    """Your agent module, wired to the reference's RSSM, networks, actor_critic and buffer."""
    return wired(monkeypatch, AGENT, SIBLINGS)


def batch(b: int = 3, t: int = 5, obs_shape=(3,), seed: int = 1) -> dict[str, torch.Tensor]:
    with seeded(seed):
        obs = torch.rand(b, t, *obs_shape) - 0.5
        out = {"obs": obs, "action": torch.rand(b, t, 1) * 2 - 1, "reward": torch.randn(b, t),
               "is_first": torch.zeros(b, t)}
    out["is_first"][:, 0] = 1.0
    out["is_first"][0, min(3, t - 1)] = 1.0
    out["action"][out["is_first"] > 0] = 0.0
    return out


def wm_pair(agent_mod, cfg, obs_shape=(3,)):
    with seeded(0):
        ref_wm = reference(AGENT).WorldModel(obs_shape, 1, cfg)
    wm = agent_mod.WorldModel(obs_shape, 1, cfg)
    copy_weights(ref_wm, wm)
    return ref_wm, wm


# ---------------------------------------------------------------- 2.8 the world-model loss
@pytest.mark.todo("2.8")
def test_world_model_loss_matches_reference(agent_mod, small_cfg, no_noise):
    ref_wm, wm = wm_pair(agent_mod, small_cfg)
    data = batch()
    out = wm.loss(data)
    assert_true(isinstance(out, dict) and {"loss", "obs_ll", "reward_ll", "kl", "post"} <= set(out),
                "WorldModel.loss must return a dict with loss, obs_ll, reward_ll, kl and post.", step="2.8")
    expected = ref_wm.loss(data)
    for key in ("obs_ll", "reward_ll", "kl", "loss"):
        assert_close(out[key], expected[key], step="2.8", atol=1e-4, what=f"WorldModel.loss(batch)[{key!r}]")
    assert_shape(out["post"]["stoch"], (3, 5, small_cfg.stoch), step="2.8",
                 what="loss(batch)['post']['stoch']: the posterior states of the whole batch (B, T, S)")


@pytest.mark.todo("2.8")
def test_world_model_loss_combines_its_terms(agent_mod, small_cfg, no_noise):
    for free_nats in (0.0, 1e6):
        cfg = dataclasses.replace(small_cfg, free_nats=free_nats, kl_scale=0.5)
        _, wm = wm_pair(agent_mod, cfg)
        out = wm.loss(batch())
        kl_term = max(out["kl"].item(), free_nats)
        expected = 0.5 * kl_term - out["obs_ll"].item() - out["reward_ll"].item()
        tol = 1e-3 * max(1.0, abs(expected)) if free_nats else 1e-4
        assert_close(out["loss"], expected, step="2.8", atol=tol,
                     what=f"loss with free_nats={free_nats:g}, kl_scale=0.5: kl_scale * max(kl, free_nats) - "
                          "obs_ll - reward_ll (log-likelihoods are maximised, so they enter with a minus)")
    assert_true(out["obs_ll"].item() < 0 and out["reward_ll"].item() < 0, "obs_ll and reward_ll are "
                "log-likelihoods of unit-variance Gaussians: negative for an untrained model.", step="2.8")


@pytest.mark.todo("2.8")
def test_world_model_loss_terms_by_hand(agent_mod, small_cfg, no_noise):
    """Each term recomputed from the model's own parts: the posterior of observe(encoder(obs)), its features
    read by the decoder and the reward head; log N(x; mean, 1) = -(x - mean)^2 / 2 - log(2 pi) / 2 summed over
    one observation's numbers (all C * H * W of an image), averaged over B * T."""
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    for obs_shape, data in (((3,), batch()), ((64, 64, 3), batch(2, 3, obs_shape=(3, 64, 64)))):
        cfg = dataclasses.replace(small_cfg, kl_scale=0.5, free_nats=0.0)
        _, wm = wm_pair(agent_mod, cfg, obs_shape)
        out = wm.loss(data)
        with torch.no_grad():
            post, prior = wm.rssm.observe(wm.encoder(data["obs"]), data["action"], data["is_first"])
            feat = wm.rssm.feat(post)
            per_number = -0.5 * (data["obs"] - wm.decoder(feat)).pow(2) - half_log_2pi
            obs_ll = per_number.flatten(2).sum(-1).mean()
            reward_ll = (-0.5 * (data["reward"] - wm.reward(feat)).pow(2) - half_log_2pi).mean()
            kl = torch.distributions.kl_divergence(torch.distributions.Normal(post["mean"], post["std"]),
                                                   torch.distributions.Normal(prior["mean"], prior["std"]))
            kl = kl.sum(-1).mean()
        kind = "images (sum over C, H and W: event dims = 3)" if len(obs_shape) == 3 else "state vectors"
        assert_close(out["obs_ll"], obs_ll, step="2.8", atol=1e-3, rtol=1e-4,
                     what=f"obs_ll for {kind}: the decoder reads the *posterior* features, the log-likelihood "
                          "sums over one observation's numbers and averages over B and T")
        assert_close(out["reward_ll"], reward_ll, step="2.8", atol=1e-4,
                     what="reward_ll: log N(r; reward_head(posterior features), 1), averaged over B and T")
        assert_close(out["kl"], kl, step="2.8", atol=1e-4, what="kl: KL(posterior || prior), the raw mean")
        assert_close(out["loss"], 0.5 * kl - obs_ll - reward_ll, step="2.8", atol=2e-3, rtol=1e-4,
                     what="the loss with kl_scale = 0.5, free_nats = 0")
    cfg = dataclasses.replace(small_cfg, kl_scale=0.5, free_nats=1e6)
    _, wm = wm_pair(agent_mod, cfg)
    out = wm.loss(batch())
    assert_close(out["loss"], 0.5 * 1e6 - out["obs_ll"].item() - out["reward_ll"].item(), step="2.8", atol=1.0,
                 what="the loss with free_nats = 1e6 (the KL term is kl_scale * max(kl, free_nats): use the "
                      "clipped KL of kl_loss in the loss, the raw one only in the metrics)")


@pytest.mark.todo("2.8")
def test_world_model_loss_images_sum_over_pixels(agent_mod, small_cfg, no_noise):
    ref_wm, wm = wm_pair(agent_mod, small_cfg, obs_shape=(64, 64, 3))
    data = batch(2, 3, obs_shape=(3, 64, 64))
    out = wm.loss(data)
    assert_close(out["obs_ll"], ref_wm.loss(data)["obs_ll"], step="2.8", atol=1e-2, rtol=1e-4,
                 what="obs_ll for 64x64x3 images (summed over C, H, W: event_dims = 3, then averaged over "
                      "B, T)")


@pytest.mark.todo("2.8")
def test_world_model_loss_falls_when_overfitting_one_batch(agent_mod, small_cfg):
    _, wm = wm_pair(agent_mod, dataclasses.replace(small_cfg, free_nats=0.0))
    opt = torch.optim.Adam(wm.parameters(), lr=1e-2)
    data = batch()
    with seeded(2):
        first = wm.loss(data)["loss"].item()
        for _ in range(15):
            loss = wm.loss(data)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert_finite(loss, step="2.8", what="the loss after 15 Adam steps")
    assert_true(loss.item() < first - 0.2, "15 Adam steps on one batch should lower the loss clearly; it "
                                           "went "
                f"from {first:.3f} to {loss.item():.3f}. Is every term connected to the model's parameters?",
                step="2.8")


# ---------------------------------------------------------------- 2.13 the behaviour update
def dreamer_pair(agent_mod, cfg):
    with seeded(0):
        ref = reference(AGENT).Dreamer((3,), 1, cfg)
    mine = agent_mod.Dreamer((3,), 1, cfg)
    for part in ("wm", "actor", "value"):
        copy_weights(getattr(ref, part), getattr(mine, part))
    with seeded(3):
        post = {k: v.detach() for k, v in ref.wm.loss(batch())["post"].items()}
    return ref, mine, post


def params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(b, p.detach()) for b, p in zip(before, module.parameters(), strict=True))


@pytest.mark.todo("2.13")
def test_update_behavior_matches_reference(agent_mod, small_cfg):
    ref, mine, post = dreamer_pair(agent_mod, small_cfg)
    with seeded(4):
        metrics = mine.update_behavior(post)
    with seeded(4):
        ref.update_behavior(post)
    assert_true(isinstance(metrics, dict) and "actor_loss" in metrics and "critic_loss" in metrics,
                "update_behavior must return a dict of metrics with actor_loss and critic_loss (the value "
                "model's loss, under the course's shared metric name).", step="2.13")
    for part in ("actor", "value"):
        for (name, p), q in zip(getattr(mine, part).named_parameters(), getattr(ref, part).parameters(),
                                strict=True):
            assert_close(p, q, step="2.13", atol=1e-5, what=f"{part}.{name} after one update_behavior (same "
                         "seed as the reference: imagine first, then the actor step, then the value step)")


@pytest.mark.todo("2.13")
def test_update_behavior_steps_only_actor_and_value(agent_mod, small_cfg):
    _, mine, post = dreamer_pair(agent_mod, small_cfg)
    wm, actor, value = params(mine.wm), params(mine.actor), params(mine.value)
    with seeded(5):
        mine.update_behavior(post)
    assert_true(not changed(wm, mine.wm), "update_behavior changed the world model: only the actor's and the "
                "value's optimisers may step, and each only its own model's parameters (the actor loss's "
                "gradients reach the world model through imagination, but they are never "
                "applied).", step="2.13")
    assert_true(changed(actor, mine.actor), "update_behavior left the actor unchanged: step self.actor_opt.",
                step="2.13")
    assert_true(changed(value, mine.value), "update_behavior left the value model unchanged: step "
                "self.value_opt.", step="2.13")


@pytest.mark.todo("2.13")
def test_update_behavior_computes_only_the_gradients_it_uses(agent_mod, small_cfg):
    """The actor loss reaches the world model and the value model through imagination, but only the actor's
    gradients are applied: backpropagating into the others' parameters is work thrown away (issue 9 §5)."""
    _, mine, post = dreamer_pair(agent_mod, small_cfg)
    for p in mine.wm.parameters():
        p.grad = None
    with seeded(5):
        mine.update_behavior(post)
    filled = [name for name, p in mine.wm.named_parameters() if p.grad is not None]
    assert_true(not filled, f"update_behavior filled the world model's gradients ({', '.join(filled[:3])}, ...): "
                "backpropagate each loss into its own model's parameters only, e.g. "
                "loss.backward(inputs=list(model.parameters())) (§2.13).", step="2.13")


@pytest.mark.todo("2.13")
def test_update_behavior_clips_each_models_gradient(agent_mod, small_cfg, monkeypatch):
    _, mine, post = dreamer_pair(agent_mod, small_cfg)
    calls: list[tuple[set[int], float]] = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        parameters = list(parameters)
        calls.append(({id(p) for p in parameters}, float(max_norm)))
        return original(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    with seeded(6):
        mine.update_behavior(post)
    for name, module in (("actor", mine.actor), ("value", mine.value)):
        ids = {id(p) for p in module.parameters()}
        assert_true(any(c[0] == ids and c[1] == small_cfg.grad_clip for c in calls),
                    f"clip the {name}'s gradient norm with "
                    f"torch.nn.utils.clip_grad_norm_(self.{name}.parameters(), "
                    f"cfg.grad_clip) before its optimiser's step.", step="2.13")


@pytest.mark.todo("2.13")
def test_update_behavior_entropy_bonus(agent_mod, small_cfg):
    cfg = dataclasses.replace(small_cfg, actor_entropy=1.0)
    ref, mine, post = dreamer_pair(agent_mod, cfg)
    _, plain, _ = dreamer_pair(agent_mod, small_cfg)
    with seeded(7):
        mine.update_behavior(post)
    with seeded(7):
        ref.update_behavior(post)
    with seeded(7):
        plain.update_behavior(post)
    for (name, p), q in zip(mine.actor.named_parameters(), ref.actor.parameters(), strict=True):
        assert_close(p, q, step="2.13", atol=1e-5, what=f"actor.{name} after update_behavior with "
                                                        "actor_entropy=1 "
                     "(subtract actor_entropy * self.actor.entropy(feats[:, :-1].detach()).mean() from the "
                     "actor "
                     "loss, right after actor_loss)")
    assert_true(changed(params(plain.actor), mine.actor), "with cfg.actor_entropy = 1 the actor must move "
                "differently than without it: the entropy bonus is missing from the actor loss.", step="2.13")


@pytest.mark.todo("2.13")
def test_update_behavior_losses_by_hand(agent_mod, small_cfg, no_noise, monkeypatch):
    """With a deterministic actor and prior (no noise) the imagined rollout is fixed, so the losses are
    known: returns V_lambda from the reward head and the value model with pcont = discount, weights
    discount^t, actor_loss = -mean(w * V_lambda) - actor_entropy * entropy, critic_loss = -mean(w * log N)."""
    cfg = dataclasses.replace(small_cfg, actor_entropy=0.5)
    _, mine, post = dreamer_pair(agent_mod, cfg)
    monkeypatch.setattr(mine.actor, "sample", lambda feat, eps=None: mine.actor.mode(feat))
    monkeypatch.setattr(mine.actor, "entropy", lambda feat: torch.full(feat.shape[:-1], 2.0))  # a known entropy
    g, lam, H = cfg.discount, cfg.lam, cfg.horizon
    with torch.no_grad():
        feats = reference("paper2_dreamerv1.actor_critic").imagine_ahead(mine.wm.rssm, mine.actor, post, H)
        reward, value = mine.wm.reward(feats), mine.value(feats)  # (N, H)
        last, returns = value[:, -1], []
        for t in reversed(range(H - 1)):
            last = reward[:, t] + g * ((1 - lam) * value[:, t + 1] + lam * last)
            returns.insert(0, last)
        returns = torch.stack(returns, 1)  # (N, H-1)
        w = g ** torch.arange(H - 1.0)
        want = {"actor_loss": -(w * returns).mean() - 0.5 * 2.0,
                "critic_loss": (w * (0.5 * (returns - value[:, :-1]).pow(2) + 0.5 * math.log(2 * math.pi))).mean(),
                "imag_return": returns.mean()}
    metrics = mine.update_behavior(post)
    hints = {"actor_loss": "-mean(discount_weights * returns) - actor_entropy * entropy: the entropy bonus is "
                           "subtracted, the weights are discount_weights(pcont), pcont = cfg.discount everywhere",
             "critic_loss": "value_loss of the value model on the first H-1 features, weighted by "
                            "discount_weights",
             "imag_return": "the mean of the lambda-returns (pcont = cfg.discount at every step, bootstrapped "
                            "by the last value)"}
    for key, value_ in want.items():
        assert_true(key in metrics, f"update_behavior's metrics must hold {key!r}; got {sorted(metrics)}.",
                    step="2.13")
        assert_close(metrics[key], float(value_), step="2.13", atol=1e-4, rtol=1e-4,
                     what=f"metrics[{key!r}] on a deterministic rollout ({hints[key]})")
