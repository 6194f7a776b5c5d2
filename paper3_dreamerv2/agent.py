"""DreamerV2 put together: the world model (encoder, discrete RSSM, decoder, reward and discount heads)
and its loss, and the agent that trains world model, actor and critic with three optimisers and acts in
the environment (Hafner et al. 2021, §2; dreamerv2/agent.py `Agent`, `WorldModel`, `ActorCritic`).

    update(batch):  1. world model   loss = beta * KL_balanced - ln p(o) - ln p(r) - 5 ln p(continue)
                    2. imagine       H steps from every posterior state with the actor
                    3. actor         REINFORCE against the target critic, + entropy     (eq. 6)
                    4. critic        regress lambda-returns of the target critic         (eq. 5)
                    5. target        copy the critic into the target critic every 100 updates

`WorldModel` follows common.world_model's protocol (encode, observe, predict, imagine, decode, loss).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from common.world_model import Trajectory

from .actor_critic import Actor, actor_loss, critic_loss, entropy, imagine, log_prob, update_target  # noqa: F401
from .networks import Head, bernoulli_log_prob, make_decoder, make_encoder, normal_log_prob, preprocess_obs
from .rssm import RSSM, State
from .utils import discount_weights, kl_balance, lambda_return  # noqa: F401


class WorldModel(nn.Module):
    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, cfg: Any) -> None:
        super().__init__()
        self.obs_shape, self.action_dim, self.cfg = tuple(obs_shape), action_dim, cfg
        self.pixels = len(self.obs_shape) == 3
        self.encoder, embed = make_encoder(self.obs_shape, cfg)
        self.rssm = RSSM(action_dim, embed, cfg.stoch, cfg.classes, cfg.deter, cfg.hidden)
        self.feat_dim = cfg.stoch * cfg.classes + cfg.deter
        self.decoder = make_decoder(self.obs_shape, self.feat_dim, cfg)
        self.reward = Head(self.feat_dim, cfg.units, cfg.layers)  # mean of N(r; ., 1)
        self.discount = Head(self.feat_dim, cfg.units, cfg.layers)  # logit of P(the episode goes on)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The world-model loss (§2 "Loss function") on a replay batch.

        batch: obs (B, T, *obs) preprocessed, action (B, T, A), reward (B, T), terminated (B, T),
        is_first (B, T). Returns {"loss": kl_scale * KL_balanced - obs_ll - reward_ll
        - discount_scale * cont_ll, "obs_ll", "reward_ll", "cont_ll", "kl" (the raw mean KL),
        "post": the posterior states (B, T, ...)}. Each log-likelihood is summed over one step's numbers
        and averaged over the B * T steps; the continue target is 1 - terminated.
        """
        # TODO(3.12): encode, filter with the RSSM, score the observation, reward and continue heads on
        # the posterior features, add the balanced KL; returns the dict above. IMPLEMENTATION_GUIDE.md §3.12.
        raise NotImplementedError("TODO(3.12): encode, filter with the RSSM, score the observation...")

    # ------------------------------------------------ common.world_model protocol (batch first)
    def _embed(self, obs: torch.Tensor) -> torch.Tensor:
        return self.encoder(preprocess_obs(obs).to(self.rssm.img_in.weight.device))

    def encode(self, obs: torch.Tensor) -> State:
        """The posterior after the first observation of an episode (zero state, zero action)."""
        state = self.rssm.initial(obs.shape[0])
        zero = torch.zeros(obs.shape[0], self.action_dim, device=state["deter"].device)
        return self.rssm.obs_step(state, zero, self._embed(obs), sample=False)[0]

    def observe(self, state: State, action: torch.Tensor, obs: torch.Tensor) -> State:
        return self.rssm.obs_step(state, action.float(), self._embed(obs), sample=False)[0]

    def predict(self, state: State, action: torch.Tensor) -> State:
        return self.rssm.img_step(state, action.float(), sample=False)

    def imagine(self, state: State, actions: torch.Tensor) -> Trajectory:
        states = self.rssm.imagine(state, actions.float(), sample=False)  # (B, T, ...)
        feat = self.rssm.feat(states)
        steps = [{k: v[:, t] for k, v in states.items()} for t in range(actions.shape[1])]
        return Trajectory(states=steps, rewards=self.reward(feat), continues=torch.sigmoid(self.discount(feat)))

    def decode(self, state: State) -> dict[str, torch.Tensor]:
        """{"obs": (B, H, W, C) in [0, 1] for images, (B, D) for vectors; "reward", "continue": (B,)}."""
        feat = self.rssm.feat(state)
        mean = self.decoder(feat)
        if self.pixels:
            mean = (mean + 0.5).clamp(0, 1).movedim(-3, -1)
        return {"obs": mean, "reward": self.reward(feat), "continue": torch.sigmoid(self.discount(feat))}


