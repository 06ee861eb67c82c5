"""Batched torch LIME: the algorithm of ``lime.lime_image`` for many images per call.

Per image it does what ``LimeImageExplainer.explain_instance`` does with
``hide_color=None`` and ``feature_selection='auto'``/``num_features=100000`` (which keeps
every superpixel), but vectorised:

1. fill colour of each superpixel = its mean colour (lime's ``fudged_image``);
2. perturbation matrix z (num_samples x F) from ``RandomState(seed + i).randint(0, 2, ...)``,
   first row all ones -- the same draws lime makes;
3. perturbed images are built on the device for many images at once and classified in
   batches of ``batch_size`` (or, for a plain ``nn.Sequential`` starting with local layers,
   those layers run on a few probe images per image: see ``incremental.py``); the target is
   the softmax probability of the explained class;
4. kernel sqrt(exp(-d^2 / width^2)) of the cosine distance d between z and the all-ones row;
5. weighted ridge regression with intercept (sklearn ``Ridge(alpha)`` semantics), solved in
   closed form for all images at once with ``torch.linalg.solve``.

Images with different superpixel counts are padded with all-zero columns of z; a zero
column is zero after centring too, so with alpha > 0 its coefficient is exactly 0 and
the others are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ._inputs import (check_label_range, class_probabilities, evaluating,
                      perturbation_matrix, predicted_labels)
from .config import ExplainConfig
from .incremental import IncrementalPlan, incremental_logits, plan_for

# Upper bounds on elements held at once per block of images (float32 images, bool z).
_MAX_BLOCK_PIXELS = 2 ** 25
_MAX_BLOCK_Z = 2 ** 24  # bounds the float64 ridge design matrices too (128 MB each)
# On CPU the superpixel masks are gathered with numpy, whose fancy indexing is several
# times faster than torch's there; other devices use torch indexing.
_NUMPY_GATHER_ON_CPU = True
_MASK_STEP_PIXELS = 2 ** 21


@dataclass(frozen=True)
class SuperpixelCoefficients:
    """LIME output per image, before projection onto a grid."""

    coefs: np.ndarray
    """(B, F_max) float64; image b's superpixel f coefficient, zero for f >= num_segments[b]."""
    intercepts: np.ndarray
    """(B,) float64 ridge intercepts."""
    labels: np.ndarray
    """(B,) int64 class that was explained."""
    num_segments: np.ndarray
    """(B,) int64 superpixels per image."""


def kernel_weights(num_on: Tensor, num_segments: Tensor, kernel_width: float) -> Tensor:
    """lime's sample weights from the cosine distance to the all-ones row.

    For a 0/1 row z with k ones out of F, cos(z, 1) = k / (sqrt(k) sqrt(F)) = sqrt(k / F)
    (0 for k = 0, as sklearn's cosine distance treats zero vectors).

    Args:
        num_on: (B, S) float64, ones per perturbation row.
        num_segments: (B,) float64, F per image.
        kernel_width: lime's kernel width.

    Returns:
        (B, S) float64 weights sqrt(exp(-d^2 / width^2)).
    """
    distance = 1.0 - torch.sqrt(num_on / num_segments[:, None])
    return torch.sqrt(torch.exp(-(distance ** 2) / kernel_width ** 2))


def weighted_ridge(features: Tensor, targets: Tensor, weights: Tensor,
                   alpha: float) -> tuple[Tensor, Tensor]:
    """Batched weighted ridge regression with an unpenalised intercept.

    Solves, per problem b, what ``sklearn.linear_model.Ridge(alpha, fit_intercept=True)
    .fit(X, y, sample_weight=w)`` solves: centre X and y by their w-weighted means, then
    (Xc^T W Xc + alpha I) coef = Xc^T W yc and intercept = y_mean - x_mean . coef.

    Args:
        features: (B, S, F) float64.
        targets: (B, S) float64.
        weights: (B, S) float64, positive.
        alpha: L2 penalty, > 0.

    Returns:
        ((B, F) float64 coefficients, (B,) float64 intercepts).
    """
    total = weights.sum(dim=1, keepdim=True)                                  # (B, 1)
    feature_mean = (weights[..., None] * features).sum(dim=1) / total         # (B, F)
    target_mean = (weights * targets).sum(dim=1) / total[:, 0]                # (B,)
    centred = features - feature_mean[:, None, :]
    weighted = centred * weights[..., None]
    gram = weighted.transpose(1, 2) @ centred
    gram = gram + alpha * torch.eye(features.shape[2], dtype=gram.dtype, device=gram.device)
    rhs = weighted.transpose(1, 2) @ (targets - target_mean[:, None])[..., None]
    coefs = torch.linalg.solve(gram, rhs)[..., 0]
    intercepts = target_mean - (feature_mean * coefs).sum(dim=1)
    return coefs, intercepts


