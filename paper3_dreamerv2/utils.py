"""The two losses' building blocks that DreamerV2 changes: KL balancing, and returns that stop where the
model predicts the episode ends (Hafner et al. 2021, §2 and Algorithm 2; dreamerv2/common/nets.py
`kl_loss`, common/other.py `lambda_return`, agent.py `ActorCritic.train`).

Shapes: B, T batch and time of a replay batch; S categorical variables of K classes; N imagination
starts, H + 1 imagined states (the start and H steps).
"""

from __future__ import annotations

import torch


def categorical_kl(lhs_logits: torch.Tensor, rhs_logits: torch.Tensor) -> torch.Tensor:
    """KL(Cat(lhs) || Cat(rhs)) of S independent categoricals: (..., S, K) logits -> (...), summed over
    the K classes *and* the S variables (one number per state)."""
    lhs = lhs_logits.log_softmax(-1)
    return (lhs.exp() * (lhs - rhs_logits.log_softmax(-1))).sum((-2, -1))


def kl_balance(post_logits: torch.Tensor, prior_logits: torch.Tensor, balance: float = 0.8,
               free: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The KL-balanced loss (Algorithm 2) and the raw mean KL, for logging.

        loss = balance * max(mean KL(sg(q) || p), free) + (1 - balance) * max(mean KL(q || sg(p)), free)

    post_logits, prior_logits (B, T, S, K). Both terms have the same value; they differ in what they
    train: the first moves the prior toward the posterior (weight balance = 0.8), the second the
    posterior toward the prior (0.2). The mean runs over the B * T states and the free nats clip the
    mean (free_avg), not each state.
    """
    # TODO(3.6): two KLs between the same distributions, each with one side's gradient stopped, each
    # averaged over B * T and clipped below at `free`, mixed with balance and 1 - balance. Returns
    # (loss, mean KL). IMPLEMENTATION_GUIDE.md §3.6.
    raise NotImplementedError("TODO(3.6): two KLs between the same distributions, each with one side's...")


def lambda_return(reward: torch.Tensor, value: torch.Tensor, discount: torch.Tensor, bootstrap: torch.Tensor,
                  lam: float) -> torch.Tensor:
    """TD(lambda) targets over an imagined trajectory, computed backwards (§2, eq. 4 of the paper).

    reward, value, discount: (N, H) for imagined states 0..H-1; bootstrap (N,): the value of state H.
    discount_t = gamma * (predicted probability that the episode goes on after state t).
        V(t) = r_t + discount_t * ((1 - lam) * v_{t+1} + lam * V(t+1)),    V(H) = bootstrap
    Returns (N, H).
    """
    # TODO(3.7): one backward pass from the bootstrap; the predicted discount of each state scales
    # everything that comes after it. (N, H) -> (N, H). IMPLEMENTATION_GUIDE.md §3.7.
    raise NotImplementedError("TODO(3.7): one backward pass from the bootstrap; the predicted discount...")


def discount_weights(discount: torch.Tensor) -> torch.Tensor:
    """How much each imagined state counts in the actor and critic losses: (N, H + 1) -> (N, H + 1).

    w_0 = 1, w_t = discount_0 * ... * discount_{t-1}: a state after a predicted episode end weighs
    nothing. No gradient flows through the weights.
    """
    # TODO(3.8): a running product of the discounts *before* each state, starting at 1, without a
    # gradient. IMPLEMENTATION_GUIDE.md §3.8.
    raise NotImplementedError("TODO(3.8): a running product of the discounts *before* each state...")
