"""Input checks and the classifier wrapper shared by both LIME backends."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import Tensor, nn


def check_images(images: Tensor | np.ndarray) -> Tensor:
    """Validate a batch of images without converting it (conversion happens per block).

    Args:
        images: (B, C, H, W), C = 1 or 3; uint8 in [0, 255] (as the datasets return
            them) or float in [0, 1]. A numpy array is accepted as well.

    Returns:
        The same (B, C, H, W) data as a CPU tensor of its original dtype.
    """
    if isinstance(images, np.ndarray):
        # a flipped view (negative strides) or a big-endian array is valid input that torch.from_numpy refuses
        native = images.dtype.newbyteorder("=")
        images = torch.from_numpy(np.ascontiguousarray(images, dtype=native))
    if not isinstance(images, Tensor):
        raise TypeError("images must be a (B, C, H, W) torch.Tensor (uint8 or float in [0, 1]); "
                        f"got {type(images).__name__}.")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError("images must have shape (B, C, H, W) with C = 1 or 3; got shape "
                         f"{tuple(images.shape)}. Add a batch dim with images[None] or move "
                         "channels first with .permute(0, 3, 1, 2).")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"images must be non-empty; got shape {tuple(images.shape)}.")
    images = images.detach().cpu()
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 or floating point; got {images.dtype}. "
                        "Integer pixel data should be converted to uint8 first.")
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf values.")
    low, high = images.min().item(), images.max().item()
    if low < 0.0 or high > 1.0:
        raise ValueError(f"float images must lie in [0, 1]; got values in [{low:.4g}, {high:.4g}]. "
                         "Divide uint8-range data by 255 or pass the uint8 tensor itself.")
    return images


def to_float64(images: Tensor) -> Tensor:
    """(B, C, H, W) uint8 or float images (as returned by ``check_images``) to float64 in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.to(torch.float64) / 255.0
    return images.to(torch.float64)


def as_labels(labels: Tensor | np.ndarray | list[int] | None, num_images: int) -> np.ndarray | None:
    """Validate explicit class labels.

    Args:
        labels: (B,) integer class per image, or None (explain the predicted class).
        num_images: B.

    Returns:
        (B,) int64 numpy array, or None.
    """
    if labels is None:
        return None
    if isinstance(labels, Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if labels.shape != (num_images,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be None or a ({num_images},) integer array, one class per "
                         f"image; got shape {labels.shape}, dtype {labels.dtype}.")
    if (labels < 0).any():
        raise ValueError(f"labels must be >= 0; got minimum {labels.min()}.")
    return labels.astype(np.int64)


def resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """The device the model lives on; ``device``, when given, must agree with it.

    The model is never moved: moving a model the caller is training would be a hidden
    side effect.
    """
    tensors = list(model.parameters()) + list(model.buffers())
    model_device = tensors[0].device if tensors else None
    if device is None:
        return model_device if model_device is not None else torch.device("cpu")
    device = torch.device(device)
    if model_device is not None and model_device.type != device.type:
        raise ValueError(f"device={device} but the model's parameters are on {model_device}; "
                         f"move the model first (model.to({str(device)!r})) or pass device=None.")
    return device


@contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Run the model in eval mode without autograd, restoring its training flag after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def class_probabilities(model: nn.Module, batch: Tensor) -> Tensor:
    """Softmax of the model's logits, computed in float64.

    LIME explains a probability (lime's ``classifier_fn`` is a ``predict_proba``), so
    both backends regress the softmax probability of the explained class.

    Args:
        model: maps (N, C, H, W) float32 in [0, 1] to (N, K) logits.
        batch: (N, C, H, W) float32 on the model's device.

    Returns:
        (N, K) float64 on the same device.
    """
    logits = check_logits(model(batch), batch.shape[0])
    return torch.softmax(logits.to(torch.float64), dim=-1)


def check_logits(logits: object, rows: int) -> Tensor:
    """Raise unless the model's output for ``rows`` images is a (rows, num_classes) tensor; return it."""
    if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[0] != rows:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"model must map a ({rows}, C, H, W) batch to ({rows}, num_classes) logits; got {shape}.")
    return logits


def check_label_range(labels: np.ndarray, num_classes: int) -> None:
    """Raise if an explicit label is not a class of the model."""
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"labels must be < num_classes = {num_classes} (the model's logit "
                         f"count); got {labels.max()}.")


def predicted_labels(model: nn.Module, images: Tensor, device: torch.device,
                     batch_size: int) -> tuple[np.ndarray, int]:
    """The model's predicted class for each unperturbed image.

    Args:
        images: (B, C, H, W) float64 CPU in [0, 1].

    Returns:
        ((B,) int64 classes, number of classes K).
    """
    out, num_classes = [], 0
    with evaluating(model):
        for start in range(0, images.shape[0], batch_size):
            chunk = images[start:start + batch_size].to(device=device, dtype=torch.float32)
            probs = class_probabilities(model, chunk)
            num_classes = probs.shape[1]
            out.append(probs.argmax(dim=1).cpu())
    return torch.cat(out).numpy().astype(np.int64), num_classes


def perturbation_matrix(num_samples: int, num_segments: int, seed: int,
                        random_state: np.random.RandomState | None = None) -> np.ndarray:
    """lime's binary perturbation matrix z for one image.

    Draws exactly what ``LimeImageExplainer.data_labels`` draws from
    ``RandomState(seed)``: ``randint(0, 2, num_samples * num_segments)``, first row set
    to ones (the unperturbed image).

    Args:
        random_state: a generator to reseed with ``seed`` and draw from (reseeding costs ~2 us, building a
            RandomState ~120 us); None builds one.

    Returns:
        (num_samples, num_segments) int64 of 0/1.
    """
    if random_state is None:
        random_state = np.random.RandomState(seed)
    else:
        random_state.seed(seed)  # the same state as RandomState(seed)
    z = random_state.randint(0, 2, num_samples * num_segments).reshape(num_samples, num_segments)
    z[0, :] = 1
    return z
