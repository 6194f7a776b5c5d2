"""Graded tests for the GPT of the world model: the causal mask, causal self-attention with a key/value cache, and
the pre-LN residual block (guide, chapter 5, steps 5.5-5.7).

    pytest paper5_iris --todo 5.6

Each step is compared with the reference (weights copied, dropout off) and checked against facts that hold for any
correct implementation: masks worked out by hand, attention recomputed head by head from the module's own layers,
a sequence fed in pieces through the cache giving the same outputs as one pass, outputs that never depend on later
tokens, and the pre-LN block's identities. A step runs with the reference's version of the earlier steps of
transformer.py, so one mistake fails one line of the scoreboard.
"""

from __future__ import annotations

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
)

from .conftest import borrow

TR = "paper5_iris.transformer"
E, H = 16, 4  # embed, heads: head size 4


def as_rows(mask: torch.Tensor) -> list[str]:
    return ["".join("1" if v else "." for v in row) for row in mask.tolist()]


# ---------------------------------------------------------------- 5.5 the causal mask
@pytest.mark.todo("5.5")
def test_causal_mask_square_by_hand():
    got = target(TR).causal_mask(4, 4)
    assert_shape(got, (4, 4), step="5.5", what="causal_mask(4, 4)")
    assert_true(got.dtype == torch.bool, f"causal_mask must be a bool tensor (True where attention is allowed), got "
                f"{got.dtype}.", step="5.5")
    want = torch.ones(4, 4, dtype=torch.bool).tril()
    assert_true(not torch.equal(got, ~want), "causal_mask is inverted: True marks where attention is *allowed* (the "
                "attention masks out ~mask).", step="5.5")
    assert_true(not torch.equal(got, want.t()), "causal_mask(4, 4) is the upper triangle: query i would see the keys "
                "after it, the future. Query i may see keys j <= i (the lower triangle).", step="5.5")
    assert_true(not torch.equal(got, want.tril(-1)), "the diagonal is False: a position must see itself, keys j <= i "
                "(not j < i; the first position would see nothing at all).", step="5.5")
    assert_true(torch.equal(got, want), f"causal_mask(4, 4): expected the lower triangle with its diagonal "
                f"{as_rows(want)} (query rows, key columns, 1 = allowed), got {as_rows(got)}.", step="5.5")


@pytest.mark.todo("5.5")
def test_causal_mask_with_cached_keys_by_hand():
    """2 new queries after 3 cached positions: they sit at positions 3 and 4 of the 5 keys."""
    f = target(TR).causal_mask
    got = f(2, 5)
    assert_shape(got, (2, 5), step="5.5", what="causal_mask(queries=2, keys=5)")
    want = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    ignored = torch.tensor([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0]], dtype=torch.bool)
    assert_true(not torch.equal(got, ignored), "causal_mask(2, 5) treats the 2 queries as positions 0 and 1: with a "
                "cache, the queries are the *last* 2 of the 5 positions, so query i sits at position keys - queries + "
                "i (here 3 and 4) and sees every cached key.", step="5.5")
    assert_true(torch.equal(got, want), f"causal_mask(2, 5): expected {as_rows(want)} (query i at position 3 + i sees "
                f"keys 0..3 + i), got {as_rows(got)}.", step="5.5")
    one = f(1, 6, torch.device("cpu"))
    assert_true(tuple(one.shape) == (1, 6) and bool(one.all()), f"causal_mask(1, 6): one new query after 5 cached "
                f"positions is the last position and sees all 6 keys; got {as_rows(one)}.", step="5.5")


