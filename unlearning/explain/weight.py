"""The interpretable weight I_w (Algorithm 3, lines 12-15) and the gradient scaling of line 22.

    sim   = pcs(I_{D_r^b}, I_{D_f})             b x f cosine similarity matrix
    rsim  = row-wise mean of sim over entries != 0
    crsim = mean of rsim
    I_w   = crsim
    grad_p <- grad_p - I_w * grad_p             for every parameter p

Choices the paper leaves open:

* **All-zero vectors.** Cosine similarity with a zero vector is undefined; it is set to 0,
  so the pair counts as one of the "zero" entries that the row mean skips. A row with no
  non-zero entry (e.g. an all-zero retain vector) gets rsim = 0, so it lowers crsim as a
  retain image with no similar forget image would. Hence I_w is never NaN.
* **Negative similarities** are kept inside the means (they are non-zero entries, and
  the paper's averages are signed), but the final I_w is clipped to [0, 1] by default:
  a retain batch that is on average *dissimilar* to the forget set leaves the gradient
  unchanged instead of amplifying it (1 - I_w > 1). Cosines are <= 1, so I_w <= 1 and
  1 - I_w >= 0 always: the gradient is never sign-flipped. ``clip_negative=False``
  returns the raw crsim in [-1, 1].
* "Non-zero" means exactly non-zero (``zero_tolerance=0``); pass a small tolerance to also
  skip numerically orthogonal pairs.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.utils.hooks import RemovableHandle


def _as_matrix(name: str, coefs: Tensor | np.ndarray, device: torch.device | None) -> Tensor:
    if isinstance(coefs, np.ndarray):
        coefs = torch.from_numpy(coefs)
    if not isinstance(coefs, Tensor):
        raise TypeError(f"{name} must be a (n, F) numpy array or torch.Tensor; "
                        f"got {type(coefs).__name__}.")
    if coefs.ndim != 2 or coefs.shape[0] == 0 or coefs.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D (n, F) matrix of LIME vectors; "
                         f"got shape {tuple(coefs.shape)}.")
    coefs = coefs.detach().to(device=device if device is not None else coefs.device,
                              dtype=torch.float64)
    if not torch.isfinite(coefs).all():
        raise ValueError(f"{name} contains NaN or inf; recompute the LIME coefficients.")
    return coefs


def cosine_similarity_matrix(retain_coefs: Tensor | np.ndarray,
                             forget_coefs: Tensor | np.ndarray) -> Tensor:
    """Pairwise cosine similarity ``pcs`` of Algorithm 3, zero where a vector is all zero.

    Args:
        retain_coefs: (b, F) float, LIME vectors of the retain batch.
        forget_coefs: (f, F) float, LIME vectors of the forget set.

    Returns:
        (b, f) float64 tensor on retain_coefs' device, entries in [-1, 1].
    """
    retain = _as_matrix("retain_coefs", retain_coefs, None)
    forget = _as_matrix("forget_coefs", forget_coefs, retain.device)
    if retain.shape[1] != forget.shape[1]:
        raise ValueError(f"retain_coefs and forget_coefs must have the same feature count F; "
                         f"got {retain.shape[1]} and {forget.shape[1]}. Explain both sets with "
                         "the same grid.")
    return (_unit_rows(retain) @ _unit_rows(forget).T).clamp(-1.0, 1.0)


def _unit_rows(matrix: Tensor) -> Tensor:
    """Each row divided by its norm; an all-zero row stays zero (so its similarities come out exactly 0). Rows are
    first divided by their largest |entry|, so a norm neither overflows (1e200) nor underflows (1e-170) to 0 or inf,
    which made a finite non-zero vector count as all-zero."""
    peak = matrix.abs().amax(dim=1, keepdim=True)
    scaled = matrix / torch.where(peak > 0, peak, torch.ones_like(peak))
    norm = scaled.norm(dim=1, keepdim=True)
    return scaled / torch.where(norm > 0, norm, torch.ones_like(norm))


def interpretable_weight_tensor(retain_coefs: Tensor | np.ndarray,
                                forget_coefs: Tensor | np.ndarray, *,
                                clip_negative: bool = True,
                                zero_tolerance: float = 0.0) -> Tensor:
    """I_w as a 0-dim float64 tensor on retain_coefs' device (no host round trip).

    Args:
        retain_coefs: (b, F) float LIME vectors of the retain batch.
        forget_coefs: (f, F) float LIME vectors of the forget set (or per-class means).
        clip_negative: clip I_w at 0 (see the module docstring); otherwise return crsim.
        zero_tolerance: similarities with |sim| <= this count as zero entries.

    Returns:
        0-dim float64 tensor in [0, 1] (clip_negative) or [-1, 1].
    """
    weight = row_similarities(retain_coefs, forget_coefs, zero_tolerance=zero_tolerance).mean()  # crsim
    return weight.clamp(min=0.0) if clip_negative else weight


def row_similarities(retain_coefs: Tensor | np.ndarray, forget_coefs: Tensor | np.ndarray,
                     forget_weights: Tensor | np.ndarray | None = None, *, zero_tolerance: float = 0.0) -> Tensor:
    """rsim of Algorithm 3 line 13: each retain row's mean over its non-zero cosine similarities.

    Args:
        retain_coefs: (b, F) float LIME vectors of the retain rows.
        forget_coefs: (f, F) float LIME vectors of the forget set.
        forget_weights: optional (f,) positive weights of the forget rows (e.g. a sampled row standing
            for n_c / k_c images of its class); equal weights by default.
        zero_tolerance: similarities with |sim| <= this count as zero entries.

    Returns:
        (b,) float64; 0 for a row without a non-zero similarity.
    """
    if not zero_tolerance >= 0:
        raise ValueError(f"zero_tolerance must be >= 0; got {zero_tolerance!r}.")
    similarity = cosine_similarity_matrix(retain_coefs, forget_coefs)       # (b, f)
    counted = (similarity.abs() > zero_tolerance).to(similarity.dtype)
    if forget_weights is not None:
        counted = counted * torch.as_tensor(forget_weights, dtype=similarity.dtype, device=similarity.device)
    total = counted.sum(dim=1)
    return (similarity * counted).sum(dim=1) / total.clamp(min=torch.finfo(total.dtype).tiny)


def interpretable_weight(retain_coefs: Tensor | np.ndarray, forget_coefs: Tensor | np.ndarray,
                         *, clip_negative: bool = True, zero_tolerance: float = 0.0) -> float:
    """The interpretable weight I_w of Algorithm 3 (lines 12-15) as a Python float.

    Args:
        retain_coefs: (b, F) float LIME vectors of the retain batch.
        forget_coefs: (f, F) float LIME vectors of the forget set (or per-class means).
        clip_negative: clip I_w at 0 (see the module docstring); otherwise return crsim.
        zero_tolerance: similarities with |sim| <= this count as zero entries.

    Returns:
        I_w in [0, 1] (clip_negative) or [-1, 1]; never NaN.
    """
    return float(interpretable_weight_tensor(retain_coefs, forget_coefs,
                                             clip_negative=clip_negative,
                                             zero_tolerance=zero_tolerance).item())


def _check_weight(weight: float | Tensor) -> float:
    value = float(weight.item() if isinstance(weight, Tensor) else weight)
    if not math.isfinite(value) or not -1.0 <= value <= 1.0:
        raise ValueError(f"interpretable weight must be a finite number in [-1, 1] (a mean of "
                         f"cosine similarities) so that 1 - weight >= 0; got {value!r}.")
    return value


class GradientScaler:
    """Applies grad_p <- grad_p - I_w * grad_p to a set of parameters (Algorithm 3, line 22).

    Use it between ``loss.backward()`` and ``optimizer.step()``, either by hand::

        scaler = GradientScaler(model)
        loss.backward()
        scaler.apply(i_w)
        optimizer.step()

    or as an optimizer step pre-hook, updating the weight every batch::

        scaler = GradientScaler(model)
        handle = scaler.attach(optimizer)
        for batch in loader:
            scaler.weight = interpretable_weight(retain_batch_coefs, forget_coefs)
            loss.backward(); optimizer.step(); optimizer.zero_grad()
        handle.remove()

    Parameters without a gradient are skipped. The update is computed as
    ``grad *= (1 - I_w)``, algebraically the paper's subtraction.
    """

    def __init__(self, params: nn.Module | Iterable[Tensor], weight: float = 0.0) -> None:
        """
        Args:
            params: a module (all its parameters) or an iterable of parameter tensors.
            weight: initial I_w, in [-1, 1].
        """
        if isinstance(params, Tensor):
            # iterating one tensor yields its rows: non-leaf views whose .grad stays None, so nothing was scaled
            raise TypeError("GradientScaler params must be a module or an iterable of parameter tensors; got a "
                            "single tensor: pass [param] (or the module).")
        self.params = list(params.parameters() if isinstance(params, nn.Module) else params)
        if not self.params:
            raise ValueError("GradientScaler needs at least one parameter; got none.")
        for param in self.params:
            if not isinstance(param, Tensor):
                raise TypeError("GradientScaler params must be a module or tensors; got "
                                f"{type(param).__name__}.")
        self.weight = weight

    @property
    def weight(self) -> float:
        """Current I_w used by ``apply()`` without an argument and by the hook."""
        return self._weight

    @weight.setter
    def weight(self, value: float | Tensor) -> None:
        self._weight = _check_weight(value)

    @torch.no_grad()
    def apply(self, weight: float | Tensor | None = None) -> None:
        """Scale every parameter's ``.grad`` in place by (1 - weight).

        Args:
            weight: I_w for this call (also stored as ``self.weight``); None reuses it.
        """
        if weight is not None:
            self.weight = weight
        factor = 1.0 - self._weight
        for param in self.params:
            if param.grad is not None:
                param.grad.mul_(factor)

    def attach(self, optimizer: Optimizer) -> RemovableHandle:
        """Run ``apply()`` before every ``optimizer.step()``; returns the removable handle."""
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer; "
                            f"got {type(optimizer).__name__}.")
        return optimizer.register_step_pre_hook(lambda _optimizer, _args, _kwargs: self.apply())


def scale_gradients(params: nn.Module | Iterable[Tensor], weight: float | Tensor) -> None:
    """One-shot grad_p <- grad_p - weight * grad_p for a module's (or the given) parameters."""
    GradientScaler(params).apply(weight)
