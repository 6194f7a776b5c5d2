"""Planning in the latent space with MPPI (Hansen, Su & Wang 2024, §3.2; official tdmpc2.py, _plan).

At every environment step TD-MPC2 searches for a good sequence of H actions by sampling:

    z = h(s);  mean = warm start (last plan shifted by one step), std = max_std
    repeat `iterations` times:
        N - P action sequences ~ clamp(N(mean, std^2), -1, 1), plus P sequences from the policy prior
        value of each = sum_t gamma^t R(z_t, a_t) + gamma^H Q(z_H, p(z_H))      (rolled in latent space)
        keep the K best (elites); weights w_k = softmax(temperature * value_k)
        mean, std = w-weighted mean and std of the elites (std clipped to [min_std, max_std])
    act: the first action of one elite drawn with probability w (+ std noise while training)

Nothing is learned here: the planner only *uses* the world model of world_model.py.
"""

from __future__ import annotations

import torch

from .world_model import TDMPC2Model, two_hot_inv


@torch.no_grad()
def estimate_value(model: TDMPC2Model, z: torch.Tensor, actions: torch.Tensor, discount: float) -> torch.Tensor:
    """The value of each action sequence from latent z (official _estimate_value).

    z (N, L), actions (H, N, A) -> (N,):
        G = sum_{t<H} gamma^t * R(z_t, a_t) + gamma^H * Q_avg(z_H, a_H),  z_{t+1} = d(z_t, a_t), a_H ~ p(z_H)
    """
    # TODO(6.12): discounted model rewards over the horizon, plus gamma^H * Q at the end. Decode rewards
    # with two_hot_inv(model.reward(z, a), model.vmin, model.vmax), step z with model.next, and
    # bootstrap with model.Q(z, a, "avg") for a sampled from model.pi(z).
    # BEGIN SOLUTION
    G, weight = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device), 1.0
    for a in actions:  # a (N, A)
        G = G + weight * two_hot_inv(model.reward(z, a), model.vmin, model.vmax)
        z = model.next(z, a)
        weight = weight * discount
    a_last, _ = model.pi(z)
    return G + weight * model.Q(z, a_last, "avg")
    # END SOLUTION


def mppi_update(value: torch.Tensor, actions: torch.Tensor, num_elites: int, temperature: float,
                min_std: float, max_std: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One MPPI refit: from N scored samples to the new sampling distribution.

    value (N,), actions (H, N, A) -> mean (H, A), std (H, A), score (K,), elite_actions (H, K, A).
    The K = num_elites highest values are the elites; score_k = exp(temperature * (v_k - max v)), normalised
    to sum 1 (subtracting the max first keeps exp from overflowing: values of a few hundred are common);
    mean and std are the score-weighted mean and standard deviation of the elites, std clamped to
    [min_std, max_std]. NaN values count as 0 (official code).
    """
    # TODO(6.13): elites, weights exp(temperature * (v - max v)) normalised, weighted mean and std.
    # torch.topk picks the elites; average over the elite axis (dim 1); clamp the std.
    # BEGIN SOLUTION
    value = value.nan_to_num(0.0)
    elite_idx = torch.topk(value, num_elites).indices  # (K,)
    elite_value, elite_actions = value[elite_idx], actions[:, elite_idx]  # (K,), (H, K, A)
    score = torch.exp(temperature * (elite_value - elite_value.max()))
    score = score / score.sum()
    w = score[None, :, None]  # (1, K, 1)
    mean = (w * elite_actions).sum(1)  # (H, A)
    std = (w * (elite_actions - mean[:, None]).pow(2)).sum(1).sqrt().clamp(min_std, max_std)
    return mean, std, score, elite_actions
    # END SOLUTION


class Planner:
    """MPPI with a warm start: `prev_mean` keeps the last plan for the next step."""

    def __init__(self, cfg, action_dim: int) -> None:
        self.cfg, self.action_dim = cfg, action_dim
        self.prev_mean = torch.zeros(cfg.horizon, action_dim)  # (H, A)

    @torch.no_grad()
    def plan(self, model: TDMPC2Model, obs: torch.Tensor, discount: float, t0: bool,
             eval_mode: bool = False) -> torch.Tensor:
        """obs (D,) -> action (A,) in [-1, 1]. t0: the first step of an episode (no warm start).

        1. z = model.encode(obs[None]) (1, L). If cfg.num_pi_trajs = P > 0: roll the policy prior P times
           from z for H steps (a_t ~ p(z_t), z_{t+1} = d(z_t, a_t)): pi_actions (H, P, A).
        2. mean (H, A) = 0, except mean[:-1] = prev_mean[1:] when not t0; std (H, A) = cfg.max_std.
        3. cfg.iterations times: the N - P other sequences = clamp(mean + std * randn, -1, 1); actions
           (H, N, A) = [pi_actions, those]; value = estimate_value(model, z repeated N times, ...);
           mean, std, score, elites = mppi_update(...).
        4. Pick elite k with probability score (torch.multinomial); a = elites[0, k]; when not eval_mode
           add std[0] * randn. Save self.prev_mean = mean; return a clamped to [-1, 1].
        """
        cfg = self.cfg
        H, N, P, A = cfg.horizon, cfg.num_samples, cfg.num_pi_trajs, self.action_dim
        # TODO(6.14): MPPI with a warm start and policy trajectories (steps 1-4 of the docstring).
        # The P policy trajectories stay fixed across the iterations; only the N - P Gaussian samples
        # are redrawn.
        # BEGIN SOLUTION
        z = model.encode(obs[None])  # (1, L)
        dev = z.device
        pi_actions = torch.empty(H, P, A, device=dev)
        if P > 0:
            _z = z.repeat(P, 1)  # (P, L)
            for t in range(H):
                pi_actions[t], _ = model.pi(_z)
                if t < H - 1:
                    _z = model.next(_z, pi_actions[t])
        z = z.repeat(N, 1)  # (N, L)
        mean = torch.zeros(H, A, device=dev)
        if not t0:
            mean[:-1] = self.prev_mean[1:].to(dev)  # warm start: the last plan, one step on
        std = torch.full((H, A), cfg.max_std, device=dev)
        for _ in range(cfg.iterations):
            noise = torch.randn(H, N - P, A, device=dev)
            samples = (mean[:, None] + std[:, None] * noise).clamp(-1, 1)  # (H, N-P, A)
            actions = torch.cat([pi_actions, samples], dim=1)  # (H, N, A)
            value = estimate_value(model, z, actions, discount)  # (N,)
            mean, std, score, elites = mppi_update(value, actions, cfg.num_elites, cfg.temperature,
                                                   cfg.min_std, cfg.max_std)
        k = torch.multinomial(score, 1)[0]
        action = elites[0, k]  # (A,)
        if not eval_mode:
            action = action + std[0] * torch.randn(A, device=dev)
        self.prev_mean = mean
        return action.clamp(-1, 1)
        # END SOLUTION
