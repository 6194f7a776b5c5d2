"""The TD-MPC2 world model and its losses (Hansen, Su & Wang 2024, §3.1 and the appendix).

An *implicit* world model: it never reconstructs an observation. Five parts, all small MLPs
(Linear -> LayerNorm -> Mish), acting on a latent z that SimNorm keeps on a product of simplices:

    encoder     z   = h(s)                 s (B, D) -> z (B, L)
    dynamics    z'  = d(z, a)              latent transition, trained to match h(s') (latent consistency)
    reward      r^  = R(z, a)              101 logits of a two-hot distribution over symlog(r)
    Q-ensemble  q^  = Q_i(z, a), i=1..5    101 logits each, trained by TD learning
    policy      a   ~ p(z)                 the "policy prior": a squashed Gaussian, guides the planner

One update (§3.1, the model objective, `model_loss`): encode s_0, roll the dynamics H steps with the
replayed actions, and score each step t with weight rho^t: ||z_{t+1} - sg(h(s_{t+1}))||^2 (x20),
CE(R, r_t) (x0.1) and CE(Q_i, r_t + gamma * Q_target(z'_{t+1}, p(z'_{t+1}))) (x0.1). The policy (§3.1, the
policy objective, `policy_loss`) then climbs the Q-values, divided by a running 5th-95th percentile range
so one entropy coefficient suits every reward scale. Official code: nicklashansen/tdmpc2,
tdmpc2/common/{layers,math,world_model,scale}.py and tdmpc2/tdmpc2.py.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

# ---------------------------------------------------------------- SimNorm and the two-hot helpers


def simnorm(x: torch.Tensor, group: int = 8) -> torch.Tensor:
    """Simplicial normalisation (§3.1): split the last axis into groups of `group`, softmax each group.

    x (..., L) with L divisible by `group` -> (..., L), each group of `group` numbers >= 0 summing to 1.
    """
    # TODO(6.1): SimNorm; see IMPLEMENTATION_GUIDE.md §6.1. In: x (..., L), L divisible by group. Out:
    # (..., L), each consecutive group of `group` numbers replaced by the softmax of that group alone:
    # non-negative, summing to 1, unchanged by a constant added to the group. Groups never mix.
    raise NotImplementedError("TODO(6.1): SimNorm; see IMPLEMENTATION_GUIDE.md §6.1.")


class SimNorm(nn.Module):
    def __init__(self, group: int = 8) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return simnorm(x, self.group)


def symlog(x: torch.Tensor) -> torch.Tensor:
    """sign(x) * ln(1 + |x|) (as in DreamerV3; TD-MPC2 regresses rewards and values in this space)."""
    # TODO(6.2): symlog; see IMPLEMENTATION_GUIDE.md §6.2. Out: the shape of x; magnitudes squashed
    # logarithmically, the sign kept, symlog(0) is 0.
    raise NotImplementedError("TODO(6.2): symlog; see IMPLEMENTATION_GUIDE.md §6.2.")


def symexp(x: torch.Tensor) -> torch.Tensor:
    """sign(x) * (exp(|x|) - 1), the inverse of symlog."""
    # TODO(6.2): symexp, the inverse of symlog; see IMPLEMENTATION_GUIDE.md §6.2. Out: the shape of x; it
    # undoes symlog exactly, also for large and for tiny magnitudes.
    raise NotImplementedError("TODO(6.2): symexp, the inverse of symlog; see IMPLEMENTATION_GUIDE.md §6.2.")


def two_hot(x: torch.Tensor, num_bins: int, vmin: float, vmax: float) -> torch.Tensor:
    """Soft two-hot encoding of symlog(x) over `num_bins` evenly spaced bins on [vmin, vmax].

    x (...,) -> (..., num_bins). y = clamp(symlog(x), vmin, vmax) falls between two neighbouring bins
    b_k <= y <= b_{k+1}; they get weights (b_{k+1} - y) / delta and (y - b_k) / delta, the rest 0, so the
    weights sum to 1 and their mean sum_k w_k b_k is y exactly.
    """
    # TODO(6.2): two-hot encoding; see IMPLEMENTATION_GUIDE.md §6.2. The two-hot encoding in symlog space. In:
    # x (...,). Out: (..., num_bins). symlog(x), clamped to [vmin, vmax], is shared by its two neighbouring
    # bins in proportion to how close it is to each: the weights sum to 1, every other bin is 0, and the
    # weighted mean of the bins is symlog(x). At vmax all the weight is on the last bin.
    raise NotImplementedError("TODO(6.2): two-hot encoding; see IMPLEMENTATION_GUIDE.md §6.2.")


def two_hot_inv(logits: torch.Tensor, vmin: float, vmax: float) -> torch.Tensor:
    """The scalar a distributional head predicts: symexp(sum_k softmax(logits)_k * b_k).

    logits (..., num_bins) -> (...,). The expectation is taken in symlog space, then mapped back.
    """
    # TODO(6.3): decode a distributional head; see IMPLEMENTATION_GUIDE.md §6.3. In: logits (..., num_bins).
    # Out: (...,), the symexp of the expected bin under the softmax of the logits, the bins evenly spaced on
    # [vmin, vmax] (in symlog space).
    raise NotImplementedError("TODO(6.3): decode a distributional head; see IMPLEMENTATION_GUIDE.md §6.3.")


def soft_ce(logits: torch.Tensor, target: torch.Tensor, vmin: float, vmax: float) -> torch.Tensor:
    """Cross-entropy between the head's distribution and the two-hot encoding of a scalar target.

    logits (..., num_bins), target (...,) -> (...,):  -sum_k two_hot(target)_k * log_softmax(logits)_k.
    """
    # TODO(6.3): the two-hot cross-entropy; see IMPLEMENTATION_GUIDE.md §6.3. In: logits (..., num_bins),
    # target (...,). Out: (...,), the cross-entropy of the head's distribution against the two-hot encoding of
    # target on the same bins, computed in log space.
    raise NotImplementedError("TODO(6.3): the two-hot cross-entropy; see IMPLEMENTATION_GUIDE.md §6.3.")


# ---------------------------------------------------------------- the networks


class NormedLinear(nn.Sequential):
    """Linear -> [Dropout] -> LayerNorm -> activation (Mish by default): TD-MPC2's building block."""

    def __init__(self, in_dim: int, out_dim: int, act: nn.Module | None = None, dropout: float = 0.0) -> None:
        layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers, nn.LayerNorm(out_dim), act if act is not None else nn.Mish())


