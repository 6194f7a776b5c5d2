"""Predicting numbers of any size: symlog and two-hot (Hafner et al. 2023, §2 "Symlog predictions" and
"Symexp two-hot", eq. 9-11; the authors' jaxutils.py `symlog`, `symexp`, `DiscDist`).

DreamerV3 meets inputs, rewards and returns of unknown scale (0.01 in one task, 10,000 in another) with
one set of hyperparameters. Two tools make that possible:

    symlog(x) = sign(x) ln(1 + |x|)        squashes large magnitudes, keeps small ones ~ x   (eq. 9)
    symexp(x) = sign(x) (exp(|x|) - 1)     its inverse

    two-hot   a scalar y as a distribution over K bins b_1 < ... < b_K: weight on the two bins around y,
              so that the weighted mean of the bins is y again (eq. 11). A network predicts softmax logits
              over the bins and is trained by cross-entropy against two-hot(symlog(y)); its prediction is
              symexp(sum_k softmax(logits)_k b_k). The gradient no longer grows with the target's size.

Shapes: (...) any leading dims; K bins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: F401 (used in TODO 4.2)


def symlog(x: torch.Tensor) -> torch.Tensor:
    """Symmetric log (eq. 9): sign(x) * ln(1 + |x|), elementwise, any shape."""
    # TODO(4.1): squash large magnitudes, keep the sign, keep symlog(0) == 0; elementwise, any shape.
    # See IMPLEMENTATION_GUIDE.md §4.1.
    raise NotImplementedError("TODO(4.1): squash large magnitudes, keep the sign, keep symlog(0) == 0...")


def symexp(x: torch.Tensor) -> torch.Tensor:
    """The inverse of symlog: sign(x) * (exp(|x|) - 1), elementwise, any shape."""
    # TODO(4.1): the inverse of symlog (symexp of symlog gives x back); elementwise, any shape.
    # See IMPLEMENTATION_GUIDE.md §4.1.
    raise NotImplementedError("TODO(4.1): the inverse of symlog (symexp of symlog gives x back)...")


def make_bins(num: int = 255, limit: float = 20.0) -> torch.Tensor:
    """K equally spaced bin centres from -limit to limit, (K,). With symlog they span +-symexp(20) ~ 5e8."""
    return torch.linspace(-limit, limit, num)


def twohot(x: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Two-hot encoding (eq. 11): (...) values, (K,) increasing bins -> (..., K) weights.

    A value between bins b_k <= x < b_{k+1} puts weight (b_{k+1} - x) / (b_{k+1} - b_k) on bin k and the
    rest on bin k + 1; a value outside [b_1, b_K] puts all of it on the nearest end bin. Each row sums to 1
    and sum_k w_k b_k == x inside the range. x is in the bins' space already (no symlog here).
    """
    # TODO(4.2): find the two neighbouring bins of each value, weight each by how close the value is to
    # it (weights sum to 1, their mean over the bins gives back x), clamp outside the range.
    # (...), (K,) -> (..., K). See IMPLEMENTATION_GUIDE.md §4.2.
    raise NotImplementedError("TODO(4.2): find the two neighbouring bins of each value, weight each by...")


def twohot_mean(logits: torch.Tensor, bins: torch.Tensor, squash: bool = True) -> torch.Tensor:
    """The prediction of a two-hot head: (..., K) logits -> (...) in raw units.

    mean = symexp(sum_k softmax(logits)_k b_k); with squash=False (the symlog ablation) no symexp.
    """
    # TODO(4.3): the expected bin under softmax(logits), then back from symlog space when squash.
    # (..., K) -> (...). See IMPLEMENTATION_GUIDE.md §4.3.
    raise NotImplementedError("TODO(4.3): the expected bin under softmax(logits), then back from symlog...")


def twohot_loss(logits: torch.Tensor, target: torch.Tensor, bins: torch.Tensor, squash: bool = True) -> torch.Tensor:
    """The two-hot cross-entropy (eq. 10): -sum_k twohot(symlog(y))_k log softmax(logits)_k.

    logits (..., K), target (...) in raw units (squash=False: no symlog) -> (...). The target gets no gradient.
    """
    # TODO(4.3): encode the target (symlog'd once when squash, no gradient) as two-hot and take the
    # cross-entropy with the logits' softmax. (..., K), (...) -> (...). See IMPLEMENTATION_GUIDE.md §4.3.
    raise NotImplementedError("TODO(4.3): encode the target (symlog'd once when squash, no gradient) as...")
