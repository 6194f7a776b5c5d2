"""Graded tests for one dream step, token by token (guide, chapter 5, step 5.11).

    pytest paper5_iris --todo 5.11

`dream_step` is checked on a scripted stand-in for the world model whose answers are known (it records what it was
fed and predicts fixed distributions), and on a real GPT against the reference with sampling made deterministic.
"""

from __future__ import annotations

import pytest
import torch

from common.grading import assert_close, assert_shape, assert_true, copy_weights, reference, seeded, target

SAMPLE, WM = "paper5_iris.sample", "paper5_iris.world_model"


class Scripted:
    """A stand-in for WorldModel: after id i the next token is (i + 1) mod vocab, almost surely; the reward logits
    are `reward`, the end logits `end` and, when `obs` is given, the token logits `obs` (every position alike).
    It records the ids it was fed, and its cache only counts positions, as the real one does."""

    def __init__(self, K: int = 3, vocab: int = 8, reward=(0.0, -20.0, 20.0), end=(20.0, -20.0), obs=None,
                 max_blocks: int = 6) -> None:
        self.K, self.block, self.vocab, self.max_blocks = K, K + 1, vocab, max_blocks
        self.max_tokens = max_blocks * self.block
        self.reward, self.end, self.obs = torch.tensor(reward), torch.tensor(end), obs
        self.fed: list[torch.Tensor] = []

    def __call__(self, ids: torch.Tensor, cache=None):
        B, L = ids.shape
        self.fed.append(ids.clone())
        S = cache[0][0].shape[2] if cache else 0
        if self.obs is None:
            obs = torch.full((B, L, self.vocab), -30.0)
            obs.scatter_(-1, ((ids + 1) % self.vocab)[..., None], 30.0)
        else:
            obs = self.obs.expand(B, L, -1)
        out = {"obs": obs, "reward": self.reward.expand(B, L, -1), "end": self.end.expand(B, L, -1)}
        kv = torch.zeros(B, 1, S + L, 1)
        return out, [(kv, kv)]


def start(model: Scripted, B: int, first: int = 5):
    """A cache that holds one real frame of K tokens whose last token is `first`."""
    ids = torch.full((B, model.K), first)
    _, cache = model(ids)
    model.fed.clear()
    return cache


def run_step(model, cache, action, temperature=1.0):
    out = target(SAMPLE).dream_step(model, cache, action, temperature)
    assert_true(isinstance(out, tuple) and len(out) == 4, "dream_step must return (tokens, reward, end, cache), got "
                f"{type(out).__name__}.", step="5.11")
    return out


@pytest.mark.todo("5.11")
def test_dream_step_feeds_the_action_then_every_token():
    model = Scripted(K=3, vocab=8)
    cache = start(model, B=2)
    action = torch.tensor([1, 2])
    tokens, reward, end, new = run_step(model, cache, action)
    assert_shape(tokens, (2, 3), step="5.11", what="the tokens of dream_step (B, K): one row per dream")
    fed = [f.tolist() for f in model.fed]
    assert_true(len(fed) >= 1 and fed[0] == [[1], [2]], f"the first call of the model must feed the action (B, 1) "
                f"after the cached frame; the calls fed {fed}.", step="5.11")
    # the action id a gives the first token (a + 1) mod 8, each token t the next (t + 1) mod 8
    want = torch.stack([(action + k) % 8 for k in (1, 2, 3)], 1)
    assert_true(torch.equal(tokens.long(), want), f"tokens: each token is sampled from the logits of the *last* "
                f"position fed (the action's for the first, then each new token's): expected {want.tolist()}, got "
                f"{tokens.tolist()}.", step="5.11")
    assert_true(sum(f.shape[1] for f in model.fed) == 4 and model.fed[-1].tolist() == tokens[:, -1:].tolist(),
                f"the model must be fed the action and then each of the K = 3 sampled tokens in order, the last one "
                f"too (or the next action lands in a token slot); it was fed {fed}.", step="5.11")
    length = new[0][0].shape[2]
    assert_true(length == 3 + 4, f"after one dream step from a cached frame of K = 3 tokens, the cache must hold "
                f"3 + (K + 1) = 7 positions (the action and the K tokens), got {length}: return the cache of the last "
                "call, and pass each call the cache the previous one returned.", step="5.11")


