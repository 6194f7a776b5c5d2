"""Graded tests for the latent action model: the encoder's actions, the decoder's prediction, and the information loss
that guards against collapse (guide, chapter 7, steps 7.7-7.9).

    pytest paper7_genie --todo 7.7

Each step is compared with the reference (same weights) and checked against facts that hold for any correct
implementation: action t changes when frame t+1 changes and never when a later frame does; the decoder's prediction
of frame t+1 never changes when frames t+1.. change (it must not see its target) but does when action t changes; the
information loss is 0 for sure, evenly used codes and log|A| for codes that tell nothing, and matches the formula.
Shapes: B clips, T frames of H x W x C, D action size, |A| codes.
"""

from __future__ import annotations

import math

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, copy_weights, reference, seeded, target

from .conftest import wired

LAM = "paper7_genie.latent_actions"
B, T, SIZE, C, D, A = 2, 5, 8, 3, 6, 4


def models(monkeypatch, seed: int = 0):
    """(the reference LAM, yours with the same weights); your file's ST transformer and VQ are the reference's."""
    wired(monkeypatch, LAM, ("st_transformer", "tokenizer"))
    args = (SIZE, C, 4, 8, 2, 1, A, D, T, 0.25)
    with seeded(seed):
        ref = reference(LAM).LatentActionModel(*args)
    mine = copy_weights(ref, target(LAM).LatentActionModel(*args), step=None)
    return ref.requires_grad_(False), mine.requires_grad_(False)


def clips(seed: int = 1) -> torch.Tensor:
    with seeded(seed):
        return torch.randint(0, 256, (B, T, SIZE, SIZE, C), dtype=torch.uint8)


def with_new_frames(frames: torch.Tensor, first: int, seed: int = 9) -> torch.Tensor:
    """A copy of `frames` with frames first.. (0-based) replaced by other random frames."""
    other = frames.clone()
    with seeded(seed):
        other[:, first:] = torch.randint(0, 256, other[:, first:].shape, dtype=torch.uint8)
    return other


# ---------------------------------------------------------------- 7.7 the encoder's actions
@pytest.mark.todo("7.7")
def test_lam_encode_matches_reference(monkeypatch):
    ref, mine = models(monkeypatch)
    frames = clips()
    got = mine.encode(frames)
    assert_shape(got, (B, T - 1, D), step="7.7", what="LatentActionModel.encode(frames (2, 5, 8, 8, 3)) (one "
                 "action of D = 6 numbers per step between frames: T - 1 = 4)")
    assert_close(got, ref.encode(frames), step="7.7", what="encode(frames) with the reference's weights")


@pytest.mark.todo("7.7")
def test_action_t_sees_frame_t_plus_1_and_nothing_later(monkeypatch):
    """Action t (0-based: the step from frame t to frame t+1) changes when frame t+1 changes, and stays the same when
    only frames t+2.. change."""
    _, mine = models(monkeypatch, 2)
    frames = clips(3)
    a = mine.encode(frames)
    assert_shape(a, (B, T - 1, D), step="7.7", what="encode(frames (2, 5, 8, 8, 3))")
    b = mine.encode(with_new_frames(frames, 2))  # frames 2, 3, 4 changed (0-based)
    moved = (b - a).abs().amax(dim=(0, 2))  # (T-1,)
    assert_true(float(moved[0]) < 1e-5, f"action 0 (frames 0 -> 1) changed by {float(moved[0]):.3g} when only frames "
                "2.. changed: an action may see the frames up to its next frame only (the encoder is causal; read "
                "action t at frame t+1, not later).", step="7.7")
    assert_true(float(moved[1]) > 1e-4, "action 1 (frames 1 -> 2) did not change when frame 2 changed: the action "
                "of a step must carry information about the frame it leads to. Read action t at the encoder's output "
                "of frame t+1 (the first that has seen it), not of frame t: an off-by-one.", step="7.7")


# ---------------------------------------------------------------- 7.8 the decoder
@pytest.mark.todo("7.8")
def test_lam_decode_matches_reference(monkeypatch):
    ref, mine = models(monkeypatch, 4)
    frames = clips(5)
    with seeded(6):
        actions = torch.randn(B, T - 1, D)
    got = mine.decode(frames, actions)
    assert_shape(got, (B, T - 1, SIZE, SIZE, C), step="7.8", what="decode(frames (2, 5, 8, 8, 3), actions (2, 4, 6)) "
                 "(predictions of frames 2..T)")
    assert_close(got, ref.decode(frames, actions), step="7.8", what="decode(frames, actions) with the reference's "
                 "weights")


