"""Graded tests for the MaskGIT dynamics model: the random mask, the model's inputs, the masked-token loss, the cosine
schedule and iterative decoding (guide, chapter 7, steps 7.10-7.14).

    pytest paper7_genie --todo 7.14

Each step is compared with the reference and checked against facts that hold for any correct implementation: the
masking rates of many clips, an action that reaches the frame it leads to and no earlier one, masked tokens that the
model cannot read, a loss worked out by hand, the schedule's values by hand, and a MaskGIT decoder watched call by
call on a fake model whose logits are known.
Shapes: B clips, T frames, N tokens per frame, V codes, D action size.
"""

from __future__ import annotations

import math

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, copy_weights, reference, seeded, target

from .conftest import borrow, wired

DYN = "paper7_genie.dynamics"
B, T, N, V, D = 2, 4, 4, 6, 5


# ---------------------------------------------------------------- 7.10 the random mask
def mask_of(batch, frames, tokens, mask_min, seed=0, module=None):
    f = (module or target(DYN)).bernoulli_mask
    return f(batch, frames, tokens, mask_min, torch.Generator().manual_seed(seed))


@pytest.mark.todo("7.10")
def test_mask_rates_are_uniform_per_clip_and_spare_the_first_frame():
    m = mask_of(64, 4, 400, 0.5)
    assert_shape(m, (64, 4, 400), step="7.10", what="bernoulli_mask(64, 4, 400, 0.5)")
    assert_true(m.dtype == torch.bool, f"the mask must be a bool tensor (True = masked), got {m.dtype}.", step="7.10")
    assert_true(not m[:, 0].any(), "the first frame has masked tokens: it is the prompt, given at generation time, "
                "so it is never masked.", step="7.10")
    rates = m[:, 1:].float().mean(dim=(1, 2))  # (64,): each clip's masked share, about its rate r
    mean, spread, low = float(rates.mean()), float(rates.std()), float(rates.min())
    assert_true(abs(mean - 0.75) < 0.05, f"the clips' masked shares average {mean:.3f}; with r ~ U(0.5, 1) they "
                "average 0.75. (A token is masked when a uniform draw falls below r, with probability r.)", step="7.10")
    assert_true(spread > 0.09, f"the clips' masked shares hardly differ (std {spread:.3f}; U(0.5, 1) has std 0.144): "
                "draw one rate per clip, not one for the whole batch.", step="7.10")
    assert_true(low > 0.43, f"a clip has only {low:.3f} of its tokens masked: the rate is at least mask_min = 0.5.",
                step="7.10")
    high = mask_of(32, 3, 400, 0.9, seed=1)[:, 1:].float().mean(dim=(1, 2))
    assert_true(float(high.min()) > 0.85, f"with mask_min = 0.9 a clip has only {float(high.min()):.3f} masked: use "
                "the mask_min argument.", step="7.10")
    ref = mask_of(64, 4, 400, 0.5, module=reference(DYN))[:, 1:].float().mean()
    assert_close(m[:, 1:].float().mean(), ref, step="7.10", atol=0.05,
                 what="the share of masked tokens over 64 clips, against the reference's (distributions, not draws)")


@pytest.mark.todo("7.10")
def test_mask_comes_from_the_generator():
    a, b, c = mask_of(4, 3, 50, 0.5, seed=7), mask_of(4, 3, 50, 0.5, seed=7), mask_of(4, 3, 50, 0.5, seed=8)
    assert_true(torch.equal(a, b), "two calls with generators of the same seed gave different masks: draw every random "
                "number with the generator you are given.", step="7.10")
    assert_true(not torch.equal(a, c), "generators of different seeds gave the same mask.", step="7.10")


# ---------------------------------------------------------------- 7.11 the model's inputs
def dynamics(monkeypatch, seed=0):
    wired(monkeypatch, DYN, ("st_transformer",))
    args = (V, N, 8, 2, 1, D, T)
    with seeded(seed):
        ref = reference(DYN).DynamicsModel(*args)
    return ref, copy_weights(ref, target(DYN).DynamicsModel(*args), step="7.11")


def inputs(seed=1):
    with seeded(seed):
        tokens = torch.randint(0, V, (B, T, N))
        actions = torch.randn(B, T - 1, D)
        mask = torch.rand(B, T, N) < 0.5
    mask[:, 0] = False
    return tokens, actions, mask


@pytest.mark.todo("7.11")
def test_dynamics_forward_matches_reference(monkeypatch):
    ref, mine = dynamics(monkeypatch)
    tokens, actions, mask = inputs()
    got = mine(tokens.clone(), actions, mask)
    assert_shape(got, (B, T, N, V), step="7.11", what="DynamicsModel(tokens (2, 4, 4), actions (2, 3, 5), mask) "
                 "(logits over the V = 6 codes for every token)")
    assert_close(got, ref(tokens, actions, mask), step="7.11", what="the logits with the reference's weights")


