"""Graded tests for the discrete RSSM (guide, chapter 3, steps 3.1-3.4).

    pytest paper3_dreamerv2 --todo 3.1

Each step is compared with the reference (weights copied, samples replaced by the most likely class
where results are compared) and checked against facts that hold for any correct implementation.
"""

from __future__ import annotations

import math

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, copy_weights, reference, seeded, target

RSSM = "paper3_dreamerv2.rssm"
A, E, S, K, D, H = 2, 6, 3, 4, 12, 10  # action, embed, variables, classes, deter, hidden sizes


def is_onehot(x: torch.Tensor) -> bool:
    """Entries 0 or 1 (up to float rounding: 1 + p - p may be 0.99999994) and one 1 per variable."""
    near = x.round()
    return bool((x - near).abs().max() < 1e-5 and ((near == 0) | (near == 1)).all() and (near.sum(-1) == 1).all())


# ---------------------------------------------------------------- 3.1 straight-through samples
@pytest.mark.todo("3.1")
def test_onehot_sample_values_are_onehot_draws():
    with seeded(0):
        logits = torch.randn(50, S, K) * 2
    f = target(RSSM).onehot_sample
    with seeded(1):
        drawn = f(logits)
    assert_shape(drawn, (50, S, K), step="3.1", what="onehot_sample(logits (50, 3, 4))")
    assert_true(is_onehot(drawn.detach()), "the forward value must be exactly one-hot: entries 0 or 1 and one 1 "
                "per variable. If it is one-hot plus the probabilities, the stop-gradient is missing on the "
                "subtracted term (sample + p - sg(p)).", step="3.1")
    mode = f(logits, sample=False)
    assert_true(is_onehot(mode.detach()) and bool((mode.argmax(-1) == logits.argmax(-1)).all()),
                "onehot_sample(logits, sample=False) must be the one-hot of the most likely class.", step="3.1")
    assert_close(mode, reference(RSSM).onehot_sample(logits, sample=False), step="3.1", what="the mode")


@pytest.mark.todo("3.1")
def test_onehot_sample_follows_the_probabilities():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    logits = probs.log().expand(20000, K)
    with seeded(2):
        freq = target(RSSM).onehot_sample(logits).detach().mean(0)
    err = (freq - probs).abs().max().item()
    assert_true(err < 0.02, f"20000 draws from probabilities {probs.tolist()} came out with frequencies "
                f"{[round(v, 3) for v in freq.tolist()]}; a draw must follow softmax(logits).", step="3.1")


@pytest.mark.todo("3.1")
def test_onehot_sample_gradient_is_that_of_the_probabilities():
    """Straight-through: d sum(w * sample) / d logits == d sum(w * softmax(logits)) / d logits."""
    with seeded(3):
        logits, w = torch.randn(6, S, K), torch.randn(6, S, K)
    for sample in (True, False):
        x = logits.clone().requires_grad_(True)
        with seeded(4):
            out = target(RSSM).onehot_sample(x, sample)
        assert_true(out.requires_grad, "the one-hot sample carries no gradient: add p - sg(p), with p the "
                    "class probabilities, so the backward pass sees p.", step="3.1")
        (grad,) = torch.autograd.grad((w * out).sum(), x)
        y = logits.clone().requires_grad_(True)
        (want,) = torch.autograd.grad((w * y.softmax(-1)).sum(), y)
        if torch.allclose(grad, -want, atol=1e-6):
            raise AssertionError("the gradient has the wrong sign: the stop-gradient must be on the "
                                 "subtracted probabilities, sample + p - sg(p).")
        assert_close(grad, want, step="3.1", what=f"gradient of sum(w * onehot_sample(logits, {sample}))")


# ---------------------------------------------------------------- 3.2 the GRU cell
def cell_pair(inp: int = 5, size: int = 4):
    with seeded(0):
        ref = reference(RSSM).NormGRUCell(inp, size)
    tgt = copy_weights(ref, target(RSSM).NormGRUCell(inp, size), step="3.2")
    return ref, tgt


@pytest.mark.todo("3.2")
def test_gru_matches_reference():
    ref, tgt = cell_pair()
    with seeded(1):
        x, h = torch.randn(7, 5) * 2, torch.randn(7, 4)
    out = tgt(x, h)
    assert_shape(out, (7, 4), step="3.2", what="NormGRUCell(x (7, 5), h (7, 4))")
    assert_close(out, ref(x, h), step="3.2", what="the new state h'")


