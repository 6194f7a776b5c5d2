"""Graded tests for M, the MDN-RNN (guide, chapter 1, steps 1.5-1.8).

    pytest paper1_world_models --todo 1.6          # one step
    pytest paper1_world_models/tests/test_rnn.py   # all of M

Shapes used below: B batch, T time, Z latent dimensions, K mixture components.
Sampling (1.7) is checked through the statistics of many draws, never through the order of random numbers,
so any correct sampler passes.
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
    reference,
    seeded,
    target,
)

RNN = "paper1_world_models.rnn"
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def mixture(shape: tuple[int, ...], seed: int, spread: float = 1.0):
    """Random but valid mixture parameters: log_pi (normalised), mu, log_sigma, each shape (..., Z, K)."""
    with seeded(seed):
        log_pi = F.log_softmax(torch.randn(shape), dim=-1)
        mu = spread * torch.randn(shape)
        log_sigma = 0.3 * torch.randn(shape) - 0.3
    return log_pi, mu, log_sigma


def repeat(n: int, *tensors: torch.Tensor) -> list[torch.Tensor]:
    """Stack n copies of each tensor along a new first axis (contiguous, so .view works on them)."""
    return [t.unsqueeze(0).repeat(n, *([1] * t.dim())) for t in tensors]


# ---------------------------------------------------------------- 1.5 mdn_params
@pytest.mark.todo("1.5")
def test_mdn_params_matches_reference():
    ref, tgt = reference(RNN), target(RNN)
    z_dim, k = 4, 3
    with seeded(20):
        out = torch.randn(2, 5, 3 * z_dim * k)
    got = tgt.mdn_params(out, z_dim, k)
    want = ref.mdn_params(out, z_dim, k)
    assert_true(isinstance(got, tuple) and len(got) == 3,
                "mdn_params must return a tuple (log_pi, mu, log_sigma)", step="1.5")
    for name, g, w in zip(("log_pi", "mu", "log_sigma"), got, want, strict=True):
        assert_shape(g, (2, 5, z_dim, k), step="1.5",
                     what=f"{name} from mdn_params(out of shape (2, 5, 36), z_dim=4, n_mix=3)")
        assert_close(g, w, step="1.5", what=f"{name} from mdn_params")
    pi_sum = got[0].exp().sum(-1)
    assert_close(pi_sum, torch.ones(2, 5, z_dim), step="1.5",
                 what="exp(log_pi) summed over the K components (mixture weights must sum to 1 for every "
                      "dimension: use log_softmax over the last axis)")


@pytest.mark.todo("1.5")
def test_mdn_params_log_pi_is_normalised_and_shift_invariant():
    """logsumexp_k log_pi = 0 for any logits, even huge ones; a shift of all logits changes nothing."""
    ref, tgt = reference(RNN), target(RNN)
    z_dim, k = 3, 5
    with seeded(21):
        out = 40 * torch.randn(7, 3 * z_dim * k)  # 2-D input: (N, 3*Z*K)
    log_pi, _, _ = tgt.mdn_params(out, z_dim, k)
    assert_shape(log_pi, (7, z_dim, k), step="1.5", what="log_pi for an input of shape (7, 45)")
    assert_finite(log_pi, step="1.5", what="log_pi for logits as large as +-100 (use log_softmax, not "
                                            "log(softmax(...)) or exp / sum)")
    assert_close(torch.logsumexp(log_pi, -1), torch.zeros(7, z_dim), step="1.5", atol=1e-4,
                 what="logsumexp of log_pi over the K components (must be 0: log_pi is a log of weights)")
    assert_close(log_pi, ref.mdn_params(out, z_dim, k)[0], step="1.5", atol=1e-4,
                 what="log_pi for large logits, compared with the reference")
    shifted = out.clone()
    shifted[:, : z_dim * k] += 3.0
    assert_close(tgt.mdn_params(shifted, z_dim, k)[0], log_pi, step="1.5", atol=1e-4,
                 what="log_pi after adding 3 to every logit (softmax ignores a shared shift)")


@pytest.mark.todo("1.5")
def test_mdn_params_layout_known_value():
    """out = 0, 1, ..., 3ZK-1: the chunks are [logits | means | log-stds], each viewed as (Z, K)."""
    ref, tgt = reference(RNN), target(RNN)
    z_dim, k = 2, 3
    out = torch.arange(3 * z_dim * k, dtype=torch.float32).unsqueeze(0)  # (1, 18)
    log_pi, mu, log_sigma = tgt.mdn_params(out, z_dim, k)
    assert_close(mu, torch.arange(6.0, 12.0).view(1, z_dim, k), step="1.5",
                 what="mu for out = arange(18): the second third of out, viewed as (Z, K) = "
                      "[[6, 7, 8], [9, 10, 11]]")
    assert_close(log_sigma, torch.arange(12.0, 18.0).view(1, z_dim, k), step="1.5",
                 what="log_sigma for out = arange(18): the last third of out, viewed as (Z, K)")
    row = F.log_softmax(torch.tensor([0.0, 1.0, 2.0]), dim=0)
    assert_close(log_pi, row.expand(1, z_dim, k), step="1.5",
                 what="log_pi for out = arange(18): log_softmax of [[0, 1, 2], [3, 4, 5]] over the last axis")
    for g, w in zip((log_pi, mu, log_sigma), ref.mdn_params(out, z_dim, k), strict=True):
        assert_close(g, w, step="1.5", what="mdn_params(arange(18)) compared with the reference")


# ---------------------------------------------------------------- 1.6 mdn_nll
@pytest.mark.todo("1.6")
def test_mdn_nll_matches_reference():
    ref, tgt = reference(RNN), target(RNN)
    log_pi, mu, log_sigma = mixture((2, 5, 4, 3), seed=30)
    with seeded(31):
        z = torch.randn(2, 5, 4)
    got = tgt.mdn_nll(log_pi, mu, log_sigma, z)
    assert_shape(got, (), step="1.6", what="mdn_nll(...) (a scalar: the mean over B, T and Z)")
    assert_close(got, ref.mdn_nll(log_pi, mu, log_sigma, z), step="1.6", atol=1e-5,
                 what="mdn_nll on random mixtures (B, T, Z, K) = (2, 5, 4, 3)")


@pytest.mark.todo("1.6")
def test_mdn_nll_one_component_is_a_gaussian():
    """K = 1 must give the Gaussian NLL; two identical components with weights 1/2 must give the same."""
    ref, tgt = reference(RNN), target(RNN)
    _, mu, log_sigma = mixture((3, 4, 1), seed=32)
    with seeded(33):
        z = torch.randn(3, 4)
    gauss = -torch.distributions.Normal(mu[..., 0], log_sigma[..., 0].exp()).log_prob(z).mean()
    got = tgt.mdn_nll(torch.zeros(3, 4, 1), mu, log_sigma, z)
    assert_close(got, gauss, step="1.6", atol=1e-5,
                 what="mdn_nll with K = 1 (log_pi = 0): must equal the mean Gaussian NLL "
                      "log(sigma) + 0.5 * ((z - mu) / sigma)^2 + 0.5 * log(2 pi); check the log_sigma term "
                      "and the constant")
    twice = [torch.cat([t, t], -1) for t in (mu, log_sigma)]
    got2 = tgt.mdn_nll(torch.full((3, 4, 2), math.log(0.5)), *twice, z)
    assert_close(got2, gauss, step="1.6", atol=1e-5,
                 what="mdn_nll with two identical components of weight 1/2 (the same Gaussian)")
    assert_close(got2, ref.mdn_nll(torch.full((3, 4, 2), math.log(0.5)), *twice, z), step="1.6",
                 atol=1e-5, what="mdn_nll with two identical components, compared with the reference")


@pytest.mark.todo("1.6")
def test_mdn_nll_far_from_every_mean_stays_finite():
    """A target 30-60 sigmas away: exp(-0.5 * 50^2) underflows to 0, so only log-space maths survives."""
    ref, tgt = reference(RNN), target(RNN)
    z = torch.tensor([[30.0, -40.0, 60.0]])  # (1, Z=3)
    mu = torch.zeros(1, 3, 2)
    log_sigma = torch.tensor([0.0, -1.0]).expand(1, 3, 2).contiguous()  # sigma = 1 and 0.37
    log_pi = torch.log(torch.tensor([0.5, 0.5])).expand(1, 3, 2).contiguous()
    mu.requires_grad_(True)
    got = tgt.mdn_nll(log_pi, mu, log_sigma, z)
    assert_finite(got, step="1.6",
                  what="mdn_nll for targets 30-60 standard deviations from every mean (you got inf or nan: "
                       "exp() of a very negative log-density underflows to 0 and log(0) = -inf; combine the "
                       "components with torch.logsumexp instead)")
    # the sigma = 1 component dominates: -log(0.5) + 0.5 z^2 + 0.5 log(2 pi), averaged over the 3 dimensions
    expected = (math.log(2.0) + 0.5 * z.pow(2) + HALF_LOG_2PI).mean()
    assert_close(got, expected, step="1.6", rtol=1e-4, what="mdn_nll far from the means (about 0.5 * z^2)")
    assert_close(got, ref.mdn_nll(log_pi, mu, log_sigma, z), step="1.6", rtol=1e-5,
                 what="mdn_nll far from the means, compared with the reference")
    got.backward()
    assert_finite(mu.grad, step="1.6", what="the gradient of mdn_nll with respect to mu, far from the means")


@pytest.mark.todo("1.6")
def test_mdn_nll_gradients():
    ref, tgt = reference(RNN), target(RNN)
    params = [p.requires_grad_(True) for p in mixture((2, 3, 4, 5), seed=34)]
    ref_params = [p.detach().clone().requires_grad_(True) for p in params]
    with seeded(35):
        z = torch.randn(2, 3, 4)
    tgt.mdn_nll(*params, z).backward()
    ref.mdn_nll(*ref_params, z).backward()
    for name, p, r in zip(("log_pi", "mu", "log_sigma"), params, ref_params, strict=True):
        assert_true(p.grad is not None,
                    f"mdn_nll must be differentiable with respect to {name}", step="1.6")
        assert_close(p.grad, r.grad, step="1.6", atol=1e-5,
                     what=f"d mdn_nll / d {name} (a mean over B*T*Z = 24 terms, as in the reference)")


# ---------------------------------------------------------------- 1.7 sample_mdn
@pytest.mark.todo("1.7")
def test_sample_mdn_shape_and_matches_reference_distribution():
    """Many draws from a random mixture: mean and variance as the mixture formulas say, as the reference."""
    ref, tgt = reference(RNN), target(RNN)
    log_pi, mu, log_sigma = mixture((3, 4), seed=40, spread=2.0)  # Z=3, K=4
    with seeded(41):
        small = tgt.sample_mdn(*mixture((2, 5, 3, 4), seed=42))
    assert_shape(small, (2, 5, 3), step="1.7",
                 what="sample_mdn for parameters of shape (B, T, Z, K) = (2, 5, 3, 4)")
    n = 20_000
    for tau in (1.0, 0.5):
        with seeded(43):
            z = tgt.sample_mdn(*repeat(n, log_pi, mu, log_sigma), tau=tau)
            z_ref = ref.sample_mdn(*repeat(n, log_pi, mu, log_sigma), tau=tau)
        assert_shape(z, (n, 3), step="1.7", what=f"sample_mdn for parameters of shape ({n}, 3, 4)")
        w = F.softmax(log_pi / tau, dim=-1)
        mean = (w * mu).sum(-1)
        var = (w * (tau * (2 * log_sigma).exp() + mu.pow(2))).sum(-1) - mean.pow(2)
        std = var.sqrt()
        assert_close(z.mean(0), mean, step="1.7", atol=float(6 * std.max() / math.sqrt(n)), rtol=0,
                     what=f"the mean of {n} draws at tau = {tau} (should be sum_k w_k mu_k with "
                          f"w = softmax(log_pi / tau))")
        assert_close(z.std(0), std, step="1.7", atol=0, rtol=0.05,
                     what=f"the std of {n} draws at tau = {tau} (mixture std with weights "
                          "softmax(log_pi / tau) and component stds sigma * sqrt(tau))")
        assert_close(z.std(0), z_ref.std(0), step="1.7", atol=0, rtol=0.07,
                     what=f"the std of your draws vs the reference's draws at tau = {tau}")


@pytest.mark.todo("1.7")
def test_sample_mdn_temperature_scales_std_by_sqrt_tau():
    """One component (K = 1): the draws are N(mu, tau * sigma^2), so their std is sigma * sqrt(tau)."""
    ref, tgt = reference(RNN), target(RNN)
    n = 20_000
    mu = torch.tensor([[-1.0], [0.0], [2.0]])
    sigma = torch.tensor([0.5, 1.0, 2.0])
    log_pi, mu, log_sigma = repeat(n, torch.zeros(3, 1), mu, sigma.log().unsqueeze(-1))
    for tau in (1.0, 0.25, 4.0):
        with seeded(44):
            z = tgt.sample_mdn(log_pi, mu, log_sigma, tau=tau)
            z_ref = ref.sample_mdn(log_pi, mu, log_sigma, tau=tau)
        want = sigma * math.sqrt(tau)
        assert_close(z.std(0), want, step="1.7", atol=0, rtol=0.04,
                     what=f"the std of {n} draws with K = 1 and tau = {tau}: sigma * sqrt(tau) = "
                          f"{[round(v, 3) for v in want.tolist()]} (tau scales the VARIANCE; sigma * tau "
                          "would be wrong)")
        assert_close(z.mean(0), mu[0, :, 0], step="1.7", atol=float(6 * want.max() / math.sqrt(n)), rtol=0,
                     what=f"the mean of {n} draws with K = 1 and tau = {tau} (should be mu)")
        assert_close(z.std(0), z_ref.std(0), step="1.7", atol=0, rtol=0.06,
                     what=f"the std of your draws vs the reference's with K = 1 and tau = {tau}")


@pytest.mark.todo("1.7")
def test_sample_mdn_temperature_reweights_components():
    """Two far-apart components (means -10, +10) with weights (0.8, 0.2): count how often +10 is chosen."""
    ref, tgt = reference(RNN), target(RNN)
    n = 20_000
    log_pi = torch.log(torch.tensor([[0.8, 0.2], [0.5, 0.5]]))  # Z = 2; dimension 1 is a fair coin
    mu = torch.tensor([[-10.0, 10.0], [-10.0, 10.0]])
    log_sigma = torch.full((2, 2), math.log(0.1))
    for tau in (1.0, 0.5, 2.0):
        with seeded(45):
            z = tgt.sample_mdn(*repeat(n, log_pi, mu, log_sigma), tau=tau)
            z_ref = ref.sample_mdn(*repeat(n, log_pi, mu, log_sigma), tau=tau)
        frac = (z > 0).float().mean(0)
        p = 0.2 ** (1 / tau) / (0.8 ** (1 / tau) + 0.2 ** (1 / tau))
        assert_close(frac, torch.tensor([p, 0.5]), step="1.7", atol=0.02, rtol=0,
                     what=f"how often the +10 component is drawn at tau = {tau}: weights "
                          f"softmax(log_pi / tau) give {p:.3f} for weights (0.8, 0.2) and 0.5 for (0.5, 0.5)")
        assert_close(frac, (z_ref > 0).float().mean(0), step="1.7", atol=0.025, rtol=0,
                     what=f"how often the +10 component is drawn at tau = {tau}, yours vs the reference's")


@pytest.mark.todo("1.7")
def test_sample_mdn_cold_temperature_picks_the_heaviest_component():
    """tau -> 0: always the most likely component, and almost exactly its mean."""
    ref, tgt = reference(RNN), target(RNN)
    n = 2_000
    with seeded(46):
        logits = torch.stack([torch.randperm(3).float() for _ in range(4)])  # (Z=4, K=3), gaps of 1
        mu = 5 * torch.randn(4, 3)
    log_pi, log_sigma = F.log_softmax(logits, -1), torch.zeros(4, 3)
    best = mu.gather(-1, logits.argmax(-1, keepdim=True)).squeeze(-1)  # (Z,)
    with seeded(47):
        z = tgt.sample_mdn(*repeat(n, log_pi, mu, log_sigma), tau=0.01)
        z_ref = ref.sample_mdn(*repeat(n, log_pi, mu, log_sigma), tau=0.01)
    worst = (z - best).abs().max().item()
    assert_true(worst < 0.6,
                f"at tau = 0.01 every draw must sit at the mean of the heaviest component (within "
                f"sigma * sqrt(tau) = 0.1 noise); the furthest draw was {worst:.2f} away", step="1.7")
    assert_close(z.mean(0), z_ref.mean(0), step="1.7", atol=0.02,
                 what="the mean of your draws vs the reference's at tau = 0.01")


@pytest.mark.todo("1.7")
def test_sample_mdn_dimensions_are_drawn_independently():
    """Given h, the Z dimensions are independent mixtures: each draws its own noise and picks its own
    component. Two checks on 20,000 draws: K = 1 (noise only) and two fair coins between -10 and +10."""
    tgt = target(RNN)
    n = 20_000
    log_pi, mu, log_sigma = repeat(n, torch.zeros(4, 1), torch.zeros(4, 1), torch.zeros(4, 1))  # 4 x N(0, 1)
    with seeded(48):
        z = tgt.sample_mdn(log_pi, mu, log_sigma)
    assert_shape(z, (n, 4), step="1.7", what=f"sample_mdn for parameters of shape ({n}, 4, 1)")
    worst = (torch.corrcoef(z.T) - torch.eye(4)).abs().max().item()
    assert_true(worst < 0.05,
                f"with K = 1 the 4 dimensions are independent N(0, 1), but two of your dimensions correlate "
                f"{worst:.2f}: is one noise number shared by all Z dimensions of a position? Draw the noise with "
                "the shape of the chosen means, (..., Z)", step="1.7")
    coin = torch.log(torch.tensor([[0.5, 0.5], [0.5, 0.5]]))
    means = torch.tensor([[-10.0, 10.0], [-10.0, 10.0]])
    with seeded(49):
        z = tgt.sample_mdn(*repeat(n, coin, means, torch.full((2, 2), math.log(0.1))))
    up = z > 0
    both = (up[:, 0] & up[:, 1]).float().mean().item()
    assert_true(abs(both - 0.25) < 0.02,
                f"two dimensions, each a fair coin between components at -10 and +10: each picks its own "
                f"component, so both pick +10 in 1/4 of the draws; yours did in {both:.3f}"
                + (" -- one component chosen for the whole vector (that is the shared-weights mixture, not "
                   "the authors' per-dimension one; see the guide's 'Which mixture?')" if both > 0.4 else ""),
                step="1.7")


@pytest.mark.todo("1.7")
def test_sample_mdn_uses_the_generator_for_every_draw():
    """Two generators seeded alike give the same draws whatever the global seed, and a call with a
    generator leaves the global random state untouched (every draw, component and noise, uses it)."""
    tgt = target(RNN)
    params = mixture((50, 3, 4), seed=50, spread=2.0)
    draws = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        draws.append(tgt.sample_mdn(*params, tau=1.0, generator=torch.Generator().manual_seed(7)))
        untouched = torch.equal(before, torch.get_rng_state())
        assert_true(untouched,
                    "sample_mdn(..., generator=g) used the global random generator: some draw did not get "
                    "generator=generator (torch.multinomial and torch.randn take it; "
                    "torch.distributions.Categorical(...).sample() and randn_like do not)", step="1.7")
    assert_shape(draws[0], (50, 3), step="1.7", what="sample_mdn for parameters of shape (50, 3, 4)")
    assert_close(draws[0], draws[1], step="1.7", atol=0, rtol=0,
                 what="two calls with generators seeded alike (torch.Generator().manual_seed(7)) under different "
                      "global seeds: the same generator must give the same z")
    other = tgt.sample_mdn(*params, tau=1.0, generator=torch.Generator().manual_seed(8))
    assert_true(not torch.equal(other, draws[0]),
                "generators seeded 7 and 8 gave exactly the same draws: the generator must drive the draws",
                step="1.7")


# ---------------------------------------------------------------- 1.8 sequence_loss
def rnn_batch(seed: int, b: int = 3, t: int = 6, z_dim: int = 4):
    ref = reference(RNN)
    with seeded(seed):
        model = ref.MDNRNN(z_dim=z_dim, action_dim=3, hidden=16, n_mix=3)
        z = torch.randn(b, t, z_dim)
        a = torch.rand(b, t, 3)
    return model, z, a


@pytest.fixture
def tgt_rnn(monkeypatch):
    """The module under test, with the reference mdn_nll, so a bug in 1.6 cannot fail the 1.8 line."""
    tgt = target(RNN)
    monkeypatch.setattr(tgt, "mdn_nll", reference(RNN).mdn_nll, raising=False)
    return tgt


@pytest.mark.todo("1.8")
def test_sequence_loss_matches_reference(tgt_rnn):
    ref = reference(RNN)
    model, z, a = rnn_batch(50)
    got = tgt_rnn.sequence_loss(model, z, a)
    assert_shape(got, (), step="1.8", what="sequence_loss(model, z (3, 6, 4), a (3, 6, 3))")
    assert_finite(got, step="1.8", what="sequence_loss")
    assert_close(got, ref.sequence_loss(model, z, a), step="1.8", atol=1e-5,
                 what="sequence_loss (teacher forcing: read z_t, a_t for t < T-1; score z_{t+1})")


@pytest.mark.todo("1.8")
def test_sequence_loss_predicts_the_next_latent(tgt_rnn):
    """The last action is never read; the last latent is a target; step-by-step gives the same number."""
    ref = reference(RNN)
    model, z, a = rnn_batch(51)
    loss_t = tgt_rnn.sequence_loss(model, z, a)
    loss = loss_t.item()
    a2 = a.clone()
    a2[:, -1] = 5.0
    assert_close(tgt_rnn.sequence_loss(model, z, a2), loss, step="1.8", atol=1e-6,
                 what="sequence_loss after changing only the LAST action: there is no z_{T+1} for it to "
                      "predict, so it must not be read (feed actions[:, :-1])")
    z2 = z.clone()
    z2[:, -1] += 3.0
    moved = abs(tgt_rnn.sequence_loss(model, z2, a).item() - loss)
    assert_true(moved > 1e-3,
                "sequence_loss must change when the LAST latent z_{T-1} changes: it is the target of the "
                "last prediction. Yours did not move -- are you scoring the inputs z[:, :-1] instead of "
                "the next latents z[:, 1:]?", step="1.8")
    # the same number, computed one step at a time with the LSTM state carried along
    state, per_step = None, []
    with torch.no_grad():
        for t in range(z.shape[1] - 1):
            (log_pi, mu, log_sigma), state = model(z[:, t:t + 1], a[:, t:t + 1], state)
            per_step.append(ref.mdn_nll(log_pi, mu, log_sigma, z[:, t + 1:t + 2]))
    want = torch.stack(per_step).mean()
    if not torch.allclose(loss_t.detach(), want, atol=1e-5):
        with torch.no_grad():  # the same steps, but the LSTM restarted at every one of them
            forgetful = torch.stack([ref.mdn_nll(*model(z[:, t:t + 1], a[:, t:t + 1])[0], z[:, t + 1:t + 2])
                                     for t in range(z.shape[1] - 1)]).mean()
        assert_true(not torch.allclose(loss_t.detach(), forgetful, atol=1e-5),
                    f"sequence_loss gave {loss:.5f}, but the step-by-step NLL with the LSTM state carried along is "
                    f"{want.item():.5f}; yours equals the NLL with the LSTM restarted at every step. The likely "
                    "cause: each step is fed as its own length-1 sequence, so M has no memory. Run the LSTM "
                    "once over the whole (B, T-1) sequence", step="1.8")
    assert_close(loss_t, want, step="1.8", atol=1e-5,
                 what="sequence_loss vs the mean over t of -log p(z_{t+1} | z_<=t, a_<=t), computed one step "
                      "at a time")
    assert_close(loss_t, ref.sequence_loss(model, z, a), step="1.8", atol=1e-5,
                 what="sequence_loss compared with the reference")


@pytest.mark.todo("1.8")
def test_sequence_loss_falls_when_overfitting_one_batch(tgt_rnn):
    """40 Adam steps on one small batch of smooth sequences: the NLL must fall a lot."""
    ref = reference(RNN)
    with seeded(52):
        model = ref.MDNRNN(z_dim=2, action_dim=1, hidden=16, n_mix=2)
        phase = torch.rand(4, 1, 1) * 6.28
    t = torch.arange(10.0).view(1, 10, 1)
    z = torch.cat([torch.sin(0.6 * t + phase), torch.cos(0.6 * t + phase)], -1)  # (4, 10, 2)
    a = torch.zeros(4, 10, 1)
    first = tgt_rnn.sequence_loss(model, z, a)
    assert_close(first, ref.sequence_loss(model, z, a), step="1.8", atol=1e-5,
                 what="sequence_loss before training, compared with the reference")
    assert_true(first.requires_grad,
                "sequence_loss must stay connected to the model's parameters (no .item(), .detach() or "
                "torch.no_grad() inside it)", step="1.8")
    params = list(model.parameters())
    m1, m2 = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params]
    for i in range(1, 41):  # Adam, written out (torch.optim's first import alone takes seconds)
        grads = torch.autograd.grad(tgt_rnn.sequence_loss(model, z, a), params)
        with torch.no_grad():
            for p, g, m, v in zip(params, grads, m1, m2, strict=True):
                m.mul_(0.9).add_(g, alpha=0.1)
                v.mul_(0.999).addcmul_(g, g, value=0.001)
                p -= 3e-2 * (m / (1 - 0.9**i)) / ((v / (1 - 0.999**i)).sqrt() + 1e-8)
    last = tgt_rnn.sequence_loss(model, z, a).item()
    assert_true(last < first.item() - 1.0,
                f"overfitting one batch for 40 Adam steps should cut the NLL by more than 1 nat; it went "
                f"from {first.item():.3f} to {last:.3f}. Is the loss connected to the model's parameters?",
                step="1.8")
