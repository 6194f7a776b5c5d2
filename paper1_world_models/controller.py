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
        # TODO(1.9): the linear controller; see IMPLEMENTATION_GUIDE.md §1.9. In: features (B, in_dim). Out:
        # actions (B, 3) from the tanh of self.fc: steer in [-1, 1] as it is, gas mapped linearly onto [0, 1],
        # brake clipped to [0, 1]. Build a new tensor rather than editing the tanh output in place: gradients
        # must still flow.
        raise NotImplementedError("TODO(1.9): the linear controller; see IMPLEMENTATION_GUIDE.md §1.9.")


def get_flat(module: nn.Module) -> np.ndarray:
    """All parameters of `module` (not its buffers) as one float64 vector, in `module.parameters()` order.

    The vector is a copy: writing into it leaves the module unchanged."""
    # TODO(1.10): pack the parameters; see IMPLEMENTATION_GUIDE.md §1.10. Out: one float64 numpy vector (D,),
    # D the number of parameters of the module (buffers such as running statistics are not parameters), in
    # the order of its parameters(), a copy detached from autograd.
    raise NotImplementedError("TODO(1.10): pack the parameters; see IMPLEMENTATION_GUIDE.md §1.10.")


def set_flat(module: nn.Module, flat: np.ndarray) -> None:
    """Write a vector produced by `get_flat` back into `module`'s parameters (the inverse of get_flat).

    A vector of the wrong length raises ValueError and leaves the module as it was."""
    # TODO(1.10): unpack the parameters; see IMPLEMENTATION_GUIDE.md §1.10. In: flat (D,), as get_flat makes
    # it. Each parameter, in the same order, takes the next numel numbers in its own shape, in place: the
    # module stays float32 and keeps its Parameter objects. A vector of the wrong length is a ValueError,
    # raised before anything is written.
    raise NotImplementedError("TODO(1.10): unpack the parameters; see IMPLEMENTATION_GUIDE.md §1.10.")


def penalised_fitness(returns: np.ndarray, solutions: np.ndarray, weight_decay: float) -> np.ndarray:
    """Fitness of each candidate: its mean return minus an L2 penalty on its parameters.

    returns (N,), solutions (N, D) -> (N,):  fitness_i = returns_i - weight_decay * mean_d(theta_id^2).
    The penalty must make a large-weight candidate *less* fit. (One popular ES wrapper returns
    -weight_decay * mean(theta^2) and then subtracts it again, which rewards large weights.)
    """
    # TODO(1.11): fitness with weight decay; see IMPLEMENTATION_GUIDE.md §1.11. In: returns (N,), solutions
    # (N, D). Out: fitness (N,), each return minus weight_decay times the mean square of that candidate's
    # parameters. The penalty never makes a candidate fitter.
    raise NotImplementedError("TODO(1.11): fitness with weight decay; see IMPLEMENTATION_GUIDE.md §1.11.")


def evolve_step(es, evaluate: Callable[[list[np.ndarray]], np.ndarray],
                weight_decay: float = 0.0) -> dict[str, float]:
    """One CMA-ES generation: ask -> evaluate (possibly in parallel) -> tell.

    `es` is a `cma.CMAEvolutionStrategy`; `evaluate` maps a list of N parameter vectors to their N mean
    returns (higher is better). Returns {"mean": ..., "best": ..., "worst": ...} of the raw returns.
    """
    # TODO(1.12): one CMA-ES generation; see IMPLEMENTATION_GUIDE.md §1.12. Ask es for a population, evaluate
    # it, score it with penalised_fitness and tell es the scores of the same candidates: es minimises, the
    # fitness is to be maximised. Out: {"mean", "best", "worst"} of the raw returns (not of the fitness), as
    # floats.
    raise NotImplementedError("TODO(1.12): one CMA-ES generation; see IMPLEMENTATION_GUIDE.md §1.12.")