def segment_means(images: Tensor, segments: Tensor, max_segments: int) -> Tensor:
    """Each pixel replaced by its superpixel's mean colour (lime's ``fudged_image``).

    Args:
        images: (B, C, H, W) float64.
        segments: (B, H, W) int64, ids < max_segments.
        max_segments: F_max.

    Returns:
        (B, C, H, W) float64.
    """
    batch, channels, height, width = images.shape
    flat_ids = (segments.reshape(batch, -1)
                + torch.arange(batch, device=segments.device)[:, None] * max_segments).reshape(-1)
    counts = torch.bincount(flat_ids, minlength=batch * max_segments).to(torch.float64)
    pixels = images.permute(1, 0, 2, 3).reshape(channels, -1)                 # (C, B*H*W)
    sums = torch.zeros(channels, batch * max_segments, dtype=torch.float64)
    sums.index_add_(1, flat_ids, pixels)
    means = sums / counts.clamp(min=1.0)                                       # empty ids unused
    return means[:, flat_ids].reshape(channels, batch, height, width).permute(1, 0, 2, 3)


def explain_fast(model: nn.Module, images: Tensor, labels: np.ndarray | None,
                 segments: np.ndarray, config: ExplainConfig,
                 device: torch.device) -> SuperpixelCoefficients:
    """LIME coefficients of many images with batched torch.

    Args:
        model: maps (N, C, H, W) float32 in [0, 1] to (N, K) logits; lives on ``device``.
        images: (B, C, H, W) float64 CPU in [0, 1].
        labels: (B,) int64 classes to explain, or None for the predicted class.
        segments: (B, H, W) int64, ids 0 .. F_b - 1 per image.
        config: num_samples, batch_size, incremental, kernel_width, ridge_alpha and seed are read.
        device: where perturbed images are built and the model runs.

    Returns:
        Per-superpixel coefficients, intercepts and explained labels.
    """
    batch, channels, height, width = images.shape
    num_samples = config.num_samples
    num_segments = segments.reshape(batch, -1).max(axis=1).astype(np.int64) + 1
    max_segments = int(num_segments.max())
    if labels is None:
        labels, _ = predicted_labels(model, images, device, config.batch_size)
    else:  # as the reference backend does: one image tells the class count
        _, num_classes = predicted_labels(model, images[:1], device, config.batch_size)
        check_label_range(labels, num_classes)
    block = max(1, min(batch, _MAX_BLOCK_PIXELS // (channels * height * width),
                       _MAX_BLOCK_Z // (num_samples * max_segments)))

    all_coefs, all_intercepts = [], []
    for first in range(0, batch, block):
        last = min(batch, first + block)
        n_images = last - first
        # --- perturbations (identical draws to lime's data_labels) ---
        z = np.zeros((n_images, num_samples, max_segments), dtype=bool)
        random_state = np.random.RandomState()
        for i in range(n_images):
            z[i, :, :num_segments[first + i]] = perturbation_matrix(
                num_samples, int(num_segments[first + i]), config.seed + first + i, random_state)
        z_cpu = torch.from_numpy(z)
        segments_cpu = torch.from_numpy(segments[first:last])
        fill = segment_means(images[first:last], segments_cpu, max_segments)
        block_labels = torch.from_numpy(labels[first:last]).to(device)
        targets = torch.empty((n_images, num_samples), dtype=torch.float64, device=device)
        with evaluating(model):
            remaining = list(range(n_images))
            if config.incremental:
                remaining = _incremental_targets(model, images[first:last], fill, segments[first:last], z_cpu,
                                                 block_labels, config, device, targets)
            if remaining:
                _black_box_targets(model, images[first:last], fill, segments[first:last], z, block_labels,
                                   remaining, config, device, targets)
        # --- weighted ridge, all images of the block at once ---
        features = z_cpu.to(torch.float64)
        counts = torch.from_numpy(num_segments[first:last]).to(torch.float64)
        weights = kernel_weights(features.sum(dim=2), counts, config.kernel_width)
        coefs, intercepts = weighted_ridge(features, targets.cpu(),
                                           weights, config.ridge_alpha)
        all_coefs.append(coefs)
        all_intercepts.append(intercepts)

    return SuperpixelCoefficients(coefs=torch.cat(all_coefs).numpy(),
                                  intercepts=torch.cat(all_intercepts).numpy(),
                                  labels=labels.astype(np.int64),
                                  num_segments=num_segments)


def _incremental_targets(model: nn.Module, images: Tensor, fill: Tensor, segments: np.ndarray, z: Tensor,
                         labels: Tensor, config: ExplainConfig, device: torch.device, targets: Tensor) -> list[int]:
    """Fill ``targets`` rows of the images whose segmentation admits an incremental plan; return the others.

    Images that share a label map (every image under the grid segmentation) share one plan.
    """
    by_segmentation: dict[bytes, list[int]] = {}
    for image in range(len(segments)):
        by_segmentation.setdefault(segments[image].tobytes(), []).append(image)
    remaining = []
    fold_cache: dict = {}
    for members in by_segmentation.values():
        plan = plan_for(model, segments[members[0]], config.num_samples)
        if not isinstance(plan, IncrementalPlan):
            remaining.extend(members)
            continue
        index = torch.tensor(members, device=device)
        member_images = images[members].to(device=device, dtype=torch.float32)
        member_fill = fill[members].to(device=device, dtype=torch.float32)
        label_map = torch.from_numpy(segments[members[0]]).to(device)
        logits = incremental_logits(plan, member_images, member_fill, label_map, z[members].to(device),
                                    config.batch_size, fold_cache)
        probs = torch.softmax(logits.to(torch.float64), dim=-1)
        targets[index] = torch.take_along_dim(probs, labels[index][:, None, None], dim=2)[..., 0]
    return sorted(remaining)


def _black_box_targets(model: nn.Module, images: Tensor, fill: Tensor, segments: np.ndarray, z: np.ndarray,
                       labels: Tensor, image_ids: list[int], config: ExplainConfig, device: torch.device,
                       targets: Tensor) -> None:
    """Fill ``targets`` rows of ``image_ids``: every perturbed image through the whole model, in batches that may
    span several images."""
    _, channels, height, width = images.shape
    num_samples = config.num_samples
    on_cpu = device.type == "cpu" and _NUMPY_GATHER_ON_CPU
    segments_flat = segments.reshape(len(segments), -1)
    z_device = None if on_cpu else torch.from_numpy(z).to(device)
    segments_device = None if on_cpu else torch.from_numpy(segments).to(device)
    images_device = images.to(device=device, dtype=torch.float32)
    fill_device = fill.to(device=device, dtype=torch.float32)
    flat_targets = targets.view(-1)
    total = len(image_ids) * num_samples
    # Masks are built a few samples at a time so that mask and output stay in cache
    # (5x faster than one whole-batch torch.where on 450x600 images).
    step = max(1, _MASK_STEP_PIXELS // (height * width))
    buffer = torch.empty((min(config.batch_size, total), channels, height, width), dtype=torch.float32,
                         device=device)
    for start in range(0, total, config.batch_size):
        end = min(start + config.batch_size, total)
        rows = torch.empty(end - start, dtype=torch.int64)
        position = start
        while position < end:
            slot, sample = divmod(position, num_samples)
            image = image_ids[slot]
            count = min(num_samples - sample, end - position, step)
            if on_cpu:
                keep = torch.from_numpy(z[image, sample:sample + count][:, segments_flat[image]]
                                        ).view(count, height, width)
            else:
                keep = z_device[image, sample:sample + count][:, segments_device[image]]
            torch.where(keep[:, None], images_device[image], fill_device[image],
                        out=buffer[position - start:position - start + count])
            rows[position - start:position - start + count] = torch.arange(
                image * num_samples + sample, image * num_samples + sample + count)
            position += count
        probs = class_probabilities(model, buffer[:end - start])
        rows = rows.to(device)
        owner = rows // num_samples
        flat_targets[rows] = probs[torch.arange(end - start, device=device), labels[owner]]
