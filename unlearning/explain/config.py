"""ExplainConfig: every setting that changes a LIME explanation, validated once.

The cache key is built from this config (see ``cache.py``), so a field that alters
the coefficients must live here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

import numpy as np

from masimu_env.config import check_int, document_fields, is_real

BACKENDS = ("fast", "lime")
SEGMENTATIONS = ("grid", "slic", "quickshift")

MAX_SEED = 2**32 - 1
"""Largest seed numpy's RandomState takes; image i of a call uses seed + i, so seed + B - 1 must not pass it."""

SegmentationFn = Callable[[np.ndarray], np.ndarray]
"""Maps one (H, W, 3) float64 image in [0, 1] to an (H, W) integer label map."""


@document_fields
@dataclass(frozen=True)
class ExplainConfig:
    """Settings of one LIME run (both backends read the same fields)."""

    backend: str = "fast"
    """"fast" (batched torch, this package) or "lime" (the reference `lime` package)."""
    segmentation: Union[str, SegmentationFn] = "grid"
    """"grid" (default: same cells in every image, so coefficient vectors are comparable
    across images), "slic", "quickshift" (lime's own default), or a callable taking an
    (H, W, 3) float64 image in [0, 1] and returning an (H, W) integer label map."""
    num_samples: int = 1000
    """Perturbed samples per image (lime's default, 1000); the first is the unperturbed image."""
    grid: tuple[int, int] | None = None
    """(rows, cols) of the output grid and of the "grid" segmentation; None picks
    4x4 for images whose larger side is <= 32 px, 8x8 otherwise (see ``default_grid``)."""
    batch_size: int = 256
    """Perturbed images per classifier call."""
    incremental: bool = True
    """Fast backend: evaluate a model's local leading layers once per probe image instead of once per perturbation
    when the model is a plain ``nn.Sequential`` starting with convolutions/pooling (see ``incremental.py``; the
    same function, so only float rounding differs); False always runs every perturbation through the whole model."""
    kernel_width: float = 0.25
    """Width of lime's kernel sqrt(exp(-d^2 / width^2)) on the cosine distance d."""
    ridge_alpha: float = 1.0
    """L2 penalty of the weighted ridge regression (lime's default Ridge(alpha=1))."""
    seed: int = 0
    """Image i of a call draws its perturbations from numpy RandomState(seed + i), so seed + (images - 1)
    must stay below 2**32 (``explain`` says so before any work)."""
    slic_segments: int | None = None
    """Target number of SLIC superpixels; None uses the grid's cell count."""
    slic_compactness: float = 10.0
    """SLIC colour/space trade-off (skimage's default)."""
    quickshift_kernel_size: float = 4.0
    """Quickshift kernel size (lime's default 4)."""
    quickshift_max_dist: float = 200.0
    """Quickshift cut-off distance (lime's default 200)."""
    quickshift_ratio: float = 0.2
    """Quickshift colour/space ratio (lime's default 0.2)."""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"ExplainConfig.backend must be one of {', '.join(BACKENDS)}; "
                             f"got {self.backend!r}.")
        if isinstance(self.segmentation, str):
            if self.segmentation not in SEGMENTATIONS:
                raise ValueError(
                    f"ExplainConfig.segmentation must be one of {', '.join(SEGMENTATIONS)} "
                    f"or a callable (H, W, 3) image -> (H, W) int labels; "
                    f"got {self.segmentation!r}.")
        elif not callable(self.segmentation):
            raise TypeError("ExplainConfig.segmentation must be a string or a callable; "
                            f"got {type(self.segmentation).__name__}.")
        # Integers are stored as Python ints, so a NumPy integer (e.g. from a sweep) hashes
        # into the same cache key as the same Python int and serialises to JSON.
        object.__setattr__(self, "num_samples", check_int(
            self.num_samples, "ExplainConfig.num_samples", 2,
            why="the unperturbed image plus at least one perturbation"))
        if self.grid is not None:
            message = f"ExplainConfig.grid must be None or a (rows, cols) tuple of ints >= 1; got {self.grid!r}."
            if not isinstance(self.grid, tuple) or len(self.grid) != 2:
                raise ValueError(message)
            try:
                rows, cols = (check_int(side, "ExplainConfig.grid", 1) for side in self.grid)
            except ValueError:
                raise ValueError(message) from None
            object.__setattr__(self, "grid", (rows, cols))
        object.__setattr__(self, "batch_size", check_int(self.batch_size, "ExplainConfig.batch_size", 1))
        if not isinstance(self.incremental, (bool, np.bool_)):
            raise TypeError(f"ExplainConfig.incremental must be True or False; got {self.incremental!r}.")
        object.__setattr__(self, "incremental", bool(self.incremental))
        for name in ("kernel_width", "ridge_alpha", "slic_compactness", "quickshift_kernel_size",
                     "quickshift_max_dist", "quickshift_ratio"):
            value = getattr(self, name)
            if not is_real(value) or not np.isfinite(value):
                raise ValueError(f"ExplainConfig.{name} must be a finite number > 0; got {value!r}.")
        # the kernel divides by width**2: 1e-300 squares to 0 (NaN coefficients); a negative width passed the square
        if not (self.kernel_width > 0 and self.kernel_width ** 2 > 0):
            raise ValueError(f"ExplainConfig.kernel_width must be > 0 with a non-zero square; got "
                             f"{self.kernel_width!r}.")
        if not self.ridge_alpha > 0:
            # alpha > 0 keeps every ridge system invertible (a superpixel that is never
            # switched off, or the zero padding of the fast backend, gets coefficient 0).
            raise ValueError(f"ExplainConfig.ridge_alpha must be > 0; got {self.ridge_alpha!r}.")
        object.__setattr__(self, "seed", check_int(self.seed, "ExplainConfig.seed"))
        if self.seed > MAX_SEED:
            raise ValueError(f"ExplainConfig.seed must be an int in [0, 2**32) (image i draws from "
                             f"numpy RandomState(seed + i), which takes 32-bit seeds); got {self.seed!r}.")
        object.__setattr__(self, "slic_segments", check_int(
            self.slic_segments, "ExplainConfig.slic_segments", 1, optional=True))
        for name in ("slic_compactness", "quickshift_kernel_size", "quickshift_max_dist",
                     "quickshift_ratio"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ExplainConfig.{name} must be a finite number > 0; got {getattr(self, name)!r}.")

    def grid_for(self, height: int, width: int) -> tuple[int, int]:
        """The output grid for an image of this size (``grid`` or the default)."""
        grid = self.grid if self.grid is not None else default_grid(height, width)
        if grid[0] > height or grid[1] > width:
            raise ValueError(f"ExplainConfig.grid {grid} has more cells than the "
                             f"{height}x{width} image has pixels per side; pass a smaller grid.")
        return grid


def default_grid(height: int, width: int) -> tuple[int, int]:
    """Default grid: 4x4 up to 32 px (MNIST/CIFAR: 7-8 px cells), else 8x8.

    Small images get few, large cells so that each of the ``num_samples`` perturbations
    switches off a visible part of the object and the 16-feature ridge regression is well
    determined; large images (HAM10000 450x600, RESISC45 256x256, or reduced copies)
    get 64 cells, fine enough to tell lesion from background.
    """
    side = 4 if max(height, width) <= 32 else 8
    return (min(side, height), min(side, width))
