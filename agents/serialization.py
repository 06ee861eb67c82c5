"""Checkpoint contents that ``torch.load(weights_only=True)`` accepts."""

from __future__ import annotations

from typing import Any

import numpy as np


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