@pytest.mark.todo("5.5")
def test_causal_mask_is_the_last_rows_of_the_full_mask():
    """For every queries <= keys: causal_mask(q, k) == causal_mask(k, k)[-q:], and the full mask is tril."""
    f, ref = target(TR).causal_mask, reference(TR).causal_mask
    for k in (1, 3, 7):
        full = torch.ones(k, k, dtype=torch.bool).tril()
        for q in range(1, k + 1):
            got = f(q, k)
            assert_shape(got, (q, k), step="5.5", what=f"causal_mask({q}, {k})")
            assert_true(torch.equal(got.bool(), full[-q:]), f"causal_mask({q}, {k}): expected the last {q} row(s) of "
                        f"the full {k} x {k} mask, {as_rows(full[-q:])}, got {as_rows(got)}.", step="5.5")
            assert_true(torch.equal(got, ref(q, k)), f"causal_mask({q}, {k}) differs from the reference's: "
                        f"{as_rows(got)} vs {as_rows(ref(q, k))}.", step="5.5")


# ---------------------------------------------------------------- 5.6 causal self-attention with a cache
def attention_by_hand(attn, x: torch.Tensor, past=None, scale: float | None = None, merge: str = "heads",
                      proj: bool = True):
    """Attention recomputed from attn's own layers, one head at a time (qkv splits as the template's view does:
    3 blocks of E, each `heads` blocks of d). Returns (y, (keys, values)); the variants (another scale, heads
    merged without the transpose, no output projection) name a mistake when they match."""
    B, L, E_ = x.shape
    h, d = attn.heads, E_ // attn.heads
    qkv = attn.qkv(x)
    q, k, v = qkv[..., :E_], qkv[..., E_:2 * E_], qkv[..., 2 * E_:]
    keys, values, outs = [], [], []
    for i in range(h):
        kh, vh = k[..., i * d:(i + 1) * d], v[..., i * d:(i + 1) * d]  # (B, L, d)
        if past is not None:
            kh, vh = torch.cat([past[0][:, i], kh], 1), torch.cat([past[1][:, i], vh], 1)
        S = kh.shape[1] - L
        scores = q[..., i * d:(i + 1) * d] @ kh.transpose(1, 2) / (scale or math.sqrt(d))  # (B, L, S + L)
        later = torch.arange(S + L)[None, :] > torch.arange(L)[:, None] + S
        outs.append(scores.masked_fill(later, float("-inf")).softmax(-1) @ vh)
        keys.append(kh)
        values.append(vh)
    y = torch.cat(outs, -1) if merge == "heads" else torch.stack(outs, 1).reshape(B, L, E_)
    return attn.proj(y) if proj else y, (torch.stack(keys, 1), torch.stack(values, 1))


def attention(embed: int = E, heads: int = H, dropout: float = 0.0, seed: int = 0):
    """(the reference's SelfAttention, yours with the same weights)."""
    with seeded(seed):
        ref = reference(TR).SelfAttention(embed, heads, dropout)
    return ref, copy_weights(ref, target(TR).SelfAttention(embed, heads, dropout), step="5.6")


def run_attn(attn, x, past=None, what="attn(x)"):
    out = attn(x, past)
    assert_true(isinstance(out, (tuple, list)) and len(out) == 2,
                f"{what} must return (y, (keys, values)), got {type(out).__name__}.", step="5.6")
    y, kv = out
    assert_shape(y, tuple(x.shape), step="5.6", what=f"y of {what} (the same shape as x)")
    assert_finite(y, step="5.6", what=f"y of {what} (a row of the mask with no allowed key gives a softmax over "
                  "nothing: does every query see itself?)")
    return y, kv


