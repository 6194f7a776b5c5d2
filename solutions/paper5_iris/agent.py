"""IRIS assembled: the three components, their optimisers and updates, acting, and the common protocol.

No exercise here: the steps live in tokenizer.py, transformer.py, world_model.py, sample.py and
actor_critic.py. Frames from the env are uint8 (..., 64, 64, 3); the models take floats (..., 3, 64, 64).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from common.world_model import Trajectory
from common.world_model import WorldModel as Protocol

from .actor_critic import ActorCritic, actor_critic_loss, alive_weights, lambda_returns
from .sample import dream_step, imagine, reset, sample_class
from .tokenizer import Tokenizer
from .world_model import WorldModel, step_mask, world_model_loss


def to_frames(obs: np.ndarray | torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 (..., H, W, 3) -> float (..., 3, H, W) in [0, 1]."""
    x = torch.as_tensor(np.asarray(obs), device=device)
    return x.movedim(-1, -3).float() / 255


class IRIS:
    def __init__(self, action_dim: int, cfg: Any) -> None:
        self.cfg, self.action_dim, self.device = cfg, action_dim, cfg.device
        self.tokenizer = Tokenizer(cfg.vocab, cfg.code_dim, cfg.channels, cfg.tokens_side,
                                   normalize=cfg.normalize_codes, beta=cfg.beta,
                                   foreground_weight=cfg.foreground_weight).to(cfg.device)
        self.wm = WorldModel(cfg.vocab, action_dim, cfg.tokens_side ** 2, cfg.max_blocks, cfg.embed, cfg.layers,
                             cfg.heads, cfg.dropout).to(cfg.device)
        self.ac = ActorCritic(action_dim, tuple(cfg.ac_channels), cfg.lstm).to(cfg.device)
        self.opt = {"tokenizer": torch.optim.Adam(self.tokenizer.parameters(), cfg.tokenizer_lr),
                    "world_model": torch.optim.AdamW(self.wm.parameters(), cfg.world_model_lr,
                                                     weight_decay=cfg.weight_decay),
                    "actor_critic": torch.optim.Adam(self.ac.parameters(), cfg.actor_critic_lr)}
        self.updates = {"tokenizer": 0, "world_model": 0, "actor_critic": 0}

    # ---- training -------------------------------------------------------------------------------------
    def _step(self, name: str, loss: torch.Tensor, module: torch.nn.Module) -> None:
        self.opt[name].zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), self.cfg.grad_clip)
        self.opt[name].step()
        self.updates[name] += 1

    def update_tokenizer(self, obs: np.ndarray) -> dict[str, float]:
        """One update on frames uint8 (N, H, W, 3)."""
        self.tokenizer.train()
        out = self.tokenizer.loss(to_frames(obs, self.device))
        self._step("tokenizer", out["loss"], self.tokenizer)
        metrics = {f"tok_{k}": float(v.detach()) for k, v in out.items() if k != "tokens"}
        if self.cfg.restart_every and self.updates["tokenizer"] % self.cfg.restart_every == 0:
            metrics["tok_restarted"] = self.tokenizer.restart()
        return metrics

    def update_world_model(self, tokens: torch.Tensor, action: np.ndarray, reward: np.ndarray,
                           terminated: np.ndarray, is_first: np.ndarray) -> dict[str, float]:
        """One update on T + 1 replay rows: tokens (B, T + 1, K) of their frames; the rest as the replay stores
        them (row t + 1 holds the action taken at row t, the reward and the end it led to)."""
        as_t = lambda x, dtype=torch.float32: torch.as_tensor(x, dtype=dtype, device=self.device)
        mask = step_mask(as_t(is_first))  # (B, T)
        if mask.sum() == 0:
            return {}
        self.wm.train()
        out = world_model_loss(self.wm, tokens.to(self.device), as_t(action[:, 1:].argmax(-1), torch.long),
                               as_t(reward[:, 1:]), as_t(terminated[:, 1:]), mask)
        self._step("world_model", out["loss"], self.wm)
        return {f"wm_{k}": float(v.detach()) for k, v in out.items()}

    def update_actor_critic(self, obs: np.ndarray, is_first: np.ndarray) -> dict[str, float]:
        """One update from real frames uint8 (B, burn_in + 1, H, W, 3): the LSTM reads the reconstructions of
        the first burn_in, the dream starts from the last (Appendix B)."""
        cfg = self.cfg
        self.wm.eval()
        self.tokenizer.eval()
        with torch.no_grad():
            tokens = self.tokenizer.encode(to_frames(obs, self.device))  # (B, T, K)
            state = self.ac.initial_state(len(obs), self.device)
            keep = 1 - torch.as_tensor(is_first, dtype=torch.float32, device=self.device)[..., None]  # (B, T, 1)
            for t in range(tokens.shape[1]):  # burn-in; the LSTM starts afresh where an episode starts
                state = (state[0] * keep[:, t], state[1] * keep[:, t])
                if t < tokens.shape[1] - 1:
                    state = self.ac(self.tokenizer.decode(tokens[:, t]), state)[2]
        dream = imagine(self.wm, self.tokenizer.decode, self.ac, tokens[:, -1], state, cfg.horizon, cfg.temperature)
        returns = lambda_returns(dream["rewards"], dream["values"].detach(), dream["ends"], cfg.gamma, cfg.lam)
        alive = alive_weights(dream["ends"])  # (B, H): 1 up to the first imagined end
        out = actor_critic_loss(dream["logits"], dream["actions"], dream["values"], returns, alive, cfg.entropy)
        self._step("actor_critic", out["loss"], self.ac)
        metrics = {f"ac_{k}": float(v.detach()) for k, v in out.items()}
        # a dream's return up to its first end (the model keeps dreaming after it), and the share of dreams that end
        metrics.update(dream_return=float((dream["rewards"] * alive).sum(1).mean()),
                       dream_end=float((dream["ends"].sum(1) > 0).float().mean()))
        return metrics

    # ---- acting -----------------------------------------------------------------------------------------
    @torch.no_grad()
    def policy(self, obs: np.ndarray, state: Any, temperature: float = 1.0, epsilon: float = 0.0,
               rng: np.random.Generator | None = None) -> tuple[int, Any]:
        """One env step: the actor's sample (at `temperature`) on the reconstruction of obs uint8 (H, W, 3)."""
        self.tokenizer.eval()
        frame = self.tokenizer.decode(self.tokenizer.encode(to_frames(obs[None], self.device)))
        logits, _, state = self.ac(frame, state)
        action = int(sample_class(logits, temperature)[0])
        if epsilon and rng is not None and rng.random() < epsilon:
            action = int(rng.integers(self.action_dim))
        return action, state

    def state_dict(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.state_dict(), "wm": self.wm.state_dict(), "ac": self.ac.state_dict(),
                "opt": {k: v.state_dict() for k, v in self.opt.items()}, "updates": dict(self.updates)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tokenizer.load_state_dict(state["tokenizer"])
        self.wm.load_state_dict(state["wm"])
        self.ac.load_state_dict(state["ac"])
        for k, v in state.get("opt", {}).items():
            self.opt[k].load_state_dict(v)
        self.updates.update(state.get("updates", {}))


class IrisWorldModel(Protocol):
    """The common protocol (common/world_model.py) over a tokenizer and a world model. A state is
    {"tokens": (B, K), "cache"}; observe() starts again from the observed frame (IRIS re-encodes frames)."""

    lacks = ("loss",)

    def __init__(self, agent: IRIS) -> None:
        self.agent = agent

    def encode(self, obs: torch.Tensor) -> dict[str, Any]:
        tokens = self.agent.tokenizer.encode(to_frames(obs, self.agent.device))
        return {"tokens": tokens, "cache": None}

    def observe(self, state: dict[str, Any], action: torch.Tensor, obs: torch.Tensor) -> dict[str, Any]:
        return self.encode(obs)

    @torch.no_grad()
    def predict(self, state: dict[str, Any], action: torch.Tensor) -> dict[str, Any]:
        wm = self.agent.wm.eval()
        cache = state["cache"] if state["cache"] is not None else reset(wm, state["tokens"])
        if len(cache) and cache[0][0].shape[2] + wm.block > wm.max_tokens:
            cache = reset(wm, state["tokens"])  # the context is full: go on from the last frame alone
        tokens, reward, end, cache = dream_step(wm, cache, action.argmax(-1).long(), self.agent.cfg.temperature)
        return {"tokens": tokens, "cache": cache, "reward": reward, "end": end}

    def imagine(self, state: dict[str, Any], actions: torch.Tensor) -> Trajectory:
        states = []
        for t in range(actions.shape[1]):
            state = self.predict(state, actions[:, t])
            states.append(state)
        return Trajectory(states, torch.stack([s["reward"] for s in states], 1),
                          1 - torch.stack([s["end"] for s in states], 1))

    def decode(self, state: dict[str, Any]) -> dict[str, torch.Tensor]:
        frames = self.agent.tokenizer.decode(state["tokens"])  # (B, 3, H, W)
        return {"obs": (frames.movedim(-3, -1) * 255).round().to(torch.uint8)}
