"""scikit-learn's bundled 8x8 handwritten digits: the embedded, offline default dataset."""

from __future__ import annotations

import numpy as np
import torch

from ..config import check_int
from .base import ImageDataset
from .splits import check_fraction


def load_digits_dataset(split: str = "train", seed: int = 0, test_fraction: float = 0.15) -> ImageDataset:
    """Load the 1,797 digits (8x8, 17 grey levels rescaled to uint8 0..255).

    There is no official split: ``split="train"|"test"`` uses a seeded stratified
    85/15 split; ``split="all"`` returns every image.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (n, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all' for digits; got {split!r}.")
    test_fraction = check_fraction(test_fraction, "test_fraction")
    seed = check_int(seed, "seed", 0, below=2**32, why="scikit-learn's random_state")
    if split != "all":
        from sklearn.model_selection import train_test_split

        train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                                               random_state=seed, stratify=labels)
        idx = np.sort(train_idx if split == "train" else test_idx)
        images, labels = images[idx], labels[idx]
    return ImageDataset("digits", labels, [str(d) for d in range(10)], images=torch.from_numpy(images), split=split)
