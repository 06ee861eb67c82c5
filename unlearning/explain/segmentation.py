"""Superpixel segmentations and their projection onto a fixed grid.

Why a fixed grid is the default: the interpretable weight compares LIME vectors of
*different* images by cosine similarity, which only means something when feature k is
the same image region in every vector. Quickshift and SLIC number their superpixels
per image (and quickshift yields 1-2 segments on 32x32 inputs), so their coefficients
are projected onto the grid before any comparison: each cell gets the area-weighted
mean of the coefficients of the superpixels covering its pixels.

Every label map returned here is int64, shape (H, W), with ids 0 .. F-1 all present,
which is what lime's ``data_labels`` assumes.
"""

from __future__ import annotations

import numpy as np
from skimage.segmentation import quickshift, slic

from .config import ExplainConfig


def grid_labels(height: int, width: int, grid: tuple[int, int]) -> np.ndarray:
    """Label map of a rows x cols grid; cell (i, j) has id i * cols + j.

    Rows of pixels are split as evenly as integer division allows (pixel row r belongs
    to cell row r * rows // height), so sizes that do not divide still work.

    Args:
        height: image height in pixels.
        width: image width in pixels.
        grid: (rows, cols), each between 1 and the matching image side.

    Returns:
        (height, width) int64, ids 0 .. rows * cols - 1.
    """
    rows, cols = grid
    if not (1 <= rows <= height and 1 <= cols <= width):
        raise ValueError(f"grid {grid} does not fit a {height}x{width} image; each side "
                         "must be between 1 and the image side.")
    row_cell = np.arange(height) * rows // height
    col_cell = np.arange(width) * cols // width
    return (row_cell[:, None] * cols + col_cell[None, :]).astype(np.int64)


def relabel(labels: np.ndarray) -> np.ndarray:
    """Renumber any integer label map to consecutive ids 0 .. F-1 (order preserved).

    Args:
        labels: (H, W) integer array.

    Returns:
        (H, W) int64.
    """
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int64)


def to_rgb_hwc(image: np.ndarray) -> np.ndarray:
    """(C, H, W) float image, C = 1 or 3, to the (H, W, 3) layout lime and skimage expect.

    Grey images are repeated over three channels (what lime's gray2rgb does).
    """
    hwc = np.moveaxis(image, 0, -1)
    if hwc.shape[-1] == 1:
        hwc = np.repeat(hwc, 3, axis=-1)
    return np.ascontiguousarray(hwc)


def segment_image(image_rgb: np.ndarray, config: ExplainConfig) -> np.ndarray:
    """Segment one image with the method named in ``config.segmentation``.

    Args:
        image_rgb: (H, W, 3) float64 in [0, 1].
        config: supplies the method and its parameters.

    Returns:
        (H, W) int64 label map with consecutive ids from 0.
    """
    height, width = image_rgb.shape[:2]
    method = config.segmentation
    if method == "grid":
        return grid_labels(height, width, config.grid_for(height, width))
    if method == "slic":
        rows, cols = config.grid_for(height, width)
        n_segments = config.slic_segments if config.slic_segments is not None else rows * cols
        labels = slic(image_rgb, n_segments=n_segments, compactness=config.slic_compactness,
                      start_label=0, channel_axis=-1)
        return relabel(labels)
    if method == "quickshift":
        # Same call as lime's SegmentationAlgorithm('quickshift', ...) default; quickshift is
        # deterministic apart from a tie-breaking jitter seeded here.
        labels = quickshift(image_rgb, kernel_size=config.quickshift_kernel_size,
                            max_dist=config.quickshift_max_dist, ratio=config.quickshift_ratio,
                            rng=config.seed)
        return relabel(labels)
    labels = np.asarray(method(image_rgb))
    if labels.shape != (height, width) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"segmentation callable {method!r} must return an ({height}, {width}) "
                         f"integer label map; got shape {labels.shape}, dtype {labels.dtype}.")
    return relabel(labels)


def segment_images(images: np.ndarray, config: ExplainConfig) -> np.ndarray:
    """Segment a batch of images.

    Args:
        images: (B, C, H, W) float64 in [0, 1], C = 1 or 3.
        config: supplies the method and its parameters.

    Returns:
        (B, H, W) int64; image b's ids run 0 .. F_b - 1.
    """
    batch, _, height, width = images.shape
    if config.segmentation == "grid":
        # One label map for all: no need to look at the pixels.
        cells = grid_labels(height, width, config.grid_for(height, width))
        return np.broadcast_to(cells, (batch, height, width)).copy()
    return np.stack([segment_image(to_rgb_hwc(image), config) for image in images])


def _check_segment_ids(segments: np.ndarray) -> None:
    """A ValueError naming ``segments`` unless it is a non-empty 2-D integer map with ids >= 0 (NumPy would wrap -1
    onto the last superpixel)."""
    segments = np.asarray(segments)
    if segments.ndim != 2 or segments.size == 0 or not np.issubdtype(segments.dtype, np.integer):
        raise ValueError(f"segments must be a non-empty (H, W) integer label map; got shape {segments.shape}, dtype "
                         f"{segments.dtype}.")
    if segments.min() < 0:
        raise ValueError(f"segments must hold superpixel ids 0 .. F-1; got {segments.min()}.")


def grid_projection(segments: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Matrix taking per-superpixel coefficients to per-grid-cell coefficients.

    Entry (f, c) is the fraction of cell c's pixels that lie in superpixel f, so
    ``coefs @ P`` gives each cell the area-weighted mean of its superpixels' coefficients.

    Args:
        segments: (H, W) int64 label map with ids 0 .. F-1.
        grid: (rows, cols) of the target grid.

    Returns:
        (F, rows * cols) float64; every column sums to 1.
    """
    _check_segment_ids(segments)
    height, width = segments.shape
    cells = grid_labels(height, width, grid).ravel()
    n_segments = int(segments.max()) + 1
    n_cells = grid[0] * grid[1]
    counts = np.zeros((n_segments, n_cells), dtype=np.float64)
    np.add.at(counts, (segments.ravel(), cells), 1.0)
    return counts / counts.sum(axis=0, keepdims=True)


def project_to_grid(segment_coefs: np.ndarray, segments: np.ndarray,
                    grid: tuple[int, int]) -> np.ndarray:
    """Per-superpixel coefficients of one image to a fixed-length per-cell vector.

    Args:
        segment_coefs: (F,) float, coefficient of superpixel f.
        segments: (H, W) int64 label map with ids 0 .. F-1.
        grid: (rows, cols) of the target grid.

    Returns:
        (rows * cols,) float64, row-major cells.
    """
    segment_coefs = np.asarray(segment_coefs, dtype=np.float64)
    _check_segment_ids(segments)
    n_segments = int(segments.max()) + 1
    if segment_coefs.shape != (n_segments,):
        raise ValueError(f"segment_coefs must have shape ({n_segments},) to match the "
                         f"{n_segments} segments; got {segment_coefs.shape}.")
    return segment_coefs @ grid_projection(segments, grid)
