"""MNIST from its IDX files (gzipped or raw), in torchvision's ``MNIST/raw/`` layout or flat in root."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from .base import ImageDataset
from .sources import CorruptFileError, missing_data_error
from .splits import check_split

CLASSES = [str(d) for d in range(10)]

# Official base names; some copies write a dot before "idx" (the name stored inside the official .gz).
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049


def _candidates(root: Path, base: str) -> list[Path]:
    dotted = base.replace("-idx", ".idx")
    out = []
    for folder in (root / "MNIST" / "raw", root / "raw", root):
        for stem in (base, dotted):
            out += [folder / stem, folder / f"{stem}.gz"]
    return out


def find_file(root: Path, base: str) -> Path | None:
    """First existing variant of ``base`` (raw, .gz, dotted name) under ``root``."""
    return next((p for p in _candidates(root, base) if p.is_file()), None)


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file of unsigned bytes (``.gz`` or raw).

    Returns:
        uint8 array shaped by the header: (n,) for labels, (n, rows, cols) for images.

    Raises:
        CorruptFileError: bad magic, unsupported type, or a size that does not match the header.
    """
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
        raise CorruptFileError(path, f"cannot decompress/read ({type(err).__name__}: {err})") from None
    if len(data) < 4:
        raise CorruptFileError(path, f"only {len(data)} bytes; an IDX file starts with a 4-byte magic number")
    zero, dtype_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
        raise CorruptFileError(path, f"bad IDX magic 0x{data[:4].hex()}; expected 0x00000801 (labels) or "
                                     "0x00000803 (images) of unsigned bytes")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptFileError(path, f"truncated header ({len(data)} bytes, need {header})")
    dims = tuple(int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    expected = header + math.prod(dims)  # Python ints: np.prod wrapped around for a forged 2**64-sized header
    if len(data) != expected:
        raise CorruptFileError(path, f"size {len(data)} bytes does not match header dims {dims} "
                                     f"(expected {expected}); the file is truncated or padded")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_base, label_base = _FILES[split]
    paths = {}
    for base in (image_base, label_base):
        path = find_file(root, base)
        if path is None:
            raise missing_data_error("mnist", root, f"no '{base}' or '{base}.gz' for split {split!r} "
                                                    f"(searched MNIST/raw/, raw/ and the folder itself)")
        paths[base] = path
    images, labels = read_idx(paths[image_base]), read_idx(paths[label_base])
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise CorruptFileError(paths[image_base], f"holds shape {images.shape}; expected (n, 28, 28) images "
                                                  "(is it a labels file?)")
    if labels.ndim != 1:
        raise CorruptFileError(paths[label_base], f"holds shape {labels.shape}; expected (n,) labels "
                                                  "(is it an images file?)")
    if images.shape[0] != labels.shape[0]:
        raise CorruptFileError(paths[label_base], f"{labels.shape[0]} labels but '{paths[image_base]}' holds "
                                                  f"{images.shape[0]} images")
    if labels.size and labels.max() > 9:
        raise CorruptFileError(paths[label_base], f"label {int(labels.max())} outside 0..9")
    return images, labels


def load_mnist(root: Path, split: str = "train") -> ImageDataset:
    """Read MNIST's official train (60,000) or test (10,000) split, or both for ``split="all"``.

    Only the two files of the requested split must exist.

    Returns:
        In-memory dataset of (1, 28, 28) uint8 images (0 = background), classes "0".."9".
    """
    check_split(split, "mnist")
    parts = ["train", "test"] if split == "all" else [split]
    read = [_read_split(root, p) for p in parts]
    images = np.concatenate([r[0] for r in read])[:, None]
    labels = np.concatenate([r[1] for r in read]).astype(np.int64)
    return ImageDataset("mnist", labels, CLASSES, images=torch.from_numpy(np.ascontiguousarray(images)), split=split)


def split_files_present(root: Path) -> dict[str, list[Path | None]]:
    """For each official split, the image and label file found under ``root`` (None when absent)."""
    return {split: [find_file(root, base) for base in bases] for split, bases in _FILES.items()}


def download_mnist(root: Path, split: str) -> None:
    """Fetch the split's missing files into ``root/MNIST/raw`` with torchvision's downloader (md5-checked)."""
    import torchvision.datasets.utils as tv_utils
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    wanted = set(sum((list(_FILES[p]) for p in (["train", "test"] if split == "all" else [split])), []))
    for filename, md5 in MNIST.resources:
        base = filename[:-3] if filename.endswith(".gz") else filename
        if base not in wanted or find_file(root, base) is not None:
            continue
        errors = []
        for mirror in MNIST.mirrors:
            try:
                tv_utils.download_and_extract_archive(f"{mirror}{filename}", download_root=str(raw),
                                                      filename=filename, md5=md5)
                break
            except Exception as err:  # noqa: BLE001 - try the next mirror, report all at the end
                errors.append(f"{mirror}: {err}")
        else:
            raise RuntimeError(f"mnist: could not download {filename} into '{raw}': {'; '.join(errors)}")
