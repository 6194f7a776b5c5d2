"""Behaviour learning in imagination, DreamerV3 style (Hafner et al. 2023, §3 "Actor critic learning",
eq. 6-7; the authors' agent.py `ImagActorCritic`, `VFunction` and jaxutils.py `Moments`).

What changes from chapter 3:
    * the critic is a two-hot head (symlog.py) like the reward head, regularised towards a *slow* copy of
      itself (an EMA of its weights, 2 % per update) instead of regressing a periodically copied target
    * the actor's advantages are divided by max(1, S), S an EMA of the range between the 5th and 95th
      percentile of the lambda-returns: large returns are scaled down, small ones are not scaled up
      (so that the fixed entropy bonus eta = 3e-4 means the same in every task)
    * one discount gamma = 0.997 (a 333-step horizon); the continue head's mode cuts imagined episodes
    * REINFORCE for discrete actions, backpropagation through the dynamics for continuous ones

Shapes: N imagination starts, H horizon (H + 1 states: the start and H imagined ones), F feature size,
A action size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal, OneHotCategoricalStraightThrough

from .world_model import RSSM, ScalarHead, State, mlp, onehot_sample, unimix_logits


class Actor(nn.Module):
    """pi(a | s), (..., F) -> a distribution over actions (..., A).

    discrete:   a one-hot categorical whose probabilities are 99 % softmax(logits) + 1 % uniform
    continuous: Normal(tanh(mean), std) per action dimension, std = (max - min) * sigmoid(raw + 2) + min,
                so std lies in [min_std, max_std] = [0.1, 1] (the authors' `normal` with minstd, maxstd);
                the net's output (..., 2A) is [mean, raw] in that order (its first A numbers are the mean)
    """

    def __init__(self, feat_dim: int, action_dim: int, discrete: bool, units: int, layers: int,
                 unimix: float = 0.01, min_std: float = 0.1, max_std: float = 1.0) -> None:
        super().__init__()
        self.discrete, self.unimix, self.min_std, self.max_std = discrete, unimix, min_std, max_std
        self.net = mlp(feat_dim, units, action_dim if discrete else 2 * action_dim, layers)

    def dist(self, feat: torch.Tensor) -> Distribution:
        """The policy at states feat (..., F): batch shape (...), event shape (A,)."""
        # TODO(4.12): the distribution above from the network's output: discrete, a straight-through
        # one-hot categorical on unimixed logits; continuous, an Independent Normal with a tanh'd mean and a
        # bounded std. See IMPLEMENTATION_GUIDE.md §4.12.
        # BEGIN SOLUTION
        out = self.net(feat)
        if self.discrete:
            return OneHotCategoricalStraightThrough(logits=unimix_logits(out, self.unimix), validate_args=False)
        mean, raw_std = out.chunk(2, -1)  # (..., A) each
        std = (self.max_std - self.min_std) * torch.sigmoid(raw_std + 2.0) + self.min_std
        return Independent(Normal(torch.tanh(mean), std, validate_args=False), 1, validate_args=False)
        # END SOLUTION

    def sample(self, feat: torch.Tensor) -> torch.Tensor:
        """An action (..., A) with gradients (straight-through one-hot, or a reparameterised Normal draw)."""
        dist = self.dist(feat)
        return onehot_sample(dist.logits) if self.discrete else dist.rsample()

    def mode(self, feat: torch.Tensor) -> torch.Tensor:
        """The greedy action, for evaluation: the most likely one-hot, or the mean tanh(mean)."""
        return self.dist(feat).mode


def imagine(rssm: RSSM, actor: Actor, start: State, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Imagined trajectories from every posterior state of a batch (the authors' `WorldModel.imagine`).

    start: posterior tensors (B, T, ...), flattened to N = B * T starts whose graph is cut. Then `horizon`
    prior steps, each with a = actor.sample(feat of the current state, detached). Returns
        feats   (N, H + 1, F)  the start state's feature, then the H imagined ones
        actions (N, H, A)      actions[:, t] is the action taken *in* state t (it leads to state t + 1)
    Actions and steps keep their graph: for continuous actions the returns backpropagate through them.
    """
    state = {k: v.detach().reshape(-1, *v.shape[2:]) for k, v in start.items()}  # (N, ...)
    feats, actions = [rssm.feat(state)], []
    for _ in range(horizon):
        action = actor.sample(feats[-1].detach())  # (N, A)
        state = rssm.img_step(state, action)
        feats.append(rssm.feat(state))
        actions.append(action)
    return torch.stack(feats, 1), torch.stack(actions, 1)


def lambda_return(reward: torch.Tensor, cont: torch.Tensor, value: torch.Tensor, discount: float,
                  lam: float) -> torch.Tensor:
    """TD(lambda) returns of imagined trajectories (eq. 7), computed backwards.

    reward (N, H): the reward predicted on arriving at states 1..H; cont (N, H): 1 if the episode goes on
    at states 1..H (the continue head's mode); value (N, H + 1): the critic at states 0..H.
        R_H = v_H,    R_t = r_t + discount * c_t * ((1 - lam) * v_{t+1} + lam * R_{t+1})
    (r_t, c_t are the reward and continue flag of state t + 1). Returns R_0..R_{H-1}, (N, H).
    """
    # TODO(4.9): one backward pass from the bootstrap v_H; a state where the episode ends (c = 0) stops
    # everything after it. (N, H), (N, H), (N, H + 1) -> (N, H). See IMPLEMENTATION_GUIDE.md §4.9.
    # BEGIN SOLUTION
    last, out = value[:, -1], []
    for t in reversed(range(reward.shape[1])):
        last = reward[:, t] + discount * cont[:, t] * ((1 - lam) * value[:, t + 1] + lam * last)
        out.append(last)
    return torch.stack(out[::-1], 1)
    # END SOLUTION


def imag_weights(cont: torch.Tensor, discount: float) -> torch.Tensor:
    """How much each imagined state counts in the actor and critic losses: (N, H + 1) -> (N, H + 1).

    cont (N, H + 1): the continue flags of states 0..H (state 0: 1 - terminated of the replay state).
    w_t = discount^t * c_0 * c_1 * ... * c_t (the authors' cumprod(discount * cont) / discount), no gradient.
    """
    # TODO(4.9): a running product of discount * cont along the horizon, divided by one discount (so
    # w_0 = c_0), without a gradient. (N, H + 1) -> (N, H + 1). See IMPLEMENTATION_GUIDE.md §4.9.
    # BEGIN SOLUTION
    return (torch.cumprod(discount * cont, 1) / discount).detach()
    # END SOLUTION


class ReturnNorm(nn.Module):
    """The return scale S (§3 "Return normalization"): EMAs of the 5th and 95th percentile of the returns.

        low  <- decay * low  + (1 - decay) * percentile(R, 5)        over every number of the batch
        high <- decay * high + (1 - decay) * percentile(R, 95)
        scale = max(limit, high - low)                               limit = 1

    Both start at 0 (no bias correction, as the authors' perc_ema). The state lives in buffers, so it is
    saved with the agent.
    """

    def __init__(self, decay: float = 0.99, low: float = 5.0, high: float = 95.0, limit: float = 1.0) -> None:
        super().__init__()
        self.decay, self.limit = decay, limit
        self.register_buffer("quantiles", torch.tensor([low, high]) / 100.0)
        self.register_buffer("low", torch.zeros(()))
        self.register_buffer("high", torch.zeros(()))

    def forward(self, ret: torch.Tensor) -> torch.Tensor:
        """Update the EMAs with returns ret (N, H) and return the scale, a scalar tensor without a gradient."""
        # TODO(4.10): the two percentiles over all N * H returns (no gradient), the EMA update of the
        # buffers low and high (in place), then the floored range. See IMPLEMENTATION_GUIDE.md §4.10.
        # BEGIN SOLUTION
        low, high = torch.quantile(ret.detach().flatten().float(), self.quantiles)
        self.low.mul_(self.decay).add_((1 - self.decay) * low)
        self.high.mul_(self.decay).add_((1 - self.decay) * high)
        return (self.high - self.low).clamp(min=self.limit)
        # END SOLUTION


def critic_loss(critic: ScalarHead, slow_critic: ScalarHead, feats: torch.Tensor, target: torch.Tensor,
                weights: torch.Tensor, slow_reg: float = 1.0) -> torch.Tensor:
    """The critic's loss (eq. 6 and the slow-critic regulariser). Scalar.

    feats (N, H, F) detached states 0..H-1; target (N, H) their lambda-returns; weights (N, H).
        loss_t = -ln p(R_t | s_t) - slow_reg * ln p(v_slow(s_t) | s_t)     (critic.nll(critic(feats), y) is -ln p(y))
        loss = mean(weights * loss_t)
    Neither the returns nor the slow critic's predictions receive a gradient.
    """
    # TODO(4.11): the critic's NLL of the returns plus slow_reg times its NLL of the slow critic's mean
    # predictions, both targets without a gradient, weighted and averaged. See IMPLEMENTATION_GUIDE.md §4.11.
    # BEGIN SOLUTION
    with torch.no_grad():
        slow = slow_critic.mean(feats)  # (N, H)
    out = critic(feats)  # one forward pass for both targets
    loss = critic.nll(out, target.detach()) + slow_reg * critic.nll(out, slow)
    return (weights * loss).mean()
    # END SOLUTION


@torch.no_grad()
def update_slow(critic: nn.Module, slow_critic: nn.Module, fraction: float = 0.02) -> None:
    """slow <- (1 - fraction) * slow + fraction * critic, for every parameter (slow_critic_fraction 0.02,
    after every update: slow_critic_update 1). The slow critic is never trained by gradients."""
    # TODO(4.11): move each of the slow critic's parameters a `fraction` of the way towards the critic's.
    # See IMPLEMENTATION_GUIDE.md §4.11.
    # BEGIN SOLUTION
    for slow, fast in zip(slow_critic.parameters(), critic.parameters(), strict=True):
        slow.lerp_(fast, fraction)
    # END SOLUTION


def actor_loss(logp: torch.Tensor, ent: torch.Tensor, ret: torch.Tensor, base: torch.Tensor,
               scale: torch.Tensor | float, weights: torch.Tensor, eta: float, reinforce: bool) -> torch.Tensor:
    """The actor's loss (eq. 7's surrogate). Scalar.

    logp (N, H): ln pi(a_t | s_t) of the imagined actions; ent (N, H): the policy's entropy at s_t;
    ret (N, H): the lambda-returns R_t; base (N, H): the critic's v(s_t); scale: the return scale S
    (>= 1); weights (N, H).
        adv = (R_t - v(s_t)) / scale
        objective = ln pi(a_t | s_t) * sg(adv)   (reinforce: discrete actions)
                  = adv                          (dynamics backprop: continuous; R_t keeps its graph)
        loss = -mean(weights * (objective + eta * ent))
    """
    # TODO(4.12): the scaled advantage, the objective of the chosen estimator (the REINFORCE advantage
    # carries no gradient), the entropy bonus, the weights; returns a scalar. IMPLEMENTATION_GUIDE.md §4.12.
    # BEGIN SOLUTION
    adv = (ret - base) / scale
    objective = logp * adv.detach() if reinforce else adv
    return -(weights * (objective + eta * ent)).mean()
    # END SOLUTION
