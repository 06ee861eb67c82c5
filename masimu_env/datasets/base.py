"""Dataset container shared by every reader: uint8 (C, H, W) images, int labels, class names, groups."""

from __future__ import annotations

import hashlib
import operator
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..config import check_indices


class ImageDataset:
    """An indexable image-classification dataset.

    Every reader in :mod:`masimu_env.datasets` returns one of these. Images are
    ``torch.uint8`` tensors shaped ``(C, H, W)``; labels are ints in
    ``[0, len(classes))``.

    Attributes:
        name: dataset name as in :func:`masimu_env.datasets.available`.
        labels: (n,) int64 numpy array.
        classes: class names, index = label.
        groups: (n,) numpy array of group ids (e.g. HAM10000 ``lesion_id``) or ``None``.
        sources: optional per-image description (file path or array index) used in errors.

    Construct with exactly one of ``images=`` ((n, C, H, W) uint8 tensor, in memory) or
    ``loader=`` (index -> (C, H, W) uint8 tensor, lazy); a lazy dataset may also take
    ``batch_loader=`` ((B,) int64 numpy indices -> (B, C, H, W) uint8) to build batches faster
    (parallel decoding, slicing a memory-mapped cache).
    """

    def __init__(
        self,
        name: str,
        labels: np.ndarray,
        classes: Sequence[str],
        *,
        images: Tensor | None = None,
        loader: Callable[[int], Tensor] | None = None,
        batch_loader: Callable[[np.ndarray], Tensor] | None = None,
        groups: np.ndarray | None = None,
        sources: Sequence[str] | None = None,
        image_shape: tuple[int, int, int] | None = None,
        split: str = "train",
    ) -> None:
        if (images is None) == (loader is None):
            raise TypeError("ImageDataset needs exactly one of images= (a uint8 tensor) or loader= (index -> image).")
        labels = _integer_array(labels, f"{name} labels")  # floats were truncated (1.7 -> 1), bools read as 0/1
        if labels.ndim != 1:
            raise ValueError(f"labels must be 1-D; got shape {labels.shape}.")
        if images is not None:
            if images.dtype != torch.uint8 or images.ndim != 4:
                raise TypeError(f"images must be a uint8 tensor (n, C, H, W); got {images.dtype} {tuple(images.shape)}.")
            if images.shape[0] != labels.shape[0]:
                raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels.")
            image_shape = tuple(int(s) for s in images.shape[1:])  # type: ignore[assignment]
        if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(f"labels must lie in [0, {len(classes)}); got range [{labels.min()}, {labels.max()}].")
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != labels.shape:
                raise ValueError(f"groups must have shape {labels.shape}; got {groups.shape}.")
        self.name = name
        self.labels = labels
        self.classes = list(classes)
        self.groups = groups
        self.sources = list(sources) if sources is not None else None
        self.image_shape = image_shape
        self.split = split
        self._images = images
        self._loader = loader
        self._batch_loader = batch_loader if images is None else None

    # --- sequence protocol ---
    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        # any integer scalar (int, NumPy, a 0-d tensor from a torch sampler) via operator.index; bools and floats raise
        if isinstance(index, (bool, np.bool_)) or getattr(index, "dtype", None) in (torch.bool, np.bool_):
            raise TypeError(f"{self.name} index must be an int; got {index!r} (use get_batch for several rows).")
        try:
            index = operator.index(index)
        except TypeError:
            raise TypeError(f"{self.name} index must be an int; got {index!r} (use get_batch for several rows)."
                            ) from None
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.name} ({n} images).")
        index = index % n
        image = self._images[index] if self._images is not None else self._loader(index)  # type: ignore[misc, index]
        return image, int(self.labels[index])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_memory(self) -> bool:
        return self._images is not None

    def fingerprint(self) -> str:
        """SHA-256 (hex) of what this dataset holds, for caches of results trained on it: name, labels, classes,
        image shape, and the pixels themselves (in-memory datasets), or each source file's path, size and
        modification time (file-backed ones; the image shape covers a resize). A lazy dataset without sources is
        hashed pixel by pixel, which decodes it once."""
        h = hashlib.sha256()
        h.update(f"{self.name}|{self.image_shape}|{self.classes}".encode())
        h.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        if self._images is not None:
            h.update(self._images.contiguous().view(-1).numpy().tobytes())
        elif self.sources is not None:
            for source in self.sources:
                try:
                    stat = os.stat(source)
                    h.update(f"{source}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
                except OSError:
                    h.update(f"{source}|missing\n".encode())
        else:
            for begin in range(0, len(self), 1024):
                images, _ = self.get_batch(np.arange(begin, min(len(self), begin + 1024)))
                h.update(images.contiguous().view(-1).numpy().tobytes())
        return h.hexdigest()

    def get_batch(self, indices: Sequence[int] | np.ndarray | Tensor) -> tuple[Tensor, Tensor]:
        """Stack images and labels for ``indices``.

        Returns:
            images: (B, C, H, W) uint8; all images must share one shape (pass
                ``image_size`` to the reader for datasets whose sizes vary).
            labels: (B,) int64.
        """
        idx = torch.from_numpy(check_indices(indices, len(self), f"{self.name} indices"))
        if self._images is not None:
            images = self._images[idx]
        elif self._batch_loader is not None:
            images = self._batch_loader(idx.numpy())
        else:
            items = [self._loader(int(i)) for i in idx]  # type: ignore[misc]
            shapes = {tuple(t.shape) for t in items}
            if len(shapes) > 1:
                raise ValueError(f"{self.name}: images of different shapes {sorted(shapes)} cannot be batched; pass image_size=.")
            images = torch.stack(items) if items else torch.empty((0, *(self.image_shape or (1, 1, 1))), dtype=torch.uint8)
        return images, torch.as_tensor(self.labels[idx.numpy()], dtype=torch.long)

    def materialize(self) -> "ImageDataset":
        """Return an in-memory copy (decodes every image once)."""
        if self._images is not None:
            return self
        images, _ = self.get_batch(np.arange(len(self)))
        return ImageDataset(self.name, self.labels, self.classes, images=images, groups=self.groups,
                            sources=self.sources, split=self.split)

    def subset(self, indices: Sequence[int] | np.ndarray) -> "ImageDataset":
        """A dataset view over ``indices`` (labels, groups and sources follow)."""
        idx = check_indices(indices, len(self), f"{self.name} subset indices")
        groups = self.groups[idx] if self.groups is not None else None
        sources = [self.sources[i] for i in idx] if self.sources is not None else None
        if self._images is not None:
            return ImageDataset(self.name, self.labels[idx], self.classes, images=self._images[torch.as_tensor(idx)],
                                groups=groups, sources=sources, split=self.split)
        return ImageDataset(self.name, self.labels[idx], self.classes, loader=_RemappedLoader(self._loader, idx),  # type: ignore[arg-type]
                            batch_loader=_RemappedBatchLoader(self._batch_loader, idx) if self._batch_loader else None,
                            groups=groups, sources=sources, image_shape=self.image_shape, split=self.split)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.image_shape)) if self.image_shape else "varying"
        return f"ImageDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, classes={len(self.classes)}, shape={shape})"