def check_cache(kv, seen: int, what: str, batch: int = 2, heads: int = H, d: int = E // H) -> None:
    assert_true(isinstance(kv, (tuple, list)) and len(kv) == 2, f"the cache returned by {what} must be a pair "
                f"(keys, values), got {type(kv).__name__}.", step="5.6")
    for name, t in zip(("keys", "values"), kv, strict=True):
        assert_shape(t, (batch, heads, seen, d), step="5.6",
                     what=f"the cached {name} returned by {what} (B, heads, S + L, d): every position seen so far, the "
                          "cached ones first")


@pytest.fixture
def attn_mod(monkeypatch):
    """Your transformer.py with the reference's causal mask (5.5)."""
    return borrow(monkeypatch, TR, ("causal_mask",))


@pytest.mark.todo("5.6")
def test_attention_matches_reference(attn_mod, small_cfg):
    ref, mine = attention(small_cfg.embed, small_cfg.heads, small_cfg.dropout)
    d = small_cfg.embed // small_cfg.heads
    with seeded(1):
        x, more = torch.randn(2, 5, small_cfg.embed), torch.randn(2, 3, small_cfg.embed)
    y, kv = run_attn(mine, x)
    check_cache(kv, 5, "attn(x (2, 5, E))", heads=small_cfg.heads, d=d)
    want_y, want_kv = ref(x)
    assert_close(y, want_y, step="5.6", what="y of attn(x (2, 5, E))")
    y2, kv2 = run_attn(mine, more, want_kv, "attn(x (2, 3, E), past of 5 positions)")
    check_cache(kv2, 8, "attn(x (2, 3, E), past of 5 positions)", heads=small_cfg.heads, d=d)
    want_y2, want_kv2 = ref(more, want_kv)
    assert_close(y2, want_y2, step="5.6", what="y of attn(x (2, 3, E), past of 5 positions)")
    assert_close(kv2[0], want_kv2[0], step="5.6", what="the keys of the cache after 5 + 3 positions")
    assert_close(kv2[1], want_kv2[1], step="5.6", what="the values of the cache after 5 + 3 positions")


@pytest.mark.todo("5.6")
def test_attention_by_hand_head_by_head(attn_mod):
    """softmax(q k^T / sqrt(d) + mask) v per head, the heads concatenated in order, then the output projection; in
    eval mode the dropout is off."""
    _, mine = attention(dropout=0.3)
    mine.eval()
    with seeded(2):
        x = torch.randn(2, 5, E) * 2
    y, kv = run_attn(mine, x)
    with torch.no_grad():
        want, want_kv = attention_by_hand(mine, x)
        unscaled = attention_by_hand(mine, x, scale=1.0)[0]
        by_embed = attention_by_hand(mine, x, scale=math.sqrt(E))[0]
        mixed = attention_by_hand(mine, x, merge="mixed")[0]
        no_proj = attention_by_hand(mine, x, proj=False)[0]
    y = y.detach()
    if not torch.allclose(y, want, atol=1e-5):
        assert_true(not torch.allclose(y, unscaled, atol=1e-5), "the scores are not scaled: divide q k^T by "
                    "sqrt(d), d = E / heads the size of one head.", step="5.6")
        assert_true(not torch.allclose(y, by_embed, atol=1e-5), "the scores are divided by sqrt(E), the whole "
                    "embedding: scale by sqrt(d), d = E / heads, the size of one head.", step="5.6")
        assert_true(not torch.allclose(y, mixed, atol=1e-5), "the heads are merged in the wrong order: y (B, heads, "
                    "L, d) must become (B, L, heads, d) before the reshape to (B, L, E), or the features of "
                    "different positions get mixed.", step="5.6")
        assert_true(not torch.allclose(y, no_proj, atol=1e-4), "the output projection is missing: the merged heads "
                    "go through self.proj.", step="5.6")
    assert_close(y, want, step="5.6", what="y of attn(x (2, 5, 16)) with 4 heads, recomputed head by head from its "
                 "own qkv and proj layers (module in eval mode: no dropout)")
    check_cache(kv, 5, "attn(x (2, 5, 16))")
    assert_close(kv[0], want_kv[0], step="5.6", what="the returned keys (the k of the qkv layer, per head)")
    assert_close(kv[1], want_kv[1], step="5.6", what="the returned values (the v of the qkv layer, per head)")
    with seeded(3):
        more = torch.randn(2, 2, E)
    y2, kv2 = run_attn(mine, more, kv, "attn(x (2, 2, 16), past of 5 positions)")
    with torch.no_grad():
        want2, want_kv2 = attention_by_hand(mine, more, kv)
    assert_close(y2, want2, step="5.6", what="y of attn(x (2, 2, 16), past of 5 positions), by hand")
    check_cache(kv2, 7, "attn(x (2, 2, 16), past of 5 positions)")
    assert_close(kv2[0], want_kv2[0], step="5.6", what="the cached keys after 5 + 2 positions (the 5 cached ones "
                 "first, then the 2 new ones)")


@pytest.mark.todo("5.6")
def test_attention_in_pieces_through_the_cache_equals_one_pass(attn_mod):
    _, mine = attention(seed=4)
    with seeded(5):
        x = torch.randn(2, 6, E)
    with torch.no_grad():
        full, full_kv = run_attn(mine, x, what="attn(x (2, 6, 16))")
        pieces, past = [], None
        for a, b in ((0, 2), (2, 5), (5, 6)):
            what = f"attn(x[:, {a}:{b}], past of {a} positions)"
            y, new = run_attn(mine, x[:, a:b], past, what)
            check_cache(new, b, what)
            if past is not None:
                assert_true(torch.equal(new[0][:, :, :a], past[0]) and torch.equal(new[1][:, :, :a], past[1]),
                            f"the cache returned by {what} does not start with the {a} cached positions it was given: "
                            "put the cached keys and values *before* the new ones (they are the earlier positions), "
                            "along the sequence axis (dim 2 of (B, heads, S, d)).", step="5.6")
            pieces.append(y)
            past = new
    assert_close(torch.cat(pieces, 1), full, step="5.6",
                 what="the outputs of x fed in pieces of 2, 3 and 1 positions through the cache (each call given the "
                      "cache the previous one returned) must equal one pass over all 6")
    assert_close(past[0], full_kv[0], step="5.6", what="the keys cached after the three pieces (equal to one pass's)")
    assert_close(past[1], full_kv[1], step="5.6", what="the values cached after the three pieces")


@pytest.mark.todo("5.6")
def test_attention_never_looks_at_later_tokens(attn_mod):
    """Changing token 3 leaves outputs 0..2 as they were and changes output 3 (each sees itself) and 4, 5."""
    _, mine = attention(seed=6)
    with seeded(7):
        x = torch.randn(2, 6, E)
        x2 = x.clone()
        x2[:, 3] = torch.randn(2, E) * 3
    with torch.no_grad():
        y, _ = run_attn(mine, x)
        y2, _ = run_attn(mine, x2)
    early = (y2[:, :3] - y[:, :3]).abs().amax().item()
    assert_true(early < 1e-5, f"changing token 3 changed the outputs at positions 0..2 (by up to {early:.3g}): a "
                "position sees the future. Mask the scores of later keys with -inf before the softmax (a 0 in the "
                "scores still lets them in).", step="5.6")
    own = (y2[:, 3] - y[:, 3]).abs().amax().item()
    assert_true(own > 1e-3, f"changing token 3 left output 3 unchanged (by {own:.3g}): each position attends to "
                "itself.", step="5.6")
    later = (y2[:, 4:] - y[:, 4:]).abs().amax(-1).min().item()
    assert_true(later > 1e-4, "changing token 3 left a later output unchanged: positions 4 and 5 attend to it.",
                step="5.6")


# ---------------------------------------------------------------- 5.7 the pre-LN block
def blocks(seed: int = 0):
    """(the reference's Block, yours with the same weights); the LayerNorms get distinct random scales and shifts,
    so that ln1 and ln2 cannot stand in for each other."""
    with seeded(seed):
        ref = reference(TR).Block(E, H, 0.0)
        with torch.no_grad():
            for ln in (ref.ln1, ref.ln2):
                ln.weight.uniform_(0.5, 1.5)
                ln.bias.normal_(0.0, 0.3)
    return ref, copy_weights(ref, target(TR).Block(E, H, 0.0), step="5.7")


def run_block(blk, x, past=None, what="block(x)"):
    out = blk(x, past)
    assert_true(isinstance(out, (tuple, list)) and len(out) == 2,
                f"{what} must return (y, this layer's cache), got {type(out).__name__}.", step="5.7")
    y, kv = out
    assert_shape(y, tuple(x.shape), step="5.7", what=f"y of {what}")
    assert_true(isinstance(kv, (tuple, list)) and len(kv) == 2, f"the cache of {what} must be the (keys, values) "
                "pair the attention returns.", step="5.7")
    return y, kv


@pytest.fixture
def block_mod(monkeypatch):
    """Your transformer.py with the reference's causal mask (5.5) and attention (5.6)."""
    borrow(monkeypatch, TR, ("causal_mask",))
    return borrow(monkeypatch, TR, ("forward",), cls="SelfAttention")


@pytest.mark.todo("5.7")
def test_block_matches_reference(block_mod):
    ref, mine = blocks()
    with seeded(1):
        x, more = torch.randn(2, 5, E), torch.randn(2, 2, E)
    y, kv = run_block(mine, x)
    want, want_kv = ref(x)
    assert_close(y, want, step="5.7", what="y of block(x (2, 5, 16))")
    y2, kv2 = run_block(mine, more, want_kv, "block(x (2, 2, 16), past of 5 positions)")
    want2, want_kv2 = ref(more, want_kv)
    assert_close(y2, want2, step="5.7", what="y of block(x (2, 2, 16), past of 5 positions)")
    assert_shape(kv2[0], (2, H, 7, E // H), step="5.7", what="the cached keys after 5 + 2 positions (pass `past` on "
                 "to the attention)")
    assert_close(kv2[0], want_kv2[0], step="5.7", what="the cached keys after 5 + 2 positions")


@pytest.mark.todo("5.7")
def test_block_by_hand(block_mod):
    """h = x + attn(ln1(x)); y = h + mlp(ln2(h)), from the block's own layers."""
    _, blk = blocks(seed=2)
    with seeded(3):
        x, x2 = torch.randn(2, 4, E) * 2, torch.randn(2, 3, E)
    with torch.no_grad():
        a, want_kv = blk.attn(blk.ln1(x))
        h = x + a
        want = h + blk.mlp(blk.ln2(h))
        post_h = blk.ln1(x + blk.attn(x)[0])
        post = blk.ln2(post_h + blk.mlp(post_h))
        parallel = x + a + blk.mlp(blk.ln2(x))
        a_swapped = blk.attn(blk.ln2(x))[0]
        swapped = x + a_swapped + blk.mlp(blk.ln1(x + a_swapped))
        no_skip_attn = a + blk.mlp(blk.ln2(a))
        no_skip_mlp = blk.mlp(blk.ln2(h))
        y, kv = run_block(blk, x)
    if not torch.allclose(y, want, atol=1e-5):
        assert_true(not torch.allclose(y, post, atol=1e-5), "this is a post-LN block, LN(x + sublayer(x)): IRIS's GPT "
                    "is pre-LN, x + sublayer(LN(x)), so the residual stream itself is never normalised.", step="5.7")
        assert_true(not torch.allclose(y, parallel, atol=1e-5), "the MLP sees the block's input: it must see the "
                    "output of the attention step, h = x + attn(ln1(x)), then y = h + mlp(ln2(h)).", step="5.7")
        assert_true(not torch.allclose(y, swapped, atol=1e-5), "ln1 and ln2 are swapped: ln1 goes before the "
                    "attention, ln2 before the MLP.", step="5.7")
        assert_true(not torch.allclose(y, no_skip_attn, atol=1e-5), "the attention's residual connection is missing: "
                    "h = x + attn(ln1(x)), not attn(ln1(x)).", step="5.7")
        assert_true(not torch.allclose(y, no_skip_mlp, atol=1e-5), "the MLP's residual connection is missing: "
                    "y = h + mlp(ln2(h)), not mlp(ln2(h)).", step="5.7")
    assert_close(y, want, step="5.7", what="y of block(x (2, 4, 16)), recomputed as h = x + attn(ln1(x)), "
                 "y = h + mlp(ln2(h)) with the block's own layers")
    assert_close(kv[0], want_kv[0], step="5.7", what="the keys the block returns (the attention's cache)")
    with torch.no_grad():
        a2, want_kv2 = blk.attn(blk.ln1(x2), kv)
        h2 = x2 + a2
        want2 = h2 + blk.mlp(blk.ln2(h2))
        y2, kv2 = run_block(blk, x2, kv, "block(x (2, 3, 16), past of 4 positions)")
    assert_shape(kv2[0], (2, H, 7, E // H), step="5.7", what="the cached keys after 4 + 3 positions (pass `past` on "
                 "to the attention)")
    assert_close(y2, want2, step="5.7", what="y of block(x, past) by hand: the cache goes to the attention, "
                 "attn(ln1(x), past)")


def zero_out(layer: torch.nn.Linear) -> None:
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()


def last_linear(mlp: torch.nn.Module) -> torch.nn.Linear:
    return [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)][-1]


@pytest.mark.todo("5.7")
def test_block_with_zeroed_sublayers_is_the_identity(block_mod):
    """With the last layers of the attention and of the MLP zeroed, both sublayers output 0: the block gives x back."""
    _, blk = blocks(seed=4)
    zero_out(blk.attn.proj)
    zero_out(last_linear(blk.mlp))
    with seeded(5):
        x = torch.randn(2, 5, E) * 3
    with torch.no_grad():
        y, _ = run_block(blk, x)
    assert_true(not torch.allclose(y, torch.zeros_like(y)), "with both sublayers outputting 0 the block returned 0: "
                "the residual connections are missing (x + attn(...), h + mlp(...)).", step="5.7")
    assert_close(y, x, step="5.7", atol=1e-5,
                 what="block(x) with zeroed attention and MLP outputs (must be x: the residual stream passes through "
                      "untouched; a LayerNorm on it, post-LN, would change it)")


@pytest.mark.todo("5.7")
@pytest.mark.parametrize("kept", ["attention", "mlp"])
def test_block_pre_ln_scale_property(block_mod, kept):
    """With one sublayer zeroed the block is x + f(LN(x)), and LN(c x) = LN(x): so block(c x) - c x == block(x) - x
    for any c > 0. A post-LN block, or one without the residual, breaks it."""
    _, blk = blocks(seed=6)
    zero_out(last_linear(blk.mlp) if kept == "attention" else blk.attn.proj)
    with seeded(7):
        x = torch.randn(2, 5, E)
    with torch.no_grad():
        y, _ = run_block(blk, x)
        y4, _ = run_block(blk, 4 * x, what="block(4 x)")
    assert_true(not torch.allclose(y4 - 4 * x, y - x, atol=1e-4) or not torch.allclose(y, x, atol=1e-4),
                f"with the other sublayer zeroed, the {kept} sublayer added nothing to x: is its output added to the "
                "residual stream?", step="5.7")
    assert_close(y4 - 4 * x, y - x, step="5.7", atol=1e-4,
                 what=f"block(4 x) - 4 x vs block(x) - x with only the {kept} sublayer active (what the sublayer adds; "
                      "equal in a pre-LN block, x + f(LN(x)), because LN(4 x) = LN(x); a post-LN block LN(x + f(x)) or "
                      "a missing residual gives different values)")


@pytest.mark.todo("5.7")
def test_block_in_pieces_through_the_cache_equals_one_pass(block_mod):
    _, blk = blocks(seed=8)
    with seeded(9):
        x = torch.randn(2, 6, E)
    with torch.no_grad():
        full, _ = run_block(blk, x)
        first, past = run_block(blk, x[:, :4])
        rest, _ = run_block(blk, x[:, 4:], past, "block(x[:, 4:], past of 4 positions)")
    assert_close(torch.cat([first, rest], 1), full, step="5.7",
                 what="block outputs of x fed as 4 + 2 positions through the cache (must equal one pass over all 6: "
                      "pass `past` to the attention and return its new cache)")
