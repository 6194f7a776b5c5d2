"""The agent of IRIS (§2.3, Appendix B): a conv + LSTM actor-critic that acts on reconstructed frames and
learns only from imagined trajectories.

    lambda-returns (Sutton & Barto 12.1, as in DreamerV1/V2), with the imagined ends d_t:
        G_H = V_H,   G_t = r_t + gamma (1 - d_t) [(1 - lambda) V_{t+1} + lambda G_{t+1}]
    value loss:  (V_t - sg(G_t))^2
    actor loss:  -log pi(a_t | s_t) sg(G_t - V_t)  -  eta H(pi(. | s_t))      (REINFORCE with a baseline)
Steps after an imagined end count for nothing: each term is weighted by w_t = prod_{k<t} (1 - d_k).
"""

from __future__ import annotations

import torch
from torch import nn


class ActorCritic(nn.Module):
    """frames (B, 3, 64, 64) in [0, 1] -> conv (four conv + max-pool stages) -> LSTM -> policy logits, value."""

    def __init__(self, actions: int, channels: tuple[int, ...] = (32, 32, 64, 64), lstm: int = 512,
                 image: int = 64) -> None:
        super().__init__()
        layers, width = [], 3
        for out in channels:  # each stage halves the side: 64 -> 4 for four stages
            layers += [nn.Conv2d(width, out, 3, 1, 1), nn.MaxPool2d(2), nn.ReLU()]
            width = out
        self.conv = nn.Sequential(*layers, nn.Flatten())
        side = image // 2 ** len(channels)
        self.lstm = nn.LSTMCell(width * side * side, lstm)
        self.actor, self.critic = nn.Linear(lstm, actions), nn.Linear(lstm, 1)
        self.hidden = lstm

    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(batch, self.hidden, device=device)
        return zeros, zeros.clone()

    def forward(self, frames: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """frames (B, 3, H, W) -> logits (B, A), value (B,), the new LSTM state (h, c)."""
        if state is None:
            state = self.initial_state(len(frames), frames.device)
        h, c = self.lstm(self.conv(frames * 2 - 1), state)
        return self.actor(h), self.critic(h).squeeze(-1), (h, c)


def lambda_returns(rewards: torch.Tensor, values: torch.Tensor, ends: torch.Tensor, gamma: float,
                   lam: float) -> torch.Tensor:
    """rewards, ends (B, H); values (B, H + 1) -> lambda-returns G (B, H), computed backwards from G_H = V_H."""
    # TODO(5.12): G (B, H) by the recursion at the top of this file, from G_H = V_H back to G_0; an imagined end
    # stops the bootstrap. See IMPLEMENTATION_GUIDE.md §5.12.
    raise NotImplementedError("TODO(5.12): G (B, H) by the recursion at the top of this file, from G_H =...")


def alive_weights(ends: torch.Tensor) -> torch.Tensor:
    """ends (B, H) -> w (B, H), w_t = prod_{k<t} (1 - d_k): 1 until the first imagined end, 0 after it."""
    return torch.cumprod(torch.cat([torch.ones_like(ends[:, :1]), 1 - ends[:, :-1]], 1), 1)


def actor_critic_loss(logits: torch.Tensor, actions: torch.Tensor, values: torch.Tensor, returns: torch.Tensor,
                      weights: torch.Tensor, entropy_scale: float) -> dict[str, torch.Tensor]:
    """logits (B, H, A), actions (B, H) long, values (B, H + 1), returns and weights (B, H) ->
    {"loss", "actor", "value", "entropy"}: weighted means over the B x H imagined steps."""
    # TODO(5.13): the dict of four scalars above: REINFORCE with the value as baseline and an entropy bonus, the
    # value regression onto the returns, each a w-weighted mean over B x H. See IMPLEMENTATION_GUIDE.md §5.13.
    raise NotImplementedError("TODO(5.13): the dict of four scalars above: REINFORCE with the value as...")
