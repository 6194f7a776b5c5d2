"""Graded tests for the vector-quantised tokenizer's four pieces: the nearest code, the straight-through estimator,
the codebook and commitment losses, and the restart of dead codes (guide, chapter 5, steps 5.1-5.4).

    pytest paper5_iris --todo 5.3

Each step is compared with the reference on seeded inputs and checked against facts that hold for any correct
implementation: a brute-force nearest neighbour, values and gradients worked out by hand, and what a restart may
and may not touch.
"""

from __future__ import annotations

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, reference, seeded, target

TOK = "paper5_iris.tokenizer"


# ---------------------------------------------------------------- 5.1 the nearest code
CODEBOOK = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0], [-2.0, 0.0]])
POINTS = torch.tensor([[0.9, 0.2], [-1.5, 0.1], [0.1, 0.1], [3.0, 2.8], [0.2, 1.3]])
NEAREST = torch.tensor([1, 4, 0, 3, 2])  # worked out by hand from the squared distances


def check_tokens(tokens, lead: tuple[int, ...], what: str) -> None:
    assert_shape(tokens, lead, step="5.1", what=what)
    assert_true(not tokens.is_floating_point() and tokens.dtype != torch.bool,
                f"{what}: expected integer indices (torch.long, as argmin gives them), got {tokens.dtype}.",
                step="5.1")


def name_the_mistake(got: torch.Tensor, z: torch.Tensor, codebook: torch.Tensor) -> None:
    """Fail with a named mistake if `got` (flat) is the farthest code or the largest dot product."""
    flat = z.reshape(-1, z.shape[-1])
    dist = torch.cdist(flat.double(), codebook.double())
    wrong = (got != dist.argmin(-1)).any()
    assert_true(not (wrong and (got == dist.argmax(-1)).all()),
                "every token is the *farthest* code: the nearest code is the argmin of the distances, not the "
                "argmax.", step="5.1")
    assert_true(not (wrong and (got == (flat @ codebook.t()).argmax(-1)).all()),
                "the tokens are the codes with the largest dot product z.e: that is the nearest code only when all "
                "codes have the same length. Use the squared distance ||z||^2 + ||e||^2 - 2 z.e (the ||e||^2 term "
                "matters).", step="5.1")


@pytest.mark.todo("5.1")
def test_nearest_code_by_hand():
    got = target(TOK).nearest_code(POINTS, CODEBOOK)
    check_tokens(got, (5,), "nearest_code(z (5, 2), codebook (5, 2))")
    name_the_mistake(got.reshape(-1), POINTS, CODEBOOK)
    assert_true(torch.equal(got.long(), NEAREST),
                f"nearest_code of the points {POINTS.tolist()} among the codes {CODEBOOK.tolist()}: expected "
                f"{NEAREST.tolist()} (the index of the closest code of each point), got {got.tolist()}.", step="5.1")


@pytest.mark.todo("5.1")
def test_nearest_code_is_the_brute_force_nearest_with_leading_dims():
    """For z (2, 3, D) and z (7, D): the chosen code is at the smallest distance (torch.cdist), for any ties."""
    f = target(TOK).nearest_code
    with seeded(0):
        codebook = torch.randn(16, 8) * torch.rand(16, 1) * 3  # codes of different lengths
        z = torch.randn(2, 3, 8) * 2
        z2 = torch.randn(7, 8)
    for x, lead in ((z, (2, 3)), (z2, (7,))):
        got = f(x, codebook)
        shape = ", ".join(str(s) for s in x.shape)
        check_tokens(got, lead, f"nearest_code(z ({shape}), codebook (16, 8)) (one token per vector of z: the "
                     "leading dims of z are kept, the last one is gone)")
        flat = got.reshape(-1).long()
        assert_true(bool(((flat >= 0) & (flat < 16)).all()),
                    f"a token is outside 0..15, the codebook's rows: {flat.tolist()}", step="5.1")
        name_the_mistake(flat, x, codebook)
        dist = torch.cdist(x.reshape(-1, 8).double(), codebook.double())  # (M, N)
        chosen, best = dist.gather(1, flat[:, None]).squeeze(1), dist.min(-1).values
        assert_close(chosen, best, step="5.1", atol=1e-5,
                     what=f"the distance from each vector of z ({shape}) to its chosen code (must be the smallest "
                          "distance to any code: torch.cdist(z, codebook).min(-1)")
        assert_close(got.long(), reference(TOK).nearest_code(x, codebook), step="5.1",
                     what=f"nearest_code of z ({shape})")


