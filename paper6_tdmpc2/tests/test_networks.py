"""Graded tests for the networks of the world model (guide, chapter 6, steps 6.4-6.6).

    pytest paper6_tdmpc2 --todo 6.5
    pytest paper6_tdmpc2/tests/test_networks.py

A tiny model (latent 16, MLPs of 32) keeps everything fast. Where a step is not the one graded, the test
takes it from the reference (e.g. the weight initialisation of 6.4 when testing the policy of 6.5), so one
unfinished step fails one line of the scoreboard. Random choices (which two Q heads) are checked through
what any correct choice must satisfy, never through the order of random numbers.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from common.grading import assert_close, assert_shape, assert_true, copy_weights, reference, seeded, target

WM = "paper6_tdmpc2.world_model"
D, A, B = 3, 2, 32  # observation size, action size, batch


def small_cfg(**changes):
    return reference("paper6_tdmpc2.config").Config(**{"enc_dim": 32, "mlp_dim": 32, "latent_dim": 16, **changes})


def perturb(module: nn.Module, scale: float, seed: int) -> None:
    """Add noise to every parameter, so that zero-initialised heads give varied outputs."""
    with seeded(seed), torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))


def models(monkeypatch, seed: int = 0, **changes):
    """(your model, the reference model) with the same weights; your init_weights is not used."""
    tgt, ref = target(WM), reference(WM)
    monkeypatch.setattr(tgt, "init_weights", ref.init_weights)
    cfg = small_cfg(**changes)
    with seeded(seed):
        ref_model = ref.TDMPC2Model(D, A, cfg).eval()
    perturb(ref_model, 0.3, seed + 1)
    mine = copy_weights(ref_model, tgt.TDMPC2Model(D, A, cfg).eval(), step=None)
    return mine, ref_model


def latents(n: int = B, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    with seeded(seed):
        z = torch.softmax(torch.randn(n, 2, 8), -1).view(n, 16)  # SimNorm-like latents (n, 16)
        a = torch.rand(n, A) * 2 - 1
    return z, a


# ---------------------------------------------------------------- 6.4 init_weights
@pytest.mark.todo("6.4")
def test_init_zeroes_the_reward_and_q_output_layers():
    """A fresh model predicts reward 0 and Q 0 everywhere: the output layers of R and every Q start at 0."""
    tgt, ref = target(WM), reference(WM)
    with seeded(0):
        model = tgt.TDMPC2Model(D, A, small_cfg())
    for name, net in [("reward_head", model.reward_head)] + [(f"Qs[{i}]", q) for i, q in enumerate(model.Qs)]:
        assert_close(net[-1].weight, torch.zeros_like(net[-1].weight), step="6.4",
                     what=f"the output layer weight of {name} (it must start at exactly zero)")
    z, a = latents()
    assert_close(ref.two_hot_inv(model.reward(z, a), -10, 10), torch.zeros(B), step="6.4",
                 what="the reward a freshly initialised model predicts")
    assert_close(model.target_Qs[0][-1].weight, torch.zeros_like(model.target_Qs[0][-1].weight), step="6.4",
                 what="the target Qs' output layer (a copy of the online Qs made after init_weights)")


@pytest.mark.todo("6.4")
def test_init_draws_small_weights_and_zero_biases_like_the_reference():
    """Every other Linear: weights with std 0.02 (truncated normal), biases 0; LayerNorms untouched."""
    tgt, ref = target(WM), reference(WM)
    with seeded(0):
        mine = tgt.TDMPC2Model(D, A, small_cfg(mlp_dim=128))
        theirs = ref.TDMPC2Model(D, A, small_cfg(mlp_dim=128))
    mods = dict(theirs.named_modules())
    for name, m in mine.named_modules():
        if isinstance(m, nn.Linear):
            assert_close(m.bias, torch.zeros_like(m.bias), step="6.4", what=f"the bias of {name}")
            w, w_ref = m.weight.detach(), mods[name].weight.detach()
            if w_ref.abs().sum() > 0 and w.numel() >= 1000:
                assert_close(w.std(), w_ref.std(), step="6.4", atol=0.004, rtol=0,
                             what=f"the std of the weights of {name} (trunc_normal_ with std=0.02)")
        if isinstance(m, nn.LayerNorm):
            assert_close(m.weight, torch.ones_like(m.weight), step="6.4", what=f"the weight of LayerNorm {name}")


# ---------------------------------------------------------------- 6.5 the policy prior
@pytest.mark.todo("6.5")
def test_pi_matches_reference_with_fixed_noise(monkeypatch):
    mine, ref_model = models(monkeypatch)
    z, _ = latents()
    with seeded(6):
        eps = torch.randn(B, A)
    action, info = mine.pi(z, eps)
    want, want_info = ref_model.pi(z, eps)
    assert_shape(action, (B, A), step="6.5", what="the action of pi(z (32, 16), eps (32, 2))")
    assert_close(action, want, step="6.5", what="pi(z, eps) action")
    for key in ("mean", "log_std", "log_prob"):
        assert_true(key in info, f"pi must return (action, info) with info[{key!r}]; got keys {list(info)}.",
                    step="6.5")
        # log_std near -10 here: u = mu + std * eps rounds in float32, and equivalent log-densities (of eps or
        # of the rounded u) differ by up to ~1e-2; the well-conditioned density check is in the next test
        tol = dict(atol=1e-2, rtol=1e-3) if key == "log_prob" else {}
        assert_close(info[key], want_info[key], step="6.5", what=f"pi(z, eps) info[{key!r}]", **tol)


@pytest.mark.todo("6.5")
def test_pi_is_a_squashed_gaussian_with_bounded_log_std(monkeypatch):
    """log_prob is the density of tanh(N(mu, std)); the log-std stays in [-10, 2] even for huge outputs."""
    mine, _ = models(monkeypatch)
    z, _ = latents()
    with torch.no_grad():
        mine.policy[-1].weight.mul_(1000.0)  # extreme raw outputs
    with torch.no_grad():
        _, info = mine.pi(z, torch.zeros(B, A))
    assert_true(bool((info["log_std"] >= -10 - 1e-5).all() and (info["log_std"] <= 2 + 1e-5).all()),
                f"log_std left [log_std_min, log_std_max] = [-10, 2]: got values from "
                f"{float(info['log_std'].min()):.3g} to {float(info['log_std'].max()):.3g}. Bound it smoothly: "
                "min + (max - min) * (tanh(raw) + 1) / 2.", step="6.5")
    mine, _ = models(monkeypatch)
    with torch.no_grad():  # log-std near -1 (std ~0.37): a well-conditioned density to compare
        mine.policy[-1].weight[A:] = 0.0
        mine.policy[-1].bias[A:] = 0.5493  # tanh(0.5493) = 0.5 -> log_std = -10 + 12 * 1.5 / 2 = -1
        with seeded(7):
            eps = torch.randn(B, A)
        action, info = mine.pi(z, eps)
    assert_close(mine.pi(z, torch.zeros(B, A))[0], info["mean"], step="6.5",
                 what="the action for eps = 0 (it must be the squashed mean tanh(mu))")
    inside = ((action.abs() < 0.99) & (info["mean"].abs() < 0.99)).all(-1)  # (B,) away from +-1 (the 1e-6)
    mu = torch.atanh(info["mean"][inside])
    base = torch.distributions.Normal(mu, info["log_std"][inside].exp())
    dist = torch.distributions.TransformedDistribution(base, [torch.distributions.TanhTransform()])
    assert_close(info["log_prob"][inside], dist.log_prob(action[inside]).sum(-1), step="6.5", atol=2e-3,
                 rtol=1e-3, what="log_prob: the log-density of the tanh-squashed Gaussian, summed over "
                                 "action dims")


# ---------------------------------------------------------------- 6.6 Q reduction
def decoded_heads(model, z, a, net: str = "online") -> torch.Tensor:
    ref = reference(WM)
    return ref.two_hot_inv(model.q_logits(z, a, net), -10.0, 10.0)  # (num_q, B)


def pair_used(result: torch.Tensor, heads: torch.Tensor, how: str) -> tuple[int, int] | None:
    """The pair (i, j), i < j, whose min (or mean) equals `result` for every sample, if any."""
    for i, j in itertools.combinations(range(heads.shape[0]), 2):
        pair = torch.stack([heads[i], heads[j]])
        want = pair.min(0).values if how == "min" else pair.mean(0)
        if torch.allclose(result, want, atol=1e-5, rtol=1e-4):
            return i, j
    return None


@pytest.mark.todo("6.6")
def test_Q_all_and_two_head_reductions_match_reference(monkeypatch):
    """With 2 heads there is one pair, so the result is fixed whatever random choice is made."""
    mine, ref_model = models(monkeypatch, num_q=2)
    z, a = latents()
    got = mine.Q(z, a, "all")
    assert_shape(got, (2, B, 101), step="6.6", what='Q(z, a, "all") with 2 heads')
    assert_close(got, ref_model.Q(z, a, "all"), step="6.6", what='Q(z, a, "all") (the logits of every head)')
    for how in ("min", "avg"):
        got = mine.Q(z, a, how)
        assert_shape(got, (B,), step="6.6", what=f'Q(z, a, "{how}")')
        assert_close(got, ref_model.Q(z, a, how), step="6.6", what=f'Q(z, a, "{how}") with 2 heads')


@pytest.mark.todo("6.6")
def test_Q_reduces_two_different_random_heads(monkeypatch):
    """min / avg use one random pair of distinct heads for the whole batch, a new pair each call."""
    mine, _ = models(monkeypatch, num_q=5)
    z, a = latents()
    heads = decoded_heads(mine, z, a)
    for how in ("min", "avg"):
        pairs = set()
        for call in range(25):
            with seeded(100 + call):
                pair = pair_used(mine.Q(z, a, how), heads, how)
            assert_true(pair is not None,
                        f'Q(z, a, "{how}") with 5 heads is not the {how} of any two distinct heads. Pick '
                        "two heads with torch.randperm(num_q)[:2], decode both with two_hot_inv, then reduce "
                        "over those two only (not over all five).", step="6.6")
            pairs.add(pair)
        assert_true(len(pairs) > 1, f'Q(z, a, "{how}") used the same two heads in 25 calls; draw a new '
                    "random pair on every call.", step="6.6")


@pytest.mark.todo("6.6")
def test_Q_reads_the_network_it_is_asked_for(monkeypatch):
    """net="target" must use the target Qs (here deliberately different from the online ones)."""
    mine, _ = models(monkeypatch, num_q=3)
    perturb(mine.target_Qs, 0.5, 9)
    z, a = latents()
    with seeded(11):
        got = mine.Q(z, a, "min", net="target")
    assert_true(pair_used(got, decoded_heads(mine, z, a, "target"), "min") is not None,
                'Q(z, a, "min", net="target") is not the min of two target heads: pass `net` on to '
                "self.q_logits.", step="6.6")