@pytest.mark.todo("7.11")
def test_dynamics_inputs_actions_masks_and_gradients(monkeypatch):
    """Action t reaches frame t+1 and later, never frames 1..t; masked tokens are unreadable and unlike any real
    token; the caller's tokens are left as they were; no gradient flows into the actions."""
    _, mine = dynamics(monkeypatch, 2)
    mine.requires_grad_(False)
    tokens, actions, mask = inputs(3)
    before = tokens.clone()
    out = mine(tokens, actions, mask)
    assert_true(torch.equal(tokens, before), "the model changed the tokens it was given (an in-place masked fill?): "
                "the caller's tokens are the loss's targets, so masking them in place overwrites the very tokens to be "
                "predicted. Build a new tensor.", step="7.11")
    other = actions.clone()
    other[:, 1] += 3.0  # action 1 (0-based): the step from frame 1 to frame 2
    moved = (mine(tokens, other, mask) - out).abs().amax(dim=(0, 2, 3))  # (T,)
    assert_true(float(moved[:2].max()) < 1e-5, f"changing action 1 changed the logits of frames 0 and 1 (by "
                f"{float(moved[:2].max()):.3g}): action t explains the step t -> t+1, so it joins frame t+1 (frame t's "
                "prediction must not see it). An off-by-one?", step="7.11")
    assert_true(float(moved[2]) > 1e-4, "changing action 1 did not change the logits of frame 2: add action t to every "
                "token of frame t+1.", step="7.11")
    hidden = tokens.clone()
    hidden[mask] = (hidden[mask] + 1) % V  # other values where masked
    leak = float((mine(hidden, actions, mask) - out).abs().max())
    assert_true(leak < 1e-5, f"changing the values of masked tokens changed the logits (by {leak:.3g}): a masked token "
                "must be replaced by the mask id before it is embedded.", step="7.11")
    spot = (0, 2, 1)
    zero_mask, zero_tok = mask.clone(), tokens.clone()
    zero_mask[spot], zero_tok[spot] = True, 0
    as_mask = mine(zero_tok, actions, zero_mask)
    zero_mask[spot] = False
    as_zero = mine(zero_tok, actions, zero_mask)
    assert_true(float((as_mask - as_zero).abs().max()) > 1e-5, "a masked token looks the same to the model as the real "
                "token 0: use the extra id mask_id (= V) for masked positions, not a real code.", step="7.11")
    mine.requires_grad_(True)
    acts = actions.clone().requires_grad_(True)
    mine(tokens, acts, mask).sum().backward()
    grad = 0.0 if acts.grad is None else float(acts.grad.abs().max())
    assert_true(grad == 0.0, f"a gradient (up to {grad:.3g}) reaches the latent actions: they enter with a "
                "stop-gradient, sg(a), so that the dynamics never trains the latent action model.", step="7.11")


# ---------------------------------------------------------------- 7.12 the masked-token loss
LOGITS = torch.tensor([[[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 0.0]]]])  # (1, 1, 4, 3)
TARGETS = torch.tensor([[[0, 2, 1, 1]]])
MASK = torch.tensor([[[True, True, False, False]]])


def ce(row: list[float], k: int) -> float:
    return math.log(sum(math.exp(x) for x in row)) - row[k]


@pytest.mark.todo("7.12")
def test_masked_token_loss_by_hand():
    out = target(DYN).masked_token_loss(LOGITS, TARGETS, MASK)
    assert_true(isinstance(out, (tuple, list)) and len(out) == 2, "masked_token_loss must return (loss, accuracy).",
                step="7.12")
    loss, acc = out
    assert_shape(loss, (), step="7.12", what="the loss of masked_token_loss (a scalar)")
    rows = LOGITS[0, 0].tolist()
    want = (ce(rows[0], 0) + ce(rows[1], 2)) / 2  # the two masked tokens only
    everything = sum(ce(r, k) for r, k in zip(rows, TARGETS.flatten().tolist(), strict=True)) / 4
    assert_true(abs(float(loss) - everything) > 1e-4, "the loss averages over every token: score the masked ones "
                "only (the visible ones are given to the model, so predicting them teaches copying).", step="7.12")
    assert_close(loss, want, step="7.12", atol=1e-5,
                 what="the cross-entropy of 4 tokens of which the first two are masked (expected the mean over the "
                      f"masked ones, ({ce(rows[0], 0):.4f} + {ce(rows[1], 2):.4f}) / 2)")
    assert_close(acc, 0.5, step="7.12", atol=1e-6,
                 what="the accuracy over the masked tokens (token 0 is right, token 1 wrong: 0.5; the visible tokens "
                      "do not count)")
    with seeded(4):
        logits, targets = torch.randn(2, 3, 5, 7), torch.randint(0, 7, (2, 3, 5))
        mask = torch.rand(2, 3, 5) < 0.6
    got = target(DYN).masked_token_loss(logits, targets, mask)
    want = reference(DYN).masked_token_loss(logits, targets, mask)
    assert_close(got[0], want[0], step="7.12", what="the loss on (2, 3, 5, 7) logits")
    assert_close(got[1], want[1], step="7.12", what="the accuracy on (2, 3, 5, 7) logits")


