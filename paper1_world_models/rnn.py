"""M: the mixture-density recurrent network (Ha & Schmidhuber 2018, §A.2; Graves 2013; Bishop 1994).

An LSTM reads [z_t, a_t] and outputs, for every dimension j of the next latent z_{t+1}, a mixture of
K = 5 one-dimensional Gaussians:

    p(z_{t+1,j} | h_t) = sum_k pi_{t,j,k} * N(z_{t+1,j}; mu_{t,j,k}, sigma_{t,j,k}^2)

This is the authors' parameterisation: each of the 32 dimensions has its own mixture weights. (Some
reimplementations share one set of K weights across all dimensions, i.e. a mixture of K diagonal
Gaussians over the whole vector; the guide compares the two.)

Shapes: z (B, T, Z), a (B, T, A) -> h (B, T, H) -> log_pi, mu, log_sigma (B, T, Z, K).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class MDNRNN(nn.Module):
    def __init__(self, z_dim: int = 32, action_dim: int = 3, hidden: int = 256, n_mix: int = 5) -> None:
        super().__init__()
        self.z_dim, self.action_dim, self.hidden, self.n_mix = z_dim, action_dim, hidden, n_mix
        self.lstm = nn.LSTM(z_dim + action_dim, hidden, batch_first=True)
        # per (dimension, component): a logit, a mean and a log std -> 3 * Z * K outputs
        self.head = nn.Linear(hidden, 3 * z_dim * n_mix)

    def forward(self, z: torch.Tensor, a: torch.Tensor, state=None):
        """z (B,T,Z), a (B,T,A) -> ((log_pi, mu, log_sigma) each (B,T,Z,K), (h, c) each (1,B,H))."""
        out, state = self.lstm(torch.cat([z, a], dim=-1), state)  # out: (B, T, H)
        return mdn_params(self.head(out), self.z_dim, self.n_mix), state

    def initial_state(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = torch.zeros(1, batch, self.hidden)
        return zeros, zeros.clone()


def mdn_params(out: torch.Tensor, z_dim: int, n_mix: int):
    """Split the head's raw output (..., 3*Z*K) into log_pi, mu, log_sigma, each (..., Z, K).

    Order of the three chunks along the last axis: logits, means, log-stds. log_pi must be a proper log
    of mixture weights: for every dimension, logsumexp over the K components is 0.
    """
    # TODO(1.5): split the last axis into three equal chunks (logits, mu, log_sigma), each (..., Z*K);
    # view each as (..., Z, K); normalise the logits with log_softmax over the K components.
    raise NotImplementedError("TODO(1.5): split the last axis into three equal chunks (logits, mu...")


def mdn_nll(log_pi: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor,
            target: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of target (..., Z) under the mixtures (..., Z, K), per dimension.

    log p = logsumexp_k [ log_pi_k - log_sigma_k - 0.5 * ((x - mu_k) / sigma_k)^2 - 0.5 * log(2 pi) ]
    Averaged over every leading axis and over Z (the authors' code averages the same way).
    """
    # TODO(1.6): compute the log of each component's weighted density in log space and combine the K of
    # them with torch.logsumexp. Never exponentiate and then take a log: tiny densities underflow to 0.
    raise NotImplementedError("TODO(1.6): compute the log of each component's weighted density in log...")


def sample_mdn(log_pi: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor, tau: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw z (..., Z) from the mixtures (..., Z, K) at temperature tau (§4.4, the authors' code).

    Temperature sharpens or flattens both choices: the weights become softmax(log_pi / tau) and each
    component's standard deviation becomes sigma * sqrt(tau) (its variance is scaled by tau).
    tau -> 0 gives the most likely component's mean; tau > 1 makes dreams wilder.
    """
    # TODO(1.7): pick one component per dimension from softmax(log_pi / tau) (torch.multinomial or
    # Categorical), gather its mu and sigma, return mu + sigma * sqrt(tau) * eps.
    raise NotImplementedError("TODO(1.7): pick one component per dimension from softmax(log_pi / tau)...")


def sequence_loss(model: MDNRNN, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Teacher-forced NLL of a batch of sequences: z (B, T, Z), actions (B, T, A) -> scalar.

    At step t the LSTM reads (z_t, a_t) and its mixture predicts z_{t+1}; there are T-1 predictions.
    """
    # TODO(1.8): feed z[:, :-1] and actions[:, :-1]; score the output against z[:, 1:] with mdn_nll.
    raise NotImplementedError("TODO(1.8): feed z[:, :-1] and actions[:, :-1]; score the output against...")
