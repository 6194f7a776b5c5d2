"""Behaviour learning in imagination (Dreamer §3, eq. 5-8; the authors' dreamer.py `_train`,
`_imagine_ahead`, tools.py `lambda_return`, models.py `ActionDecoder`).

From every posterior state of a training batch the actor imagines H = 15 steps with the world model's
prior; the reward head scores each imagined state and the value head estimates what follows. The
lambda-return V_lambda mixes n-step returns of every length (eq. 6). The actor maximises it by
backpropagating *through the imagined dynamics* (eq. 7: analytic gradients, no REINFORCE); the value
model regresses it as a fixed target (eq. 8).

Shapes: N = B * T imagination starts, H = horizon, F = feature size, A = action size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: F401 (used in the TODOs' solutions)
from torch import nn

from common.nets import mlp

from .networks import normal_log_prob  # noqa: F401 (used in TODO 2.12)
from .rssm import RSSM, State


class Actor(nn.Module):
    """The action model q(a | s): a tanh-transformed Gaussian (models.py `ActionDecoder`, 4 layers).

    mean = mean_scale * tanh(mu / mean_scale)        keeps the pre-tanh mean in (-5, 5)
    std  = softplus(raw + softplus^{-1}(init_std)) + min_std     starts near init_std = 5
    a    = tanh(mean + std * eps)                    in (-1, 1); reparameterised, so gradients flow
    """

    def __init__(self, feat_dim: int, action_dim: int, units: int = 400, layers: int = 4,
                 init_std: float = 5.0, mean_scale: float = 5.0, min_std: float = 1e-4) -> None:
        super().__init__()
        self.net = mlp(feat_dim, units, 2 * action_dim, layers=layers)
        self.mean_scale, self.min_std = mean_scale, min_std
        self.raw_init_std = math.log(math.exp(init_std) - 1.0)  # softplus(raw_init_std) == init_std

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """feat (..., F) -> mean, std (..., A) of the Gaussian *before* the tanh."""
        # TODO(2.9): x = self.net(feat); split in two halves; squash the mean with
        # mean_scale * tanh(mean / mean_scale); std = softplus(raw + self.raw_init_std) + self.min_std.
        # BEGIN SOLUTION
        mean, raw = self.net(feat).chunk(2, dim=-1)
        mean = self.mean_scale * torch.tanh(mean / self.mean_scale)
        std = F.softplus(raw + self.raw_init_std) + self.min_std
        return mean, std
        # END SOLUTION

    def sample(self, feat: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        """A reparameterised action tanh(mean + std * eps), eps ~ N(0, I) unless given: (..., A)."""
        # TODO(2.9): draw eps with torch.randn_like when it is None; gradients must reach the actor.
        # BEGIN SOLUTION
        mean, std = self(feat)
        eps = torch.randn_like(mean) if eps is None else eps
        return torch.tanh(mean + std * eps)
        # END SOLUTION

    def entropy(self, feat: torch.Tensor) -> torch.Tensor:
        """A one-sample estimate of the entropy of the tanh-Normal, (...): H(tanh x) = H(x) + E log(1 - tanh(x)^2).

        DreamerV1 has no entropy term; the cpu preset adds a small one (DreamerV2's `actor_ent`) so that the
        actor does not saturate at +-1 before the value model knows better.
        """
        mean, std = self(feat)
        x = mean + std * torch.randn_like(mean)
        normal = (torch.log(std) + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)
        return normal + torch.log(1 - torch.tanh(x).pow(2) + 1e-6).sum(-1)

    def mode(self, feat: torch.Tensor) -> torch.Tensor:
        """The greedy action for evaluation, tanh(mean). (The authors take the most likely of 100
        samples; for the narrow policies of a trained agent the two agree.)"""
        return torch.tanh(self(feat)[0])


def lambda_return(reward: torch.Tensor, value: torch.Tensor, pcont: torch.Tensor, bootstrap: torch.Tensor,
                  lam: float) -> torch.Tensor:
    """V_lambda of eq. 6, computed backwards (tools.py `lambda_return`).

    reward, value, pcont: (N, H) for imagined states 0..H-1; bootstrap: (N,), the value of state H.
        V_lambda(t) = r_t + pcont_t * ((1 - lam) * v_{t+1} + lam * V_lambda(t+1)),  V_lambda(H) = bootstrap
    where v_{t+1} is value[:, t+1] for t < H-1 and the bootstrap for t = H-1.
    lam = 0: one-step TD targets r_t + pcont_t * v_{t+1}; lam = 1: discounted sums plus the bootstrap.
    Returns (N, H).
    """
    # TODO(2.10): next_values = value shifted one step left with the bootstrap appended; then one loop
    # from t = H-1 down to 0 carrying `last` (starting at the bootstrap); stack the results in order.
    # BEGIN SOLUTION
    next_values = torch.cat([value[:, 1:], bootstrap[:, None]], dim=1)  # (N, H): v_{t+1}
    inputs = reward + pcont * next_values * (1.0 - lam)
    last, out = bootstrap, []
    for t in reversed(range(reward.shape[1])):
        last = inputs[:, t] + pcont[:, t] * lam * last
        out.append(last)
    return torch.stack(out[::-1], dim=1)  # (N, H)
    # END SOLUTION


def imagine_ahead(rssm: RSSM, actor: Actor, start: State, horizon: int) -> torch.Tensor:
    """Imagined features (N, H, F) from every posterior state of a batch (dreamer.py `_imagine_ahead`).

    start: the posterior of `observe`, tensors (B, T, ...). Flatten them to N = B * T starts and cut their
    graph (stop-gradient: the actor must not train the encoder through the starts). Then H times:
    a = actor.sample(feat(state) with stop-gradient), state = rssm.img_step(state, a). The feature fed
    to the actor is detached, but the action and the step keep their graph, so the actor's loss
    backpropagates through the imagined dynamics into the actor. Returns the H features after the start.
    """
    # TODO(2.11): start = {k: v.detach().reshape(-1, v.shape[-1])}; loop `horizon` times; stack the
    # features rssm.feat(state) along dim 1.
    # BEGIN SOLUTION
    state = {k: v.detach().reshape(-1, v.shape[-1]) for k, v in start.items()}  # (N, ...)
    feats = []
    for _ in range(horizon):
        action = actor.sample(rssm.feat(state).detach())  # (N, A)
        state = rssm.img_step(state, action)
        feats.append(rssm.feat(state))
    return torch.stack(feats, dim=1)  # (N, H, F)
    # END SOLUTION


def discount_weights(pcont: torch.Tensor) -> torch.Tensor:
    """Weights (N, H-1) of the imagined steps: 1, pcont_0, pcont_0 * pcont_1, ... (no gradient)."""
    ones = torch.ones_like(pcont[:, :1])
    return torch.cumprod(torch.cat([ones, pcont[:, :-2]], dim=1), dim=1).detach()


def actor_loss(returns: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 7: maximise the weighted lambda-returns; returns (N, H-1) keep their graph. Scalar."""
    # TODO(2.12): the negative weighted mean of the returns (do not detach them: their gradient *is*
    # the actor's learning signal).
    # BEGIN SOLUTION
    return -(weights * returns).mean()
    # END SOLUTION


def value_loss(value_pred: torch.Tensor, returns: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 8: regress v(s) on the lambda-returns as fixed targets (stop-gradient). Scalar.

    value_pred (N, H-1) is the mean of a unit Gaussian: loss = -weighted mean of log N(target; v, 1).
    """
    # TODO(2.12): detach the returns (targets never receive gradient), then
    # -(weights * normal_log_prob(target, value_pred, 0)).mean().
    # BEGIN SOLUTION
    target = returns.detach()
    return -(weights * normal_log_prob(target, value_pred, 0)).mean()
    # END SOLUTION