# ---------------------------------------------------------------- 5.2 the straight-through estimator
@pytest.mark.todo("5.2")
def test_straight_through_value_is_the_codes():
    with seeded(1):
        z, codes = torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    got = target(TOK).straight_through(z.clone().requires_grad_(True), codes.clone().requires_grad_(True))
    assert_shape(got, (2, 3, 8), step="5.2", what="straight_through(z (2, 3, 8), codes (2, 3, 8))")
    assert_true(not torch.allclose(got.detach(), z, atol=1e-5),
                "straight_through returned the value of z: the wrong way round. The decoder must see the codes, "
                "z_q = z + sg(codes - z), whose value is the codes' and whose gradient is z's.", step="5.2")
    assert_close(got, codes, step="5.2", atol=1e-6,
                 what="the value of straight_through(z, codes) (must be the codes, exactly what the lookup chose)")
    assert_close(got, reference(TOK).straight_through(z, codes), step="5.2", what="straight_through(z, codes)")


@pytest.mark.todo("5.2")
def test_straight_through_gradient_is_the_identity_into_z():
    """d sum(w * z_q) / dz = w (the decoder's gradient passes to the encoder unchanged); nothing reaches the codes."""
    with seeded(2):
        z, codes, w = torch.randn(2, 3, 8), torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    z, codes = z.requires_grad_(True), codes.requires_grad_(True)
    out = target(TOK).straight_through(z, codes)
    assert_true(out.requires_grad, "straight_through carries no gradient: the encoder must be trained through it, "
                "so z has to stay in the graph (only the difference codes - z is detached).", step="5.2")
    g_z, g_codes = torch.autograd.grad((w * out).sum(), (z, codes), allow_unused=True)
    g_z = torch.zeros_like(z) if g_z is None else g_z
    g_codes = torch.zeros_like(codes) if g_codes is None else g_codes
    assert_true(not (torch.allclose(g_z, torch.zeros_like(w)) and torch.allclose(g_codes, w, atol=1e-6)),
                "the gradient went to the codes instead of z: the straight-through estimator the wrong way round. "
                "Detach the difference, z + sg(codes - z): forward the codes, backward into z.", step="5.2")
    assert_true(not torch.allclose(g_z, -w, atol=1e-6), "the gradient into z has the wrong sign: z_q = z + "
                "sg(codes - z) passes it through unchanged (is z the detached term?).", step="5.2")
    assert_close(g_z, w, step="5.2", atol=1e-6,
                 what="d sum(w * straight_through(z, codes)) / dz (must be w: the identity into z)")
    assert_true(float(g_codes.abs().max()) == 0.0,
                f"straight_through sends a gradient into the codes (largest {float(g_codes.abs().max()):.3g}): the "
                "codebook learns from its own loss (5.3), the reconstruction's gradient goes to z only. Is the "
                "codes - z difference detached as a whole?", step="5.2")


# ---------------------------------------------------------------- 5.3 codebook and commitment losses
Z = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (1, 2, 2)
CODES = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])  # squared differences 1, 0, 1, 1: mean 0.75
BETA = 0.25