@pytest.mark.todo("7.12")
def test_masked_token_loss_is_a_mean_with_gradients_and_zero_without_masks():
    logits = LOGITS.repeat(1, 1, 2, 1).requires_grad_(True)  # (1, 1, 8, 3): each token twice
    loss, _ = target(DYN).masked_token_loss(logits, TARGETS.repeat(1, 1, 2), MASK.repeat(1, 1, 2))
    rows = LOGITS[0, 0].tolist()
    assert_close(loss, (ce(rows[0], 0) + ce(rows[1], 2)) / 2, step="7.12", atol=1e-5,
                 what="the loss with every token twice (a mean does not change; a sum doubles)")
    loss.backward()
    assert_true(float(logits.grad[~MASK.repeat(1, 1, 2)].abs().max()) == 0.0, "the loss sends gradients to visible "
                "tokens' logits: only masked tokens are scored.", step="7.12")
    loss, acc = target(DYN).masked_token_loss(LOGITS, TARGETS, torch.zeros_like(MASK))
    assert_true(float(loss) == 0.0 and float(acc) == 0.0, f"with nothing masked the loss and accuracy must be 0 (not "
                f"NaN), got {float(loss)}, {float(acc)}.", step="7.12")


# ---------------------------------------------------------------- 7.13 the cosine schedule
@pytest.mark.todo("7.13")
def test_schedule_by_hand():
    f = target(DYN).masked_after
    got = [f(k, 4, 16) for k in range(4)]
    assert_true(all(isinstance(g, int) for g in got), f"masked_after must return Python ints (token counts), got "
                f"{[type(g).__name__ for g in got]}.", step="7.13")
    assert_true(got != [12, 8, 4, 0], "a linear schedule: MaskGIT's is the cosine, n cos(pi/2 (k+1)/K).", step="7.13")
    assert_true(got != [16, 14, 11, 6], "after step k, k + 1 of the K steps are done: use (k + 1) / K, not k / K "
                "(with k / K the first step unmasks nothing and the last leaves tokens masked).", step="7.13")
    assert_close(torch.tensor(got), torch.tensor([14, 11, 6, 0]), step="7.13", atol=0,
                 what="masked_after(k, 4, 16) for k = 0..3 (floor of 16 cos(pi/8), 16 cos(pi/4), 16 cos(3pi/8), "
                      "16 cos(pi/2): 14, 11, 6, 0)")
    ref = reference(DYN).masked_after
    assert_close(torch.tensor([f(k, 25, 64) for k in range(25)]), torch.tensor([ref(k, 25, 64) for k in range(25)]),
                 step="7.13", atol=0, what="masked_after(k, 25, 64) for k = 0..24")


@pytest.mark.todo("7.13")
def test_schedule_unmasks_everything_at_the_end():
    f = target(DYN).masked_after
    for steps in (1, 2, 3, 8, 25, 30):
        for n in (1, 2, 7, 16, 64, 256, 999):
            counts = [f(k, steps, n) for k in range(steps)]
            assert_true(counts[-1] == 0, f"masked_after({steps - 1}, {steps}, {n}) = {counts[-1]}: after the last step "
                        "no token may stay masked (cos(pi/2) is 6e-17 in floating point: round down).", step="7.13")
            assert_true(all(a >= b for a, b in zip(counts, counts[1:], strict=False)) and counts[0] < n,
                        f"masked_after(k, {steps}, {n}) over k = {counts}: it must start below n and never grow.",
                        step="7.13")


# ---------------------------------------------------------------- 7.14 MaskGIT decoding
class FakeModel:
    """Known logits for the new frame at every call (fresh random ones per call), and a record of every call."""

    mask_id = V

    def __init__(self, seed: int = 0, scale: float = 2.0) -> None:
        self.gen, self.scale, self.calls = torch.Generator().manual_seed(seed), scale, []

    def __call__(self, tokens, actions, mask):
        logits = torch.randn(tokens.shape[0], tokens.shape[2], V, generator=self.gen) * self.scale  # (B, N, V)
        self.calls.append({"tokens": tokens.clone(), "actions": actions.clone(), "mask": mask.clone(),
                           "logits": logits})
        out = torch.zeros(*tokens.shape, V)
        out[:, -1] = logits
        return out