class DreamerV2:
    """World model, actor, critic and target critic, their optimisers, the training step and the policy."""

    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, cfg: Any,
                 device: str | torch.device = "cpu") -> None:
        self.cfg, self.device, self.action_dim = cfg, torch.device(device), action_dim
        self.wm = WorldModel(obs_shape, action_dim, cfg).to(self.device)
        self.actor = Actor(self.wm.feat_dim, action_dim, cfg.units, cfg.layers).to(self.device)
        self.critic = Head(self.wm.feat_dim, cfg.units, cfg.layers).to(self.device)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        opt = lambda module, lr: torch.optim.AdamW(module.parameters(), lr=lr, eps=cfg.adam_eps,
                                                   weight_decay=cfg.weight_decay)
        self.model_opt = opt(self.wm, cfg.model_lr)
        self.actor_opt = opt(self.actor, cfg.actor_lr)
        self.critic_opt = opt(self.critic, cfg.critic_lr)
        self.updates = 0

    # ------------------------------------------------ training
    def _step(self, loss: torch.Tensor, module: nn.Module, opt: torch.optim.Optimizer) -> float:
        """One optimiser step of `module` on `loss`, computing gradients for its parameters only."""
        opt.zero_grad(set_to_none=True)
        params = [p for p in module.parameters() if p.requires_grad]
        loss.backward(inputs=params)
        norm = nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        opt.step()
        return float(norm)

    def update_world_model(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, float], State]:
        out = self.wm.loss(batch)
        norm = self._step(out["loss"], self.wm, self.model_opt)
        metrics = {"model_loss": out["loss"].item(), "model_grad_norm": norm,
                   **{k: out[k].item() for k in ("obs_ll", "reward_ll", "cont_ll", "kl")}}
        return metrics, out["post"]

    def update_behavior(self, post: State, terminated: torch.Tensor) -> dict[str, float]:
        """One step of the actor and one of the critic from imagined trajectories, then the target copy.

        post: posterior states (B, T, ...); terminated (B, T): whether each start state ended its episode.
        discount_t = gamma * sigmoid(discount head) for imagined states; for the start, gamma * (1 - terminated).
        """
        # TODO(3.13): imagine; rewards, discounts and target-critic values on the trajectory; lambda-returns
        # and weights; then the actor step, the critic step and update_target, each module stepped only by
        # its own loss (use self._step). Returns metrics (see the guide). IMPLEMENTATION_GUIDE.md §3.13.
        raise NotImplementedError("TODO(3.13): imagine; rewards, discounts and target-critic values on...")

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
               ) -> tuple[int, tuple[State, torch.Tensor]]:
        """One action index for one observation; `state` = (posterior, previous one-hot action), None at
        an episode's start. Exploring: a sample of the actor; evaluating: its most likely action."""
        if state is None:
            latent = self.wm.rssm.initial(1)
            prev = torch.zeros(1, self.action_dim, device=self.device)
        else:
            latent, prev = state
        embed = self.wm.encoder(preprocess_obs(obs[None]).to(self.device))
        latent, _ = self.wm.rssm.obs_step(latent, prev, embed)
        feat = self.wm.rssm.feat(latent)
        action = self.actor.sample(feat) if explore else self.actor.mode(feat)  # (1, A) one-hot
        return int(action[0].argmax()), (latent, action)

    # ------------------------------------------------ saving
    def state_dict(self) -> dict[str, Any]:
        return {"wm": self.wm.state_dict(), "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "target_critic": self.target_critic.state_dict(), "updates": self.updates,
                "model_opt": self.model_opt.state_dict(), "actor_opt": self.actor_opt.state_dict(),
                "critic_opt": self.critic_opt.state_dict()}

    def load_state_dict(self, data: dict[str, Any], optimizers: bool = True) -> None:
        self.wm.load_state_dict(data["wm"])
        self.actor.load_state_dict(data["actor"])
        self.critic.load_state_dict(data["critic"])
        self.target_critic.load_state_dict(data["target_critic"])
        self.updates = int(data["updates"])
        if optimizers:
            self.model_opt.load_state_dict(data["model_opt"])
            self.actor_opt.load_state_dict(data["actor_opt"])
            self.critic_opt.load_state_dict(data["critic_opt"])
