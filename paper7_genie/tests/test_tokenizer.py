"""Graded tests for the video tokenizer's pieces: patches, vector quantisation with a straight-through gradient, and
dead-code restarts (guide, chapter 7, steps 7.4-7.6).

    pytest paper7_genie --todo 7.5

Each step is compared with the reference and checked against facts that hold for any correct implementation: patches
worked out by hand on a tiny frame, unpatchify undoing patchify, the nearest code by brute force, values and gradients
worked out by hand, and what a restart may and may not touch.
"""

from __future__ import annotations

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, reference, seeded, target

TOK = "paper7_genie.tokenizer"


# ---------------------------------------------------------------- 7.4 patches
def tiny_frames() -> torch.Tensor:
    """(1, 1, 4, 6, 2): a 4x6 frame of 2 channels whose every value is different."""
    return torch.arange(48.0).reshape(1, 1, 4, 6, 2)


@pytest.mark.todo("7.4")
def test_patchify_by_hand():
    frames = tiny_frames()
    got = target(TOK).patchify(frames, 2)
    assert_shape(got, (1, 1, 6, 8), step="7.4",
                 what="patchify(frames (1, 1, 4, 6, 2), patch=2) (6 patches of 2 x 2 x 2 numbers)")
    by_hand = torch.stack([frames[0, 0, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(-1)
                           for i in range(2) for j in range(3)])  # (6, 8): row by row, each (P, P, C)
    column_major = by_hand.reshape(2, 3, 8).transpose(0, 1).reshape(6, 8)
    assert_true(not torch.equal(got[0, 0], column_major), "the patches come column by column: number them row by "
                "row (patch k is at row k // (W/P), column k % (W/P)).", step="7.4")
    assert_close(got[0, 0], by_hand, step="7.4", atol=0,
                 what="patchify of a 4 x 6 frame with 2 channels, patch 2: patch k (row by row) must hold the 2 x 2 x "
                      "2 block of pixels at its place, flattened in the order (row, column, channel)")
    with seeded(0):
        x = torch.randint(0, 255, (2, 3, 8, 12, 3)).float()
    assert_close(target(TOK).patchify(x, 4), reference(TOK).patchify(x, 4), step="7.4", what="patchify(x, 4)")


@pytest.mark.todo("7.4")
def test_unpatchify_inverts_patchify():
    with seeded(1):
        x = torch.rand(2, 3, 8, 12, 3)
    tgt, ref = target(TOK), reference(TOK)
    back = tgt.unpatchify(ref.patchify(x, 4), 4, 8, 12)
    assert_shape(back, (2, 3, 8, 12, 3), step="7.4", what="unpatchify(patches (2, 3, 6, 48), 4, height 8, width 12)")
    assert_close(back, x, step="7.4", atol=0,
                 what="unpatchify(patchify(x)) for frames of 8 x 12 (it must give the frames back exactly)")
    assert_close(tgt.unpatchify(tgt.patchify(x, 4), 4, 8, 12), x, step="7.4", atol=0,
                 what="your unpatchify of your patchify of 8 x 12 frames")


# ---------------------------------------------------------------- 7.5 vector quantisation
CODEBOOK = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0], [-2.0, 0.0]])
POINTS = torch.tensor([[[0.9, 0.2], [-1.5, 0.1]], [[0.1, 0.1], [0.2, 1.3]]])  # (2, 2, 2)
NEAREST = torch.tensor([[1, 4], [0, 2]])  # by hand, from the squared distances (codes of different lengths)
BETA = 0.25


def quantize(z, codebook, beta=BETA):
    out = target(TOK).vector_quantize(z, codebook, beta)
    assert_true(isinstance(out, (tuple, list)) and len(out) == 3,
                f"vector_quantize must return (z_q, tokens, loss), got {type(out).__name__}.", step="7.5")
    z_q, tokens, loss = out
    assert_shape(z_q, tuple(z.shape), step="7.5", what="z_q of vector_quantize(z (2, 2, 2), codebook (5, 2))")
    assert_shape(tokens, tuple(z.shape[:-1]), step="7.5", what="the tokens of vector_quantize(z (2, 2, 2), ...)")
    assert_shape(loss, (), step="7.5", what="the loss of vector_quantize (a scalar)")
    return z_q, tokens, loss