def decode(steps=5, temperature=0.0, seed=0, module=None, n=16):
    with seeded(20):
        past, actions = torch.randint(0, V, (B, 2, n)), torch.randn(B, 2, D)
    model = FakeModel(seed)
    out = (module or target(DYN)).maskgit_generate(model, past.clone(), actions.clone(), steps, temperature,
                                                   torch.Generator().manual_seed(1))
    return out, model, past, actions


@pytest.mark.todo("7.14")
def test_maskgit_follows_the_schedule_and_keeps_what_it_kept(monkeypatch):
    borrow(monkeypatch, DYN, ("masked_after",))  # the reference's schedule (7.13)
    steps, n = 5, 16
    out, model, past, actions = decode(steps, n=n)
    assert_shape(out, (B, n), step="7.14", what="maskgit_generate(model, tokens (2, 2, 16), actions (2, 2, 5), 5, 0.0)")
    assert_true(len(model.calls) == steps, f"expected one model call per step ({steps}), got {len(model.calls)}.",
                step="7.14")
    want = [n] + [int(math.floor(n * math.cos(math.pi / 2 * k / steps))) for k in range(1, steps)]
    for k, call in enumerate(model.calls):
        assert_true(torch.equal(call["tokens"][:, :2], past) and not call["mask"][:, :2].any(),
                    f"call {k}: the past frames must be passed as they are and never masked.", step="7.14")
        assert_true(torch.equal(call["actions"], actions), f"call {k}: pass the actions as they are.", step="7.14")
        counts = call["mask"][:, 2].sum(-1).tolist()
        assert_true(counts == [want[k]] * B, f"call {k}: {counts} tokens of the new frame masked, expected {want[k]} "
                    "(all at first, then masked_after of the previous step).", step="7.14")
    for k in range(1, steps):
        before, now = model.calls[k - 1], model.calls[k]
        kept = ~before["mask"][:, 2]
        assert_true(not (now["mask"][:, 2] & kept).any(), f"call {k}: a token that was already kept is masked again: "
                    "tokens once kept never change (give them infinite confidence).", step="7.14")
        same = (now["tokens"][:, 2] == before["tokens"][:, 2]) | ~kept
        assert_true(bool(same.all()), f"call {k}: a kept token changed its value.", step="7.14")
        new = before["mask"][:, 2] & ~now["mask"][:, 2]  # unmasked at step k - 1
        still = now["mask"][:, 2]
        conf = before["logits"].softmax(-1).amax(-1)  # temperature 0: the confidence of the argmax token
        for b in range(B):
            if new[b].any() and still[b].any():
                assert_true(float(conf[b][new[b]].min()) >= float(conf[b][still[b]].max()) - 1e-6,
                            f"step {k - 1}: a token was kept although a more confident one stayed masked: keep the "
                            "most confident, re-mask the least confident.", step="7.14")
    final = model.calls[-1]
    assert_true(torch.equal(out[~final["mask"][:, 2]], final["tokens"][:, 2][~final["mask"][:, 2]]),
                "the result differs from the tokens kept along the way.", step="7.14")


@pytest.mark.todo("7.14")
def test_maskgit_takes_the_most_likely_tokens_when_cold(monkeypatch):
    """temperature 0, and a tiny temperature: every token is the argmax of the logits of the call that fixed it."""
    borrow(monkeypatch, DYN, ("masked_after",))
    for temperature in (0.0, 1e-4):
        out, model, _, _ = decode(4, temperature, seed=3)
        assert_true(bool(((out >= 0) & (out < V)).all()), f"tokens outside 0..{V - 1} (the mask id is {V}): "
                    f"{out.tolist()}", step="7.14")
        want = torch.full_like(out, -1)
        for k, call in enumerate(model.calls):
            fixed_now = call["mask"][:, -1] & ~(model.calls[k + 1]["mask"][:, -1] if k + 1 < len(model.calls)
                                                else torch.zeros_like(call["mask"][:, -1]))
            want[fixed_now] = call["logits"].argmax(-1)[fixed_now]
        assert_close(out, want, step="7.14", atol=0,
                     what=f"maskgit_generate at temperature {temperature} (each token the most likely one of the call "
                          "that kept it; the temperature divides the logits before sampling)")
    out, *_ = decode(4, 0.0, seed=3)
    ref, *_ = decode(4, 0.0, seed=3, module=reference(DYN))
    assert_close(out, ref, step="7.14", atol=0, what="maskgit_generate at temperature 0 against the reference")
