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
    # TODO(6.12): the value of a trajectory; see IMPLEMENTATION_GUIDE.md §6.12. In: z (N, L), actions
    # (H, N, A). Out: G (N,), the discounted sum of the decoded rewards along the latent rollout of the
    # actions (the dynamics model.next), plus discount^H times the Q-avg at the last latent and an action the
    # policy prior samples there.
    raise NotImplementedError("TODO(6.12): the value of a trajectory; see IMPLEMENTATION_GUIDE.md §6.12.")


def mppi_update(value: torch.Tensor, actions: torch.Tensor, num_elites: int, temperature: float,
                min_std: float, max_std: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One MPPI refit: from N scored samples to the new sampling distribution.

    value (N,), actions (H, N, A) -> mean (H, A), std (H, A), score (K,), elite_actions (H, K, A).
    The K = num_elites highest values are the elites; score_k = exp(temperature * (v_k - max v)), normalised
    to sum 1 (subtracting the max first keeps exp from overflowing: values of a few hundred are common);
    mean and std are the score-weighted mean and standard deviation of the elites, std clamped to
    [min_std, max_std]. NaN values count as 0 (official code).
    """
    # TODO(6.13): the MPPI refit; see IMPLEMENTATION_GUIDE.md §6.13. In: value (N,), actions (H, N, A). Out:
    # mean, std (H, A), score (K,), elite_actions (H, K, A), as the docstring says: the K best samples; scores
    # from the temperature-scaled values minus their maximum, exponentiated and normalised; the score-weighted
    # mean and std of the elites, std clamped to [min_std, max_std]. NaN values count as 0.
    raise NotImplementedError("TODO(6.13): the MPPI refit; see IMPLEMENTATION_GUIDE.md §6.13.")


class Planner:
    """MPPI with a warm start: `prev_mean` keeps the last plan for the next step."""

    def __init__(self, cfg, action_dim: int) -> None:
        self.cfg, self.action_dim = cfg, action_dim
        self.prev_mean = torch.zeros(cfg.horizon, action_dim)  # (H, A)

    @torch.no_grad()
    def plan(self, model: TDMPC2Model, obs: torch.Tensor, discount: float, t0: bool,
             eval_mode: bool = False) -> torch.Tensor:
        """obs (D,) -> action (A,) in [-1, 1]. t0: the first step of an episode (no warm start).

        1. Encode obs to z (1, L). If P = cfg.num_pi_trajs > 0: roll the policy prior P times from z for
           H steps (a_t ~ p(z_t), z_{t+1} = d(z_t, a_t)): pi_actions (H, P, A).
        2. The warm start: mean (H, A) is 0, except that when not t0 its first H - 1 steps are the last
           H - 1 steps of prev_mean (the last plan, one step on); std (H, A) is cfg.max_std everywhere.
        3. cfg.iterations times: draw the N - P other sequences from N(mean, std^2), clamped to [-1, 1];
           score all N sequences (H, N, A), the P policy ones first, with estimate_value from z repeated
           N times; refit mean, std, score and the elites with mppi_update.
        4. Act: the first action of elite k, k drawn with probability score; when not eval_mode, add
           Gaussian noise of std std[0]. Keep mean as prev_mean for the next call; return the action
           clamped to [-1, 1].
        """
        cfg = self.cfg
        H, N, P, A = cfg.horizon, cfg.num_samples, cfg.num_pi_trajs, self.action_dim
        # TODO(6.14): planning with MPPI; see IMPLEMENTATION_GUIDE.md §6.14. Steps 1-4 of the docstring: obs
        # (D,) -> action (A,) in [-1, 1]. The P policy trajectories stay fixed across the iterations; only the
        # N - P Gaussian samples are redrawn.
        raise NotImplementedError("TODO(6.14): planning with MPPI; see IMPLEMENTATION_GUIDE.md §6.14.")
