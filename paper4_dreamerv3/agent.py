"""DreamerV3 put together: world model, actor, critic and slow critic, their optimisers, the training step,
and the policy that acts in the environment (Hafner et al. 2023; the authors' agent.py `Agent`).

    update(batch):  1. world model   loss = pred + 0.5 dyn + 0.1 rep                          (eq. 4)
                    2. imagine       H = 15 steps from every posterior state with the actor
                    3. returns       lambda-returns of the critic, weights from the continue head
                    4. actor         advantages / max(1, S); REINFORCE (discrete) or backprop (cont.)
                    5. critic        two-hot NLL of the returns + the slow-critic regulariser
                    6. slow critic   EMA of the critic, 2 % per update
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from .actor_critic import Actor, ReturnNorm, actor_loss, critic_loss, imag_weights, imagine, lambda_return, update_slow
from .config import ablations
from .world_model import ScalarHead, State, WorldModel, make_bins, preprocess_obs


class DreamerV3:
    """World model, actor, critic, slow critic and return scale; the training step and the policy."""

    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, discrete: bool, cfg: Any,
                 device: str | torch.device = "cpu") -> None:
        self.cfg, self.device, self.action_dim, self.discrete = cfg, torch.device(device), action_dim, discrete
        self.off = ablations(cfg)
        self.wm = WorldModel(obs_shape, action_dim, cfg).to(self.device)
        feat = self.wm.feat_dim
        self.actor = Actor(feat, action_dim, discrete, cfg.units, cfg.layers,
                           0.0 if "unimix" in self.off else cfg.unimix, cfg.min_std, cfg.max_std).to(self.device)
        self.critic = ScalarHead(feat, cfg.units, cfg.layers, make_bins(cfg.bins, cfg.bin_range),
                                 twohot="twohot" not in self.off, squash=self.wm.squash).to(self.device)
        self.slow_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.retnorm = ReturnNorm(cfg.retnorm_decay, cfg.retnorm_low, cfg.retnorm_high).to(self.device)
        self.model_opt = torch.optim.Adam(self.wm.parameters(), lr=cfg.model_lr, eps=cfg.model_eps)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr, eps=cfg.ac_eps)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, eps=cfg.ac_eps)
        self.updates = 0

    # ------------------------------------------------ training
    def _step(self, loss: torch.Tensor, module: nn.Module, opt: torch.optim.Optimizer, clip: float) -> float:
        """One optimiser step of `module` on `loss`, computing gradients for its parameters only."""
        opt.zero_grad(set_to_none=True)
        params = [p for p in module.parameters() if p.requires_grad]
        loss.backward(inputs=params)
        norm = nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        return float(norm)

    def update_world_model(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, float], State]:
        out = self.wm.loss(batch)
        norm = self._step(out["loss"], self.wm, self.model_opt, self.cfg.model_clip)
        metrics = {"model_loss": out["loss"].item(), "model_grad_norm": norm,
                   **{k: out[k].item() for k in ("recon", "reward_loss", "cont_loss", "dyn", "rep", "kl")}}
        return metrics, out["post"]

    def update_behavior(self, post: State, terminated: torch.Tensor) -> dict[str, float]:
        """One actor step, one critic step and the slow-critic update, from imagined trajectories.

        post: posterior states (B, T, ...); terminated (B, T): whether each start state ended its episode.
        """
        # TODO(4.13): imagine (with a graph only for dynamics backprop); rewards and continue flags (the
        # head's mode) of states 1..H, critic values of states 0..H, lambda-returns, weights (state 0:
        # 1 - terminated), the return scale (1 under the return_norm ablation); then the actor step, the
        # critic step and update_slow, each module stepped by its own loss (self._step). Returns metrics
        # (see the guide). See IMPLEMENTATION_GUIDE.md §4.13.
        raise NotImplementedError("TODO(4.13): imagine (with a graph only for dynamics backprop)...")

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One training step of every part."""
        metrics, post = self.update_world_model(batch)
        terminated = batch["terminated"]
        if self.cfg.imag_starts:  # a CPU shortcut: imagine from a random subset of the B * T states
            flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in post.items()}
            keep = torch.randperm(len(flat["deter"]), device=self.device)[:self.cfg.imag_starts]
            post, terminated = {k: v[keep][None] for k, v in flat.items()}, terminated.reshape(-1)[keep][None]
        metrics.update(self.update_behavior(post, terminated))
        return metrics

    # ------------------------------------------------ acting
    @torch.no_grad()
    def policy(self, obs: np.ndarray, state: tuple[State, torch.Tensor] | None, explore: bool
               ) -> tuple[np.ndarray, tuple[State, torch.Tensor]]:
        """One action for one observation; `state` = (posterior, previous action), None at an episode's start.

        Returns the action as the env takes it (an int index for discrete actions, a float vector in
        [-1, 1] for continuous ones) and the new state. Exploring: a sample of the actor; evaluating: its mode.
        """
        if state is None:
            latent = self.wm.rssm.initial(1)
            prev = torch.zeros(1, self.action_dim, device=self.device)
        else:
            latent, prev = state
        embed = self.wm.embed(preprocess_obs(obs[None]).to(self.device))
        latent, _ = self.wm.rssm.obs_step(latent, prev, embed)
        feat = self.wm.rssm.feat(latent)
        action = self.actor.sample(feat) if explore else self.actor.mode(feat)  # (1, A)
        if self.discrete:
            return int(action[0].argmax()), (latent, action)
        action = action.clamp(-1, 1)
        return action[0].cpu().numpy(), (latent, action)

    # ------------------------------------------------ saving
    def state_dict(self) -> dict[str, Any]:
        return {"wm": self.wm.state_dict(), "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "slow_critic": self.slow_critic.state_dict(), "retnorm": self.retnorm.state_dict(),
                "updates": self.updates, "model_opt": self.model_opt.state_dict(),
                "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict()}

    def load_state_dict(self, data: dict[str, Any], optimizers: bool = True) -> None:
        for name in ("wm", "actor", "critic", "slow_critic", "retnorm"):
            getattr(self, name).load_state_dict(data[name])
        self.updates = int(data["updates"])
        if optimizers:
            for name in ("model_opt", "actor_opt", "critic_opt"):
                getattr(self, name).load_state_dict(data[name])
