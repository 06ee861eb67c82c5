"""Checkpoint contents that ``torch.load(weights_only=True)`` accepts. The plain-number and atomic-write helpers
live in :mod:`masimu_env.serialization` (the datasets' split files use them too) and are re-exported here."""

from __future__ import annotations

import os
from typing import Any

import torch

from masimu_env.serialization import (atomic_path, python_numbers, save_atomically, save_figure_atomically,
                                      write_text_atomically)

__all__ = ["atomic_path", "load_weights_only", "python_numbers", "save_atomically", "save_figure_atomically",
           "write_text_atomically"]


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
