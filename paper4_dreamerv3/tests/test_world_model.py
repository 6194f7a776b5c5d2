"""Graded tests for the world model: unimix latents, the RSSM's steps, filtering, the KL losses with free bits
and the world-model loss (guide, chapter 4, steps 4.4-4.8).

    pytest paper4_dreamerv3 --todo 4.7

Each step is compared with the reference (weights copied, samples replaced by the most likely class where
results are compared) and checked against facts that hold for any correct implementation. A step runs with
the reference's version of the other steps of world_model.py and of symlog.py, so one mistake fails one line.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from common.grading import assert_close, assert_shape, assert_true, copy_weights, reference, seeded, target

from .conftest import borrow, wired

WM = "paper4_dreamerv3.world_model"
A, E, S, K, D, H = 2, 6, 3, 4, 12, 10  # action, embed, variables, classes, deter, hidden sizes
MIX = 0.01


def is_onehot(x: torch.Tensor) -> bool:
    """Entries 0 or 1 (up to float rounding: 1 + p - p may be 0.99999994) and one 1 per variable."""
    near = x.round()
    return bool((x - near).abs().max() < 1e-5 and ((near == 0) | (near == 1)).all() and (near.sum(-1) == 1).all())


def kl_by_hand(post: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """(..., S, K) logits -> (...): the KL of S independent categoricals, with torch.distributions."""
    q = torch.distributions.Categorical(logits=post)
    p = torch.distributions.Categorical(logits=prior)
    return torch.distributions.kl_divergence(q, p).sum(-1)


# ---------------------------------------------------------------- 4.4 unimix and straight-through samples
@pytest.mark.todo("4.4")
def test_unimix_mixes_the_probabilities():
    f = target(WM).unimix_logits
    with seeded(0):
        logits = torch.randn(3, 2, 5) * 3
    for mix in (0.01, 0.2):
        out = f(logits, mix)
        assert_shape(out, (3, 2, 5), step="4.4", what=f"unimix_logits(logits (3, 2, 5), {mix})")
        want = (1 - mix) * logits.softmax(-1) + mix / 5
        wrong = ((1 - mix) * logits + mix / 5).softmax(-1)
        if torch.allclose(out.exp(), wrong, atol=1e-6) or torch.allclose(out.softmax(-1), wrong, atol=1e-6):
            raise AssertionError("unimix mixed the logits, not the probabilities: the mixture is "
                                 "(1 - mix) * softmax(logits) + mix / K, and its log is returned.")
        assert_close(out.logsumexp(-1), torch.zeros(3, 2), step="4.4", atol=1e-5,
                     what=f"logsumexp of unimix_logits(..., {mix}) over the classes (the log of a mixture of two "
                          "distributions is normalised: 0; is (1 - mix) missing on the softmax, or mix not divided "
                          "by K, the last axis's size?)")
        assert_close(out.exp(), want, step="4.4", what=f"exp(unimix_logits(logits, {mix})) = (1 - mix) * softmax + "
                     "mix / K, K = 5 classes on the last axis")
    assert_close(f(logits, 0.0).softmax(-1), logits.softmax(-1), step="4.4",
                 what="softmax(unimix_logits(logits, 0)) (no mixture: the same distribution)")
    assert_close(f(logits, MIX), reference(WM).unimix_logits(logits, MIX), step="4.4", what="unimix_logits")


@pytest.mark.todo("4.4")
def test_unimix_keeps_every_class_above_one_percent_over_k():
    logits = torch.tensor([[60.0, 0.0, -60.0, -200.0], [0.0, 0.0, 0.0, 0.0]])
    out = target(WM).unimix_logits(logits, MIX)
    probs = out.softmax(-1)
    assert_true(bool(torch.isfinite(out).all()), "unimix_logits returned an infinite logit: the mixture has no zero "
                "probability, so its log is finite.", step="4.4")
    low = float(probs.min())
    assert_true(low >= MIX / 4 * (1 - 1e-4), f"a class got probability {low:.3g} from logits [60, 0, -60, -200]: with "
                f"1 % unimix every class keeps at least 0.01 / K = {MIX / 4:.4g}.", step="4.4")
    assert_close(probs[0], torch.tensor([0.99 + 0.0025, 0.0025, 0.0025, 0.0025]), step="4.4", atol=1e-5,
                 what="unimixed probabilities of logits [60, 0, -60, -200] (0.99 * one-hot + 0.0025)")
    assert_close(probs[1], torch.full((4,), 0.25), step="4.4", what="unimixed probabilities of uniform logits")


@pytest.mark.todo("4.4")
def test_onehot_sample_values_are_onehot_draws():
    with seeded(0):
        logits = torch.randn(50, S, K) * 2
    f = target(WM).onehot_sample
    with seeded(1):
        drawn = f(logits)
    assert_shape(drawn, (50, S, K), step="4.4", what="onehot_sample(logits (50, 3, 4))")
    assert_true(is_onehot(drawn.detach()), "the forward value must be exactly one-hot: entries 0 or 1 and one 1 "
                "per variable. If it is one-hot plus the probabilities, the stop-gradient is missing on the "
                "subtracted term (sample + p - sg(p)).", step="4.4")
    mode = f(logits, sample=False)
    assert_true(is_onehot(mode.detach()) and bool((mode.argmax(-1) == logits.argmax(-1)).all()),
                "onehot_sample(logits, sample=False) must be the one-hot of the most likely class.", step="4.4")
    assert_close(mode, reference(WM).onehot_sample(logits, sample=False), step="4.4", what="the mode")


@pytest.mark.todo("4.4")
def test_onehot_sample_follows_the_probabilities():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    logits = probs.log().expand(20000, K)
    with seeded(2):
        freq = target(WM).onehot_sample(logits).detach().mean(0)
    err = (freq - probs).abs().max().item()
    assert_true(err < 0.02, f"20000 draws from probabilities {probs.tolist()} came out with frequencies "
                f"{[round(v, 3) for v in freq.tolist()]}; a draw must follow softmax(logits).", step="4.4")


@pytest.mark.todo("4.4")
def test_onehot_sample_gradient_is_that_of_the_probabilities():
    """Straight-through: d sum(w * sample) / d logits == d sum(w * softmax(logits)) / d logits."""
    with seeded(3):
        logits, w = torch.randn(6, S, K), torch.randn(6, S, K)
    for sample in (True, False):
        x = logits.clone().requires_grad_(True)
        with seeded(4):
            out = target(WM).onehot_sample(x, sample)
        assert_true(out.requires_grad, "the one-hot sample carries no gradient: add p - sg(p), with p the "
                    "class probabilities, so the backward pass sees p.", step="4.4")
        (grad,) = torch.autograd.grad((w * out).sum(), x)
        y = logits.clone().requires_grad_(True)
        (want,) = torch.autograd.grad((w * y.softmax(-1)).sum(), y)
        if torch.allclose(grad, -want, atol=1e-6):
            raise AssertionError("the gradient has the wrong sign: the stop-gradient must be on the "
                                 "subtracted probabilities, sample + p - sg(p).")
        assert_close(grad, want, step="4.4", what=f"gradient of sum(w * onehot_sample(logits, {sample}))")


# ---------------------------------------------------------------- 4.5 prior and posterior steps
def rssm_pair(step: str = "4.5"):
    with seeded(0):
        ref = reference(WM).RSSM(A, E, S, K, D, H, MIX)
    return ref, copy_weights(ref, target(WM).RSSM(A, E, S, K, D, H, MIX), step=step)


def random_state(batch: int, seed: int = 1) -> dict[str, torch.Tensor]:
    with seeded(seed):
        logits = torch.randn(batch, S, K)
        stoch = F.one_hot(logits.argmax(-1), K).float()
        return {"logits": logits, "stoch": stoch, "deter": torch.randn(batch, D)}


def compare(got: dict, want: dict, step: str, what: str) -> None:
    assert_true(isinstance(got, dict) and set(want) <= set(got),
                f"{what} must be a dict with keys logits, stoch, deter; got {type(got).__name__} "
                f"{sorted(got) if isinstance(got, dict) else ''}", step=step)
    for k in want:
        assert_close(got[k], want[k], step=step, what=f"{what}[{k!r}]")


@pytest.fixture
def wm_mod(monkeypatch):
    """Your world_model.py with the reference's symlog.py and the reference's 4.4 (unimix, samples)."""
    wired(monkeypatch, WM, ("symlog",))
    return borrow(monkeypatch, WM, ("unimix_logits", "onehot_sample", "categorical_kl"))


@pytest.mark.todo("4.5")
def test_img_step_matches_reference(no_noise, wm_mod):
    ref, tgt = rssm_pair()
    state, action = random_state(4), torch.randn(4, A) * 2
    out = tgt.img_step(state, action)
    assert_shape(out["logits"], (4, S, K), step="4.5", what="prior logits")
    compare(out, ref.img_step(state, action), "4.5", "img_step(...)")


@pytest.mark.todo("4.5")
def test_obs_step_matches_reference(no_noise, wm_mod):
    ref, tgt = rssm_pair()
    state, action = random_state(4), torch.randn(4, A)
    embed = torch.randn(4, E)
    post, prior = tgt.obs_step(state, action, embed)
    want_post, want_prior = ref.obs_step(state, action, embed)
    compare(prior, want_prior, "4.5", "the prior of obs_step")
    compare(post, want_post, "4.5", "the posterior of obs_step")


def sharpen(rssm) -> None:
    """Make both logit layers confident, so that without unimix some classes would get probability ~0."""
    with torch.no_grad():
        for layer in (rssm.img_logits, rssm.obs_logits):
            layer.weight.mul_(300.0)


@pytest.mark.todo("4.5")
def test_steps_by_hand(wm_mod):
    """Each output recomputed from the RSSM's own layers: h_t = GRU(img_in([z, a]), h), prior logits =
    log((1 - mix) softmax(img_logits(img_out(h_t))) + mix / K), posterior logits from obs_out([h_t, e_t])."""
    _, rssm = rssm_pair()
    sharpen(rssm)
    state, action = random_state(5, seed=8), torch.tensor([[0.5, -0.2], [0.0, 1.0]] * 2 + [[0.3, 0.3]])
    with seeded(9):
        embed = torch.randn(5, E) * 2
    mix = lambda raw: torch.log((1 - MIX) * raw.unflatten(-1, (S, K)).softmax(-1) + MIX / K)
    with torch.no_grad():
        deter = rssm.cell(rssm.img_in(torch.cat([state["stoch"].flatten(-2), action], -1)), state["deter"])
        prior_logits = mix(rssm.img_logits(rssm.img_out(deter)))
        post_logits = mix(rssm.obs_logits(rssm.obs_out(torch.cat([deter, embed], -1))))
    post, prior = rssm.obs_step(state, action, embed, sample=False)
    assert_close(prior["deter"], deter, step="4.5", atol=1e-5,
                 what="the prior's deter: h_t = cell(img_in(concat(flatten(z_{t-1}), a_{t-1})), h_{t-1})")
    assert_close(post["deter"], deter, step="4.5", what="the posterior's deter (it shares the prior's new h_t)")
    low = float(min(prior["logits"].detach().softmax(-1).min(), post["logits"].detach().softmax(-1).min()))
    assert_true(low >= MIX / K * (1 - 1e-3), f"with confident logit layers a class got probability {low:.3g}: the "
                "prior's and the posterior's logits must be unimixed (use the RSSM's `logits` method), so every "
                f"class keeps at least 0.01 / K = {MIX / K:.4g}.", step="4.5")
    assert_close(prior["logits"].softmax(-1), prior_logits.softmax(-1), step="4.5", atol=1e-5,
                 what="the prior's probabilities: unimix of img_logits(img_out(h_t)), (B, S, K); the prior never "
                      "sees the observation")
    assert_close(post["logits"].softmax(-1), post_logits.softmax(-1), step="4.5", atol=1e-5,
                 what="the posterior's probabilities: unimix of obs_logits(obs_out(concat(h_t, e_t)))")
    for name, s in (("prior", prior), ("posterior", post)):
        assert_true(is_onehot(s["stoch"].detach()) and bool((s["stoch"].argmax(-1) == s["logits"].argmax(-1)).all()),
                    f"with sample=False the {name}'s stoch must be the one-hot of its most likely classes.",
                    step="4.5")
    assert_shape(rssm.feat(post), (5, S * K + D), step="4.5", what="feat(posterior)")


@pytest.mark.todo("4.5")
def test_steps_sample_with_straight_through_gradients(wm_mod):
    _, rssm = rssm_pair()
    state, action = random_state(400, seed=10), torch.zeros(400, A)
    embed = torch.zeros(400, E)
    with seeded(11):
        post, prior = rssm.obs_step(state, action, embed)
    for name, s in (("prior", prior), ("posterior", post)):
        assert_true(is_onehot(s["stoch"].detach()), f"the {name}'s stoch must be one-hot.", step="4.5")
        moved = float((s["stoch"].argmax(-1) != s["logits"].argmax(-1)).float().mean())
        assert_true(moved > 0.1, f"with sample=True only {moved:.0%} of the {name}'s latents differ from the most "
                    "likely class: the step must draw a sample (onehot_sample(logits, sample)), not take the mode.",
                    step="4.5")
        assert_true(s["stoch"].requires_grad, f"the {name}'s stoch carries no gradient: sample it with "
                    "straight-through gradients (onehot_sample).", step="4.5")
    with seeded(12):
        post, prior = rssm.obs_step(state, action, embed, sample=False)
    for name, s in (("prior", prior), ("posterior", post)):
        mode = bool((s["stoch"].argmax(-1) == s["logits"].argmax(-1)).all())
        assert_true(mode, f"with sample=False the {name}'s stoch of 400 states is not always the most likely class: "
                    "pass `sample` on to onehot_sample in both steps.", step="4.5")


@pytest.mark.todo("4.5")
def test_img_step_scales_large_actions_with_a_gradient_free_factor(wm_mod):
    """a / max(1, |a|) per entry, the factor without a gradient: [3, 0.5] acts as [1, 0.5], and its gradient is
    the one at [1, 0.5] times [1/3, 1]."""
    _, rssm = rssm_pair()
    state = random_state(1, seed=12)
    with seeded(13):
        w = torch.randn(1, D)
    big = torch.tensor([[3.0, 0.5]], requires_grad=True)
    unit = torch.tensor([[1.0 - 1e-6, 0.5]], requires_grad=True)  # just inside the bound
    out_big = rssm.img_step(state, big, sample=False)["deter"]
    out_unit = rssm.img_step(state, unit, sample=False)["deter"]
    assert_close(out_big, out_unit, step="4.5", atol=1e-5,
                 what="deter after the action [3, 0.5] vs after [1, 0.5] (each entry is divided by max(1, |a|), so an "
                      "action beyond the bounds acts as its bound)")
    small = rssm.img_step(state, torch.tensor([[0.4, -0.3]]), sample=False)["deter"]
    differ = float((small - out_unit).detach().abs().max())
    assert_true(differ > 1e-4, "the actions [0.4, -0.3] and [1, 0.5] gave the same state: actions inside [-1, 1] "
                "must pass unchanged (divide by max(1, |a|), not by |a|).", step="4.5")
    (g_big,) = torch.autograd.grad((w * out_big).sum(), big)
    (g_unit,) = torch.autograd.grad((w * out_unit).sum(), unit)
    if float(g_big[0, 0].abs()) < 1e-9:
        raise AssertionError("no gradient reaches an action beyond the bounds: clamping (or dividing by |a| with its "
                             "gradient) flattens it. Divide by max(1, |a|) *detached*, a gradient-free factor.")
    assert_close(g_big, g_unit * torch.tensor([[1 / 3, 1.0]]), step="4.5", atol=1e-6,
                 what="d deter / d action at [3, 0.5] (the gradient at [1, 0.5] times the factor [1/3, 1])")


# ---------------------------------------------------------------- 4.6 observe
@pytest.fixture
def rssm_mod(monkeypatch, wm_mod):
    """... and the reference's 4.5 (img_step, obs_step) inside your RSSM."""
    return borrow(monkeypatch, WM, ("img_step", "obs_step"), cls="RSSM")


