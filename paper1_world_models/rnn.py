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
    # TODO(1.5): the mixture parameters; see IMPLEMENTATION_GUIDE.md §1.5. In: out (..., 3*Z*K), any leading
    # shape. Out: log_pi, mu, log_sigma, each (..., Z, K), taken in that order from three equal parts of the
    # last axis. log_pi is normalised over the K components of each dimension (its logsumexp over K is 0)
    # without ever giving -inf.
    raise NotImplementedError("TODO(1.5): the mixture parameters; see IMPLEMENTATION_GUIDE.md §1.5.")


def mdn_nll(log_pi: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor,
            target: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of target (..., Z) under the mixtures (..., Z, K), per dimension.

    log p = logsumexp_k [ log_pi_k - log_sigma_k - 0.5 * ((x - mu_k) / sigma_k)^2 - 0.5 * log(2 pi) ]
    Averaged over every leading axis and over Z (the authors' code averages the same way).
    """
    # TODO(1.6): the mixture NLL; see IMPLEMENTATION_GUIDE.md §1.6. In: log_pi, mu, log_sigma (..., Z, K) and
    # target (..., Z). Out: a scalar, minus the log-density of each target dimension under its mixture,
    # averaged over every leading axis and Z. Stay in log space throughout: a target 40 sigmas away must give
    # a finite loss and finite gradients.
    raise NotImplementedError("TODO(1.6): the mixture NLL; see IMPLEMENTATION_GUIDE.md §1.6.")


def sample_mdn(log_pi: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor, tau: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw z (..., Z) from the mixtures (..., Z, K) at temperature tau (§4.4, the authors' code).

    Temperature sharpens or flattens both choices: the weights become softmax(log_pi / tau) and each
    component's standard deviation becomes sigma * sqrt(tau) (its variance is scaled by tau).
    tau -> 0 gives the most likely component's mean; tau > 1 makes dreams wilder.
    Every dimension (and every leading position) picks its component and draws its noise independently.
    `generator`, when given, drives every random draw: the same seed gives the same z, and the global
    random state is left untouched.
    """
    # TODO(1.7): sampling at a temperature; see IMPLEMENTATION_GUIDE.md §1.7. In: the mixture (..., Z, K) and
    # tau. Out: z (..., Z). For each dimension pick one component with the weights sharpened (tau < 1) or
    # flattened (tau > 1) by tau, then draw from that component's Gaussian with its variance scaled by tau.
    # The dimensions choose their components and their noise independently of each other. Pass `generator`
    # to every random draw (the global random state must stay untouched).
    raise NotImplementedError("TODO(1.7): sampling at a temperature; see IMPLEMENTATION_GUIDE.md §1.7.")


def sequence_loss(model: MDNRNN, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Teacher-forced NLL of a batch of sequences: z (B, T, Z), actions (B, T, A) -> scalar.

    At step t the LSTM reads (z_t, a_t) and its mixture predicts z_{t+1}; there are T-1 predictions.
    """
    # TODO(1.8): the teacher-forced loss; see IMPLEMENTATION_GUIDE.md §1.8. In: z (B, T, Z), actions
    # (B, T, A). Out: a scalar, the mixture NLL (mdn_nll) of the T-1 next latents, each predicted from the
    # true latents and actions up to the step before it. The last action explains nothing and is never used.
    raise NotImplementedError("TODO(1.8): the teacher-forced loss; see IMPLEMENTATION_GUIDE.md §1.8.")
