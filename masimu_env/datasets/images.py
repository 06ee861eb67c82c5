"""Lazy image-file decoding, resizing, and the optional on-disk cache of decoded arrays.

JPEG datasets (resisc45, ham10000, folder) keep only file paths; an image is decoded (and
resized to ``image_size``) when indexed. With ``cache_dir=`` every image is decoded once into a
single ``.npy`` file (written atomically), which later loads memory-map instead of decoding.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from ..serialization import atomic_path
from .base import ImageDataset
from .sources import CorruptFileError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
"""File suffixes (case-insensitive) read as images by the folder-based readers."""

CACHE_FORMAT = 2  # 2: exact JPEG resize (no libjpeg draft), wide images refused
"""Bumped whenever decoding changes, so stale caches are not reused."""

_MODES = {"RGB": 3, "L": 1}
_POOL: tuple[int, ThreadPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    # PIL releases the GIL while decoding, so threads decode in parallel. The pool is per process:
    # a forked child (e.g. a DataLoader worker) cannot use threads started by its parent.
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1),
                                                     thread_name_prefix="masimu-decode"))
    return _POOL[1]


def normalize_size(image_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """``image_size`` as ``(H, W)``; an int means a square. ``None`` keeps native sizes."""
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2 and all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in image_size):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise TypeError(f"image_size must be an int or an (H, W) pair of ints; got {image_size!r}.")
    if min(size) < 1:
        raise ValueError(f"image_size must be positive; got {image_size!r}.")
    return size


def check_mode(mode: str) -> int:
    """Number of channels of PIL ``mode`` ("RGB" or "L")."""
    if mode not in _MODES:
        raise ValueError(f"mode must be 'RGB' or 'L'; got {mode!r}.")
    return _MODES[mode]


def decode_image(path: str | os.PathLike[str], size: tuple[int, int] | None = None, mode: str = "RGB") -> np.ndarray:
    """Decode one image file.

    Args:
        path: image file.
        size: ``(H, W)`` to resize to (bilinear, antialiased), or ``None`` for the native size.
        mode: "RGB" (3 channels) or "L" (1 channel).

    Returns:
        (C, H, W) uint8 array.

    Raises:
        CorruptFileError: the file is not a decodable image (truncated, not an image, ...).
        ValueError: a 16-bit, 32-bit or float image, whose values 8 bits cannot hold.
    """
    try:
        with Image.open(path) as img:
            # No img.draft() (libjpeg's reduced-scale decode): it is about a third faster at 64 px, but its pixels
            # differ from the bilinear resize by up to 53 grey levels, so JPEGs and PNGs of one folder (and the
            # in-memory resize_images) would be resized differently.
            found_mode = img.mode
            wide = _WIDE_MODES.get(found_mode)
            if wide is None:
                if img.mode != mode:
                    img = img.convert(mode)
                if size is not None and img.size != (size[1], size[0]):
                    img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"Image file '{path}' disappeared after the dataset was indexed.") from None
    except Image.DecompressionBombError as err:  # a valid file, larger than PIL allows by default: not corrupt
        raise _too_large(path, err) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise CorruptFileError(path, f"cannot decode image ({err})") from None
    if wide is not None:
        raise ValueError(f"Image file '{path}' is a {found_mode} image ({wide}): converting it to 8-bit {mode} would "
                         "clip every value above 255, so it is refused; convert it to 8 bits per channel with the "
                         "scaling you want.")
    return np.array(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1), order="C")


_WIDE_MODES = {"I;16": "16-bit samples", "I;16B": "16-bit samples", "I;16L": "16-bit samples",
               "I;16N": "16-bit samples", "I": "32-bit integer samples", "F": "32-bit float samples"}
"""PIL modes whose samples do not fit in a byte; ``Image.convert`` to L/RGB clips them silently."""


def probe_shape(path: str | os.PathLike[str], mode: str = "RGB") -> tuple[int, int, int]:
    """(C, H, W) of an image file from its header alone."""
    try:
        with Image.open(path) as img:
            w, h = img.size
    except Image.DecompressionBombError as err:
        raise _too_large(path, err) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise CorruptFileError(path, f"not an image ({err})") from None
    return (_MODES[mode], h, w)


def _too_large(path: str | os.PathLike[str], err: Exception) -> ValueError:
    """The error for an image above PIL's decompression-bomb limit, naming the file and the way to allow it."""
    return ValueError(f"Image file '{path}' is larger than PIL decodes by default ({err}). If you trust the file, "
                      "raise PIL.Image.MAX_IMAGE_PIXELS (e.g. PIL.Image.MAX_IMAGE_PIXELS = None) before loading.")


class FileImages:
    """Index -> decoded image over a list of files (the lazy loader of file-backed datasets)."""

    def __init__(self, paths: Sequence[str], size: tuple[int, int] | None, mode: str = "RGB") -> None:
        self.paths = list(paths)
        self.size = size
        self.mode = mode

    def __call__(self, index: int) -> Tensor:
        return torch.from_numpy(decode_image(self.paths[index], self.size, self.mode))

    def decode_many(self, indices: np.ndarray) -> list[np.ndarray]:
        if len(indices) <= 2:
            return [decode_image(self.paths[int(i)], self.size, self.mode) for i in indices]
        return list(_pool().map(lambda i: decode_image(self.paths[int(i)], self.size, self.mode), indices))

    def batch(self, indices: np.ndarray) -> Tensor:
        arrays = self.decode_many(indices)
        odd = next((k for k, a in enumerate(arrays) if a.shape != arrays[0].shape), None)
        if odd is not None:
            raise ValueError(f"images of different shapes cannot be batched: '{self.paths[int(indices[odd])]}' is "
                             f"{arrays[odd].shape}, '{self.paths[int(indices[0])]}' is {arrays[0].shape}; "
                             "pass image_size= to the loader.")
        if not arrays:
            return torch.empty((0, _MODES[self.mode], *(self.size or (1, 1))), dtype=torch.uint8)
        return torch.from_numpy(np.stack(arrays))