def grads(loss: torch.Tensor, z: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not loss.requires_grad:
        return torch.zeros_like(z), torch.zeros_like(codes)
    g = torch.autograd.grad(loss, (z, codes), allow_unused=True, retain_graph=True)
    return tuple(torch.zeros_like(t) if gt is None else gt for gt, t in zip(g, (z, codes), strict=True))


def vq_pair(z: torch.Tensor, codes: torch.Tensor, beta: float, what: str):
    out = target(TOK).vq_losses(z, codes, beta)
    assert_true(isinstance(out, (tuple, list)) and len(out) == 2,
                f"{what} must return a pair (codebook loss, commitment loss), got {type(out).__name__}.", step="5.3")
    for name, t in zip(("codebook loss", "commitment loss"), out, strict=True):
        assert_shape(t, (), step="5.3", what=f"the {name} of {what} (a scalar: the mean over every element)")
    return out


@pytest.mark.todo("5.3")
def test_vq_losses_by_hand():
    codebook, commitment = vq_pair(Z, CODES, BETA, "vq_losses(z, codes, beta=0.25)")
    got = (float(codebook), float(commitment))
    assert_true(not (abs(got[0] - 0.1875) < 1e-5 and abs(got[1] - 0.75) < 1e-5),
                "the codebook loss came out 0.1875 = beta * MSE and the commitment loss 0.75: beta weighs the "
                "commitment term, beta ||z - sg(e)||^2, not the codebook term (or the pair is returned in the wrong "
                "order: (codebook, commitment)).", step="5.3")
    assert_true(not abs(got[1] - 0.75) < 1e-5, "the commitment loss came out 0.75 with beta = 0.25: multiply it by "
                "beta (the codebook loss has weight 1).", step="5.3")
    assert_true(not (abs(got[0] - 1.5) < 1e-5 or abs(got[0] - 3.0) < 1e-5),
                f"the codebook loss came out {got[0]:.4g}: a mean squared error averages over every element (as "
                "F.mse_loss does), not a sum over the code dimension or over everything.", step="5.3")
    assert_close(torch.tensor(got), torch.tensor([0.75, 0.1875]), step="5.3", atol=1e-6,
                 what="(codebook loss, commitment loss) for z = [[1, 0], [0, 2]], codes = [[0, 0], [1, 1]], beta = "
                      "0.25 (squared differences 1, 0, 1, 1: MSE 0.75, so expected 0.75 and 0.25 * 0.75 = 0.1875)")
    with seeded(3):
        z, codes = torch.randn(2, 16, 8), torch.randn(2, 16, 8)
    want = reference(TOK).vq_losses(z, codes, 0.4)
    got = vq_pair(z, codes, 0.4, "vq_losses(z (2, 16, 8), codes, 0.4)")
    assert_close(got[0], want[0], step="5.3", what="the codebook loss of (2, 16, 8) inputs")
    assert_close(got[1], want[1], step="5.3", what="the commitment loss of (2, 16, 8) inputs")


@pytest.mark.todo("5.3")
def test_vq_losses_send_each_gradient_where_it_belongs():
    """The codebook loss moves only the codes (towards z), the commitment loss only z (towards its codes, x beta)."""
    z, codes = Z.clone().requires_grad_(True), CODES.clone().requires_grad_(True)
    codebook, commitment = vq_pair(z, codes, BETA, "vq_losses(z, codes, beta=0.25)")
    cb_z, cb_codes = grads(codebook, z, codes)
    cm_z, cm_codes = grads(commitment, z, codes)
    zero = torch.zeros_like(Z)
    swapped = torch.allclose(cb_codes, zero) and torch.allclose(cm_z, zero) and not torch.allclose(cb_z, zero)
    assert_true(not swapped, "the codebook loss trains z and the commitment loss trains the codes: the stop-gradients "
                "are swapped. Codebook: ||sg(z) - e||^2 moves the codes; commitment: beta ||z - sg(e)||^2 moves z.",
                step="5.3")
    assert_true(torch.allclose(cb_z, zero), f"the codebook loss sends a gradient into z (largest "
                f"{float(cb_z.abs().max()):.3g}): detach z in it, ||sg(z) - e||^2.", step="5.3")
    assert_true(torch.allclose(cm_codes, zero), f"the commitment loss sends a gradient into the codes (largest "
                f"{float(cm_codes.abs().max()):.3g}): detach the codes in it, beta ||z - sg(e)||^2.", step="5.3")
    assert_close(cb_codes, (CODES - Z) / 2, step="5.3", atol=1e-6,
                 what="d codebook loss / d codes (2 (e - z) / 4 over the 4 elements: the codes move towards z)")
    assert_close(cm_z, BETA * (Z - CODES) / 2, step="5.3", atol=1e-6,
                 what="d commitment loss / dz (beta * 2 (z - e) / 4 with beta = 0.25: z moves towards its codes, "
                      "scaled by beta)")


# ---------------------------------------------------------------- 5.4 dead-code restarts
def restart(codebook: torch.Tensor, counts: torch.Tensor, z: torch.Tensor, seed: int = 0):
    """(the codebook after the call, what the call returned)."""
    book = codebook.clone()
    moved = target(TOK).restart_dead_codes(book, counts, z, torch.Generator().manual_seed(seed))
    return book, moved


def check_count(moved, n: int, what: str) -> None:
    ok = isinstance(moved, (int, torch.Tensor)) and not isinstance(moved, bool)
    ok = ok and (not isinstance(moved, torch.Tensor) or moved.numel() == 1)
    assert_true(ok, f"{what}: restart_dead_codes must return how many codes moved, a number; got "
                f"{type(moved).__name__}{' of shape ' + str(tuple(moved.shape)) if hasattr(moved, 'shape') else ''}.",
                step="5.4")
    assert_true(int(moved) == n, f"{what}: {n} code(s) have counts == 0, so {n} must move and the function return "
                f"{n}; it returned {int(moved)}.", step="5.4")


def on_rows_of(rows: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """(n,) bool: each of `rows` equals some row of z."""
    return (rows[:, None, :] - z[None, :, :]).abs().amax(-1).amin(-1) < 1e-6


@pytest.mark.todo("5.4")
def test_restart_moves_the_dead_codes_onto_encoder_outputs():
    with seeded(4):
        codebook, z = torch.randn(8, 4), torch.randn(30, 4) * 2
    counts = torch.tensor([3.0, 0.0, 1.0, 0.0, 0.0, 7.0, 2.0, 0.0])
    dead, live = counts == 0, counts > 0
    book, moved = restart(codebook, counts, z)
    assert_true(not torch.equal(book, codebook), "restart_dead_codes left the codebook as it was: it must change the "
                "tensor it is given in place (codebook[rows] = ...; rebinding the name changes nothing outside).",
                step="5.4")
    assert_true(not (torch.equal(book[dead], codebook[dead]) and not torch.equal(book[live], codebook[live])),
                "the codes that moved are the live ones (counts > 0): the dead codes, counts == 0, are the ones "
                "restarted.", step="5.4")
    assert_true(torch.equal(book[live], codebook[live]), "a code in use (counts > 0) was changed: only the codes "
                f"with counts == 0 move. Rows changed: {(book != codebook).any(-1).nonzero().flatten().tolist()}, "
                f"dead codes: {dead.nonzero().flatten().tolist()}.", step="5.4")
    hits = on_rows_of(book[dead], z)
    assert_true(bool(hits.all()), f"{int((~hits).sum())} of the 4 restarted codes is not a copy of a row of z: a dead "
                "code jumps exactly onto an encoder output (a row of z), not onto noise, a mean or a mix.", step="5.4")
    check_count(moved, 4, "counts [3, 0, 1, 0, 0, 7, 2, 0]")


@pytest.mark.todo("5.4")
def test_restart_without_dead_codes_changes_nothing():
    with seeded(5):
        codebook, z = torch.randn(6, 4), torch.randn(10, 4)
    counts = torch.tensor([1.0, 4.0, 2.0, 9.0, 1.0, 3.0])
    book, moved = restart(codebook, counts, z)
    assert_true(torch.equal(book, codebook), "with every code in use (all counts > 0) nothing may move, but the "
                f"codebook changed in rows {(book != codebook).any(-1).nonzero().flatten().tolist()}.", step="5.4")
    check_count(moved, 0, "all counts > 0")


@pytest.mark.todo("5.4")
def test_restart_matches_reference_when_the_draw_cannot_matter():
    """Every row of z is the same vector, so any random draw gives the same codebook."""
    with seeded(6):
        codebook, row = torch.randn(8, 4), torch.randn(1, 4)
    z = row.expand(12, 4).clone()
    counts = torch.tensor([0.0, 2.0, 0.0, 0.0, 5.0, 1.0, 0.0, 3.0])
    book, moved = restart(codebook, counts, z)
    want = codebook.clone()
    n = reference(TOK).restart_dead_codes(want, counts, z, torch.Generator().manual_seed(0))
    check_count(moved, int(n), "counts [0, 2, 0, 0, 5, 1, 0, 3]")
    assert_close(book, want, step="5.4", atol=0.0, rtol=0.0,
                 what="the codebook after a restart when all encoder outputs are the same vector (every dead code "
                      "becomes that vector, the others stay)")


@pytest.mark.todo("5.4")
def test_restart_draws_rows_at_random_with_the_generator():
    """All 32 codes dead, 200 distinct rows of z: the draws follow the generator (same seed, same codebook; another
    seed, another codebook) and spread over many rows."""
    with seeded(7):
        codebook, z = torch.randn(32, 4), torch.randn(200, 4)
    counts = torch.zeros(32)
    first, moved = restart(codebook, counts, z, seed=0)
    assert_true(not torch.equal(first, codebook), "restart_dead_codes left the codebook as it was: change the tensor "
                "it is given in place (codebook[rows] = ...).", step="5.4")
    check_count(moved, 32, "32 codes with counts == 0")
    assert_true(bool(on_rows_of(first, z).all()), "a restarted code is not a copy of a row of z.", step="5.4")
    picked = (first[:, None, :] - z[None]).abs().amax(-1).argmin(-1)
    assert_true(len(set(picked.tolist())) >= 8, f"the 32 restarted codes landed on only {len(set(picked.tolist()))} "
                "different rows of z: each dead code gets its own random draw from z.", step="5.4")
    again, _ = restart(codebook, counts, z, seed=0)
    assert_true(torch.equal(first, again), "two restarts with generators seeded alike gave different codebooks: draw "
                "the rows with the generator you are given (torch.randint(..., generator=generator)).", step="5.4")
    other, _ = restart(codebook, counts, z, seed=1)
    assert_true(not torch.equal(first, other), "generators with different seeds gave the same codebook: the rows of "
                "z must be drawn at random (with the generator), not taken in a fixed order.", step="5.4")