class _RemappedLoader:
    """``i -> loader(idx[i])``; a class rather than a lambda so subsets pickle (DataLoader workers)."""

    def __init__(self, loader: Callable[[int], Tensor], idx: np.ndarray) -> None:
        self.loader, self.idx = loader, idx

    def __call__(self, index: int) -> Tensor:
        return self.loader(int(self.idx[index]))


class _RemappedBatchLoader:
    """``ix -> batch_loader(idx[ix])``, picklable."""

    def __init__(self, batch_loader: Callable[[np.ndarray], Tensor], idx: np.ndarray) -> None:
        self.batch_loader, self.idx = batch_loader, idx

    def __call__(self, indices: np.ndarray) -> Tensor:
        return self.batch_loader(self.idx[np.asarray(indices, dtype=np.int64)])


def _integer_array(values: Any, what: str) -> np.ndarray:
    """``values`` (array-like or tensor) as int64; floats or bools raise (casting would silently truncate 1.7 to 1)."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.size and (arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{what} must be integers; got dtype {arr.dtype}.")
    return arr.astype(np.int64)


def from_arrays(images: Any, labels: Any, classes: Sequence[str] | None = None, name: str = "arrays", *,
                channels_last: bool | None = None) -> ImageDataset:
    """Wrap in-memory arrays as a dataset.

    Args:
        images: (n, H, W), (n, H, W, C) or (n, C, H, W) array or tensor; uint8, or
            float in [0, 1] (converted to uint8). A trailing dim of 1, 3 or 4 (when dim 1 is not) is read as
            channels-last.
        labels: (n,) ints.
        classes: class names; default ``["0", "1", ...]``.
        channels_last: the layout of 4-D ``images``; None infers it, and raises when both dim 1 and the last dim
            could be channels (e.g. (n, 4, 4, 3): tiny images, once silently read as 4 channels of 4x3).
    """
    arr = images.detach().cpu().numpy() if isinstance(images, Tensor) else np.asarray(images)
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4:
        if channels_last is None:
            # (n, 1, H, W) is a grey stack; it is ambiguous only when both dim 1 (3 or 4) and the last dim fit
            first, last = arr.shape[1] in (1, 3, 4), arr.shape[-1] in (1, 3, 4)
            if first and last and arr.shape[1] != 1:
                raise ValueError(f"images of shape {arr.shape} could be channels-first or channels-last; pass "
                                 "channels_last=True or False.")
            channels_last = last and not first
        if channels_last:
            arr = arr.transpose(0, 3, 1, 2)
    if arr.ndim != 4:
        raise ValueError(f"images must be (n, H, W), (n, H, W, C) or (n, C, H, W); got shape {arr.shape}.")
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(f"images must be uint8 or float in [0, 1]; got dtype {arr.dtype}.")
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise ValueError("float images must be finite and lie in [0, 1].")
        arr = np.round(arr * 255).astype(np.uint8)
    labels = _integer_array(labels, "labels")
    if labels.shape != (arr.shape[0],):
        raise ValueError(f"labels must have shape ({arr.shape[0]},), one per image; got {labels.shape}.")
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be >= 0; got {int(labels.min())}.")
    if classes is None:
        classes = [str(c) for c in range(int(labels.max()) + 1 if labels.size else 0)]
    elif labels.size and labels.max() >= len(classes):
        raise ValueError(f"labels must be < len(classes) = {len(classes)}; got {int(labels.max())}.")
    return ImageDataset(name, labels, classes, images=torch.from_numpy(np.ascontiguousarray(arr)))
