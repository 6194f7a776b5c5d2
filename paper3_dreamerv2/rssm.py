"""DreamerV2's discrete Recurrent State-Space Model (Hafner et al. 2021, §2 and Figure 2; the authors'
dreamerv2/common/nets.py `EnsembleRSSM` and `GRUCell`).

What changes from chapter 2's RSSM: the stochastic state z is no longer one diagonal Gaussian but
S = 32 categorical variables of K = 32 classes each, sampled as one-hot vectors with straight-through
gradients (§2 "Discrete latents", Algorithm 1), and the GRU normalises its gates with LayerNorm.

    deterministic  h_t = GRU(h_{t-1}, [z_{t-1}, a_{t-1}])       z flattened to S * K numbers
    prior          p(z_t | h_t)       = Cat(logits from h_t)     (B, S, K) logits
    posterior      q(z_t | h_t, e_t)  = Cat(logits from h_t, e_t)

A state is a dict: logits and stoch (B, S, K), deter (B, D); the heads read feat = concat(flatten(z), h),
(B, S * K + D). Sequences are batch first: (B, T, ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: F401 (used in TODOs 3.1-3.3)
from torch import nn

State = dict[str, torch.Tensor]  # {"logits", "stoch": (B, S, K), "deter": (B, D)}, or (B, T, ...)


def onehot_sample(logits: torch.Tensor, sample: bool = True) -> torch.Tensor:
    """A one-hot draw from Cat(softmax(logits)) over the last axis, with straight-through gradients.

    logits (..., K) -> (..., K). The forward value is exactly one-hot (a draw, or the most likely class
    when sample=False); the backward pass treats it as if it were the probabilities softmax(logits),
    so gradients reach the logits (Algorithm 1 of the paper).
    """
    # TODO(3.1): a one-hot vector whose value is a draw (or the argmax) and whose gradient is that of
    # the class probabilities. Contract: (..., K) -> (..., K); see IMPLEMENTATION_GUIDE.md §3.1.
    raise NotImplementedError("TODO(3.1): a one-hot vector whose value is a draw (or the argmax) and...")


class NormGRUCell(nn.Module):
    """The authors' GRU cell: one linear layer for the three gates, LayerNorm over them, update bias -1.

        r, c, u = split(LayerNorm(W [x, h]), 3)          (B, 3D) -> three (B, D)
        r = sigmoid(r);  c = tanh(r * c);  u = sigmoid(u - 1)
        h' = u * c + (1 - u) * h

    The reset gate scales the candidate's pre-activation (not h, as torch.nn.GRUCell does), and the -1
    makes the cell keep most of its old state at initialisation (u ~ 0.27).
    """

    def __init__(self, inp: int, size: int, update_bias: float = -1.0) -> None:
        super().__init__()
        self.linear = nn.Linear(inp + size, 3 * size, bias=False)  # no bias: the LayerNorm has one
        self.norm = nn.LayerNorm(3 * size)
        self.update_bias = update_bias

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """x (B, inp), h (B, D) -> the new state (B, D)."""
        # TODO(3.2): the three gates from one normalised linear layer of [x, h], in the order reset,
        # candidate, update; see IMPLEMENTATION_GUIDE.md §3.2 for the equations. (B, inp), (B, D) -> (B, D).
        raise NotImplementedError("TODO(3.2): the three gates from one normalised linear layer of [x...")


class RSSM(nn.Module):
    def __init__(self, action_dim: int, embed_dim: int, stoch: int = 32, classes: int = 32, deter: int = 600,
                 hidden: int = 600) -> None:
        super().__init__()
        self.stoch, self.classes, self.deter = stoch, classes, deter
        flat = stoch * classes
        self.img_in = nn.Linear(flat + action_dim, hidden)  # [z_{t-1}, a_{t-1}] -> x
        self.cell = NormGRUCell(hidden, deter)  # h_t = GRU(x, h_{t-1})
        self.img_out = nn.Linear(deter, hidden)  # h_t -> y
        self.img_logits = nn.Linear(hidden, flat)  # y -> prior logits (S * K)
        self.obs_out = nn.Linear(deter + embed_dim, hidden)  # [h_t, e_t] -> y'
        self.obs_logits = nn.Linear(hidden, flat)  # y' -> posterior logits

    def initial(self, batch: int) -> State:
        """The state before the first step of an episode: all zeros."""
        p = self.img_in.weight
        zeros = lambda *shape: torch.zeros(batch, *shape, device=p.device, dtype=p.dtype)
        return {"logits": zeros(self.stoch, self.classes), "stoch": zeros(self.stoch, self.classes),
                "deter": zeros(self.deter)}

    @staticmethod
    def feat(state: State) -> torch.Tensor:
        """The feature every head reads: concat(flatten(z), h), (..., S * K + D)."""
        return torch.cat([state["stoch"].flatten(-2), state["deter"]], dim=-1)

    def img_step(self, state: State, action: torch.Tensor, sample: bool = True) -> State:
        """The prior step (s_{t-1}, a_{t-1}) -> s_t: state as above, action (B, A). Returns the prior state."""
        # TODO(3.3): h_t from the GRU, then the prior's logits (B, S, K) and a straight-through sample;
        # ELU after img_in and img_out. Returns {"logits", "stoch", "deter"}. IMPLEMENTATION_GUIDE.md §3.3.
        raise NotImplementedError("TODO(3.3): h_t from the GRU, then the prior's logits (B, S, K) and a...")

    def obs_step(self, state: State, action: torch.Tensor, embed: torch.Tensor,
                 sample: bool = True) -> tuple[State, State]:
        """The posterior step (s_{t-1}, a_{t-1}, e_t) -> (posterior s_t, prior s_t); embed (B, E).

        The posterior keeps the prior's h_t and draws z_t from q(z_t | h_t, e_t)."""
        # TODO(3.3): the prior step, then the posterior's logits from [h_t, e_t] (ELU after obs_out) and
        # a sample; the posterior shares the prior's deter. IMPLEMENTATION_GUIDE.md §3.3.
        raise NotImplementedError("TODO(3.3): the prior step, then the posterior's logits from [h_t...")

    def observe(self, embed: torch.Tensor, action: torch.Tensor, is_first: torch.Tensor,
                state: State | None = None, sample: bool = True) -> tuple[State, State]:
        """Filter a batch of sequences: posterior and prior states for every step.

        embed (B, T, E); action (B, T, A), action[:, t] = the action taken *before* o_t; is_first (B, T),
        1.0 where an episode starts: there the state and the action are reset to zeros before the step.
        Returns post, prior: dicts of (B, T, ...) tensors.
        """
        # TODO(3.4): one obs_step per time step, each starting from the previous posterior, with the
        # resets at episode starts; stack along dim 1. IMPLEMENTATION_GUIDE.md §3.4.
        raise NotImplementedError("TODO(3.4): one obs_step per time step, each starting from the...")

    def imagine(self, state: State, actions: torch.Tensor, sample: bool = True) -> State:
        """Prior states after each of actions (B, T, A), starting from `state`: dict of (B, T, ...)."""
        states = []
        for t in range(actions.shape[1]):
            state = self.img_step(state, actions[:, t], sample)
            states.append(state)
        return {k: torch.stack([s[k] for s in states], dim=1) for k in states[0]}
