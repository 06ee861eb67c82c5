"""Readers of the paper's datasets in their native layouts, plus the embedded ``digits`` default.

Public API: :func:`available`, :func:`load`, :func:`from_arrays`, :func:`retain_forget_split`,
:func:`dataset_status`, :func:`train_test_indices`.

Where data is looked for: ``root=`` when given (the dataset's own folder), else
``$MASIMU_DATA/<name>``, else ``~/.cache/masimu/data/<name>``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import ImageDataset, from_arrays
from .cifar10 import download_cifar10, load_cifar10
from .digits import load_digits_dataset
from .folder import load_folder, load_resisc45
from .ham10000 import load_ham10000
from .images import normalize_size, resize_images
from .mnist import download_mnist, load_mnist
from .sources import INFO, CorruptFileError, missing_data_error, resolve_root, root_origin, where_to_get
from .splits import RetainForgetSplit, check_split, retain_forget_split, train_test_indices
from .status import dataset_status

_READERS: dict[str, Callable[..., ImageDataset]] = {
    "digits": load_digits_dataset,
    "mnist": load_mnist,
    "cifar10": load_cifar10,
    "resisc45": load_resisc45,
    "ham10000": load_ham10000,
    "folder": load_folder,
}
_DOWNLOADERS: dict[str, Callable[[Path, str], None]] = {
    "mnist": download_mnist,
    "cifar10": download_cifar10,
}
# Readers of image files resize while decoding; the others are resized in memory after reading.
_DECODING_READERS = ("resisc45", "ham10000", "folder")


def available() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(_READERS)


def _check_name(name: str) -> None:
    if name not in _READERS:
        raise ValueError(f"Unknown dataset {name!r}; available: {', '.join(available())}.")


def reader_options(name: str) -> list[str]:
    """Extra keyword arguments :func:`load` accepts for ``name``."""
    _check_name(name)
    params = inspect.signature(_READERS[name]).parameters
    return [p for p in params if p not in ("root", "split", "image_size")]


def load(name: str, root: str | os.PathLike[str] | None = None, split: str = "train",
         image_size: int | tuple[int, int] | None = None, download: bool = False, **kw: Any) -> ImageDataset:
    """Load dataset ``name`` from its native files.

    Args:
        name: one of :func:`available`: "digits" (bundled, offline default), "mnist", "cifar10",
            "resisc45", "ham10000", "folder".
        root: the dataset's own folder; ``None`` -> ``$MASIMU_DATA/<name>``, else
            ``~/.cache/masimu/data/<name>``. Not used by "digits".
        split: "train", "test" or "all". MNIST and CIFAR-10 use their official split; the others a
            seeded stratified (HAM10000: lesion-grouped) split with ``ceil(0.15 n)`` test images.
        image_size: int or (H, W): resize every image (bilinear, antialiased). JPEG datasets resize
            while decoding; in-memory ones (digits, mnist, cifar10) are resized once at load.
        download: fetch MNIST / CIFAR-10 with torchvision's downloaders into ``root`` when files are
            missing; other datasets raise an error saying where to get them.
        **kw: reader options, see :func:`reader_options` (e.g. ``cache_dir=`` for decoded-array
            caching of JPEG datasets, ``missing="skip"`` for HAM10000 rows without image files,
            ``split_seed=`` and ``test_fraction=`` for the seeded splits (digits: ``seed=``, ``test_fraction=``),
            ``mode="L"`` for grey folders).

    Returns:
        :class:`ImageDataset` with ``ds[i] -> ((C, H, W) uint8 tensor, int)``, ``labels``, ``classes``, ``groups``.
    """
    _check_name(name)
    check_split(split, name)
    normalize_size(image_size)
    options = reader_options(name)
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise TypeError(f"load({name!r}) got unexpected keyword argument(s) {', '.join(unknown)}; "
                        f"{name} accepts: {', '.join(options) or 'none'}.")
    reader = _READERS[name]
    if name == "digits":
        if root is not None:
            raise ValueError("digits is bundled with scikit-learn and reads no files; drop root=.")
        ds = reader(split=split, **kw)
    else:
        path = resolve_root(name, root)
        if download:
            if name not in _DOWNLOADERS:
                raise ValueError(f"{name} cannot be downloaded automatically (download=True). {where_to_get(name)} "
                                 f"Unpack it under '{path}' or pass root=.")
            path.mkdir(parents=True, exist_ok=True)
            _DOWNLOADERS[name](path, split)
        elif not path.is_dir():
            raise missing_data_error(name, path, f"dataset folder not found (from {root_origin(name, root)})")
        if name in _DECODING_READERS:
            kw["image_size"] = image_size
        ds = reader(path, split=split, **kw)
    if image_size is not None and ds.in_memory:
        images, _ = ds.get_batch(range(len(ds)))
        ds = ImageDataset(ds.name, ds.labels, ds.classes, images=resize_images(images, image_size), groups=ds.groups,
                          sources=ds.sources, split=ds.split)
    return ds


__all__ = [
    "INFO", "CorruptFileError", "ImageDataset", "RetainForgetSplit", "available", "dataset_status", "from_arrays",
    "load", "reader_options", "resolve_root", "retain_forget_split", "train_test_indices",
]
