"""Dreamer put together: the world model (encoder + RSSM + decoder + reward head), its loss, and the
agent that trains three parts with three optimisers and acts in the environment (dreamer.py `Dreamer`).

    update(batch):  1. world model   loss = KL (free nats) - log p(o | s) - log p(r | s)   (eq. 10)
                    2. actor         imagine from the posterior states, maximise V_lambda  (eq. 6-7)
                    3. value         regress V_lambda with stop-gradient                    (eq. 8)
    policy(obs):    filter the observation into the posterior, sample an action (+ noise when exploring)

`WorldModel` also follows common.world_model's protocol (encode, observe, predict, imagine, decode,
loss), so `common.world_model.render_dream` can draw its dreams.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from common.world_model import Trajectory

from .actor_critic import (  # noqa: F401 (the TODOs of 2.8 and 2.13 use all of them)
    Actor,
    actor_loss,
    discount_weights,
    imagine_ahead,
    lambda_return,
    value_loss,
)
from .buffer import preprocess_obs
from .networks import DenseHead, make_decoder, make_encoder, normal_log_prob  # noqa: F401
from .rssm import RSSM, State, kl_loss  # noqa: F401


class WorldModel(nn.Module):
    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, cfg: Any) -> None:
        super().__init__()
        self.obs_shape, self.action_dim = tuple(obs_shape), action_dim
        self.pixels = len(self.obs_shape) == 3
        self.free_nats, self.kl_scale = cfg.free_nats, cfg.kl_scale
        self.encoder = make_encoder(self.obs_shape, cfg.units, cfg.embed, cfg.cnn_depth)
        self.rssm = RSSM(action_dim, self.encoder.out_dim, cfg.stoch, cfg.deter, cfg.hidden, cfg.min_std)
        feat_dim = cfg.stoch + cfg.deter
        self.decoder = make_decoder(self.obs_shape, feat_dim, cfg.units, cfg.cnn_depth)
        self.reward = DenseHead(feat_dim, cfg.units, layers=2)  # models.py DenseDecoder((), 2, units)

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The world-model loss of eq. 10 on a batch from SequenceBuffer.sample.

        batch: obs (B, T, *obs) preprocessed, action (B, T, A), reward (B, T), is_first (B, T).
        Returns {"loss": kl_scale * KL_loss - obs_ll - reward_ll, "obs_ll", "reward_ll", "kl" (raw mean),
        "post": the posterior states (B, T, ...), for imagination}. The log-likelihoods are summed over
        an observation's numbers (normal_log_prob) and averaged over the B * T steps.
        """
        # TODO(2.8): the world-model loss; see IMPLEMENTATION_GUIDE.md §2.8. In: batch with obs (B, T, *obs),
        # action (B, T, A), reward (B, T), is_first (B, T). Out: the dict of the docstring. The posterior
        # comes from filtering the encoded observations; observations and rewards are scored with
        # normal_log_prob of the decoder's and the reward head's outputs on the posterior features (event
        # dims: those of one observation, 0 for a reward), averaged over B and T; the KL term is kl_loss with
        # self.free_nats.
        # BEGIN SOLUTION
        obs = batch["obs"]
        embed = self.encoder(obs)  # (B, T, E)
        post, prior = self.rssm.observe(embed, batch["action"], batch["is_first"])
        feat = self.rssm.feat(post)  # (B, T, S + D)
        obs_ll = normal_log_prob(obs, self.decoder(feat), len(self.obs_shape)).mean()
        reward_ll = normal_log_prob(batch["reward"], self.reward(feat), 0).mean()
        kl_clipped, kl = kl_loss(post, prior, self.free_nats)
        loss = self.kl_scale * kl_clipped - obs_ll - reward_ll
        return {"loss": loss, "obs_ll": obs_ll, "reward_ll": reward_ll, "kl": kl, "post": post}
        # END SOLUTION

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
        return Trajectory(states=steps, rewards=self.reward(feat))

    def decode(self, state: State) -> dict[str, torch.Tensor]:
        """{"obs": (B, H, W, C) in [0, 1] for images, (B, D) for vectors; "reward": (B,)}."""
        feat = self.rssm.feat(state)
        mean = self.decoder(feat)
        if self.pixels:
            mean = (mean + 0.5).clamp(0, 1).movedim(-3, -1)  # back to the env's (H, W, C) layout
        return {"obs": mean, "reward": self.reward(feat)}