@pytest.mark.todo("7.8")
def test_decoder_never_sees_its_target_and_reads_the_action(monkeypatch):
    """The prediction of frame t+1 (output t) does not change when frames t+1.. change, and does change when
    action t changes; it does not change when a later action changes."""
    _, mine = models(monkeypatch, 7)
    frames = clips(8)
    with seeded(10):
        actions = torch.randn(B, T - 1, D)
    pred = mine.decode(frames, actions)
    assert_shape(pred, (B, T - 1, SIZE, SIZE, C), step="7.8", what="decode(frames (2, 5, 8, 8, 3), actions (2, 4, 6))")
    peek = float((mine.decode(with_new_frames(frames, 2), actions)[:, :2] - pred[:, :2]).abs().max())
    assert_true(peek < 1e-5, f"the predictions of frames 1 and 2 (outputs 0 and 1) changed by {peek:.3g} when frames "
                "2.. changed: the decoder sees the frame it must predict. It reads frames 1..T-1 only, and predicts "
                "frame t+1 at frame t.", step="7.8")
    other = actions.clone()
    other[:, 1] += 2.0
    moved = (mine.decode(frames, other) - pred).abs().amax(dim=(0, 2, 3, 4))  # (T-1,)
    assert_true(float(moved[0]) < 1e-5, f"changing action 1 changed the prediction of frame 1 (output 0) by "
                f"{float(moved[0]):.3g}: an action only affects its own step and later ones.", step="7.8")
    assert_true(float(moved[1]) > 1e-4, "changing action 1 did not change the prediction of frame 2 (output 1): add "
                "action t to every patch of frame t, whose output predicts frame t+1 (not one frame later).",
                step="7.8")


# ---------------------------------------------------------------- 7.9 the information loss
def information(a, codebook, temperature):
    got = target(LAM).action_information_loss(a, codebook, temperature)
    assert_shape(got, (), step="7.9", what="action_information_loss(...) (a scalar)")
    return got


def by_formula(a: list[list[float]], codebook: list[list[float]], temperature: float) -> float:
    """log|A| - (H(mean_m p_m) - mean_m H(p_m)), p_m = softmax(-||a_m - e||^2 / temperature), in plain Python."""
    probs = []
    for v in a:
        logits = [-sum((x - y) ** 2 for x, y in zip(v, e, strict=True)) / temperature for e in codebook]
        top = max(logits)
        w = [math.exp(s - top) for s in logits]
        probs.append([wi / sum(w) for wi in w])
    entropy = lambda q: -sum(x * math.log(x) for x in q if x > 0)  # noqa: E731
    p_bar = [sum(p[i] for p in probs) / len(probs) for i in range(len(codebook))]
    return math.log(len(codebook)) - (entropy(p_bar) - sum(entropy(p) for p in probs) / len(probs))


@pytest.mark.todo("7.9")
def test_information_loss_by_hand():
    """Two codes of two: sure and spread gives 0; both on one code gives log 2; an action exactly between the codes
    (each code as likely) gives log 2 too: its code tells nothing."""
    book = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    spread = information(torch.tensor([[0.0, 0.0], [10.0, 0.0]]), book, 1.0)
    assert_true(abs(float(spread)) < 1e-4, f"two actions, each exactly on a different code of 2: every code is sure "
                f"and the batch uses both evenly, so the loss must be 0; got {float(spread):.4g}.", step="7.9")
    one = information(torch.tensor([[0.0, 0.0], [0.0, 0.1]]), book, 1.0)
    assert_true(float(one) > 0, f"two actions both at code 0: the loss must be log 2 = 0.693 (the codes tell "
                f"nothing), got {float(one):.4g}. Is the sign of the information flipped?", step="7.9")
    assert_close(one, math.log(2), step="7.9", atol=1e-4,
                 what="action_information_loss of two actions both at code 0 of 2 (expected log 2)")
    middle = information(torch.tensor([[5.0, 0.0]]), book, 1.0)
    assert_true(float(middle) > 0.5, f"one action exactly between the two codes: each code is as likely, so the code "
                f"tells nothing and the loss must be log 2; got {float(middle):.4g}. Subtract the average entropy of "
                "each action's own assignment from the entropy of the batch's average: without it, actions sitting "
                "between all codes look like even use.", step="7.9")
    assert_close(middle, math.log(2), step="7.9", atol=1e-4,
                 what="action_information_loss of one action halfway between two codes (expected log 2)")


@pytest.mark.todo("7.9")
def test_information_loss_matches_the_formula_with_gradients():
    book = [[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]]
    a = [[0.1, 0.0], [0.3, 0.2], [1.9, 0.4], [0.8, 0.6]]
    for temperature in (1.0, 0.5):
        got = information(torch.tensor(a), torch.tensor(book), temperature)
        assert_close(got, by_formula(a, book, temperature), step="7.9", atol=1e-5,
                     what=f"action_information_loss of 4 actions and 3 codes at temperature {temperature} (log 3 minus "
                          "H(mean of p) plus the mean of H(p), p = softmax(-||a - e||^2 / temperature) over the codes)")
    with seeded(11):
        x = torch.randn(2, 3, 4, requires_grad=True)
        codebook = torch.randn(5, 4)
    got = information(x, codebook, 2.0)
    assert_true(got.requires_grad, "the information loss carries no gradient: it must train the encoder's actions.",
                step="7.9")
    assert_close(got, reference(LAM).action_information_loss(x, codebook, 2.0), step="7.9",
                 what="action_information_loss of actions (2, 3, 4) and 5 codes")
