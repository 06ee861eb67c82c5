"""Public entry points: LIME coefficient vectors per image and per class.

Every image yields a vector of the same length, rows x cols of the output grid: with the
default "grid" segmentation the superpixels *are* the grid cells; any other segmentation
is projected onto the grid (``segmentation.grid_projection``). Nothing here needs ``masimu_env`` objects (only its
shared integer check): any torch classifier mapping (B, C, H, W) float in [0, 1] to logits works.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from masimu_env.config import check_int

from . import cache
from ._inputs import as_labels, check_images, resolve_device, to_float64
from .config import MAX_SEED, ExplainConfig, SegmentationFn
from .lime_fast import SuperpixelCoefficients, explain_fast
from .lime_reference import explain_reference
from .segmentation import grid_projection, segment_images

_MAX_BLOCK_ELEMENTS = 2 ** 26  # pixel values per block of images (512 MB as float64)


@dataclass(frozen=True)
class Explanations:
    """LIME explanations of a batch of images."""

    coefs: np.ndarray
    """(B, rows * cols) float64 grid-cell coefficients, row-major cells."""
    labels: np.ndarray
    """(B,) int64 class each row explains."""
    intercepts: np.ndarray
    """(B,) float64 intercepts of the local linear models."""
    grid: tuple[int, int]
    """(rows, cols) of the output grid."""
    segment_coefs: np.ndarray
    """(B, F_max) float64 per-superpixel coefficients before projection, zero-padded."""
    num_segments: np.ndarray
    """(B,) int64 superpixels per image."""
    compute_seconds: float = float("nan")
    """Wall time of the LIME work (segmentation, model queries, regressions) that produced these rows; for rows
    read from the cache, the time measured when they were computed, so a cached run still reports what its
    explanations cost."""
    from_cache: bool = False
    """Whether these rows were read from ``cache_dir`` rather than computed by this call."""

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"coefs": self.coefs, "labels": self.labels, "intercepts": self.intercepts,
                "grid": np.asarray(self.grid, dtype=np.int64),
                "segment_coefs": self.segment_coefs, "num_segments": self.num_segments,
                "compute_seconds": np.asarray(self.compute_seconds, dtype=np.float64)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], from_cache: bool = False) -> "Explanations":
        return cls(coefs=arrays["coefs"], labels=arrays["labels"],
                   intercepts=arrays["intercepts"],
                   grid=(int(arrays["grid"][0]), int(arrays["grid"][1])),
                   segment_coefs=arrays["segment_coefs"], num_segments=arrays["num_segments"],
                   compute_seconds=float(arrays["compute_seconds"]), from_cache=from_cache)


def explain(model: nn.Module, images: Tensor | np.ndarray,
            labels: Tensor | np.ndarray | list[int] | None = None,
            config: ExplainConfig = ExplainConfig(), *,
            device: str | torch.device | None = None,
            cache_dir: str | os.PathLike | None = None) -> Explanations:
    """LIME explanations of a batch of images with the settings in ``config``.

    The model is run in eval mode under ``torch.no_grad`` and its training flag is
    restored afterwards; it is never moved between devices.

    Args:
        model: maps (N, C, H, W) float32 in [0, 1] to (N, K) logits.
        images: (B, C, H, W), C = 1 or 3, uint8 (as the datasets return them) or float
            in [0, 1].
        labels: (B,) int class to explain per image; None explains the predicted class.
        config: segmentation, sampling and regression settings.
        device: where perturbations are built and the model runs; None = the model's
            device. Must match the model's device type.
        cache_dir: folder of cached results (see ``cache.py``); None disables caching.

    Returns:
        Grid coefficients (B, rows * cols) plus labels, intercepts and raw superpixel
        coefficients.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}.")
    if not isinstance(config, ExplainConfig):
        raise TypeError(f"config must be an ExplainConfig; got {type(config).__name__}.")
    checked_images = check_images(images)
    batch, channels, height, width = checked_images.shape
    if config.seed + batch - 1 > MAX_SEED:
        raise ValueError(f"ExplainConfig.seed {config.seed} is too large for {batch} images: image i draws from "
                         f"numpy RandomState(seed + i), which takes seeds up to 2**32 - 1; "
                         f"pass a seed <= {MAX_SEED - batch + 1}.")
    explicit_labels = as_labels(labels, batch)
    device = resolve_device(model, device)
    grid = config.grid_for(height, width)

    key = None
    if cache_dir is not None:
        key = cache.cache_key(model, checked_images, explicit_labels, config)
        stored = cache.load_entry(cache_dir, key)
        if stored is not None:
            try:
                return Explanations.from_arrays(stored, from_cache=True)
            except KeyError as missing:
                warnings.warn(f"Ignoring LIME cache entry {key} in {cache_dir}: it lacks {missing}; recomputing.",
                              stacklevel=2)
    started = time.perf_counter()

    # Blocks of images bound the float64 copies and label maps held at once (851 full-size
    # HAM10000 images would need ~7 GB); image i still draws from RandomState(seed + i).
    block = max(1, _MAX_BLOCK_ELEMENTS // (channels * height * width))
    backend = explain_fast if config.backend == "fast" else explain_reference
    parts: list[tuple[SuperpixelCoefficients, np.ndarray]] = []
    for first in range(0, batch, block):
        float_images = to_float64(checked_images[first:first + block])
        segments = segment_images(float_images.numpy(), config)
        block_labels = None if explicit_labels is None else explicit_labels[first:first + block]
        result = backend(model, float_images, block_labels, segments,
                         dataclasses.replace(config, seed=config.seed + first), device)
        if config.segmentation == "grid":
            coefs = result.coefs  # the superpixels are the grid cells already
        else:
            coefs = np.stack([result.coefs[i, :result.num_segments[i]]
                              @ grid_projection(segments[i], grid) for i in range(len(segments))])
        parts.append((result, coefs))

    max_segments = max(result.coefs.shape[1] for result, _ in parts)
    explanations = Explanations(
        coefs=np.concatenate([coefs for _, coefs in parts]),
        labels=np.concatenate([result.labels for result, _ in parts]),
        intercepts=np.concatenate([result.intercepts for result, _ in parts]),
        grid=grid,
        segment_coefs=np.concatenate([np.pad(result.coefs,
                                             ((0, 0), (0, max_segments - result.coefs.shape[1])))
                                      for result, _ in parts]),
        num_segments=np.concatenate([result.num_segments for result, _ in parts]),
        compute_seconds=time.perf_counter() - started)
    if cache_dir is not None:
        cache.store_entry(cache_dir, key, explanations.to_arrays())
    return explanations


def lime_coefficients(model: nn.Module, images: Tensor | np.ndarray,
                      labels: Tensor | np.ndarray | list[int] | None = None, *,
                      backend: str = "fast",
                      segmentation: str | SegmentationFn = "grid",
                      num_samples: int = 1000,
                      grid: tuple[int, int] | None = None,
                      batch_size: int = 256,
                      device: str | torch.device | None = None,
                      seed: int = 0,
                      kernel_width: float = 0.25,
                      ridge_alpha: float = 1.0,
                      cache_dir: str | os.PathLike | None = None) -> np.ndarray:
    """LIME coefficient vector of each image, all of the same length.

    Shorthand for ``explain(model, images, labels, ExplainConfig(...)).coefs``; see
    ``ExplainConfig`` for the meaning of each setting and ``explain`` for the arguments.

    Returns:
        (B, rows * cols) float64: coefficient of each grid cell for the explained class.
    """
    config = ExplainConfig(backend=backend, segmentation=segmentation, num_samples=num_samples,
                           grid=grid, batch_size=batch_size, seed=seed,
                           kernel_width=kernel_width, ridge_alpha=ridge_alpha)
    return explain(model, images, labels, config, device=device, cache_dir=cache_dir).coefs


def class_mean_coefficients(coefs: np.ndarray | Tensor, labels: np.ndarray | Tensor,
                            num_classes: int | None = None) -> np.ndarray:
    """Mean LIME vector per class (the paper averages LIME weights per label, section 3).

    Args:
        coefs: (n, F) float coefficient vectors.
        labels: (n,) int class of each vector, in [0, num_classes).
        num_classes: number of rows of the result; None = labels.max() + 1.

    Returns:
        (num_classes, F) float64. A class with no vector gets an all-zero row, which
        ``interpretable_weight`` counts as zero similarity (no influence).
    """
    if isinstance(coefs, Tensor):
        coefs = coefs.detach().cpu().numpy()
    if isinstance(labels, Tensor):
        labels = labels.detach().cpu().numpy()
    coefs = np.asarray(coefs, dtype=np.float64)
    labels = np.asarray(labels)
    if coefs.ndim != 2:
        raise ValueError(f"coefs must be 2-D (n, F); got shape {coefs.shape}.")
    if labels.shape != (coefs.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a ({coefs.shape[0]},) integer array matching coefs; "
                         f"got shape {labels.shape}, dtype {labels.dtype}.")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be >= 0; got {labels.min()}.")
    num_classes = check_int(num_classes, "num_classes", 1, optional=True)
    if num_classes is None:
        if not labels.size:
            raise ValueError("num_classes is required when there are no labels.")
        num_classes = int(labels.max()) + 1
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"labels must be < num_classes = {num_classes}; got {labels.max()}.")
    sums = np.zeros((num_classes, coefs.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, coefs)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return sums / np.maximum(counts, 1.0)[:, None]