def sequences(b: int = 3, t: int = 6, seed: int = 7):
    with seeded(seed):
        embed, action = torch.randn(b, t, E), torch.randn(b, t, A)
    is_first = torch.zeros(b, t)
    is_first[:, 0] = 1.0
    is_first[1, 3] = 1.0  # a new episode starts inside the chunk (its stored action is from the old one)
    return embed, action, is_first


def perturb_initial(rssm) -> None:
    with torch.no_grad(), seeded(14):
        rssm.initial_deter.add_(torch.randn(D))  # a learned h_0 that is not tanh(0) = 0


@pytest.mark.todo("4.6")
def test_observe_matches_reference(no_noise, rssm_mod):
    ref, tgt = rssm_pair("4.6")
    perturb_initial(ref)
    perturb_initial(tgt)
    embed, action, is_first = sequences()
    post, prior = tgt.observe(embed, action, is_first)
    want_post, want_prior = ref.observe(embed, action, is_first)
    assert_shape(post["logits"], (3, 6, S, K), step="4.6", what="posterior logits of observe")
    assert_shape(post["deter"], (3, 6, D), step="4.6", what="posterior deter of observe (stack along dim 1)")
    compare(post, want_post, "4.6", "posterior")
    compare(prior, want_prior, "4.6", "prior")