class Dreamer:
    """The three models, their three Adam optimisers, the training step and the policy."""

    def __init__(self, obs_shape: tuple[int, ...], action_dim: int, cfg: Any,
                 device: str | torch.device = "cpu") -> None:
        self.cfg, self.device, self.action_dim = cfg, torch.device(device), action_dim
        self.wm = WorldModel(obs_shape, action_dim, cfg).to(self.device)
        feat_dim = cfg.stoch + cfg.deter
        self.actor = Actor(feat_dim, action_dim, cfg.units, 4, cfg.actor_init_std,
                           cfg.actor_mean_scale).to(self.device)
        self.value = DenseHead(feat_dim, cfg.units, layers=3).to(self.device)  # DenseDecoder((), 3, units)
        adam = lambda params, lr: torch.optim.Adam(params, lr=lr, eps=cfg.adam_eps)
        self.model_opt = adam(self.wm.parameters(), cfg.model_lr)  # encoder, RSSM, decoder, reward
        self.actor_opt = adam(self.actor.parameters(), cfg.actor_lr)
        self.value_opt = adam(self.value.parameters(), cfg.value_lr)

    # ------------------------------------------------ training
    def update_world_model(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, float], State]:
        """One Adam step of the world model on eq. 10; returns its metrics and the posterior states."""
        out = self.wm.loss(batch)
        self.model_opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        norm = nn.utils.clip_grad_norm_(self.wm.parameters(), self.cfg.grad_clip)
        self.model_opt.step()
        metrics = {k: out[k].item() for k in ("loss", "obs_ll", "reward_ll", "kl")}
        metrics["model_grad_norm"] = float(norm)
        return {f"model_{k}" if k in ("loss",) else k: v for k, v in metrics.items()}, out["post"]

    def update_behavior(self, post: State) -> dict[str, float]:
        """One Adam step of the actor (eq. 7) and one of the value model (eq. 8) from imagined rollouts.

        Only the actor's optimiser steps the actor and only the value's steps the value model; the world
        model is left as it is (its gradients from the actor loss are never applied). Both steps clip the
        gradient norm at cfg.grad_clip.
        """
        # TODO(2.13): the behaviour update; see IMPLEMENTATION_GUIDE.md §2.13. Imagine cfg.horizon steps from
        # post; the reward head and the value model score every feature; the discount pcont is cfg.discount at
        # every step; the lambda-returns cover the first H-1 steps, bootstrapped by the last value; weights
        # from discount_weights. Then one actor step (actor_loss, minus cfg.actor_entropy times the mean actor
        # entropy of the detached features when it is not 0) and one value step (value_loss of the value model
        # on the detached features). Each step zeroes its model's gradients, backpropagates into its own model's
        # parameters only (the others' gradients would be computed and thrown away), clips its own
        # model's gradient norm at cfg.grad_clip and steps its own optimiser. Out: a dict of floats, actor_loss,
        # critic_loss (the value model's loss: the course's shared metric name), imag_return (the mean
        # lambda-return), actor_grad_norm and critic_grad_norm.
        # BEGIN SOLUTION
        cfg = self.cfg
        feats = imagine_ahead(self.wm.rssm, self.actor, post, cfg.horizon)  # (N, H, F)
        reward = self.wm.reward(feats)  # (N, H)
        value = self.value(feats)  # (N, H)
        pcont = cfg.discount * torch.ones_like(reward)
        returns = lambda_return(reward[:, :-1], value[:, :-1], pcont[:, :-1], value[:, -1], cfg.lam)
        weights = discount_weights(pcont)  # (N, H-1)

        a_loss = actor_loss(returns, weights)
        if cfg.actor_entropy:  # 0 in the paper (V1); the cpu preset keeps the actor from saturating
            a_loss = a_loss - cfg.actor_entropy * self.actor.entropy(feats[:, :-1].detach()).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        a_loss.backward(inputs=list(self.actor.parameters()))  # not the world model's nor the value's
        actor_norm = nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip)
        self.actor_opt.step()

        v_loss = value_loss(self.value(feats[:, :-1].detach()), returns, weights)
        self.value_opt.zero_grad(set_to_none=True)
        v_loss.backward()
        value_norm = nn.utils.clip_grad_norm_(self.value.parameters(), cfg.grad_clip)
        self.value_opt.step()
        return {"actor_loss": a_loss.item(), "critic_loss": v_loss.item(),  # the value model's: the shared names
                "imag_return": returns.mean().item(),
                "actor_grad_norm": float(actor_norm), "critic_grad_norm": float(value_norm)}
        # END SOLUTION

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One training step of all three parts (dreamer.py `_train`)."""
        metrics, post = self.update_world_model(batch)
        if self.cfg.imag_starts:  # a CPU shortcut: imagine from a random subset of the B * T states
            flat = {k: v.reshape(-1, v.shape[-1]) for k, v in post.items()}  # (B * T, ...)
            keep = torch.randperm(len(flat["deter"]), device=self.device)[:self.cfg.imag_starts]
            post = {k: v[keep][None] for k, v in flat.items()}  # (1, N, ...)
        metrics.update(self.update_behavior(post))
        return metrics

    # ------------------------------------------------ acting
    @torch.no_grad()
    def policy(self, obs: np.ndarray, state: tuple[State, torch.Tensor] | None, explore: bool
               ) -> tuple[np.ndarray, tuple[State, torch.Tensor]]:
        """One action in [-1, 1]^A for one observation; `state` = (posterior, previous action), None at
        an episode's start (dreamer.py `policy`). Exploring: actor sample + N(0, expl_noise) noise."""
        if state is None:
            latent = self.wm.rssm.initial(1)
            prev_action = torch.zeros(1, self.action_dim, device=self.device)
        else:
            latent, prev_action = state
        embed = self.wm.encoder(preprocess_obs(obs[None]).to(self.device))  # (1, E)
        latent, _ = self.wm.rssm.obs_step(latent, prev_action, embed)
        feat = self.wm.rssm.feat(latent)
        if explore:
            action = self.actor.sample(feat)
            action = (action + self.cfg.expl_noise * torch.randn_like(action)).clamp(-1, 1)
        else:
            action = self.actor.mode(feat)
        return action[0].cpu().numpy(), (latent, action)

    # ------------------------------------------------ saving
    def state_dict(self) -> dict[str, Any]:
        return {"wm": self.wm.state_dict(), "actor": self.actor.state_dict(),
                "value": self.value.state_dict(),
                "model_opt": self.model_opt.state_dict(), "actor_opt": self.actor_opt.state_dict(),
                "value_opt": self.value_opt.state_dict()}

    def load_state_dict(self, data: dict[str, Any], optimizers: bool = True) -> None:
        self.wm.load_state_dict(data["wm"])
        self.actor.load_state_dict(data["actor"])
        self.value.load_state_dict(data["value"])
        if optimizers:
            self.model_opt.load_state_dict(data["model_opt"])
            self.actor_opt.load_state_dict(data["actor_opt"])
            self.value_opt.load_state_dict(data["value_opt"])