@pytest.mark.todo("7.5")
def test_vector_quantize_by_hand():
    z, codebook = POINTS.clone().requires_grad_(True), CODEBOOK.clone().requires_grad_(True)
    z_q, tokens, loss = quantize(z, codebook)
    assert_true(torch.equal(tokens.long(), NEAREST), f"the tokens of the points {POINTS.tolist()} among the codes "
                f"{CODEBOOK.tolist()}: expected {NEAREST.tolist()} (the index of the closest code: the smallest "
                f"||z - e||^2, with the ||e||^2 term), got {tokens.tolist()}.", step="7.5")
    codes = CODEBOOK[NEAREST]
    assert_close(z_q, codes, step="7.5", atol=1e-6, what="the value of z_q (must be the chosen codes)")
    mse = float((POINTS - codes).pow(2).mean())
    assert_close(loss, (1 + BETA) * mse, step="7.5", atol=1e-6,
                 what=f"the loss (codebook MSE + beta commitment MSE = (1 + 0.25) x {mse:.4f}: both terms measure the "
                      "same squared distance; means over every element)")
    with seeded(5):
        w = torch.randn(2, 2, 2)
    g_z, g_book = torch.autograd.grad((w * z_q).sum(), (z, codebook), allow_unused=True)
    g_z = torch.zeros_like(z) if g_z is None else g_z
    g_book = torch.zeros_like(codebook) if g_book is None else g_book
    assert_close(g_z, w, step="7.5", atol=1e-6,
                 what="d sum(w * z_q) / dz (the straight-through gradient: the decoder's gradient reaches z unchanged)")
    assert_true(float(g_book.abs().max()) == 0.0, "z_q sends a gradient into the codebook: the codes learn from the "
                "codebook loss only; z_q = z + sg(e - z).", step="7.5")


@pytest.mark.todo("7.5")
def test_vector_quantize_loss_sends_each_gradient_where_it_belongs():
    """d loss / dz = beta * 2 (z - e) / numel (the commitment term); d loss / d e_i = the sum over the vectors that
    picked code i of 2 (e_i - z) / numel (the codebook term, weight 1)."""
    z, codebook = POINTS.clone().requires_grad_(True), CODEBOOK.clone().requires_grad_(True)
    _, _, loss = quantize(z, codebook)
    g_z, g_book = torch.autograd.grad(loss, (z, codebook), allow_unused=True)
    g_z = torch.zeros_like(z) if g_z is None else g_z
    g_book = torch.zeros_like(codebook) if g_book is None else g_book
    codes, numel = CODEBOOK[NEAREST], POINTS.numel()
    per_vector = (2 * (codes - POINTS) / numel).reshape(-1, 2)
    want_book = torch.zeros_like(CODEBOOK).index_add_(0, NEAREST.flatten(), per_vector)
    assert_true(not torch.allclose(g_z, 2 * (POINTS - codes) / numel, atol=1e-6),
                "the loss pulls z with weight 1: the stop-gradients are swapped or beta weighs the codebook term. "
                "Codebook term ||sg(z) - e||^2 (weight 1), commitment beta ||z - sg(e)||^2.", step="7.5")
    assert_close(g_z, BETA * 2 * (POINTS - codes) / numel, step="7.5", atol=1e-6,
                 what="d loss / dz (beta * 2 (z - e) / numel: only the commitment term moves z)")
    assert_close(g_book, want_book, step="7.5", atol=1e-6,
                 what="d loss / d codebook (2 (e - z) / numel summed over the vectors that picked each code; zero "
                      "for the codes nobody picked)")
    with seeded(2):
        z2, book2 = torch.randn(3, 7, 4), torch.randn(10, 4) * torch.rand(10, 1) * 2
    got = quantize(z2, book2, 0.4)
    want = reference(TOK).vector_quantize(z2, book2, 0.4)
    dist = torch.cdist(z2.reshape(-1, 4).double(), book2.double())
    chosen = dist.gather(1, got[1].reshape(-1, 1).long()).squeeze(1)
    assert_close(chosen, dist.min(-1).values, step="7.5", atol=1e-5,
                 what="the distance from each vector to its chosen code (must be the smallest, as torch.cdist says)")
    for name, a, b in zip(("z_q", "tokens", "loss"), got, want, strict=True):
        assert_close(a if name != "tokens" else a.long(), b, step="7.5", what=f"{name} of vector_quantize on (3, 7, 4)")


# ---------------------------------------------------------------- 7.6 dead-code restarts
def restart(codebook, counts, z, seed=0):
    book = codebook.clone()
    moved = target(TOK).restart_dead_codes(book, counts, z, torch.Generator().manual_seed(seed))
    return book, moved


