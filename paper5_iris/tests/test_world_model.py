"""Graded tests for the world model's sequence: embedding frame tokens and actions, what each position predicts, and
the loss (guide, chapter 5, steps 5.8-5.10).

    pytest paper5_iris --todo 5.9

Each step is compared with the reference (weights copied, dropout off) and checked against facts that hold for any
correct implementation: embeddings recomputed from the module's own tables, the guide's worked example of the
targets, the loss recomputed position by position with a loop, and what masked steps may not change.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from common.grading import assert_close, assert_shape, assert_true, copy_weights, reference, seeded, target

from .conftest import borrow

WM = "paper5_iris.world_model"
VOCAB, ACTIONS, K, BLOCKS = 16, 4, 4, 4  # a block is K + 1 = 5 positions; 20 in all


def models(seed: int = 0):
    """(the reference's WorldModel, yours with the same weights), both in eval mode (no dropout)."""
    args = (VOCAB, ACTIONS, K, BLOCKS, 16, 2, 2, 0.0)
    with seeded(seed):
        ref = reference(WM).WorldModel(*args)
    mine = copy_weights(ref, target(WM).WorldModel(*args), step="5.8")
    return ref.eval(), mine.eval()


def sequence(batch: int = 2, blocks: int = BLOCKS, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random frame tokens (B, blocks, K) and actions (B, blocks), with the largest ids of each kind present."""
    with seeded(seed):
        tokens = torch.randint(0, VOCAB, (batch, blocks, K))
        actions = torch.randint(0, ACTIONS, (batch, blocks))
    tokens[0, 0, 0], actions[0, 0] = VOCAB - 1, ACTIONS - 1
    return tokens, actions


def embed_by_hand(model, ids: torch.Tensor, start: int, slot_of_action: int = K, positions: bool = True):
    """x[b, l] = (act_embed if (start + l) % (K + 1) == slot_of_action else obs_embed)(ids[b, l])
    + pos_embed(start + l)."""
    rows = []
    for l_ in range(ids.shape[1]):
        p = start + l_
        table = model.act_embed if p % (K + 1) == slot_of_action else model.obs_embed
        rows.append(table.weight[ids[:, l_].clamp(max=len(table.weight) - 1)]  # the wrong variants need the clamp
                    + (model.pos_embed.weight[p] if positions else 0))
    return torch.stack(rows, 1)


# ---------------------------------------------------------------- 5.8 embedding frame tokens and actions
@pytest.mark.todo("5.8")
def test_embed_by_hand_from_the_module_tables():
    _, mine = models()
    tokens, actions = sequence()
    ids = reference(WM).interleave(tokens, actions)  # (2, 20)
    with torch.no_grad():
        got = mine.embed(ids)
        want = embed_by_hand(mine, ids, 0)
    assert_shape(got, (2, 20, 16), step="5.8", what="embed(ids (2, 20)) (one E = 16 vector per id)")
    hints = [(embed_by_hand(mine, ids, 0, slot_of_action=0), "the action slot is the *last* of each block, "
              "slot K (16 in the paper, 4 here): slots 0..K-1 hold the frame's tokens"),
             (embed_by_hand(mine, ids, 0, slot_of_action=K - 1), "the action slot is off by one: it is slot K "
              "(position p with p mod (K + 1) == K), not K - 1"),
             (embed_by_hand(mine, ids, 0, positions=False), "the position embedding is missing: add "
              "pos_embed(p) for every position p"),
             (embed_by_hand(mine, ids, 0, slot_of_action=-1), "every id is looked up in the token table: the ids in "
              "the action slots are actions, looked up in act_embed")]
    if not torch.allclose(got, want, atol=1e-5):
        for wrong, why in hints:
            assert_true(not torch.allclose(got, wrong, atol=1e-5), f"embed(ids): {why}.", step="5.8")
    assert_close(got, want, step="5.8", what="embed(ids (2, 20)), recomputed from your module's own obs_embed, "
                 "act_embed and pos_embed tables (slot K of each block of K + 1 = 5 an action, the others tokens)")


@pytest.mark.todo("5.8")
def test_embed_continues_at_start():
    """embed(ids[:, s:], start=s) == embed(ids)[:, s:]: the position, not the call, decides what an id is."""
    _, mine = models(2)
    tokens, actions = sequence(seed=3)
    ids = reference(WM).interleave(tokens, actions)
    with torch.no_grad():
        full = mine.embed(ids)
        for s in (4, 7, 19):
            part = mine.embed(ids[:, s:], s)
            assert_shape(part, (2, 20 - s, 16), step="5.8", what=f"embed(ids[:, {s}:], start={s})")
            zero_based = embed_by_hand(mine, ids[:, s:], 0)
            from_zero = torch.allclose(part, zero_based, atol=1e-5)
            assert_true(not (from_zero and not torch.allclose(full[:, s:], zero_based, atol=1e-5)),
                        f"embed(ids[:, {s}:], start={s}) treats the ids as positions 0, 1, ... : with a cache they sit "
                        "at positions start, start + 1, ... (the slot and the position embedding follow from "
                        "start + l).", step="5.8")
            assert_close(part, full[:, s:], step="5.8", what=f"embed(ids[:, {s}:], start={s}) (must equal the "
                         f"positions {s}.. of embedding the whole sequence at once)")


@pytest.mark.todo("5.8")
def test_embed_same_id_means_token_or_action_by_slot():
    """Id 3 at slot 2 is a token, at slot K an action: the two embeddings differ by more than the positions do."""
    _, mine = models(4)
    ids = torch.full((1, 2 * (K + 1)), 3)
    with torch.no_grad():
        got = mine.embed(ids) - mine.pos_embed.weight[: 2 * (K + 1)]
    assert_close(got[0, 2], mine.obs_embed.weight[3], step="5.8", what="embed of id 3 at slot 2 minus its position "
                 "embedding (a frame token: the row 3 of obs_embed)")
    assert_close(got[0, K], mine.act_embed.weight[3], step="5.8", what=f"embed of id 3 at slot {K} minus its position "
                 "embedding (the action slot: the row 3 of act_embed)")


@pytest.mark.todo("5.8")
def test_embed_matches_reference_and_forward():
    ref, mine = models(5)
    tokens, actions = sequence(seed=6)
    ids = reference(WM).interleave(tokens, actions)
    with torch.no_grad():
        assert_close(mine.embed(ids), ref.embed(ids), step="5.8", what="embed(ids (2, 20))")
        assert_close(mine.embed(ids[:, 9:], 9), ref.embed(ids[:, 9:], 9), step="5.8", what="embed(ids, start=9)")
        got, _ = mine(ids)
        want, _ = ref(ids)
    assert_close(got["obs"], want["obs"], step="5.8", what="the observation logits of forward(ids), which starts from "
                 "your embed", atol=1e-4)


# ---------------------------------------------------------------- 5.9 what each position predicts
@pytest.mark.todo("5.9")
def test_targets_guide_example():
    """K = 2: frames [[10, 11], [20, 21], [30, 31]] -> [[11, IGNORE, 20], [21, IGNORE, 30]];
    rewards [0, -3] -> [1, 0]."""
    mod = target(WM)
    tokens = torch.tensor([[[10, 11], [20, 21], [30, 31]]])
    obs, reward, end = mod.targets(tokens, torch.tensor([[0.0, -3.0]]), torch.tensor([[0.0, 1.0]]))
    ig = reference(WM).IGNORE
    want = torch.tensor([[[11, ig, 20], [21, ig, 30]]])
    assert_shape(obs, (1, 2, 3), step="5.9", what="the obs targets of T = 2 steps with K = 2 (B, T, K + 1)")
    assert_true(obs.dtype == torch.long, f"the obs targets must be long (class indices), got {obs.dtype}", step="5.9")
    named = {"the action slot predicts the first token of the *next* frame, t + 1, not of frame t":
             torch.tensor([[[11, ig, 10], [21, ig, 20]]]),
             "each slot predicts the *next* token of its frame, not its own input": torch.tensor([[[10, ig, 20],
                                                                                                 [20, ig, 30]]]),
             "the next frame is predicted at the action slot (K), not at the last frame slot (K - 1), which cannot "
             "know the action yet": torch.tensor([[[11, 20, ig], [21, 30, ig]]])}
    for why, wrong in named.items():
        assert_true(not torch.equal(obs, wrong), f"targets: {why}. Got {obs.tolist()}.", step="5.9")
    assert_true(torch.equal(obs, want), f"targets of frames [[10, 11], [20, 21], [30, 31]]: expected "
                f"{want.tolist()} (IGNORE = {ig} where a slot predicts nothing), got {obs.tolist()}.", step="5.9")
    assert_true(reward.dtype == torch.long and end.dtype == torch.long, f"the reward and end targets must be long "
                f"class indices, got {reward.dtype} and {end.dtype}.", step="5.9")
    assert_true(reward.tolist() == [[1, 0]], f"reward classes of rewards [0, -3]: expected [[1, 0]] (sign(r) + 1), "
                f"got {reward.tolist()}.", step="5.9")
    assert_true(end.tolist() == [[0, 1]], f"end targets of ends [0, 1]: expected [[0, 1]], got {end.tolist()}.",
                step="5.9")


@pytest.mark.todo("5.9")
def test_reward_classes_are_the_sign_plus_one():
    rewards = torch.tensor([[-7.0, -0.5, 0.0, 0.25, 1.0, 30.0]])
    _, got, _ = target(WM).targets(torch.zeros(1, 7, 2, dtype=torch.long), rewards, torch.zeros(1, 6))
    want = [[0, 0, 1, 2, 2, 2]]
    assert_true(got.tolist() == want, f"reward classes of rewards {rewards.tolist()}: expected {want} (class 0 for "
                f"any negative reward, 1 for zero, 2 for any positive reward: sign(r) + 1), got {got.tolist()}.",
                step="5.9")


@pytest.mark.todo("5.9")
def test_targets_by_loop_and_reference():
    with seeded(7):
        tokens = torch.randint(0, VOCAB, (3, 5, K))  # T = 4 steps
        rewards, ends = torch.randn(3, 4), (torch.rand(3, 4) < 0.3).float()
    obs, reward, end = target(WM).targets(tokens, rewards, ends)
    assert_shape(obs, (3, 4, K + 1), step="5.9", what="obs targets of tokens (3, 5, 4) (B, T, K + 1)")
    ig = reference(WM).IGNORE
    want = torch.full((3, 4, K + 1), ig)
    for t in range(4):
        for k in range(K - 1):
            want[:, t, k] = tokens[:, t, k + 1]
        want[:, t, K] = tokens[:, t + 1, 0]
    assert_true(torch.equal(obs, want), f"obs targets differ from slot k -> token k + 1 of the same frame, slot K - 1 "
                f"-> IGNORE, slot K -> token 0 of the next frame; first block of row 0: expected "
                f"{want[0, 0].tolist()}, got {obs[0, 0].tolist()}.", step="5.9")
    r_obs, r_reward, r_end = reference(WM).targets(tokens, rewards, ends)
    assert_true(torch.equal(obs, r_obs) and torch.equal(reward, r_reward) and torch.equal(end, r_end),
                "targets differ from the reference's on random tokens.", step="5.9")


# ---------------------------------------------------------------- 5.10 the world-model loss
def batch(seed: int = 8, B: int = 2, T: int = BLOCKS):
    with seeded(seed):
        tokens = torch.randint(0, VOCAB, (B, T + 1, K))
        actions = torch.randint(0, ACTIONS, (B, T))
        rewards = torch.randint(-1, 2, (B, T)).float() * torch.rand(B, T) * 3
        ends = (torch.rand(B, T) < 0.3).float()
    mask = torch.ones(B, T)
    mask[1, 2:] = 0  # row 1: a new episode starts at step 2
    return tokens, actions, rewards, ends, mask


def loss_by_loop(model, tokens, actions, rewards, ends, mask, reward_slot: int = K):
    """The three cross-entropies position by position: each a mean over the targets that count."""
    B, T = actions.shape
    with torch.no_grad():
        out, _ = model(reference(WM).interleave(tokens[:, :-1], actions))
    obs, rew, end = [], [], []
    for b in range(B):
        for t in range(T):
            if not mask[b, t]:
                continue
            p = t * (K + 1)
            for k in range(K - 1):  # slot k -> token k + 1
                obs.append(F.cross_entropy(out["obs"][b, p + k], tokens[b, t, k + 1]))
            obs.append(F.cross_entropy(out["obs"][b, p + K], tokens[b, t + 1, 0]))  # action slot -> next frame
            rew.append(F.cross_entropy(out["reward"][b, p + reward_slot], (torch.sign(rewards[b, t]) + 1).long()))
            end.append(F.cross_entropy(out["end"][b, p + reward_slot], ends[b, t].long()))
    mean = lambda xs: torch.stack(xs).mean()
    return {"obs": mean(obs), "reward": mean(rew), "end": mean(end)}


def run_loss(mod, model, *args) -> dict:
    got = mod.world_model_loss(model, *args)
    assert_true(isinstance(got, dict) and {"loss", "obs", "reward", "end"} <= set(got), "world_model_loss must return "
                f"a dict with 'loss', 'obs', 'reward' and 'end', got {type(got).__name__} "
                f"{sorted(got) if isinstance(got, dict) else ''}.", step="5.10")
    for key in ("loss", "obs", "reward", "end"):
        assert_shape(got[key], (), step="5.10", what=f"world_model_loss(...)['{key}'] (a scalar)")
    return got


@pytest.fixture
def loss_mod(monkeypatch):
    """Your world_model.py with the reference's embed (5.8) and targets (5.9)."""
    borrow(monkeypatch, WM, ("targets",))
    return borrow(monkeypatch, WM, ("embed",), cls="WorldModel")


@pytest.mark.todo("5.10")
def test_loss_by_loop(loss_mod):
    _, model = models(9)
    args = batch()
    got = run_loss(loss_mod, model, *args)
    want = loss_by_loop(model, *args)
    wrong_slot = loss_by_loop(model, *args, reward_slot=K - 1)
    if not torch.allclose(got["reward"].detach(), want["reward"], atol=1e-5):
        assert_true(not torch.allclose(got["reward"].detach(), wrong_slot["reward"], atol=1e-5), "the reward is read "
                    "at slot K - 1, the last frame token: read the reward and end heads at the action slot K, where "
                    "the model has seen the action.", step="5.10")
    for key in ("obs", "reward", "end"):
        assert_close(got[key], want[key], step="5.10", what=f"the '{key}' cross-entropy, recomputed position by "
                     "position over the steps with mask 1 (a mean over the targets that count)")
    assert_close(got["loss"], want["obs"] + want["reward"] + want["end"], step="5.10",
                 what="'loss' (the sum obs + reward + end)")


@pytest.mark.todo("5.10")
def test_masked_steps_change_nothing(loss_mod):
    """Row 1's steps 2.. are masked: new rewards, ends and next frames there leave every loss as it was."""
    _, model = models(10)
    tokens, actions, rewards, ends, mask = batch(11)
    base = run_loss(loss_mod, model, tokens, actions, rewards, ends, mask)
    tokens2, rewards2, ends2 = tokens.clone(), rewards.clone(), ends.clone()
    tokens2[1, 3:] = (tokens2[1, 3:] + 5) % VOCAB
    rewards2[1, 2:] = -rewards2[1, 2:] + 2
    ends2[1, 2:] = 1 - ends2[1, 2:]
    moved = run_loss(loss_mod, model, tokens2, actions, rewards2, ends2, mask)
    for key in ("obs", "reward", "end"):
        assert_close(moved[key], base[key], step="5.10", what=f"the '{key}' loss after changing only what the masked "
                     "steps of row 1 hold (their targets must not count: mask is 1 where a step counts)")
    kept = run_loss(loss_mod, model, tokens, actions, rewards2 * 0 + 1, ends, mask)
    assert_true(not torch.allclose(kept["reward"], base["reward"]), "changing the rewards of every step left the "
                "reward loss unchanged: the kept steps' rewards must count.", step="5.10")


@pytest.mark.todo("5.10")
def test_loss_matches_reference_and_trains(loss_mod):
    ref, mine = models(12)
    args = batch(13)
    got = run_loss(loss_mod, mine, *args)
    want = reference(WM).world_model_loss(ref, *args)
    for key in ("loss", "obs", "reward", "end"):
        assert_close(got[key], want[key], step="5.10", what=f"world_model_loss(...)['{key}']")
    got["loss"].backward()
    grads = [p.grad for p in (mine.obs_head[-1].weight, mine.reward_head[-1].weight, mine.end_head[-1].weight)]
    assert_true(all(g is not None and g.abs().sum() > 0 for g in grads), "the loss gives no gradient to one of the "
                "three heads: every head's cross-entropy is part of 'loss'.", step="5.10")
