"""C: the linear controller and its evolution with CMA-ES (Ha & Schmidhuber 2018, §2.3, §A.3).

    a_t = W_c [z_t, h_t] + b_c          (eq. in §2.3; 867 parameters for z=32, h=256, 3 actions)

CarRacing's actions are (steer in [-1, 1], gas in [0, 1], brake in [0, 1]). As in the authors' code
the raw output goes through tanh, then gas is mapped to (x + 1) / 2 and brake is clipped to [0, 1].

CMA-ES (Hansen 2016) needs no gradient: it asks for a population of parameter vectors, we drive with
each one and tell it the results. The `cma` package *minimises*, so it is told the negated fitness.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn


class Controller(nn.Module):
    def __init__(self, in_dim: int, action_dim: int = 3) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, action_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features (B, in_dim), e.g. [z, h] -> CarRacing action (B, 3): steer, gas, brake."""
        # TODO(1.9): a = tanh(fc(features)); column 0 (steer) stays in [-1, 1]; column 1 (gas) becomes
        # (a + 1) / 2; column 2 (brake) is clipped to [0, 1]. Build a new tensor: no in-place edits.
        raise NotImplementedError("TODO(1.9): a = tanh(fc(features)); column 0 (steer) stays in [-1, 1]...")


def get_flat(module: nn.Module) -> np.ndarray:
    """All parameters of `module` as one float64 vector, in `module.parameters()` order."""
    # TODO(1.10): concatenate every parameter, flattened, into one 1-D numpy array.
    raise NotImplementedError("TODO(1.10): concatenate every parameter, flattened, into one 1-D numpy array.")


def set_flat(module: nn.Module, flat: np.ndarray) -> None:
    """Write a vector produced by `get_flat` back into `module`'s parameters (the inverse of get_flat)."""
    # TODO(1.10): walk the parameters in the same order, copying the next p.numel() numbers into each.
    raise NotImplementedError("TODO(1.10): walk the parameters in the same order, copying the next...")


def penalised_fitness(returns: np.ndarray, solutions: np.ndarray, weight_decay: float) -> np.ndarray:
    """Fitness of each candidate: its mean return minus an L2 penalty on its parameters.

    returns (N,), solutions (N, D) -> (N,):  fitness_i = returns_i - weight_decay * mean_d(theta_id^2).
    The penalty must make a large-weight candidate *less* fit. (One popular ES wrapper returns
    -weight_decay * mean(theta^2) and then subtracts it again, which rewards large weights.)
    """
    # TODO(1.11): subtract the L2 penalty from the returns; never add it.
    raise NotImplementedError("TODO(1.11): subtract the L2 penalty from the returns; never add it.")


def evolve_step(es, evaluate: Callable[[list[np.ndarray]], np.ndarray],
                weight_decay: float = 0.0) -> dict[str, float]:
    """One CMA-ES generation: ask -> evaluate (possibly in parallel) -> tell.

    `es` is a `cma.CMAEvolutionStrategy`; `evaluate` maps a list of N parameter vectors to their N mean
    returns (higher is better). Returns {"mean": ..., "best": ..., "worst": ...} of the raw returns.
    """
    # TODO(1.12): solutions = es.ask(); returns = evaluate(solutions); fitness = penalised_fitness(...);
    # es.tell(solutions, <what cma should minimise>) -- cma minimises, we maximise return.
    raise NotImplementedError("TODO(1.12): solutions = es.ask(); returns = evaluate(solutions); fitness...")
