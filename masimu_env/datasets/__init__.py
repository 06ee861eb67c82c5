"""Readers of the paper's datasets in their native layouts, plus the embedded ``digits`` default.

Public API: :func:`available`, :func:`load`, :func:`from_arrays`, :func:`retain_forget_split`.
"""

from __future__ import annotations

from typing import Any

from .base import ImageDataset, from_arrays
from .digits import load_digits_dataset

_READERS = {"digits": load_digits_dataset}


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(_READERS)


def load(name: str, root: Any = None, split: str = "train", image_size: Any = None, download: bool = False,
         **kw: Any) -> ImageDataset:
    """Load dataset ``name`` (see :func:`available`)."""
    if name not in _READERS:
        raise ValueError(f"Unknown dataset {name!r}; available: {', '.join(available())}.")
    if name == "digits":
        return load_digits_dataset(split=split, **kw)
    raise NotImplementedError(name)


__all__ = ["ImageDataset", "available", "from_arrays", "load"]
