"""UnlearningData: the training set with its retain and forget index sets, and the test set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from masimu_env.config import check_indices
from masimu_env.datasets import ImageDataset


def _as_indices(name: str, values: Any, size: int) -> np.ndarray:
    array = check_indices(values, size, name, size_name="the training set's length", flat=False)
    if array.size == 0:
        raise ValueError(f"{name} is empty; the {name.split('.')[-1]} set needs at least one image.")
    if np.unique(array).size != array.size:
        raise ValueError(f"{name} holds duplicate indices; pass each image once.")
    return np.sort(array.astype(np.int64))


@dataclass(frozen=True)
class UnlearningData:
    """What an unlearning method sees.

    Attributes:
        train: the training set the original model was trained on.
        retain: (r,) int64 sorted indices into ``train`` to keep.
        forget: (f,) int64 sorted indices into ``train`` to forget; disjoint from ``retain``.
        test: held-out images (never trained on), or None where a method does not need them.
    """

    train: ImageDataset
    retain: np.ndarray
    forget: np.ndarray
    test: ImageDataset | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.train, ImageDataset):
            raise TypeError(f"UnlearningData.train must be an ImageDataset; got {type(self.train).__name__}.")
        n = len(self.train)
        retain = _as_indices("split.retain", self.retain, n)
        forget = _as_indices("split.forget", self.forget, n)
        overlap = np.intersect1d(retain, forget)
        if overlap.size:
            raise ValueError(f"split.retain and split.forget overlap in {overlap.size} indices, e.g. "
                             f"{overlap[:5].tolist()}; an image is either retained or forgotten.")
        if self.test is not None and not isinstance(self.test, ImageDataset):
            raise TypeError(f"UnlearningData.test must be an ImageDataset or None; got {type(self.test).__name__}.")
        object.__setattr__(self, "retain", retain)
        object.__setattr__(self, "forget", forget)

    @classmethod
    def from_split(cls, train: ImageDataset, split: Any, test: ImageDataset | None = None) -> "UnlearningData":
        """Build from a split with ``.retain`` / ``.forget`` (e.g. a ``RetainForgetSplit``) or a (retain, forget) pair."""
        if isinstance(split, UnlearningData):
            return cls(train, split.retain, split.forget, test if test is not None else split.test)
        if hasattr(split, "retain") and hasattr(split, "forget"):
            num_samples = getattr(split, "num_samples", None)
            if num_samples is not None and int(num_samples) != len(train):
                raise ValueError(f"split was made for {num_samples} images but the training set "
                                 f"{train.name!r} has {len(train)}; load the dataset the split was made for.")
            if callable(getattr(split, "check", None)):
                split.check(train)  # a RetainForgetSplit's own checks, e.g. no group (lesion) on both sides
            return cls(train, split.retain, split.forget, test)
        if isinstance(split, (tuple, list)) and len(split) == 2:
            return cls(train, split[0], split[1], test)
        raise TypeError("split must be a RetainForgetSplit (or any object with .retain and .forget index arrays) "
                        f"or a (retain, forget) pair; got {type(split).__name__}.")

    @property
    def num_classes(self) -> int:
        return self.train.num_classes
