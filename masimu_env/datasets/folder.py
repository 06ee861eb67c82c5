"""Image trees ``root/<class>/<image>``: the generic ``folder`` reader and NWPU-RESISC45."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .base import ImageDataset
from .images import IMAGE_EXTENSIONS, file_dataset
from .sources import missing_data_error
from ..config import check_seed
from .splits import check_fraction, check_split, select_split, train_test_indices

RESISC_FOLDER = "NWPU-RESISC45"
RESISC_CLASSES = (
    "airplane", "airport", "baseball_diamond", "basketball_court", "beach", "bridge", "chaparral", "church",
    "circular_farmland", "cloud", "commercial_area", "dense_residential", "desert", "forest", "freeway",
    "golf_course", "ground_track_field", "harbor", "industrial_area", "intersection", "island", "lake", "meadow",
    "medium_residential", "mobile_home_park", "mountain", "overpass", "palace", "parking_lot", "railway",
    "railway_station", "rectangular_farmland", "river", "roundabout", "runway", "sea_ice", "ship", "snowberg",
    "sparse_residential", "stadium", "storage_tank", "tennis_court", "terrace", "thermal_power_station", "wetland")
"""The 45 class folder names of NWPU-RESISC45 (Cheng, Han, Lu 2017), sorted."""


def scan_class_tree(folder: Path, name: str, classes: list[str] | None = None
                    ) -> tuple[list[str], np.ndarray, list[str]]:
    """List the images of a ``folder/<class>/<image>`` tree.

    Args:
        folder: the tree's root.
        name: dataset name for messages.
        classes: fixed class list (labels index into it); ``None`` = sorted sub-folder names.

    Returns:
        paths (sorted by class, then file name), (n,) int64 labels, class names.

    Raises:
        FileNotFoundError: no class folders, or a class folder without images.
    """
    if not folder.is_dir():
        raise missing_data_error(name, folder, "folder not found")
    found = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    if not found:
        raise missing_data_error(name, folder, "no class sub-folders; expected one sub-folder per class holding "
                                               f"{'/'.join(IMAGE_EXTENSIONS)} files")
    if classes is None:
        classes = found
    paths: list[str] = []
    labels: list[int] = []
    skipped: list[str] = []
    nested: list[str] = []
    for cls in found:
        broken = [e.path for e in os.scandir(folder / cls) if e.is_symlink() and not os.path.exists(e.path)]
        if broken:
            raise FileNotFoundError(f"{name}: '{broken[0]}' is a link to nothing ({len(broken)} broken link(s) in "
                                    f"'{folder / cls}'); fix or remove it, so no image is left out silently.")
        nested += [e.path for e in os.scandir(folder / cls) if e.is_dir() and not e.name.startswith(".")]
        entries = sorted((e for e in os.scandir(folder / cls) if e.is_file() and not e.name.startswith(".")),
                         key=lambda e: e.name)
        images = [e.path for e in entries if e.name.lower().endswith(IMAGE_EXTENSIONS)]
        skipped += [e.path for e in entries if not e.name.lower().endswith(IMAGE_EXTENSIONS)]
        if not images:
            raise FileNotFoundError(f"{name}: class folder '{folder / cls}' holds no image files "
                                    f"({'/'.join(IMAGE_EXTENSIONS)}); remove it or add its images.")
        paths += images
        labels += [classes.index(cls)] * len(images)
    if nested:
        warnings.warn(f"{name}: ignored {len(nested)} sub-folders inside class folders under '{folder}' (only the "
                      f"images directly in a class folder are read), e.g. '{nested[0]}'.", stacklevel=4)
    if skipped:
        warnings.warn(f"{name}: ignored {len(skipped)} non-image files under '{folder}', e.g. '{skipped[0]}'.",
                      stacklevel=4)
    return paths, np.asarray(labels, dtype=np.int64), list(classes)


def _split_and_build(name: str, paths: list[str], labels: np.ndarray, classes: list[str], split: str,
                     image_size: Any, mode: str, cache_dir: Any, test_fraction: float, split_seed: int) -> ImageDataset:
    check_fraction(test_fraction, "test_fraction")
    check_seed(split_seed, "split_seed")  # checked even where unused, rather than ignored
    if split == "all":  # every image; no split to compute (nor to fail on a tiny tree)
        idx = np.arange(len(labels))
    else:
        train, test = train_test_indices(labels, None, test_fraction=test_fraction, seed=split_seed)
        idx = select_split(train, test, split)
    return file_dataset(name, [paths[i] for i in idx], labels[idx], classes, split=split, image_size=image_size,
                        mode=mode, cache_dir=cache_dir)


def resisc45_folder(root: Path) -> Path:
    """``root/NWPU-RESISC45`` when it exists, else ``root`` (pointing at the folder itself)."""
    return root / RESISC_FOLDER if (root / RESISC_FOLDER).is_dir() else root


def load_resisc45(root: Path, split: str = "train", image_size: Any = None, cache_dir: Any = None,
                  test_fraction: float = 0.15, split_seed: int = 0) -> ImageDataset:
    """Read NWPU-RESISC45 (``NWPU-RESISC45/<class>/<class>_NNN.jpg``), classes = sorted folder names found.

    There is no official split: train/test is a seeded stratified split with
    ``ceil(n * test_fraction)`` test images (26,775 / 4,725 on the full 31,500).

    Args:
        root: folder holding ``NWPU-RESISC45/``, or that folder itself.
        split: "train", "test" or "all".
        image_size: int or (H, W) to resize to on decode; ``None`` keeps 256x256.
        cache_dir: folder for the decoded-array cache (see :mod:`.images`); ``None`` decodes lazily.
        test_fraction: share of each class held out for "test".
        split_seed: seed of the train/test split.

    Returns:
        Lazy (or cache-backed) dataset of (3, H, W) uint8 RGB images.
    """
    check_split(split, "resisc45")
    folder = resisc45_folder(root)
    found = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")) \
        if folder.is_dir() else []
    unknown = [name for name in found if name not in RESISC_CLASSES]
    if unknown:
        raise ValueError(f"resisc45: '{folder}' holds folders that are not RESISC45 classes: "
                         f"{', '.join(repr(n) for n in unknown[:5])}{' ...' if len(unknown) > 5 else ''}; the 45 "
                         f"classes are {', '.join(RESISC_CLASSES)}. Is root the NWPU-RESISC45 folder (or the one "
                         "holding it)? For another class tree use the 'folder' dataset.")
    paths, labels, classes = scan_class_tree(folder, "resisc45")
    return _split_and_build("resisc45", paths, labels, classes, split, image_size, "RGB", cache_dir,
                            test_fraction, split_seed)


def load_folder(root: Path, split: str = "train", image_size: Any = None, cache_dir: Any = None,
                mode: str = "RGB", test_fraction: float = 0.15, split_seed: int = 0) -> ImageDataset:
    """Read any ``root/<class>/<image>`` tree (classes = sorted folder names).

    If ``root`` holds ``train/`` and ``test/`` sub-folders, each a class tree, they are the official
    split; otherwise train/test is a seeded stratified split with ``ceil(n * test_fraction)`` test images.

    Args:
        mode: "RGB" (3 channels) or "L" (grey, 1 channel).
        Others as in :func:`load_resisc45`.
    """
    check_split(split, "folder")
    check_fraction(test_fraction, "test_fraction")  # checked even where the layout makes them unused, never ignored
    check_seed(split_seed, "split_seed")
    if (root / "train").is_dir() and (root / "test").is_dir():
        if (test_fraction, split_seed) != (0.15, 0):
            raise ValueError(f"folder: '{root}' has train/ and test/ folders, its own split, so test_fraction and "
                             "split_seed do not apply; leave them at their defaults.")
        names = sorted({e.name for part in ("train", "test") for e in os.scandir(root / part)
                        if e.is_dir() and not e.name.startswith(".")})
        parts = ["train", "test"] if split == "all" else [split]
        scanned = [scan_class_tree(root / p, "folder", classes=names) for p in parts]
        paths = sum((s[0] for s in scanned), [])
        labels = np.concatenate([s[1] for s in scanned])
        return file_dataset("folder", paths, labels, names, split=split, image_size=image_size, mode=mode,
                            cache_dir=cache_dir)
    paths, labels, classes = scan_class_tree(root, "folder")
    return _split_and_build("folder", paths, labels, classes, split, image_size, mode, cache_dir,
                            test_fraction, split_seed)