def _cache_key(paths: Sequence[str], size: tuple[int, int] | None, mode: str) -> str:
    h = hashlib.sha1()
    h.update(json.dumps({"format": CACHE_FORMAT, "size": size, "mode": mode}).encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"\0{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def cache_path(cache_dir: str | os.PathLike[str], name: str, split: str, paths: Sequence[str],
               size: tuple[int, int] | None, mode: str) -> Path:
    """File that holds the decoded images of ``paths`` (depends on their paths, sizes and mtimes)."""
    tag = f"{size[0]}x{size[1]}" if size else "native"
    return Path(cache_dir).expanduser() / f"{name}-{split}-{tag}-{mode}-{_cache_key(paths, size, mode)}.npy"


def build_cache(path: Path, images: FileImages, chunk: int = 256,
                progress: Callable[[int, int], None] | None = None) -> None:
    """Decode every image of ``images`` into the ``.npy`` file ``path`` (temporary file, then rename)."""
    n = len(images.paths)
    first = images.decode_many(np.arange(min(1, n)))
    shape = first[0].shape if first else (_MODES[images.mode], *(images.size or (1, 1)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:  # its temp name ends in .npy, as open_memmap writes it
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, *shape))
        for start in range(0, n, chunk):
            idx = np.arange(start, min(n, start + chunk))
            for i, arr in zip(idx, images.decode_many(idx)):
                if arr.shape != shape:
                    raise ValueError(f"cannot cache images of different shapes: '{images.paths[int(i)]}' is {arr.shape}, "
                                     f"'{images.paths[0]}' is {shape}; pass image_size=.")
                out[i] = arr
            if progress is not None:
                progress(int(idx[-1]) + 1, n)
        out.flush()
        del out


_CACHE_ADVICE = "It is derived from the image files: delete it and the next load rebuilds it."


class CachedImages:
    """Index -> image over a memory-mapped ``.npy`` cache."""

    def __init__(self, path: Path, n: int) -> None:
        self.path, self.n = path, n
        self._open()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "n": self.n}  # re-map in the receiving process instead of copying

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self.n = state["path"], state["n"]
        self._open()

    def _open(self) -> None:
        path, n = self.path, self.n
        try:
            self.array = np.load(path, mmap_mode="r")
        except (ValueError, OSError) as err:
            raise CorruptFileError(path, f"unreadable image cache ({err})", _CACHE_ADVICE) from None
        if self.array.ndim != 4 or self.array.shape[0] != n or self.array.dtype != np.uint8:
            raise CorruptFileError(path, f"image cache holds {self.array.dtype} {self.array.shape}, expected {n} "
                                         "uint8 images", _CACHE_ADVICE)

    def __call__(self, index: int) -> Tensor:
        return torch.from_numpy(np.array(self.array[index]))

    def batch(self, indices: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.array[np.asarray(indices, dtype=np.int64)]))


def file_dataset(name: str, paths: Sequence[str], labels: np.ndarray, classes: Sequence[str], *, split: str,
                 image_size: Any = None, mode: str = "RGB", groups: np.ndarray | None = None,
                 cache_dir: str | os.PathLike[str] | None = None) -> ImageDataset:
    """An :class:`ImageDataset` over image files: lazy decode, or memory-mapped cache with ``cache_dir``."""
    size = normalize_size(image_size)
    check_mode(mode)
    paths = [str(p) for p in paths]
    images = FileImages(paths, size, mode)
    if cache_dir is not None:
        target = cache_path(cache_dir, name, split, paths, size, mode)
        if not target.exists():
            build_cache(target, images)
        try:
            cached = CachedImages(target, len(paths))
        except CorruptFileError as err:  # derived data (a disk that filled, a copy cut short): rebuilt, not fatal
            warnings.warn(f"{err} Rebuilding it now.", UserWarning, stacklevel=2)
            target.unlink(missing_ok=True)
            build_cache(target, images)
            cached = CachedImages(target, len(paths))
        return ImageDataset(name, labels, classes, loader=cached, batch_loader=cached.batch, groups=groups,
                            sources=paths, image_shape=tuple(int(s) for s in cached.array.shape[1:]), split=split)
    if size is not None:
        shape = (_MODES[mode], *size)
    else:
        shape = probe_shape(paths[0], mode) if paths else None
    return ImageDataset(name, labels, classes, loader=images, batch_loader=images.batch, groups=groups,
                        sources=paths, image_shape=shape, split=split)  # type: ignore[arg-type]


def resize_images(images: Tensor, image_size: Any, chunk: int = 4096) -> Tensor:
    """Resize in-memory images.

    Args:
        images: (n, C, H, W) uint8.
        image_size: int or (H, W).

    Returns:
        (n, C, H', W') uint8, bilinear with antialiasing (same result as the file readers up to rounding).
    """
    size = normalize_size(image_size)
    assert size is not None
    if tuple(images.shape[-2:]) == size:
        return images
    out = torch.empty((images.shape[0], images.shape[1], *size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        part = images[start:start + chunk].float()
        part = torch.nn.functional.interpolate(part, size=size, mode="bilinear", antialias=True, align_corners=False)
        out[start:start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out
