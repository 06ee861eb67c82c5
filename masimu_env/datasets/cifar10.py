"""CIFAR-10 from the ``cifar-10-batches-py`` pickle batches, read with a restricted unpickler.

torchvision's reader md5-checks all six batches, so it rejects any subset; this one reads
whatever batches of the requested split are present (warning about the absent ones).
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import ImageDataset
from .sources import CorruptFileError, missing_data_error
from .splits import check_split

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
TRAIN_BATCHES = tuple(f"data_batch_{k}" for k in range(1, 6))
TEST_BATCHES = ("test_batch",)
FOLDER = "cifar-10-batches-py"

# The batches are Python-2 pickles of a dict holding a numpy array; nothing else may be built.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"), ("builtins", "bytearray"),
    # pickle protocol 5 (numpy arrays out of band; Python 3.14's default): an array from a buffer, dtype and shape
    ("numpy._core.numeric", "_frombuffer"), ("numpy.core.numeric", "_frombuffer"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return super().find_class(module, name)


def read_pickle(path: Path) -> dict[str, Any]:
    """Load one CIFAR pickle (batch or meta) as a dict with ``str`` keys."""
    try:
        with open(path, "rb") as f:
            obj = _SafeUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, OSError,
            ImportError, KeyError) as err:
        raise CorruptFileError(path, f"not a readable CIFAR pickle ({type(err).__name__}: {err})") from None
    if not isinstance(obj, dict):
        raise CorruptFileError(path, f"holds a {type(obj).__name__}; expected a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch as ((n, 3, 32, 32) uint8 images, (n,) int64 labels)."""
    batch = read_pickle(path)
    missing = [k for k in ("data", "labels") if k not in batch]
    if missing:
        raise CorruptFileError(path, f"batch lacks keys {missing}; found {sorted(batch)}")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise CorruptFileError(path, f"'data' is {desc}; expected a uint8 (n, 3072) array")
    raw_labels = np.asarray(batch["labels"])
    if raw_labels.dtype == bool or not (np.issubdtype(raw_labels.dtype, np.integer) or raw_labels.size == 0):
        # float labels used to be truncated (1.7 -> 1) and bools read as 0/1
        raise CorruptFileError(path, f"'labels' are not integers (dtype {raw_labels.dtype})")
    labels = raw_labels.astype(np.int64).reshape(-1)
    if labels.shape[0] != data.shape[0]:
        raise CorruptFileError(path, f"{labels.shape[0]} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise CorruptFileError(path, f"labels outside 0..9 (range {labels.min()}..{labels.max()})")
    # Each row is 1024 R, 1024 G, 1024 B values, each plane 32x32 row-major.
    return data.reshape(-1, 3, 32, 32), labels


def batch_folder(root: Path) -> Path:
    """``root/cifar-10-batches-py`` when it exists, else ``root`` itself."""
    return root / FOLDER if (root / FOLDER).is_dir() else root


def read_classes(folder: Path) -> list[str]:
    """Class names from ``batches.meta``; the standard names when the file is absent."""
    meta_path = folder / "batches.meta"
    if not meta_path.is_file():
        return list(CLASSES)
    meta = read_pickle(meta_path)
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise CorruptFileError(meta_path, f"'label_names' is {names!r}; expected a list of 10 names")
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def load_cifar10(root: Path, split: str = "train") -> ImageDataset:
    """Read the official train (data_batch_1..5) or test (test_batch) split, or both for ``split="all"``.

    Returns:
        In-memory dataset of (3, 32, 32) uint8 RGB images.
    """
    check_split(split, "cifar10")
    folder = batch_folder(root)
    names = {"train": TRAIN_BATCHES, "test": TEST_BATCHES, "all": TRAIN_BATCHES + TEST_BATCHES}[split]
    present = [n for n in names if (folder / n).is_file()]
    if not present:
        raise missing_data_error("cifar10", folder, f"none of {', '.join(names)} found for split {split!r}")
    absent = [n for n in names if n not in present]
    if absent:
        warnings.warn(f"cifar10: split {split!r} reads only {', '.join(present)} from '{folder}'; "
                      f"missing {', '.join(absent)}.", stacklevel=3)
    read = [read_batch(folder / n) for n in present]
    images = np.concatenate([r[0] for r in read])
    labels = np.concatenate([r[1] for r in read])
    return ImageDataset("cifar10", labels, read_classes(folder), images=torch.from_numpy(np.ascontiguousarray(images)),
                        split=split)


def download_cifar10(root: Path, split: str = "all") -> None:
    """Fetch and unpack ``cifar-10-python.tar.gz`` into ``root`` with torchvision's downloader (md5-checked),
    unless every batch of ``split`` is on disk already (like MNIST's downloader, which fetches only missing files:
    no 170 MB download, and no re-extraction over the user's files, when nothing is missing)."""
    import torchvision.datasets.utils as tv_utils
    from torchvision.datasets import CIFAR10

    check_split(split, "cifar10")
    folder = batch_folder(root)
    names = {"train": TRAIN_BATCHES, "test": TEST_BATCHES, "all": TRAIN_BATCHES + TEST_BATCHES}[split]
    if all((folder / name).is_file() for name in names):
        return

    tv_utils.download_and_extract_archive(CIFAR10.url, download_root=str(root), filename=CIFAR10.filename,
                                          md5=CIFAR10.tgz_md5)