@pytest.mark.todo("3.2")
def test_gru_gates_by_hand():
    """With the LayerNorm's gain at 0 its output is its bias: the gates become known numbers."""
    _, cell = cell_pair(5, 2)
    b_reset, b_cand, b_update = [0.0, 2.0], [3.0, -1.0], [0.0, 4.0]
    with torch.no_grad():
        cell.norm.weight.zero_()
        cell.norm.bias.copy_(torch.tensor(b_reset + b_cand + b_update))
    h = torch.tensor([[0.5, -2.0]])
    out = cell(torch.randn(1, 5), h)[0]
    sig = lambda v: 1 / (1 + math.exp(-v))
    want = []
    for i in range(2):
        r, u = sig(b_reset[i]), sig(b_update[i] - 1)
        want.append(u * math.tanh(r * b_cand[i]) + (1 - u) * h[0, i].item())
    assert_close(out, torch.tensor(want), step="3.2", atol=1e-5,
                 what="h' with gates fixed at reset=[0, 2], candidate=[3, -1], update=[0, 4] (before the -1 bias)"
                      ": r = sigmoid(.), c = tanh(r * c), u = sigmoid(. - 1), h' = u c + (1 - u) h")


@pytest.mark.todo("3.2")
def test_gru_fresh_cell_keeps_most_of_its_state():
    _, cell = cell_pair(5, 3)
    with torch.no_grad():
        cell.linear.weight.zero_()
    h = torch.tensor([[1.0, -2.0, 0.5]])
    out = cell(torch.randn(1, 5), h)
    keep = 1 - 1 / (1 + math.exp(1))  # 1 - sigmoid(-1) = 0.731
    assert_close(out, keep * h, step="3.2", what="h' of a cell whose linear layer is zero: the gates are all 0 after "
                 "the LayerNorm, so c = 0 and u = sigmoid(0 - 1) = 0.269, h' = 0.731 h (0.5 h means the update bias "
                 "-1 is missing; 0.269 h means u and 1 - u are swapped)")


@pytest.mark.todo("3.2")
def test_gru_normalises_its_gates():
    """LayerNorm makes the gates invariant to the scale of W [x, h] (up to its epsilon)."""
    _, cell = cell_pair(5, 4)
    with seeded(5):
        x, h = torch.randn(3, 5), torch.randn(3, 4)
    a = cell(x, h)
    with torch.no_grad():
        cell.linear.weight.mul_(10.0)
    assert_close(cell(x, h), a, step="3.2", atol=1e-3,
                 what="h' after scaling the linear layer by 10 (a LayerNorm over the 3D gate values undoes it)")


# ---------------------------------------------------------------- 3.3 prior and posterior steps
def rssm_pair():
    with seeded(0):
        ref = reference(RSSM).RSSM(A, E, S, K, D, H)
    return ref, copy_weights(ref, target(RSSM).RSSM(A, E, S, K, D, H), step="3.3")


def random_state(batch: int, seed: int = 1) -> dict[str, torch.Tensor]:
    with seeded(seed):
        logits = torch.randn(batch, S, K)
        stoch = torch.nn.functional.one_hot(logits.argmax(-1), K).float()
        return {"logits": logits, "stoch": stoch, "deter": torch.randn(batch, D)}


def compare(got: dict, want: dict, step: str, what: str) -> None:
    assert_true(isinstance(got, dict) and set(want) <= set(got),
                f"{what} must be a dict with keys logits, stoch, deter; got {type(got).__name__} "
                f"{sorted(got) if isinstance(got, dict) else ''}", step=step)
    for k in want:
        assert_close(got[k], want[k], step=step, what=f"{what}[{k!r}]")


@pytest.mark.todo("3.3")
def test_img_step_matches_reference(no_noise):
    ref, tgt = rssm_pair()
    state, action = random_state(4), torch.randn(4, A)
    out = tgt.img_step(state, action)
    assert_shape(out["logits"], (4, S, K), step="3.3", what="prior logits")
    compare(out, ref.img_step(state, action), "3.3", "img_step(...)")


@pytest.mark.todo("3.3")
def test_obs_step_matches_reference(no_noise):
    ref, tgt = rssm_pair()
    state, action = random_state(4), torch.randn(4, A)
    embed = torch.randn(4, E)
    post, prior = tgt.obs_step(state, action, embed)
    want_post, want_prior = ref.obs_step(state, action, embed)
    compare(prior, want_prior, "3.3", "the prior of obs_step")
    compare(post, want_post, "3.3", "the posterior of obs_step")


