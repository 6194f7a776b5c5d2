"""Graded tests for the RSSM (guide, chapter 2, steps 2.2-2.6).

    pytest paper2_dreamerv1 --todo 2.3
    pytest paper2_dreamerv1/tests/test_rssm.py

Your RSSM gets the reference's weights (copied with load_state_dict), the stochastic state is replaced
by its mean where results are compared (the `no_noise` fixture), and facts that hold for any correct
RSSM are checked too.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from common.grading import (
    assert_close,
    assert_finite,
    assert_shape,
    assert_true,
    copy_weights,
    reference,
    seeded,
    target,
)

RSSM = "paper2_dreamerv1.rssm"
A, E, S, D, H = 2, 6, 4, 12, 10  # action, embed, stoch, deter, hidden sizes of the test model


def rssm_pair(min_std: float = 0.1):
    ref, tgt = reference(RSSM), target(RSSM)
    with seeded(0):
        ref_model = ref.RSSM(A, E, S, D, H, min_std)
    tgt_model = tgt.RSSM(A, E, S, D, H, min_std)
    copy_weights(ref_model, tgt_model)
    return ref_model, tgt_model


def random_state(batch: int, seed: int = 1) -> dict[str, torch.Tensor]:
    with seeded(seed):
        return {"mean": torch.randn(batch, S), "std": torch.rand(batch, S) + 0.1,
                "stoch": torch.randn(batch, S),
                "deter": torch.randn(batch, D)}


def compare_states(got, expected, step: str, what: str) -> None:
    assert_true(isinstance(got, dict), f"{what} must be a dict with mean, std, stoch, deter; got "
                                       f"{type(got)}.",
                step=step)
    for key in ("mean", "std", "stoch", "deter"):
        assert_true(key in got, f"{what} has no {key!r} (a state is a dict of mean, std, stoch, deter).",
                    step=step)
        assert_close(got[key], expected[key], step=step, what=f"{what}[{key!r}]", atol=1e-5)


# ---------------------------------------------------------------- 2.2 gaussian_stats
@pytest.mark.todo("2.2")
def test_gaussian_stats_matches_reference():
    with seeded(0):
        x = torch.randn(5, 8) * 3
    mean, std = target(RSSM).gaussian_stats(x, 0.1)
    ref_mean, ref_std = reference(RSSM).gaussian_stats(x, 0.1)
    assert_shape(mean, (5, 4), step="2.2", what="mean of gaussian_stats(x (5, 8))")
    assert_close(mean, ref_mean, step="2.2", what="mean (the first half of x)")
    assert_close(std, ref_std, step="2.2", what="std = softplus(second half) + min_std")


@pytest.mark.todo("2.2")
def test_gaussian_stats_known_values_and_min_std():
    x = torch.tensor([[1.0, -2.0, 0.0, -100.0]])
    mean, std = target(RSSM).gaussian_stats(x, 0.1)
    assert_close(mean, torch.tensor([[1.0, -2.0]]), step="2.2", what="mean of [1, -2 | 0, -100]")
    assert_close(std, torch.tensor([[math.log(2.0) + 0.1, 0.1]]), step="2.2",
                 what="std of raw values 0 and -100: softplus(0) + 0.1 = log 2 + 0.1, softplus(-100) + 0.1 "
                      "= 0.1")
    assert_true(bool((target(RSSM).gaussian_stats(torch.randn(50, 8) * 20, 0.3)[1] >= 0.3 - 1e-6).all()),
                "std must never fall below min_std, whatever the raw values.", step="2.2")


# ---------------------------------------------------------------- 2.3 img_step
@pytest.mark.todo("2.3")
def test_img_step_matches_reference():
    ref_model, model = rssm_pair()
    state = random_state(3)
    with seeded(2):
        action = torch.rand(3, A) * 2 - 1
    prior = model.img_step(state, action, sample=False)  # no noise: stoch is the mean, however it is drawn
    assert_shape(prior.get("deter") if isinstance(prior, dict) else prior, (3, D), step="2.3",
                 what="img_step(state, action, sample=False)['deter']")
    compare_states(prior, ref_model.img_step(state, action, sample=False), "2.3",
                   "img_step(state, action, sample=False)")


@pytest.mark.todo("2.3")
def test_img_step_is_gru_then_prior_head():
    _, model = rssm_pair()
    state = random_state(3)
    action = torch.full((3, A), 0.5)
    prior = model.img_step(state, action, sample=False)
    x = F.elu(model.img_in(torch.cat([state["stoch"], action], -1)))
    deter = model.gru(x, state["deter"])
    assert_close(prior["deter"], deter, step="2.3",
                 what="deter: h_t = gru(elu(img_in([z_{t-1}, a_{t-1}])), h_{t-1})")
    assert_close(prior["stoch"], prior["mean"], step="2.3", what="stoch with sample=False (it is the mean)")
    assert_true(bool((prior["std"] >= 0.1 - 1e-6).all()), "the prior's std must be at least min_std = 0.1 "
                "(use gaussian_stats).", step="2.3")
    hidden = F.elu(model.img_out(deter))
    raw_mean, raw_std = model.img_stats(hidden).chunk(2, -1)
    assert_close(prior["mean"], raw_mean, step="2.3",
                 what="the prior's mean: the first half of img_stats(elu(img_out(h_t))) (the prior head reads "
                      "the new h_t through a hidden layer with ELU)")
    assert_close(prior["std"], F.softplus(raw_std) + 0.1, step="2.3",
                 what="the prior's std: softplus(second half of img_stats(elu(img_out(h_t)))) + min_std")


@pytest.mark.todo("2.3")
def test_img_step_samples_are_reparameterised():
    _, model = rssm_pair()
    state = {k: v.expand(4000, -1) for k, v in random_state(1).items()}
    with seeded(3):
        prior = model.img_step(state, torch.zeros(4000, A))
    z = (prior["stoch"] - prior["mean"]) / prior["std"]  # should be N(0, 1) draws
    assert_close(z.mean(), 0.0, step="2.3", atol=0.05, what="mean of (stoch - mean) / std over 4000 draws")
    assert_close(z.std(), 1.0, step="2.3", atol=0.05, what="std of (stoch - mean) / std over 4000 draws")
    prior["stoch"].sum().backward()
    assert_true(model.img_stats.weight.grad is not None and model.img_stats.weight.grad.abs().sum() > 0,
                "the sample must keep its graph (mean + std * eps), so gradients reach the prior's layers.",
                step="2.3")


# ---------------------------------------------------------------- 2.4 obs_step
@pytest.mark.todo("2.4")
def test_obs_step_matches_reference(no_noise):
    ref_model, model = rssm_pair()
    state = random_state(3)
    with seeded(4):
        action, embed = torch.rand(3, A), torch.randn(3, E)
    got = model.obs_step(state, action, embed)
    assert_true(isinstance(got, tuple) and len(got) == 2, "obs_step must return (posterior, "
                                                          "prior).", step="2.4")
    ref_post, ref_prior = ref_model.obs_step(state, action, embed)
    compare_states(got[0], ref_post, "2.4", "the posterior of obs_step")
    compare_states(got[1], ref_prior, "2.4", "the prior of obs_step")


@pytest.mark.todo("2.4")
def test_obs_step_posterior_shares_h_and_reads_the_embedding():
    _, model = rssm_pair()
    state = random_state(2)
    action = torch.zeros(2, A)
    with seeded(5):
        e1, e2 = torch.randn(2, E), torch.randn(2, E)
    post1, prior1 = model.obs_step(state, action, e1, sample=False)
    post2, prior2 = model.obs_step(state, action, e2, sample=False)
    assert_close(post1["deter"], prior1["deter"], step="2.4",
                 what="the posterior's deter (it is the prior's h_t: the observation only corrects z)")
    assert_close(prior1["mean"], model.img_step(state, action, sample=False)["mean"], step="2.4",
                 what="the prior returned by obs_step (it is img_step(state, action))")
    assert_close(prior1["mean"], prior2["mean"], step="2.4",
                 what="the prior for two different embeddings (the prior never sees the observation)")
    assert_true(not torch.allclose(post1["mean"], post2["mean"]), "the posterior's mean must depend on the "
                "embedding e_t (obs_out reads concat(h_t, e_t)).", step="2.4")
    assert_true(bool((post1["std"] >= 0.1 - 1e-6).all()), "the posterior's std must be at least min_std.",
                step="2.4")
    mean, raw_std = model.obs_stats(F.elu(model.obs_out(torch.cat([prior1["deter"], e1], -1)))).chunk(2, -1)
    assert_close(post1["mean"], mean, step="2.4",
                 what="the posterior's mean: the first half of obs_stats(elu(obs_out([h_t, e_t]))), with h_t the "
                      "prior's new deter (after the GRU step), not the previous state's h_{t-1}")
    assert_close(post1["std"], F.softplus(raw_std) + 0.1, step="2.4",
                 what="the posterior's std: softplus(second half of obs_stats(...)) + min_std")


# ---------------------------------------------------------------- 2.5 observe
def sequence(batch: int = 2, steps: int = 6, seed: int = 6):
    with seeded(seed):
        return torch.randn(batch, steps, E), torch.rand(batch, steps, A) * 2 - 1


@pytest.mark.todo("2.5")
def test_observe_matches_reference(no_noise):
    ref_model, model = rssm_pair()
    embed, action = sequence()
    is_first = torch.zeros(2, 6)
    is_first[:, 0] = 1.0
    is_first[1, 3] = 1.0
    post, prior = model.observe(embed, action, is_first)
    for key in ("stoch", "deter", "mean", "std"):
        assert_shape(post[key], (2, 6, S if key != "deter" else D), step="2.5",
                     what=f"observe(...)[0][{key!r}]")
    ref_post, ref_prior = ref_model.observe(embed, action, is_first)
    compare_states(post, ref_post, "2.5", "posterior states of observe (B, T, ...)")
    compare_states(prior, ref_prior, "2.5", "prior states of observe (B, T, ...)")


@pytest.mark.todo("2.5")
def test_observe_chains_obs_steps():
    _, model = rssm_pair()
    embed, action = sequence(1, 4)
    post, _ = model.observe(embed, action, torch.zeros(1, 4), sample=False)
    state = model.initial(1)
    for t in range(4):
        state, _ = model.obs_step(state, action[:, t], embed[:, t], sample=False)
        assert_close(post["deter"][:, t], state["deter"], step="2.5",
                     what=f"deter at step {t}: observe must feed each posterior into the next obs_step")


@pytest.mark.todo("2.5")
def test_observe_resets_the_state_at_episode_starts():
    _, model = rssm_pair()
    embed, action = sequence(1, 7)
    is_first = torch.zeros(1, 7)
    is_first[0, 4] = 1.0  # a new episode starts at t = 4
    post, _ = model.observe(embed, action, is_first, sample=False)
    fresh_first = torch.zeros(1, 3)
    fresh_first[0, 0] = 1.0
    fresh, _ = model.observe(embed[:, 4:], action[:, 4:], fresh_first, sample=False)
    assert_close(post["deter"][:, 4:], fresh["deter"], step="2.5", what="deter from the episode start at t "
                                                                        "= 4 "
                 "on, compared with observing that episode alone: at is_first the state (and the action) "
                 "must "
                 "be reset to zeros, so nothing of the previous episode leaks in")
    assert_close(post["mean"][:, 4:], fresh["mean"], step="2.5",
                 what="posterior mean after the episode start at t = 4 (compared with a fresh observe)")
    other = action.clone()
    other[:, 4] = -other[:, 4] + 0.5  # a different action stored with the episode's first step
    moved, _ = model.observe(embed, other, is_first, sample=False)
    assert_close(moved["deter"][:, 4:], post["deter"][:, 4:], step="2.5",
                 what="deter from t = 4 on after changing only the action stored at the episode start t = 4 "
                      "(at is_first the action is reset to zeros too: it belongs to no transition)")


# ---------------------------------------------------------------- 2.6 kl_loss
def gaussians(shape, seed: int):
    with seeded(seed):
        return {"mean": torch.randn(*shape), "std": torch.rand(*shape) + 0.2}


@pytest.mark.todo("2.6")
def test_kl_loss_matches_torch_distributions_and_reference():
    post, prior = gaussians((3, 5, S), 7), gaussians((3, 5, S), 8)
    loss, kl = target(RSSM).kl_loss(post, prior, 0.0)
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(post["mean"], post["std"]),
                                                 torch.distributions.Normal(prior["mean"], prior["std"]))
    assert_close(kl, expected.sum(-1).mean(), step="2.6", atol=1e-4,
                 what="kl: KL(post || prior) summed over the stochastic dimensions, averaged over B and T")
    ref_loss, ref_kl = reference(RSSM).kl_loss(post, prior, 3.0)
    got_loss, got_kl = target(RSSM).kl_loss(post, prior, 3.0)
    assert_close(got_loss, ref_loss, step="2.6", atol=1e-4, what="loss of kl_loss(post, prior, free_nats=3)")
    assert_close(got_kl, ref_kl, step="2.6", atol=1e-4, what="kl of kl_loss(post, prior, free_nats=3)")


@pytest.mark.todo("2.6")
def test_kl_loss_free_nats_give_no_gradient():
    post = {k: v.requires_grad_() for k, v in gaussians((2, 3, S), 9).items()}
    prior = {"mean": post["mean"].detach() + 0.1, "std": post["std"].detach()}  # KL = 0.02 * S / std^2: small
    loss, kl = target(RSSM).kl_loss(post, prior, 3.0)
    assert_true(float(kl.detach()) < 3.0, "this test's KL should be small, your kl is "
                                          f"{float(kl.detach()):.4g}.", step="2.6")
    assert_close(loss, 3.0, step="2.6", what="the loss while the mean KL is below free_nats = 3 (it is "
                                             "clipped "
                 "from below: torch.clamp(kl, min=free_nats))")
    loss.backward()
    grad = post["mean"].grad
    assert_true(grad is None or float(grad.abs().max()) == 0.0, "below free_nats the KL must give no "
                                                                "gradient "
                "at all (the nats are free); did you add free_nats instead of clipping?", step="2.6")


@pytest.mark.todo("2.6")
def test_kl_loss_clips_the_batch_mean_not_each_step():
    post = {"mean": torch.zeros(2, 1, 1), "std": torch.ones(2, 1, 1)}
    prior = {"mean": torch.tensor([0.0, math.sqrt(8.0)]).view(2, 1, 1), "std": torch.ones(2, 1, 1)}
    loss, kl = target(RSSM).kl_loss(post, prior, 3.0)  # per-step KLs 0 and 4: mean 2
    assert_close(kl, 2.0, step="2.6", what="kl for per-step KLs of 0 and 4 nats (their mean)")
    assert_close(loss, 3.0, step="2.6", what="loss for per-step KLs of 0 and 4 nats with free_nats = 3: the "
                                             "mean "
                 "(2) is clipped to 3; clipping each step first would give (3 + 4) / 2 = 3.5")
    big_prior = {"mean": prior["mean"] * 2, "std": prior["std"]}  # per-step KLs 0 and 16: mean 8
    loss, _ = target(RSSM).kl_loss(post, big_prior, 3.0)
    assert_close(loss, 8.0, step="2.6", what="loss when the mean KL (8) is above free_nats (it is the KL "
                                             "itself)")
    assert_finite(loss, step="2.6", what="kl_loss")
