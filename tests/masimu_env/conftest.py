"""Shared fixtures of the masimu_env view tests: small in-memory and on-disk datasets."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")  # 'human' rendering in tests never opens a window

import numpy as np
import pytest
from PIL import Image

from masimu_env import datasets


@pytest.fixture(scope="session")
def digits():
    return datasets.load("digits", split="train")


@pytest.fixture(scope="session")
def rgb32():
    """24 random 32x32 RGB images in 4 classes (room for 16 agents with windows up to 12)."""
    rng = np.random.default_rng(0)
    return datasets.from_arrays(rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8), np.arange(24) % 4)


@pytest.fixture(scope="session")
def grey32():
    rng = np.random.default_rng(1)
    return datasets.from_arrays(rng.random((12, 32, 32)), np.arange(12) % 3)


@pytest.fixture(scope="session")
def folder_root(tmp_path_factory):
    """A tiny ``root/<class>/<image>.png`` tree: 3 classes x 4 images of 20x24 RGB."""
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(2)
    for name in ("cat", "dog", "emu"):
        (root / name).mkdir()
        for k in range(4):
            Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(root / name / f"{name}_{k}.png")
    return root