@pytest.mark.todo("5.11")
def test_reward_and_end_values():
    """Reward class 2 is +1, class 0 is -1; end class 1 is 1.0 (floats)."""
    for logits, value in (((0.0, -30.0, 30.0), 1.0), ((30.0, -30.0, 0.0), -1.0), ((-30.0, 30.0, 0.0), 0.0)):
        model = Scripted(reward=logits, end=(-30.0, 30.0))
        _, reward, end, _ = run_step(model, start(model, 3), torch.zeros(3, dtype=torch.long))
        assert_shape(reward, (3,), step="5.11", what="the reward of dream_step (B,)")
        assert_true(reward.is_floating_point() and end.is_floating_point(), f"reward and end must be floats, got "
                    f"{reward.dtype} and {end.dtype}.", step="5.11")
        assert_true(torch.equal(reward, torch.full((3,), value)), f"reward logits {logits} (class "
                    f"{int(torch.tensor(logits).argmax())} almost sure) must give the reward {value} (classes 0, 1, 2 "
                    f"mean -1, 0, +1), got {reward.tolist()}.", step="5.11")
        assert_true(torch.equal(end, torch.ones(3)), f"end logits (-30, 30) (an end almost sure) must give 1.0, got "
                    f"{end.tolist()}.", step="5.11")


@pytest.mark.todo("5.11")
def test_tokens_are_sampled_with_the_temperature_and_reward_without():
    """Token logits log([0.7, 0.2, 0.1]) at temperature 0.5 give p proportional to [0.49, 0.04, 0.01]; the reward
    logits log([0.2, 0.5, 0.3]) are drawn as they are, whatever the temperature."""
    torch.manual_seed(0)
    p_tok, p_rew = torch.tensor([0.7, 0.2, 0.1]), torch.tensor([0.2, 0.5, 0.3])
    model = Scripted(K=2, vocab=3, reward=tuple(p_rew.log().tolist()), obs=p_tok.log())
    n = 20000
    with seeded(1):
        tokens, reward, _, _ = run_step(model, start(model, n, first=0), torch.zeros(n, dtype=torch.long), 0.5)
    freq = torch.bincount(tokens.long().flatten(), minlength=3).float() / tokens.numel()
    want = p_tok.pow(2) / p_tok.pow(2).sum()
    assert_true(not bool(freq[0] > 0.999), "every token is the most likely one: sample the tokens (sample_class "
                "draws from softmax(logits / temperature)); the argmax never lets a dream branch.", step="5.11")
    assert_close(freq, want, step="5.11", atol=0.02, what="the frequencies of the tokens drawn from logits "
                 "log([0.7, 0.2, 0.1]) at temperature 0.5 (softmax(logits / 0.5) = [0.907, 0.074, 0.019])")
    rfreq = torch.bincount((reward + 1).long(), minlength=3).float() / n
    assert_close(rfreq, p_rew, step="5.11", atol=0.02, what="the frequencies of the rewards -1, 0, +1 drawn from "
                 "logits log([0.2, 0.5, 0.3]) (the temperature applies to frame tokens only)")


@pytest.mark.todo("5.11")
def test_dream_step_matches_reference_on_a_real_gpt(no_noise):
    args = (16, 4, 4, 4, 16, 2, 2, 0.0)
    with seeded(2):
        ref = reference(WM).WorldModel(*args).eval()
        frame = torch.randint(0, 16, (2, 4))
    mine_model = copy_weights(ref, reference(WM).WorldModel(*args), step="5.11").eval()
    ref_sample = reference(SAMPLE)
    cache = ref_sample.reset(mine_model, frame)
    ref_cache = ref_sample.reset(ref, frame)
    for action in (torch.tensor([0, 3]), torch.tensor([2, 1])):  # two steps: the second starts at slot 0 again
        tokens, reward, end, cache = run_step(mine_model, cache, action)
        want = ref_sample.dream_step(ref, ref_cache, action)
        ref_cache = want[3]
        assert_true(torch.equal(tokens.long(), want[0]), f"the tokens of a dream step (most likely token at each "
                    f"position) differ from the reference's: {tokens.tolist()} vs {want[0].tolist()}.", step="5.11")
        assert_close(reward, want[1], step="5.11", what="the reward of a dream step (most likely class)")
        assert_close(end, want[2], step="5.11", what="the end of a dream step (most likely class)")
        assert_close(cache[0][0], ref_cache[0][0], step="5.11", what="the first layer's cached keys after the step",
                     atol=1e-4)
