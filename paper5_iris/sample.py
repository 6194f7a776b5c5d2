"""Imagination (IRIS §2.3): the world model plays the environment, token by token, through its cache.

    reset:  feed the 16 tokens of a real frame                      cache: 16 positions
    step:   feed the action a_t       -> read reward r_t and end d_t, and the logits of o_{t+1}^1
            sample o_{t+1}^1, feed it -> logits of o_{t+1}^2 ... sample o_{t+1}^16, feed it
                                                                    cache: + 17 positions per step
    decode: the tokenizer turns o_{t+1} back into a frame for the agent

`imagine` runs the agent inside this loop for H steps. The world model and tokenizer take no gradient;
the agent's outputs keep theirs (its losses are taken on them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .transformer import Cache, cache_length
from .world_model import WorldModel


def sample_class(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """One draw per row of softmax(logits / temperature): logits (..., C) -> (...) long."""
    probs = torch.softmax(logits / temperature, -1)
    return torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1).reshape(probs.shape[:-1])


@torch.no_grad()
def reset(model: WorldModel, tokens: torch.Tensor) -> Cache:
    """Start a dream from real frame tokens (B, K): the cache after reading them."""
    return model(tokens)[1]


@torch.no_grad()
def dream_step(model: WorldModel, cache: Cache, action: torch.Tensor, temperature: float = 1.0
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Cache]:
    """One imagined env step. action (B,) long -> next tokens (B, K), reward (B,) float in {-1, 0, 1},
    end (B,) float in {0, 1}, and the cache, K + 1 positions longer."""
    if cache_length(cache) + model.block > model.max_tokens:
        raise ValueError(f"the dream is longer than the world model's context ({model.max_blocks} blocks): "
                         "shorten the horizon or raise max_blocks")
    # TODO(5.11): feed the action, read reward and end, then sample and feed the K frame tokens one by one
    # (draw with sample_class); returns as the docstring says. See IMPLEMENTATION_GUIDE.md §5.11.
    raise NotImplementedError("TODO(5.11): feed the action, read reward and end, then sample and feed...")


Policy = Callable[[torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor, Any]]  # frames, state -> logits, value, state


def imagine(model: WorldModel, decode: Callable[[torch.Tensor], torch.Tensor], policy: Policy,
            tokens: torch.Tensor, state: Any, horizon: int, temperature: float = 1.0) -> dict[str, torch.Tensor]:
    """H dream steps from real frame tokens (B, K), the agent acting on decoded frames.

    decode: tokens (B, K) -> frames (B, 3, H, W); policy: frames, state -> logits (B, A), value (B,), state.
    Returns logits (B, H, A), actions (B, H), values (B, H + 1) (the last: the value of the final frame),
    rewards (B, H), ends (B, H), frames (B, H + 1, 3, H, W)."""
    cache = reset(model, tokens)
    frames = [decode(tokens)]
    logits, actions, values, rewards, ends = [], [], [], [], []
    for _ in range(horizon):
        logit, value, state = policy(frames[-1], state)
        action = sample_class(logit.detach())
        if cache_length(cache) + model.block > model.max_tokens:  # the context is full (the paper's H = L = 20):
            cache = reset(model, tokens)  # go on from the current frame alone, as the authors do
        tokens, reward, end, cache = dream_step(model, cache, action, temperature)
        frames.append(decode(tokens))
        for seq, x in zip((logits, actions, values, rewards, ends), (logit, action, value, reward, end), strict=True):
            seq.append(x)
    values.append(policy(frames[-1], state)[1])
    stack = lambda seq: torch.stack(seq, 1)
    return {"logits": stack(logits), "actions": stack(actions), "values": stack(values), "rewards": stack(rewards),
            "ends": stack(ends), "frames": stack(frames)}
