"""Fixture files in each dataset's native layout, written by the tests themselves."""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

HAM_CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]


def class_colour(label: int) -> tuple[int, int, int]:
    """A flat colour per class, so a test can tell which class an image was written for."""
    return (20 + 30 * label, 200 - 25 * label, (70 * label) % 256)


def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    """Write ``array`` (uint8, 1-D labels or 3-D images) as an IDX file."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def mnist_arrays(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = labels  # lets a test check image/label pairing
    return images, labels.astype(np.uint8)


@pytest.fixture
def make_mnist(tmp_path: Path) -> Callable[..., Path]:
    """Write MNIST IDX files; returns the root. ``layout`` "torchvision" (MNIST/raw/) or "flat"."""

    def make(layout: str = "torchvision", gz: bool = True, splits: tuple[str, ...] = ("train", "test"),
             n_train: int = 30, n_test: int = 20) -> Path:
        root = tmp_path / f"mnist_{layout}_{'gz' if gz else 'raw'}"
        folder = root / "MNIST" / "raw" if layout == "torchvision" else root
        for split, prefix, n, seed in (("train", "train", n_train, 1), ("test", "t10k", n_test, 2)):
            if split in splits:
                images, labels = mnist_arrays(n, seed)
                write_idx(folder / f"{prefix}-images-idx3-ubyte", images, gz)
                write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels, gz)
        root.mkdir(parents=True, exist_ok=True)
        return root

    return make


def cifar_batch(n: int, seed: int, label_name: bytes) -> dict:
    rng = np.random.default_rng(seed)
    labels = [int(v) for v in np.arange(n) % 10]
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    data[:, 0] = labels  # first red pixel = label
    return {b"batch_label": label_name, b"labels": labels, b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


@pytest.fixture
def make_cifar(tmp_path: Path) -> Callable[..., Path]:
    """Write ``cifar-10-batches-py`` pickles (protocol 2, bytes keys); returns the root."""

    def make(train_batches: tuple[int, ...] = (1, 2, 3, 4, 5), test: bool = True, meta: bool = True,
             n: int = 20) -> Path:
        root = tmp_path / "cifar"
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True, exist_ok=True)
        for k in train_batches:
            with open(folder / f"data_batch_{k}", "wb") as f:
                pickle.dump(cifar_batch(n, k, f"training batch {k} of 5".encode()), f, protocol=2)
        if test:
            with open(folder / "test_batch", "wb") as f:
                pickle.dump(cifar_batch(n, 99, b"testing batch 1 of 1"), f, protocol=2)
        if meta:
            names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
            with open(folder / "batches.meta", "wb") as f:
                pickle.dump({b"num_cases_per_batch": n, b"label_names": names, b"num_vis": 3072}, f, protocol=2)
        return root

    return make


def write_image(path: Path, label: int, size: tuple[int, int] = (20, 24), fmt: str = "JPEG") -> None:
    """Flat image of ``class_colour(label)``, ``size`` = (H, W)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size[1], size[0]), class_colour(label)).save(path, format=fmt, quality=95)


@pytest.fixture
def make_tree(tmp_path: Path) -> Callable[..., Path]:
    """Write a ``<root>/<class>/<class>_NNN.jpg`` tree; returns its root."""

    def make(classes: tuple[str, ...] = ("airplane", "beach", "cloud"), per_class: int = 20,
             size: tuple[int, int] = (20, 24), name: str = "tree", ext: str = "jpg") -> Path:
        root = tmp_path / name
        for label, cls in enumerate(classes):
            for k in range(1, per_class + 1):
                write_image(root / cls / f"{cls}_{k:03d}.{ext}", label, size,
                            fmt="PNG" if ext == "png" else "JPEG")
        return root

    return make


def ham_rows(seed: int = 0) -> list[dict[str, str]]:
    """About 120 metadata rows: every class, lesions with 1-3 images each, ids ISIC_00243xx.."""
    rng = np.random.default_rng(seed)
    rows, image_no, lesion_no = [], 24306, 0
    for label, dx in enumerate(HAM_CLASSES):
        for _ in range(12):
            lesion = f"HAM_{lesion_no:07d}"
            lesion_no += 1
            for _ in range(int(rng.integers(1, 4))):
                rows.append({"lesion_id": lesion, "image_id": f"ISIC_{image_no:07d}", "dx": dx, "dx_type": "histo",
                             "age": f"{5 * int(rng.integers(0, 17))}.0", "sex": "male", "localization": "back",
                             "dataset": "vidir_modern"})
                image_no += 1
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


@pytest.fixture
def make_ham(tmp_path: Path) -> Callable[..., tuple[Path, list[dict[str, str]]]]:
    """Write a HAM10000 folder. Returns (root, rows).

    variant: "kaggle" (LF, float ages), "dataverse" (extra ``dataset`` column, CRLF, int ages).
    images: "all", or an int count of rows (from the start) that get an image file.
    """

    def make(variant: str = "kaggle", images: str | int = "all", lower: bool = False,
             size: tuple[int, int] = (15, 20)) -> tuple[Path, list[dict[str, str]]]:
        root = tmp_path / f"ham_{variant}"
        root.mkdir(parents=True, exist_ok=True)
        rows = ham_rows()
        cols = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
        newline = "\n"
        if variant == "dataverse":
            cols = cols + ["dataset"]
            newline = "\r\n"
        lines = [",".join(cols)]
        for r in rows:
            age = r["age"] if variant == "kaggle" else str(int(float(r["age"])))
            lines.append(",".join(age if c == "age" else r[c] for c in cols))
        (root / "HAM10000_metadata.csv").write_bytes((newline.join(lines) + newline).encode())
        count = len(rows) if images == "all" else int(images)
        prefix = "ham10000" if lower else "HAM10000"
        for r in rows[:count]:
            part = 1 if int(r["image_id"][5:]) < 24306 + 60 else 2
            write_image(root / f"{prefix}_images_part_{part}" / f"{r['image_id']}.jpg", HAM_CLASSES.index(r["dx"]), size)
        return root, rows

    return make


@pytest.fixture
def idx_writer() -> Callable[[Path, np.ndarray, bool], Path]:
    """:func:`write_idx` for tests that write their own IDX files."""
    return write_idx


@pytest.fixture
def image_writer() -> Callable[..., None]:
    """:func:`write_image` for tests that add their own image files."""
    return write_image


@pytest.fixture
def class_colours() -> dict[int, np.ndarray]:
    """label -> RGB colour written by :func:`write_image`."""
    return {k: np.asarray(class_colour(k), dtype=float) for k in range(10)}
