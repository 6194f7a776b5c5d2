"""The three components put together: build them from a Config, roll the world forward under chosen latent actions.

    prompt frame x_1 -> tokens z_1 -> for each chosen code a_t: z_{t+1} = MaskGIT(dynamics, z_1..z_t, a_1..a_t)
    -> frames decoded by the tokenizer (§2.3, "Inference: Action-Controllable Video Generation")
"""

from __future__ import annotations

from types import ModuleType

import torch
from torch import nn

from common.world_model import Trajectory

from . import dynamics as _dynamics
from . import latent_actions as _latent_actions
from . import tokenizer as _tokenizer


class Genie(nn.Module):
    """tokenizer, lam, dynamics; `mods` picks each module (the student's or the reference's, train.py)."""

    def __init__(self, cfg, channels: int = 3, mods: dict[str, ModuleType] | None = None) -> None:
        super().__init__()
        mods = mods or {}
        tok, lam = mods.get("tokenizer", _tokenizer), mods.get("latent_actions", _latent_actions)
        dyn = mods.get("dynamics", _dynamics)
        self.cfg, self.frames = cfg, cfg.seq_len
        self.tokenizer = tok.VideoTokenizer(cfg.size, channels, cfg.patch, cfg.embed, cfg.heads, cfg.tok_layers,
                                            cfg.vocab, cfg.code_dim, cfg.seq_len, cfg.beta)
        self.lam = lam.LatentActionModel(cfg.size, channels, cfg.lam_patch, cfg.embed, cfg.heads, cfg.lam_layers,
                                         cfg.actions, cfg.action_dim, cfg.seq_len, cfg.beta)
        self.dynamics = dyn.DynamicsModel(cfg.vocab, self.tokenizer.tokens, cfg.embed, cfg.heads, cfg.dyn_layers,
                                          cfg.action_dim, cfg.seq_len)
        self.generate_fn = dyn.maskgit_generate

    @torch.no_grad()
    def decode_last(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, t, N) -> the last frame (B, H, W, C) in [0, 1], decoded with up to `frames` frames of context."""
        return self.tokenizer.decode(tokens[:, -self.frames:])[:, -1]

    @torch.no_grad()
    def next_tokens(self, tokens: torch.Tensor, codes: torch.Tensor, steps: int | None = None,
                    temperature: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """tokens (B, t, N) so far, codes (B, t) the latent actions so far (the last chosen now) -> (B, t + 1, N)."""
        steps = self.cfg.maskgit_steps if steps is None else steps
        temperature = self.cfg.temperature if temperature is None else temperature
        context = tokens[:, -(self.frames - 1):]  # at most T - 1 past frames: the new one makes T
        actions = self.lam.vectors(codes)[:, -context.shape[1]:]  # (B, t', D)
        nxt = self.generate_fn(self.dynamics, context, actions, steps, temperature, generator)  # (B, N)
        return torch.cat([tokens, nxt[:, None]], 1)

    @torch.no_grad()
    def rollout(self, prompt: torch.Tensor, codes: torch.Tensor, steps: int | None = None,
                temperature: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """prompt (B, H, W, C) uint8, codes (B, S) long -> frames (B, S + 1, H, W, C) in [0, 1]: the prompt's
        reconstruction, then one generated frame per latent action."""
        tokens = self.tokenizer.encode(prompt[:, None])  # (B, 1, N)
        out = [self.decode_last(tokens)]
        for s in range(codes.shape[1]):
            tokens = self.next_tokens(tokens, codes[:, : s + 1], steps, temperature, generator)
            out.append(self.decode_last(tokens))
        return torch.stack(out, 1)


class GenieWorldModel:
    """Genie through common.world_model's protocol, so that `render_dream` draws its dreams. An action is a one-hot
    latent action (B, |A|). A state is what the dynamics reads, capped to its context of T = cfg.seq_len frames:

        "frames" (B, t, H, W, C) uint8   the real frames seen last (the tokenizer's context for the next one)
        "tokens" (B, t', N) long         the frames so far, seen or generated
        "codes"  (B, t' - 1) long        the latent actions between them

    Genie predicts no rewards or ends, and trains stage by stage, not with one loss."""

    lacks = ("loss",)

    def __init__(self, genie: Genie, generator: torch.Generator | None = None) -> None:
        self.genie, self.generator = genie, generator

    def _state(self, frames: torch.Tensor, tokens: torch.Tensor, codes: torch.Tensor) -> dict[str, torch.Tensor]:
        T = self.genie.frames
        return {"frames": frames[:, -T:], "tokens": tokens[:, -T:], "codes": codes[:, max(0, codes.shape[1] - T + 1):]}

    def encode(self, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        frames = obs[:, None]  # (B, 1, H, W, C) uint8
        codes = torch.zeros(len(obs), 0, dtype=torch.long, device=obs.device)
        return self._state(frames, self.genie.tokenizer.encode(frames), codes)

    def observe(self, state: dict, action: torch.Tensor, obs: torch.Tensor) -> dict[str, torch.Tensor]:
        frames = torch.cat([state["frames"], obs[:, None]], 1)[:, -self.genie.frames:]  # (B, <= T, H, W, C)
        tokens = torch.cat([state["tokens"], self.genie.tokenizer.encode(frames)[:, -1:]], 1)  # causal: the last frame
        return self._state(frames, tokens, torch.cat([state["codes"], action.argmax(-1)[:, None]], 1))

    def predict(self, state: dict, action: torch.Tensor) -> dict[str, torch.Tensor]:
        """One generated frame: MaskGIT with cfg.maskgit_steps steps at cfg.temperature (Genie.next_tokens)."""
        codes = torch.cat([state["codes"], action.argmax(-1)[:, None]], 1)  # (B, t')
        tokens = self.genie.next_tokens(state["tokens"], codes, generator=self.generator)  # (B, t' + 1, N)
        return self._state(state["frames"], tokens, codes)

    def imagine(self, state: dict, actions: torch.Tensor) -> Trajectory:
        """actions (B, S, |A|) one-hot -> S states (no rewards, no continues)."""
        states = []
        for s in range(actions.shape[1]):
            state = self.predict(state, actions[:, s])
            states.append(state)
        return Trajectory(states)

    def decode(self, state: dict) -> dict[str, torch.Tensor]:
        """{"obs": the last frame (B, H, W, C) in [0, 1]}, decoded by the tokenizer."""
        return {"obs": self.genie.decode_last(state["tokens"])}