@pytest.mark.todo("3.3")
def test_steps_what_each_one_sees():
    """The prior never sees the observation, the posterior does; both share the new h_t; sample=False
    gives the one-hot of the most likely classes."""
    _, rssm = rssm_pair()
    state, action = random_state(4), torch.randn(4, A)
    with seeded(6):
        e1, e2 = torch.randn(4, E), torch.randn(4, E) * 3
    post1, prior1 = rssm.obs_step(state, action, e1, sample=False)
    post2, prior2 = rssm.obs_step(state, action, e2, sample=False)
    assert_close(prior1["logits"], prior2["logits"], step="3.3", what="prior logits for two observations (must "
                 "not depend on the observation)")
    diff = (post1["logits"] - post2["logits"]).abs().max().item()
    assert_true(diff > 1e-4, "the posterior's logits did not change when the observation did: the posterior "
                "must read [h_t, e_t].", step="3.3")
    assert_close(post1["deter"], prior1["deter"], step="3.3", what="posterior deter (the prior's new h_t)")
    moved = (prior1["deter"] - state["deter"]).abs().max().item()
    assert_true(moved > 1e-4, "deter did not change: h_t comes out of the GRU, not from the previous state.",
                step="3.3")
    for name, s in (("prior", prior1), ("posterior", post1)):
        assert_true(is_onehot(s["stoch"].detach()) and bool((s["stoch"].argmax(-1) == s["logits"].argmax(-1)).all()),
                    f"with sample=False the {name}'s stoch must be the one-hot of its most likely classes.",
                    step="3.3")
    feat = rssm.feat(post1)
    assert_shape(feat, (4, S * K + D), step="3.3", what="feat(posterior)")


# ---------------------------------------------------------------- 3.4 observe
def sequences(b: int = 3, t: int = 6, seed: int = 7):
    with seeded(seed):
        embed, action = torch.randn(b, t, E), torch.randn(b, t, A)
    is_first = torch.zeros(b, t)
    is_first[:, 0] = 1.0
    is_first[1, 3] = 1.0  # a new episode starts inside the chunk (its stored action is from the old one)
    return embed, action, is_first


@pytest.mark.todo("3.4")
def test_observe_matches_reference(no_noise):
    ref, tgt = rssm_pair()
    embed, action, is_first = sequences()
    post, prior = tgt.observe(embed, action, is_first)
    want_post, want_prior = ref.observe(embed, action, is_first)
    assert_shape(post["logits"], (3, 6, S, K), step="3.4", what="posterior logits of observe")
    compare(post, want_post, "3.4", "posterior")
    compare(prior, want_prior, "3.4", "prior")


@pytest.mark.todo("3.4")
def test_observe_is_obs_step_in_a_loop():
    """observe == obs_step from the previous *posterior*, one step at a time (sample=False)."""
    _, rssm = rssm_pair()
    embed, action, _ = sequences()
    is_first = torch.zeros(3, 6)
    post, prior = rssm.observe(embed, action, is_first, state=random_state(3), sample=False)
    state = random_state(3)
    for t in range(6):
        state, p = rssm.obs_step(state, action[:, t], embed[:, t], sample=False)
        assert_close(post["deter"][:, t], state["deter"], step="3.4",
                     what=f"posterior deter at t={t} (each step starts from the previous posterior)")
        assert_close(prior["logits"][:, t], p["logits"], step="3.4", what=f"prior logits at t={t}")


@pytest.mark.todo("3.4")
def test_observe_resets_at_episode_start():
    """From an episode's first step on, nothing of the earlier episode (state or action) may matter."""
    _, rssm = rssm_pair()
    embed, action, is_first = sequences()
    post, _ = rssm.observe(embed, action, is_first, sample=False)
    fresh_action = action[1:2, 3:].clone()
    fresh_action[:, 0] = 0.0  # what a fresh episode starts with
    fresh, _ = rssm.observe(embed[1:2, 3:], fresh_action, is_first[1:2, 3:], sample=False)
    assert_close(post["deter"][1, 3:], fresh["deter"][0], step="3.4",
                 what="deter after the episode start at t=3 vs the same episode observed on its own (zero state "
                      "and zero action at the start: multiply both by 1 - is_first)")
    assert_close(post["logits"][1, 3:], fresh["logits"][0], step="3.4", what="posterior logits after the reset")