@pytest.mark.todo("4.6")
def test_observe_is_obs_step_in_a_loop(rssm_mod):
    """observe == obs_step from the previous *posterior*, one step at a time (sample=False)."""
    _, rssm = rssm_pair("4.6")
    embed, action, _ = sequences()
    is_first = torch.zeros(3, 6)
    post, prior = rssm.observe(embed, action, is_first, state=random_state(3), sample=False)
    state = random_state(3)
    for t in range(6):
        state, p = rssm.obs_step(state, action[:, t], embed[:, t], sample=False)
        assert_close(post["deter"][:, t], state["deter"], step="4.6",
                     what=f"posterior deter at t={t} (each step starts from the previous posterior)")
        assert_close(post["logits"][:, t], state["logits"], step="4.6", what=f"posterior logits at t={t}")
        assert_close(prior["logits"][:, t], p["logits"], step="4.6", what=f"prior logits at t={t}")


@pytest.mark.todo("4.6")
def test_observe_starts_an_episode_from_the_learned_initial_state(rssm_mod):
    """At is_first the state becomes rssm.initial(B) (not zeros, not the state passed in) and the action zero."""
    _, rssm = rssm_pair("4.6")
    perturb_initial(rssm)
    embed, action, _ = sequences()
    is_first = torch.zeros(3, 6)
    is_first[:, 0] = 1.0
    post, prior = rssm.observe(embed, action, is_first, state=random_state(3), sample=False)
    want_post, want_prior = rssm.obs_step(rssm.initial(3), torch.zeros(3, A), embed[:, 0], sample=False)
    zeros = {"logits": torch.zeros(3, S, K), "stoch": torch.zeros(3, S, K), "deter": torch.zeros(3, D)}
    from_zeros = rssm.obs_step(zeros, torch.zeros(3, A), embed[:, 0], sample=False)[0]
    if torch.allclose(post["deter"][:, 0], from_zeros["deter"], atol=1e-5):
        raise AssertionError("at an episode start the state was reset to zeros: DreamerV3 learns its initial state, "
                             "use the RSSM's `initial(batch)` method (h_0 = tanh(w), z_0 its prior's mode).")
    assert_close(post["deter"][:, 0], want_post["deter"], step="4.6",
                 what="deter at t=0 with is_first = 1 (one obs_step from rssm.initial(B) with a zero action, "
                      "whatever state was passed in)")
    assert_close(post["logits"][:, 0], want_post["logits"], step="4.6", what="posterior logits at t=0")
    assert_close(prior["logits"][:, 0], want_prior["logits"], step="4.6", what="prior logits at t=0")