def mlp(in_dim: int, hidden: list[int], out_dim: int, act: nn.Module | None = None,
        dropout: float = 0.0) -> nn.Sequential:
    """NormedLinear hidden layers (dropout on the first only); the last layer is a plain Linear, or a
    NormedLinear ending in `act` when one is given (the encoder and dynamics end in SimNorm)."""
    dims = [in_dim, *hidden]
    layers: list[nn.Module] = [NormedLinear(dims[i], dims[i + 1], dropout=dropout if i == 0 else 0.0)
                               for i in range(len(hidden))]
    layers.append(NormedLinear(dims[-1], out_dim, act=act) if act is not None else nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


def last_linear(net: nn.Sequential) -> nn.Linear:
    """The output layer of an `mlp` without a final activation."""
    layer = net[-1]
    assert isinstance(layer, nn.Linear), "this mlp ends in a NormedLinear, not a plain output layer"
    return layer


def init_weights(model: TDMPC2Model) -> None:
    """TD-MPC2's initialisation (official common/init.py and world_model.py).

    Every nn.Linear: weights from a truncated normal with std 0.02, biases 0. Then the output layers of
    the reward head and of every Q-function get weight 0 too, so that at the start every predicted reward
    and value is exactly 0 (a uniform distribution over the symmetric bins decodes to symexp(0) = 0).
    LayerNorms keep PyTorch's default (weight 1, bias 0).
    """
    # TODO(6.4): the initialisation; see IMPLEMENTATION_GUIDE.md §6.4. Every Linear of the model: weights from
    # a truncated normal with std 0.02, biases 0. Then the weights of the output layers (last_linear) of the
    # reward head and of every Q in model.Qs are 0 too. LayerNorms stay as PyTorch makes them.
    raise NotImplementedError("TODO(6.4): the initialisation; see IMPLEMENTATION_GUIDE.md §6.4.")


class TDMPC2Model(nn.Module):
    """Encoder, latent dynamics, reward head, Q-ensemble (+ its target copy) and the policy prior."""

    def __init__(self, obs_dim: int, action_dim: int, cfg) -> None:
        super().__init__()
        self.action_dim, self.num_q = action_dim, cfg.num_q
        self.num_bins, self.vmin, self.vmax = cfg.num_bins, cfg.vmin, cfg.vmax
        L, M = cfg.latent_dim, cfg.mlp_dim
        self.encoder = mlp(obs_dim, [cfg.enc_dim] * max(cfg.num_enc_layers - 1, 1), L,
                           act=SimNorm(cfg.simnorm_dim))
        self.dynamics = mlp(L + action_dim, [M, M], L, act=SimNorm(cfg.simnorm_dim))
        self.reward_head = mlp(L + action_dim, [M, M], cfg.num_bins)
        self.policy = mlp(L, [M, M], 2 * action_dim)  # mean and (unbounded) log-std
        self.Qs = nn.ModuleList([mlp(L + action_dim, [M, M], cfg.num_bins, dropout=cfg.dropout)
                                 for _ in range(cfg.num_q)])
        self.register_buffer("log_std_min", torch.tensor(float(cfg.log_std_min)))
        self.register_buffer("log_std_max", torch.tensor(float(cfg.log_std_max)))
        init_weights(self)
        self.target_Qs = copy.deepcopy(self.Qs).requires_grad_(False)  # Polyak-averaged copy (§3.1)
        self.target_Qs.eval()

    def train(self, mode: bool = True) -> TDMPC2Model:
        super().train(mode)
        self.target_Qs.eval()  # the targets never use dropout
        return self

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """obs (..., D) -> z (..., L)."""
        return self.encoder(obs)

    def next(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z (..., L), a (..., A) -> z' (..., L)."""
        return self.dynamics(torch.cat([z, a], -1))

    def reward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """z (..., L), a (..., A) -> reward logits (..., num_bins); two_hot_inv reads the scalar."""
        return self.reward_head(torch.cat([z, a], -1))

    def q_logits(self, z: torch.Tensor, a: torch.Tensor, net: str = "online",
                 heads: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the chosen Q-functions: (len(heads) or num_q, ..., num_bins).

        net: "online" (trained), "target" (the Polyak copy), or "detached": the online Qs with their
        parameters detached, so a loss through them moves the *inputs* (the policy's actions) but never
        the Qs (what the policy loss needs).
        """
        za = torch.cat([z, a], -1)
        qs = self.target_Qs if net == "target" else self.Qs
        idx = range(self.num_q) if heads is None else heads.tolist()
        if net == "detached":
            out = []
            for i in idx:
                params = {k: v.detach() for k, v in qs[i].named_parameters()}
                out.append(torch.func.functional_call(qs[i], params, (za,)))
            return torch.stack(out)
        return torch.stack([qs[i](za) for i in idx])

    def pi(self, z: torch.Tensor, eps: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Sample from the policy prior, a tanh-squashed Gaussian (official world_model.pi, math.squash).

        z (..., L) -> action (..., A) in (-1, 1), info {"mean": tanh(mu) (..., A), "log_std" (..., A),
        "log_prob" (...,)}. eps (..., A): the standard normal noise, drawn here when not given.
            log_std = log_std_min + (log_std_max - log_std_min) * (tanh(raw) + 1) / 2      in [-10, 2]
            u = mu + exp(log_std) * eps,   action = tanh(u)
            log_prob = sum_A [ log N(eps; 0, 1) - log_std ] - sum_A log(1 - action^2 + 1e-6)
        """
        # TODO(6.5): the policy prior; see IMPLEMENTATION_GUIDE.md §6.5. In: z (..., L), optional noise eps
        # (..., A), drawn here when not given. Out: action (..., A) in (-1, 1) and info with mean (the tanh of
        # the Gaussian's mean), log_std (..., A) within [log_std_min, log_std_max] and log_prob (...,), as the
        # docstring's equations say; the log-density includes the tanh correction and stays finite.
        raise NotImplementedError("TODO(6.5): the policy prior; see IMPLEMENTATION_GUIDE.md §6.5.")

    def Q(self, z: torch.Tensor, a: torch.Tensor, reduce: str = "min", net: str = "online") -> torch.Tensor:
        """Q-value of (z, a) from the ensemble (official world_model.Q).

        reduce="all": the logits of every head (num_q, ..., num_bins). "min" / "avg": pick two *different*
        heads at random (a new pair at each call), decode each with two_hot_inv, return their minimum
        (for TD targets: fights over-estimation) or mean (for planning and the policy): (...,).
        """
        # TODO(6.6): the Q-ensemble; see IMPLEMENTATION_GUIDE.md §6.6. In: z (..., L), a (..., A). Out: for
        # reduce "all" the logits of every head (num_q, ..., num_bins); for "min" / "avg" the minimum / mean
        # (...,) of the decoded values of two different heads drawn at random at each call, one pair for the
        # whole batch. Pass `net` on to q_logits.
        raise NotImplementedError("TODO(6.6): the Q-ensemble; see IMPLEMENTATION_GUIDE.md §6.6.")


# ---------------------------------------------------------------- targets


def discount_from_episode_length(length: int, denom: float = 5.0, low: float = 0.95,
                                 high: float = 0.995) -> float:
    """The official heuristic (tdmpc2.py, _get_discount): longer episodes, longer horizons.

    gamma = clip((L / denom - 1) / (L / denom), low, high); e.g. L = 200 -> 0.975, L = 1000 -> 0.995.
    """
    # TODO(6.7): the discount heuristic; see IMPLEMENTATION_GUIDE.md §6.7. In: the episode length L in
    # decisions. Out: a Python float, (L/denom - 1) / (L/denom) clipped to [low, high].
    raise NotImplementedError("TODO(6.7): the discount heuristic; see IMPLEMENTATION_GUIDE.md §6.7.")


@torch.no_grad()
def soft_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Polyak averaging: theta_target <- (1 - tau) * theta_target + tau * theta_online, in place."""
    # TODO(6.7): Polyak averaging; see IMPLEMENTATION_GUIDE.md §6.7. In place and without gradient, each
    # target parameter moves a fraction tau of the way toward its online twin (the two parameter lists matched
    # in order). The online net is left alone.
    raise NotImplementedError("TODO(6.7): Polyak averaging; see IMPLEMENTATION_GUIDE.md §6.7.")


def td_target(model: TDMPC2Model, next_z: torch.Tensor, reward: torch.Tensor, discount: float) -> torch.Tensor:
    """The TD target of §3.1: r_t + gamma * min of 2 target Qs at (z_{t+1}, a ~ p(z_{t+1})).

    next_z (..., L) = h(s_{t+1}), reward (...,) -> (...,). A *target*: no gradient may flow through it.
    """
    # TODO(6.8): the TD target; see IMPLEMENTATION_GUIDE.md §6.8. In: next_z (..., L), the encoded next
    # states, reward (...,), discount. Out: (...,), the reward plus discount times the minimum of two target
    # Qs at next_z and an action the policy prior samples there. A constant for the loss: no gradient, even
    # when next_z has one.
    raise NotImplementedError("TODO(6.8): the TD target; see IMPLEMENTATION_GUIDE.md §6.8.")


class RunningScale(nn.Module):
    """A running estimate S of the spread of Q-values (official common/scale.py).

    update(q): S <- (1 - tau) * S + tau * max(P95(q) - P5(q), 1), percentiles over the batch; S starts
    at 1. forward(q) = q / S. Dividing by S makes the policy loss insensitive to the reward scale.
    """

    def __init__(self, tau: float = 0.01) -> None:
        super().__init__()
        self.tau = tau
        self.register_buffer("value", torch.ones(()))

    @torch.no_grad()
    def update(self, q: torch.Tensor) -> None:
        """q (B,) (any shape: all its numbers count) -> moves self.value in place."""
        # TODO(6.9): the running Q scale; see IMPLEMENTATION_GUIDE.md §6.9. In: q, any shape
        # (all its numbers count). In place: self.value moves a fraction self.tau toward the spread of q, its
        # 95th minus its 5th percentile (linear interpolation), floored at 1.
        raise NotImplementedError("TODO(6.9): the running Q scale; see IMPLEMENTATION_GUIDE.md §6.9.")

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return q / self.value


# ---------------------------------------------------------------- the losses


def model_loss(model: TDMPC2Model, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
               discount: float, cfg) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """Eq. 3: the rho-weighted consistency, reward and value losses over a horizon of H steps.

    obs (H+1, B, D): s_0..s_H; action (H, B, A): a_t taken in s_t; reward (H, B): r_t received for it.
    Returns (total, {"consistency", "reward", "value"}, zs (H+1, B, L) the latent rollout z_0..z_H).
        consistency = 1/H     * sum_t rho^t * mean (z_{t+1} - sg(h(s_{t+1})))^2        (F.mse_loss)
        reward      = 1/H     * sum_t rho^t * mean_B CE(R(z_t, a_t), r_t)
        value       = 1/(H*N) * sum_t rho^t * sum_i mean_B CE(Q_i(z_t, a_t), td_target_t)
        total = consistency_coef * consistency + reward_coef * reward + value_coef * value
    """
    # TODO(6.10): the model loss; see IMPLEMENTATION_GUIDE.md §6.10. In: obs (H+1, B, D), action (H, B, A),
    # reward (H, B). Out: (total, {consistency, reward, value}, zs (H+1, B, L)), zs the encoded first state
    # rolled forward through the dynamics with the replayed actions. Targets, without gradient: the encoded
    # next states and their td_target. Consistency: mean squared error of each rolled latent against its
    # encoded target; reward and value: soft_ce of the reward head and of every Q head on the rolled latents.
    # Step t weighs rho to the t; each term is averaged over B, the H steps (and the Q heads); the total
    # weighs them by cfg's coefficients.
    raise NotImplementedError("TODO(6.10): the model loss; see IMPLEMENTATION_GUIDE.md §6.10.")


def policy_loss(model: TDMPC2Model, zs: torch.Tensor, scale: RunningScale,
                cfg) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 4: the policy prior maximises its scaled Q-value plus a little entropy, along the rollout.

    zs (H+1, B, L) from model_loss. loss = mean_t rho^t * mean_B [ alpha * log p(a|z_t) - Q(z_t, a) / S ]
    with a ~ p(z_t), Q the mean of two random heads, S the running scale updated with the Qs at t = 0,
    alpha = cfg.entropy_coef. Only the policy may receive gradients: not the latents, not the Qs.
    Returns (loss (), info): info["entropy"] = -mean log p(a|z) over the rollout and info["scale"] = S after
    this update, both scalar tensors (the training log plots them).
    """
    # TODO(6.11): the policy loss; see IMPLEMENTATION_GUIDE.md §6.11. In: zs (H+1, B, L) from model_loss. Out:
    # (loss, {entropy, scale}): over the steps, the rho^t-weighted mean of the batch mean of alpha times log
    # p(a) minus the scaled Q-avg of the policy's own sampled actions, the scale updated first with the Qs of
    # the first step. Only the policy gets gradients: not zs, not the Q parameters (the "detached" Qs).
    raise NotImplementedError("TODO(6.11): the policy loss; see IMPLEMENTATION_GUIDE.md §6.11.")


# ---------------------------------------------------------------- one update (no exercise)


def make_optimizers(model: TDMPC2Model, cfg) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Adam for the model (the encoder at lr * enc_lr_scale) and a separate Adam (eps 1e-5) for the policy."""
    optim = torch.optim.Adam([
        {"params": model.encoder.parameters(), "lr": cfg.lr * cfg.enc_lr_scale},
        {"params": [*model.dynamics.parameters(), *model.reward_head.parameters(), *model.Qs.parameters()]},
    ], lr=cfg.lr)
    pi_optim = torch.optim.Adam(model.policy.parameters(), lr=cfg.lr, eps=1e-5)
    return optim, pi_optim


def update(model: TDMPC2Model, optim: torch.optim.Optimizer, pi_optim: torch.optim.Optimizer,
           scale: RunningScale, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], discount: float,
           cfg) -> dict[str, float]:
    """One TD-MPC2 update (official TDMPC2._update): model step, policy step, Polyak step."""
    obs, action, reward = batch  # (H+1, B, D), (H, B, A), (H, B)
    model.train()
    total, parts, zs = model_loss(model, obs, action, reward, discount, cfg)
    optim.zero_grad(set_to_none=True)
    total.backward()
    grad_norm = nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip_norm)
    optim.step()
    pi_loss, pi_info = policy_loss(model, zs, scale, cfg)
    pi_optim.zero_grad(set_to_none=True)
    pi_loss.backward()
    nn.utils.clip_grad_norm_(model.policy.parameters(), cfg.grad_clip_norm)
    pi_optim.step()
    soft_update(model.target_Qs, model.Qs, cfg.tau)
    model.eval()
    out = {k: v.item() for k, v in {**parts, **pi_info}.items()}
    return {**out, "total": total.item(), "grad_norm": grad_norm.item(), "pi_loss": pi_loss.item()}
