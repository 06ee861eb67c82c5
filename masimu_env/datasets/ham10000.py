"""HAM10000 dermatoscopic images: ``HAM10000_metadata.csv`` plus ``HAM10000_images_part_{1,2}/``.

Accepts the Kaggle layout (also its lower-case duplicate folders), the Dataverse variant (extra
``dataset`` column, ``.tab``/no-extension metadata), CRLF line ends and integer ages. Labels come
from ``dx``; ``groups`` are ``lesion_id`` so that no lesion straddles a split.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .base import ImageDataset
from .images import file_dataset
from .sources import CorruptFileError, missing_data_error, where_to_get
from ..config import check_seed
from .splits import check_fraction, check_split, select_split, train_test_indices

CLASSES = ["akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"]
"""Fixed label order (alphabetical ``dx`` codes)."""

METADATA_NAMES = ("HAM10000_metadata.csv", "ham10000_metadata.csv", "HAM10000_metadata", "HAM10000_metadata.tab")
IMAGE_FOLDERS = ("HAM10000_images_part_1", "HAM10000_images_part_2", "ham10000_images_part_1",
                 "ham10000_images_part_2", "HAM10000_images", ".")
REQUIRED_COLUMNS = ("lesion_id", "image_id", "dx")
MISSING_POLICIES = ("error", "skip")


def find_metadata(root: Path) -> Path | None:
    """The metadata file under ``root`` (first of :data:`METADATA_NAMES`), or None."""
    return next((root / n for n in METADATA_NAMES if (root / n).is_file()), None)


def read_metadata(path: Path) -> dict[str, list[str]]:
    """Parse the metadata table.

    Returns:
        Column name -> list of stripped string values, one per data row, in file order.

    Raises:
        CorruptFileError: a required column is missing, a row has the wrong number of fields or an
            empty id, ``dx`` is not one of the 7 codes, or an ``image_id`` repeats.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        raise CorruptFileError(path, f"cannot read as UTF-8 text ({err})") from None
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    rows = csv.reader(text.splitlines(), delimiter=delimiter)
    header = next(rows, None)
    if not header:
        raise CorruptFileError(path, "empty file; expected a header line with " + ", ".join(REQUIRED_COLUMNS))
    header = [h.strip().strip('"') for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise CorruptFileError(path, f"missing column(s) {', '.join(missing)}; header is {header}")
    columns: dict[str, list[str]] = {h: [] for h in header}
    for line_no, row in enumerate(rows, start=2):
        if not row or all(not v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise CorruptFileError(path, f"line {line_no} has {len(row)} fields, header has {len(header)}")
        for h, v in zip(header, row):
            columns[h].append(v.strip())
        for c in REQUIRED_COLUMNS:
            if not columns[c][-1]:
                raise CorruptFileError(path, f"line {line_no} has an empty {c}")
        if columns["dx"][-1] not in CLASSES:
            raise CorruptFileError(path, f"line {line_no}: dx {columns['dx'][-1]!r} is not one of {', '.join(CLASSES)}")
    ids = np.asarray(columns["image_id"])
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise CorruptFileError(path, f"image_id {str(uniq[counts > 1][0])!r} appears {counts[counts > 1][0]} times "
                                     f"({int((counts > 1).sum())} ids repeat)")
    if not columns["image_id"]:
        raise CorruptFileError(path, "no data rows")
    return columns


def index_images(root: Path) -> dict[str, str]:
    """image id (file stem) -> path of every ``.jpg`` in the known image folders (first folder wins)."""
    found: dict[str, str] = {}
    for name in IMAGE_FOLDERS:
        folder = root / name
        if not folder.is_dir():
            continue
        for entry in os.scandir(folder):
            stem, ext = os.path.splitext(entry.name)
            if ext.lower() in (".jpg", ".jpeg") and stem not in found and entry.is_file():
                found[stem] = entry.path
    return found


def load_ham10000(root: Path, split: str = "train", image_size: Any = None, cache_dir: Any = None,
                  missing: str = "error", test_fraction: float = 0.15, split_seed: int = 0) -> ImageDataset:
    """Read HAM10000.

    The train/test split is seeded, stratified by ``dx`` and grouped by ``lesion_id``, computed on
    all metadata rows (8,512 / 1,503 on the full 10,015), so it does not depend on which images are
    present; rows are then matched to image files.

    Args:
        root: folder holding the metadata and the image folders.
        split: "train", "test" or "all".
        image_size: int or (H, W) to resize to on decode; ``None`` keeps 450x600 (H x W).
        cache_dir: folder for the decoded-array cache; ``None`` decodes lazily.
        missing: "error" (default): any row of the split without an image file raises
            ``FileNotFoundError``. "skip": keep only rows whose image exists and warn how many were skipped.
        test_fraction: share held out for "test".
        split_seed: seed of the train/test split.

    Returns:
        Dataset of (3, H, W) uint8 RGB images, labels in :data:`CLASSES` order, groups = lesion ids.
    """
    check_split(split, "ham10000")
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {MISSING_POLICIES}; got {missing!r}.")
    metadata = find_metadata(root)
    if metadata is None:
        raise missing_data_error("ham10000", root, f"no metadata file ({' / '.join(METADATA_NAMES)})")
    columns = read_metadata(metadata)
    image_ids = np.asarray(columns["image_id"])
    lesions = np.asarray(columns["lesion_id"])
    labels = np.asarray([CLASSES.index(d) for d in columns["dx"]], dtype=np.int64)
    check_fraction(test_fraction, "test_fraction")
    check_seed(split_seed, "split_seed")  # checked even where unused, rather than ignored
    if split == "all":  # every row; no split to compute (nor to fail on a tiny metadata file)
        rows = np.arange(len(labels))
    else:
        train, test = train_test_indices(labels, lesions, test_fraction=test_fraction, seed=split_seed)
        rows = select_split(train, test, split)

    files = index_images(root)
    have = np.asarray([image_ids[r] in files for r in rows], dtype=bool)
    absent = rows[~have]
    if absent.size:
        first = image_ids[absent[0]]
        if missing == "error":
            raise FileNotFoundError(
                f"ham10000: {absent.size} of {rows.size} images of split {split!r} listed in '{metadata}' have no "
                f"file; first missing: {first}.jpg (looked in {', '.join(str(root / n) for n in IMAGE_FOLDERS[:2])} "
                f"and variants). {where_to_get('ham10000')} To use only the images present, pass missing='skip'.")
        if not have.any():
            raise missing_data_error("ham10000", root, f"none of the {rows.size} images of split {split!r} listed "
                                                       f"in '{metadata}' has a file")
        warnings.warn(f"ham10000: skipped {absent.size} of {rows.size} rows of split {split!r} whose image file is "
                      f"missing (first: {first}.jpg); kept {int(have.sum())}.", stacklevel=3)
        rows = rows[have]
    return file_dataset("ham10000", [files[image_ids[r]] for r in rows], labels[rows], CLASSES, split=split,
                        image_size=image_size, groups=lesions[rows], cache_dir=cache_dir)
