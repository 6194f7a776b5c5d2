"""Behaviour learning in imagination, DreamerV2 style (Hafner et al. 2021, §2 "Actor Critic Learning",
eq. 5-6; dreamerv2/agent.py `ActorCritic`, dreamerv2/common/nets.py `EnsembleRSSM.imagine`).

What changes from chapter 2: actions are categorical, so the actor learns by REINFORCE against the
critic as a baseline (rho = 1) instead of backpropagating returns through the dynamics (rho = 0, which
V2 keeps for continuous control); an entropy bonus eta keeps it exploring; the critic regresses
lambda-returns computed with a slow *target* critic, copied every 100 updates.

Shapes: N imagination starts, H horizon, F feature size, A number of actions.
"""

from __future__ import annotations

import torch
from torch import nn

from common.nets import mlp

from .rssm import RSSM, State, onehot_sample


class Actor(nn.Module):
    """pi(a | s): a categorical over A actions, (..., F) -> logits (..., A) (4 x 400 ELU layers)."""

    def __init__(self, feat_dim: int, actions: int, units: int = 400, layers: int = 4) -> None:
        super().__init__()
        self.net = mlp(feat_dim, units, actions, layers=layers)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.net(feat)

    def sample(self, feat: torch.Tensor) -> torch.Tensor:
        """A one-hot action (..., A) with straight-through gradients (so rho < 1 can use the dynamics)."""
        return onehot_sample(self(feat))

    def mode(self, feat: torch.Tensor) -> torch.Tensor:
        """The greedy one-hot action, for evaluation."""
        return onehot_sample(self(feat), sample=False)


def log_prob(logits: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """log pi(a | s) of one-hot actions: (..., A), (..., A) -> (...)."""
    return (logits.log_softmax(-1) * action).sum(-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(pi(. | s)): (..., A) -> (...)."""
    logp = logits.log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def imagine(rssm: RSSM, actor: Actor, start: State, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Imagined trajectories from every posterior state of a batch (the authors' `imagine`).

    start: posterior tensors (B, T, ...), flattened to N = B * T starts whose graph is cut (the actor's
    losses must not train the encoder or the posterior through them). Then `horizon` prior steps, each
    with a = actor.sample(feat of the current state, detached). Returns
        feats   (N, H + 1, F)  the start state's feature, then the H imagined ones
        actions (N, H + 1, A)  actions[:, t] is the action that led *to* state t (zeros for the start)
    Actions and steps keep their graph: with rho < 1 the returns backpropagate through the dynamics.
    """
    # TODO(3.9): flatten and detach the starts, then H steps of actor and prior; stack the start's
    # feature and the H features (and the actions, with a zero action first). IMPLEMENTATION_GUIDE.md §3.9.
    raise NotImplementedError("TODO(3.9): flatten and detach the starts, then H steps of actor and...")


def actor_loss(logp: torch.Tensor, ent: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor,
               weights: torch.Tensor, rho: float, eta: float) -> torch.Tensor:
    """The actor's loss (eq. 6): a mix of REINFORCE and dynamics backpropagation, plus entropy. Scalar.

    logp (N, H-1): log pi(a_t | s_t) of the imagined actions; ent (N, H-1): the policy's entropy;
    target (N, H-1): the lambda-return after each action (keeps its graph for the dynamics term);
    baseline (N, H-1): the target critic's v(s_t); weights (N, H-1): the discount weights.
        objective = rho * logp * sg(target - baseline) + (1 - rho) * target + eta * ent
        loss = -mean(weights * objective)
    """
    # TODO(3.10): the objective above; the REINFORCE term's advantage carries no gradient.
    # IMPLEMENTATION_GUIDE.md §3.10.
    raise NotImplementedError("TODO(3.10): the objective above; the REINFORCE term's advantage carries...")


def critic_loss(value: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The critic's loss (eq. 5): regress v(s_t) (N, H) on the lambda-returns (N, H), fixed targets,
    each state weighted by its discount weight: mean(weights * 0.5 * (v - sg(target))^2). Scalar."""
    # TODO(3.11): a weighted squared error in which the targets receive no gradient.
    # IMPLEMENTATION_GUIDE.md §3.11.
    raise NotImplementedError("TODO(3.11): a weighted squared error in which the targets receive no...")


def update_target(critic: nn.Module, target: nn.Module, updates: int, every: int) -> bool:
    """Copy the critic's weights into the target critic when `updates` (counted from 0) is a multiple of
    `every` (slow_target_update: 100); returns whether it copied. Between copies the target stays fixed."""
    # TODO(3.11): copy all of the critic's parameters into the target every `every` updates, and only then.
    # IMPLEMENTATION_GUIDE.md §3.11.
    raise NotImplementedError("TODO(3.11): copy all of the critic's parameters into the target every...")
