"""Checks shared by the metrics: class-probability matrices and their labels, refused with the argument named."""

from __future__ import annotations

from typing import Any

import numpy as np

ROW_SUM_TOLERANCE = 1e-3
"""How far a row of probabilities may sum from 1 (float32 softmax rows are within ~1e-6)."""


def check_probs(probs: Any, name: str, labels: Any = None, labels_name: str = "labels",
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """``probs`` as an (n, K) float array and ``labels`` (when given) as an (n,) int64 array, or a ValueError
    naming the argument: probabilities must be finite (NaN or inf means the model diverged), in [0, 1] with rows
    summing to 1 (logits are refused, not read as probabilities); labels must be integers in [0, K), one per row
    (a short or long label array would silently score only part of the rows, and -1 would wrap to class K - 1)."""
    array = np.asarray(probs)
    if array.ndim != 2 or array.shape[1] < 1 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be an (n, K) array of class probabilities; got shape {array.shape}, "
                         f"dtype {array.dtype}.")
    array = array.astype(np.float64, copy=False)
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).any(axis=1).sum())
        raise ValueError(f"{name} holds non-finite values (NaN or inf) in {bad} of {len(array)} rows: the model "
                         "produced no usable probabilities there (did its training diverge?).")
    sums = array.sum(axis=1)
    if array.size and (array.min() < 0 or array.max() > 1 or np.abs(sums - 1).max() > ROW_SUM_TOLERANCE):
        worst = int(np.abs(sums - 1).argmax())
        raise ValueError(f"{name} are not probabilities: values must lie in [0, 1] and every row sum to 1 (row "
                         f"{worst} sums to {sums[worst]:.4g}; values span {array.min():.4g}..{array.max():.4g}); "
                         "pass softmax(logits), not logits.")
    if labels is None:
        return array, None
    label_array = np.asarray(labels)
    if label_array.ndim != 1 or not (np.issubdtype(label_array.dtype, np.integer) or label_array.size == 0):
        raise ValueError(f"{labels_name} must be a 1-D array of integer class labels; got shape {label_array.shape}, "
                         f"dtype {label_array.dtype}.")
    if len(label_array) != len(array):
        raise ValueError(f"{labels_name} has {len(label_array)} labels for the {len(array)} rows of {name}; "
                         "give one label per row.")
    if label_array.size and (label_array.min() < 0 or label_array.max() >= array.shape[1]):
        raise ValueError(f"{labels_name} must lie in [0, {array.shape[1]}) (the columns of {name}); got values "
                         f"{label_array.min()}..{label_array.max()}.")
    return array, label_array.astype(np.int64, copy=False)
