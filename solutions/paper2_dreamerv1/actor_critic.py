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
        # TODO(2.9): the actor's Gaussian; see IMPLEMENTATION_GUIDE.md §2.9. In: feat (..., F). Out: mean, std
        # (..., A) before the tanh, from the two halves of the output of self.net: the mean squashed smoothly
        # into (-mean_scale, mean_scale); the std a softplus shifted by self.raw_init_std (so that it starts
        # at init_std), plus self.min_std.
        # BEGIN SOLUTION
        mean, raw = self.net(feat).chunk(2, dim=-1)
        mean = self.mean_scale * torch.tanh(mean / self.mean_scale)
        std = F.softplus(raw + self.raw_init_std) + self.min_std
        return mean, std
        # END SOLUTION

    def sample(self, feat: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
        """A reparameterised action tanh(mean + std * eps), eps ~ N(0, I) unless given: (..., A)."""
        # TODO(2.9): a reparameterised action; see IMPLEMENTATION_GUIDE.md §2.9. In: feat (..., F), optional
        # standard normal noise eps (..., A), drawn here only when not given. Out: the tanh of a Gaussian
        # sample with this actor's mean and std, in (-1, 1); gradients must reach the actor.
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
    # TODO(2.10): the lambda-returns; see IMPLEMENTATION_GUIDE.md §2.10. In: reward, value, pcont (N, H),
    # bootstrap (N,), lam. Out: V_lambda (N, H) of the docstring's recursion, where the value after step t is
    # the next entry of value, and bootstrap after the last step. Compute it backwards in time; return it in
    # forward order.
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
    graph (stop-gradient: the actor must not train the encoder through the starts). Then H times: the
    actor samples a_t from the state's feature, and the prior step img_step takes (s_t, a_t) to s_{t+1}.
    The feature fed to the actor is detached, but the action and the step keep their graph, so the
    actor's loss backpropagates through the imagined dynamics into the actor. Returns the H features
    after the start.
    """
    # TODO(2.11): imagination; see IMPLEMENTATION_GUIDE.md §2.11. In: start, posterior states (B, T, ...), and
    # horizon H. Out: features (N, H, F) of the H states after the start (not the start itself), N the B * T
    # start states, cut from their graph. Each state comes from img_step with an action the actor samples from
    # a detached feature, so that gradients flow through the actions and the steps, not into the starts.
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
    # TODO(2.12): the actor loss; see IMPLEMENTATION_GUIDE.md §2.12. Eq 7. In: returns, weights (N, H-1). Out:
    # a scalar, the negative weighted mean of the returns. Do not detach them: their gradient *is* the actor's
    # learning signal.
    # BEGIN SOLUTION
    return -(weights * returns).mean()
    # END SOLUTION


def value_loss(value_pred: torch.Tensor, returns: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. 8: regress v(s) on the lambda-returns as fixed targets (stop-gradient). Scalar.

    value_pred (N, H-1) is the mean of a unit Gaussian: loss = -weighted mean of log N(target; v, 1).
    """
    # TODO(2.12): the value loss; see IMPLEMENTATION_GUIDE.md §2.12. Eq 8. In: value_pred, returns, weights
    # (N, H-1). Out: a scalar, the negative weighted mean of the log-likelihood (normal_log_prob, unit
    # variance) of the returns under value_pred. The returns are fixed targets: they never receive gradient.
    # BEGIN SOLUTION
    target = returns.detach()
    return -(weights * normal_log_prob(target, value_pred, 0)).mean()
    # END SOLUTION