@pytest.mark.todo("7.6")
def test_restart_moves_dead_codes_onto_rows_of_z():
    with seeded(3):
        codebook, z = torch.randn(6, 3), torch.randn(20, 3)
    counts = torch.tensor([4.0, 0.0, 1.0, 0.0, 0.0, 9.0])
    book, moved = restart(codebook, counts, z)
    assert_true(moved == 3 and isinstance(moved, int), f"restart_dead_codes should return 3 (the number of codes "
                f"with a zero count, as a Python int), got {moved!r}.", step="7.6")
    live = counts > 0
    assert_true(torch.equal(book[live], codebook[live]), "a code that was used (count > 0) changed: only the dead "
                "codes (count == 0) move.", step="7.6")
    assert_true(not torch.equal(book, codebook), "the codebook passed in did not change: write the new codes into "
                "it in place (indexed assignment), the caller keeps using that tensor.", step="7.6")
    for i in (1, 3, 4):
        gap = float((z - book[i]).abs().amax(-1).min())
        assert_true(gap < 1e-6, f"restarted code {i} is not a row of z (nearest row differs by {gap:.3g}): move each "
                    "dead code onto an encoder output, not onto noise.", step="7.6")
    again, _ = restart(codebook, counts, z)
    assert_true(torch.equal(book, again), "two restarts with generators of the same seed moved the codes differently: "
                "draw the rows with the generator you are given.", step="7.6")
    want = codebook.clone()
    reference(TOK).restart_dead_codes(want, counts, z, torch.Generator().manual_seed(0))
    assert_close(book, want, step="7.6", what="the codebook after restart_dead_codes (the reference's draws)")


@pytest.mark.todo("7.6")
def test_restart_draws_where_the_live_codes_fit_worst():
    """Rows of z that sit on a live code have weight 0 and are never drawn; two rows at distances 1 and 2 from the
    only live code are drawn 1 : 4 (squared distances), over 4,000 dead codes."""
    live = torch.tensor([[0.0, 0.0], [5.0, 5.0]])
    far = torch.tensor([[1.0, -3.0], [-4.0, 2.0], [3.0, 1.5]])
    z = torch.cat([live.repeat(4, 1), far])  # 8 rows on live codes, 3 elsewhere
    codebook = torch.cat([live, torch.full((6, 2), 9.0)])
    counts = torch.tensor([3.0, 2.0, 0, 0, 0, 0, 0, 0])
    book, moved = restart(codebook, counts, z, seed=2)
    assert_true(moved == 6, f"6 codes are dead, restart_dead_codes returned {moved!r}.", step="7.6")
    on_live = [int((book[i] - live).abs().amax(-1).min() < 1e-6) for i in range(2, 8)]
    assert_true(sum(on_live) == 0, f"{sum(on_live)} of the 6 restarted codes were put on rows of z that a live code "
                "already fits exactly (distance 0): draw each row with probability proportional to its squared "
                "distance to the nearest live code, not uniformly.", step="7.6")
    many = torch.cat([torch.zeros(1, 1), torch.full((4000, 1), 7.0)])  # one live code at 0, 4,000 dead
    counts = torch.cat([torch.ones(1), torch.zeros(4000)])
    book, _ = restart(many, counts, torch.tensor([[1.0], [2.0]]), seed=3)
    share = float((book[1:, 0] == 2.0).float().mean())
    assert_true(abs(share - 0.8) < 0.03, f"rows of z at distances 1 and 2 from the only live code were drawn "
                f"{1 - share:.2f} : {share:.2f}; with squared distances as weights (1 : 4) expected 0.2 : 0.8.",
                step="7.6")


@pytest.mark.todo("7.6")
def test_restart_does_nothing_without_dead_codes_or_data():
    with seeded(4):
        codebook, z = torch.randn(4, 3), torch.randn(5, 3)
    book, moved = restart(codebook, torch.ones(4), z)
    assert_true(moved == 0 and torch.equal(book, codebook), f"with no dead code nothing may move; got {moved!r} "
                "moved.", step="7.6")
    book, moved = restart(codebook, torch.tensor([0.0, 1.0, 0.0, 2.0]), torch.zeros(0, 3))
    assert_true(moved == 0 and torch.equal(book, codebook), f"with no recent encoder output (z of 0 rows) nothing can "
                f"move; got {moved!r} moved.", step="7.6")