@pytest.mark.todo("4.6")
def test_observe_resets_at_episode_start(rssm_mod):
    """From an episode's first step on, nothing of the earlier episode (state or action) may matter."""
    _, rssm = rssm_pair("4.6")
    perturb_initial(rssm)
    embed, action, is_first = sequences()
    post, _ = rssm.observe(embed, action, is_first, sample=False)
    fresh, _ = rssm.observe(embed[1:2, 3:], action[1:2, 3:], is_first[1:2, 3:], sample=False)
    assert_close(post["deter"][1, 3:], fresh["deter"][0], step="4.6",
                 what="deter after the episode start at t=3 vs the same episode observed on its own (the learned "
                      "initial state and a zero action at the start: the stored action belongs to the old episode)")
    assert_close(post["logits"][1, 3:], fresh["logits"][0], step="4.6", what="posterior logits after the reset")
    alone = rssm.observe(embed[:1], action[:1], is_first[:1], sample=False)[0]
    assert_close(post["deter"][0, 3:], alone["deter"][0, 3:], step="4.6",
                 what="deter of a sequence without a reset (the batch rows are independent)")


# ---------------------------------------------------------------- 4.7 dynamics and representation losses
def between(kl: torch.Tensor) -> float:
    """A free-bits level halfway between two of the KLs: about half the steps under it, none on it."""
    v = kl.flatten().sort().values
    return float(v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def logits_pair(seed: int = 0, b: int = 3, t: int = 4, s: int = 5, k: int = 6, scale: float = 1.0):
    with seeded(seed):
        return torch.randn(b, t, s, k) * 1.5 * scale, torch.randn(b, t, s, k) * scale


@pytest.mark.todo("4.7")
def test_kl_losses_values_are_max_free_of_the_summed_kl():
    post, prior = logits_pair()
    f = target(WM).kl_losses
    kl = kl_by_hand(post, prior)  # (B, T)
    dyn, rep = f(post, prior, 0.0)
    assert_shape(dyn, (3, 4), step="4.7", what="dyn of kl_losses((3, 4, 5, 6) logits) (one per step)")
    assert_shape(rep, (3, 4), step="4.7", what="rep of kl_losses")
    if torch.allclose(dyn, kl / 5, rtol=1e-4):
        raise AssertionError("the KL is averaged over the S latents: sum it over the classes *and* the latents "
                             "(independent variables' KLs add up).")
    if torch.allclose(dyn, kl_by_hand(prior, post), rtol=1e-4):
        raise AssertionError("the KL is reversed: both losses are KL(q || p), posterior first; the stop-gradient "
                             "changes which side learns, not the direction.")
    assert_close(dyn, kl, step="4.7", rtol=1e-4, what="dyn without free bits: KL(q || p) summed over K and S")
    assert_close(rep, kl, step="4.7", rtol=1e-4, what="rep without free bits: the same value as dyn (only the "
                 "gradients differ)")
    free = between(kl)  # some steps under it, some above
    dyn, rep = f(post, prior, free)
    want = kl.clamp(min=free)
    assert_close(dyn, want, step="4.7", rtol=1e-4, what=f"dyn with free = {free:.3f} (half the steps under it): "
                 "max(free, KL) per step, each step on its own (not on the batch mean)")
    assert_close(rep, want, step="4.7", rtol=1e-4, what=f"rep with free = {free:.3f}")
    ref_dyn, ref_rep = reference(WM).kl_losses(post, prior, free)
    assert_close(dyn, ref_dyn, step="4.7", what="dyn of kl_losses")
    assert_close(rep, ref_rep, step="4.7", what="rep of kl_losses")


@pytest.mark.todo("4.7")
def test_free_bits_apply_after_summing_the_latents():
    """Each of the 5 latents' KL is under 1 nat but their sum is over it: max(1, sum) keeps the whole sum, a clip
    per latent would raise each latent to 1 (5 nats in all)."""
    with seeded(1):
        post = torch.zeros(3, 4, 5, 6)
        post[..., 0] = 2.0  # each latent: KL(q || uniform) ~ 0.47 nats
        post = post + 0.1 * torch.randn(3, 4, 5, 6)
        prior = 0.1 * torch.randn(3, 4, 5, 6)
    per_latent = kl_by_hand(post[..., None, :], prior[..., None, :])  # (B, T, S)
    total = per_latent.sum(-1)
    assert per_latent.max() < 1.0 < total.min(), "test set-up: every latent under 1 nat, every sum above it"
    dyn, rep = target(WM).kl_losses(post, prior, 1.0)
    by_latent = per_latent.clamp(min=1.0).sum(-1)
    if torch.allclose(dyn, by_latent, rtol=1e-4):
        raise AssertionError("free bits were applied to each latent before summing: DreamerV3 clips the KL summed "
                             "over all latents, max(1, sum_s KL_s), once per step.")
    assert_close(dyn, total, step="4.7", rtol=1e-4, what="dyn when every latent's KL is < 1 nat but their sum is > 1 "
                 "(max(1, sum) = the sum)")
    assert_close(rep, total, step="4.7", rtol=1e-4, what="rep in the same case")


@pytest.mark.todo("4.7")
def test_kl_losses_gradients_go_to_one_side_each_and_stop_under_free():
    post, prior = logits_pair(2)
    kl = kl_by_hand(post, prior)
    free = between(kl)
    over = (kl > free).float()  # (B, T): the steps whose KL passes the free bits
    f = target(WM).kl_losses
    q, p = post.clone().requires_grad_(True), prior.clone().requires_grad_(True)
    dyn, rep = f(q, p, free)
    assert_true(dyn.requires_grad and rep.requires_grad, "the KL losses carry no gradient.", step="4.7")
    gq_dyn, gp_dyn = torch.autograd.grad(dyn.sum(), (q, p), retain_graph=True, allow_unused=True)
    gq_rep, gp_rep = torch.autograd.grad(rep.sum(), (q, p), allow_unused=True)
    zero = torch.zeros_like(post)
    gq_dyn, gp_dyn, gq_rep, gp_rep = (zero if g is None else g for g in (gq_dyn, gp_dyn, gq_rep, gp_rep))
    q2, p2 = post.clone().requires_grad_(True), prior.clone().requires_grad_(True)
    hq, hp = torch.autograd.grad((kl_by_hand(q2, p2) * over).sum(), (q2, p2))
    if float(gp_dyn.abs().max()) == 0 and float(gp_rep.abs().max()) > 0:
        raise AssertionError("dyn and rep are swapped: dyn = KL(sg(q) || p) trains the prior, rep = KL(q || sg(p)) "
                             "trains the posterior.")
    assert_close(gq_dyn, zero, step="4.7", what="d dyn / d posterior logits (none: the posterior is stopped in dyn)")
    assert_close(gp_rep, zero, step="4.7", what="d rep / d prior logits (none: the prior is stopped in rep)")
    assert_close(gp_dyn, hp, step="4.7", atol=1e-5, what="d dyn / d prior logits (the KL's gradient where the step's "
                 "KL is over `free`, 0 where max(free, KL) = free)")
    assert_close(gq_rep, hq, step="4.7", atol=1e-5, what="d rep / d posterior logits (the KL's gradient where the "
                 "step's KL is over `free`, 0 elsewhere)")


# ---------------------------------------------------------------- 4.8 the world-model loss
@pytest.fixture
def loss_mod(monkeypatch, rssm_mod):
    """... and the reference's 4.6 (observe) and 4.7 (kl_losses)."""
    borrow(monkeypatch, WM, ("observe",), cls="RSSM")
    return borrow(monkeypatch, WM, ("kl_losses",))


def batch(b: int = 3, t: int = 5, obs_dim: int = 4, seed: int = 1) -> dict[str, torch.Tensor]:
    with seeded(seed):
        out = {"obs": torch.randn(b, t, obs_dim) * 20, "action": torch.eye(A)[torch.randint(0, A, (b, t))],
               "reward": torch.randn(b, t) * 30, "terminated": (torch.rand(b, t) < 0.3).float(),
               "is_first": torch.zeros(b, t)}
    out["is_first"][:, 0] = 1.0
    out["action"][:, 0] = 0.0
    return out


def models(cfg, step: str = "4.8"):
    with seeded(0):
        ref = reference(WM).WorldModel((4,), A, cfg)
    mine = copy_weights(ref, target(WM).WorldModel((4,), A, cfg), step=step)
    with torch.no_grad(), seeded(15):  # heads that do not predict 0 everywhere
        for wm in (ref, mine):
            torch.manual_seed(15)
            wm.reward.net[-1].weight.normal_(0, 0.5)
            wm.reward.net[-1].bias.normal_(0, 0.5)
            wm.rssm.obs_logits.weight.mul_(4.0)  # a posterior that differs from the prior
    return ref, mine


@pytest.mark.todo("4.8")
def test_world_model_loss_matches_reference(loss_mod, small_cfg, no_noise):
    ref, mine = models(small_cfg)
    got, want = mine.loss(batch()), ref.loss(batch())
    assert_true(isinstance(got, dict), "WorldModel.loss must return a dict.", step="4.8")
    for key in ("loss", "recon", "reward_loss", "cont_loss", "dyn", "rep", "kl"):
        assert_true(key in got, f"WorldModel.loss must return a dict with {key!r}.", step="4.8")
        assert_close(got[key], want[key], step="4.8", what=f"wm.loss(batch)[{key!r}]", atol=1e-4)
    assert_true("post" in got and isinstance(got["post"], dict), "WorldModel.loss must return the posterior states "
                "under 'post' (the behaviour update imagines from them).", step="4.8")
    compare({k: got["post"][k] for k in want["post"] if k in got["post"]}, want["post"], "4.8", "loss(batch)['post']")


@pytest.mark.todo("4.8")
def test_world_model_loss_terms_by_hand(loss_mod, small_cfg, no_noise):
    """Each term recomputed from the definitions, with dyn_scale 0.3 and rep_scale 0.7 and free bits halfway
    through the KLs, so that some steps are clipped and some are not."""
    _, mine = models(small_cfg)
    data = batch(seed=2)
    with torch.no_grad():
        post, prior = mine.rssm.observe(mine.embed(data["obs"]), data["action"], data["is_first"])
        feat = mine.rssm.feat(post)
        kl = kl_by_hand(post["logits"], prior["logits"])  # (B, T)
        mine.free = between(kl)
        recon = mine.recon_loss(feat, data["obs"])
        raw_recon = (mine.decoder(feat) - data["obs"]).pow(2).sum(-1)
        reward = mine.reward.loss(feat, data["reward"])
        cont = F.binary_cross_entropy_with_logits(mine.cont(feat)[..., 0], 1 - data["terminated"], reduction="none")
        wrong = F.binary_cross_entropy_with_logits(mine.cont(feat)[..., 0], data["terminated"], reduction="none")
        clipped = kl.clamp(min=mine.free)
        want = (recon + reward + cont + 0.3 * clipped + 0.7 * clipped).mean()
    out = mine.loss(data)
    if abs(float(out["recon"].detach()) - float(raw_recon.mean())) < 1e-3 * float(raw_recon.mean()):
        raise AssertionError("the decoder is scored against the raw vector: vector observations are reconstructed in "
                             "symlog space (self.recon_loss does it: symlog-MSE, eq. 8).")
    assert_close(out["recon"], recon.mean(), step="4.8", atol=1e-4, rtol=1e-4,
                 what="recon (self.recon_loss(feat of the *posterior*, obs), averaged over B * T; the encoder reads "
                      "self.embed(obs), which symlogs vectors)")
    assert_close(out["reward_loss"], reward.mean(), step="4.8", atol=1e-4,
                 what="reward_loss (self.reward.loss(feat, reward): the two-hot NLL of the raw rewards)")
    if torch.allclose(out["cont_loss"].detach(), wrong.mean(), atol=1e-5):
        raise AssertionError("cont_loss scores `terminated` itself: the continue head predicts that the episode goes "
                             "on, so its target is 1 - terminated.")
    assert_close(out["cont_loss"], cont.mean(), step="4.8", atol=1e-4,
                 what="cont_loss (a Bernoulli on the continue head's logit, target 1 - terminated)")
    assert_close(out["dyn"], clipped.mean(), step="4.8", atol=1e-4, what="dyn (the batch mean of max(free, KL))")
    assert_close(out["rep"], clipped.mean(), step="4.8", atol=1e-4, what="rep (the batch mean of max(free, KL))")
    if abs(float(out["kl"].detach()) - float(clipped.mean())) < 1e-6 < float((clipped - kl).abs().max()):
        raise AssertionError("'kl' is the clipped KL: log the raw mean KL(q || p), without free bits.")
    assert_close(out["kl"], kl.mean(), step="4.8", atol=1e-4, what="kl (the raw mean KL(q || p), no free bits)")
    assert_true(not out["kl"].requires_grad, "'kl' carries a gradient: it is a number to log (detach it).", step="4.8")
    assert_close(out["loss"], want, step="4.8", atol=1e-4,
                 what="loss = mean over B * T of recon + reward NLL + cont NLL + dyn_scale * dyn + rep_scale * rep "
                      "(dyn_scale 0.3 and rep_scale 0.7 here)")


@pytest.mark.todo("4.8")
def test_world_model_loss_trains_the_prior_by_dyn_scale(loss_mod, small_cfg, no_noise):
    """The prior's logit layer appears only in the dynamics loss: its gradient is dyn_scale times the KL's."""
    cfg = dataclasses.replace(small_cfg, free_bits=0.0, dyn_scale=0.3, rep_scale=0.7)
    _, mine = models(cfg)
    data = batch(seed=3)
    layer = mine.rssm.img_logits.weight
    (got,) = torch.autograd.grad(mine.loss(data)["loss"], layer)
    post, prior = mine.rssm.observe(mine.embed(data["obs"]), data["action"], data["is_first"])
    (kl_grad,) = torch.autograd.grad(kl_by_hand(post["logits"].detach(), prior["logits"]).mean(), layer)
    if torch.allclose(got, 0.7 * kl_grad, atol=1e-7, rtol=1e-3):
        raise AssertionError("the prior is trained with rep_scale: dyn (which trains the prior) gets dyn_scale, rep "
                             "(which trains the posterior) gets rep_scale.")
    assert_close(got, 0.3 * kl_grad, step="4.8", atol=1e-7, rtol=1e-3,
                 what="the gradient of the loss w.r.t. the prior's logit layer (dyn_scale = 0.3 times the gradient of "
                      "the mean KL(sg(q) || p))")


@pytest.mark.todo("4.8")
def test_world_model_loss_falls_when_overfitting_one_batch(loss_mod, small_cfg):
    _, mine = models(small_cfg)
    data = batch(seed=4)
    opt = torch.optim.Adam(mine.parameters(), lr=3e-3)
    first = None
    with seeded(5):
        for _ in range(60):
            loss = mine.loss(data)["loss"]
            first = loss.item() if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert_true(loss.item() < first - 1.0, f"60 Adam steps on one batch took the world-model loss from {first:.2f} "
                f"to {loss.item():.2f}; it should fall (is every term connected to the model's parameters?)",
                step="4.8")

