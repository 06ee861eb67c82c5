"""Checkpoint contents that ``torch.load(weights_only=True)`` accepts."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch


def python_numbers(value: Any) -> Any:
    """``value`` with every NumPy scalar inside dicts, lists and tuples replaced by the Python number it holds.

    ``torch.load(weights_only=True)`` refuses NumPy scalar objects, and they slip into checkpoints easily: a
    learning rate set from a NumPy schedule, a metric computed with ``np.mean``. Tensors and everything else
    pass through unchanged.

    >>> python_numbers({"lr": np.float64(0.5), "steps": [np.int64(3)]})
    {'lr': 0.5, 'steps': [3]}
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: python_numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(python_numbers(v) for v in value)
    return value


def load_weights_only(path: str | os.PathLike, map_location: Any, what: str) -> Any:
    """``torch.load(path, weights_only=True)``; a file that is not one raises ValueError in one line naming it.

    Args:
        what: what the file should have been, e.g. "a checkpoint written by MAReinforce.save()".
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises several types for files that are not checkpoints
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"'{path}' is not {what} ({first})") from None
