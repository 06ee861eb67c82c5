"""Where each dataset is looked for and what was found there, without decoding anything."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .cifar10 import TEST_BATCHES, TRAIN_BATCHES, batch_folder
from .folder import RESISC_CLASSES, resisc45_folder
from .ham10000 import IMAGE_FOLDERS, METADATA_NAMES, find_metadata, index_images
from .images import IMAGE_EXTENSIONS
from .mnist import split_files_present
from .sources import INFO, resolve_root, root_origin


def _class_tree(folder: Path) -> tuple[int, int, list[str]]:
    """(class folders with images, images, names of class folders without any image: load() refuses those)."""
    classes = images = 0
    empty = []
    for entry in os.scandir(folder):
        if entry.is_dir() and not entry.name.startswith("."):
            n = sum(1 for e in os.scandir(entry.path) if e.name.lower().endswith(IMAGE_EXTENSIONS))
            classes += n > 0
            images += n
            if n == 0:
                empty.append(entry.name)
    return classes, images, sorted(empty)


def _probe(name: str, root: Path) -> tuple[bool, bool, str]:
    """(loadable at least in part, every file of the official dataset present, what is there or missing)."""
    if name == "mnist":
        present = split_files_present(root)
        have = [s for s, files in present.items() if all(files)]
        absent = [f"{s}: {', '.join(n for n, f in zip(('images', 'labels'), files) if f is None)}"
                  for s, files in present.items() if not all(files)]
        detail = f"splits available: {', '.join(have) or 'none'}"
        return bool(have), not absent, detail + (f"; missing {'; '.join(absent)}" if absent else "")
    if name == "cifar10":
        folder = batch_folder(root)
        train = [b for b in TRAIN_BATCHES if (folder / b).is_file()]
        test = [b for b in TEST_BATCHES if (folder / b).is_file()]
        has_meta = (folder / "batches.meta").is_file()
        complete = len(train) == len(TRAIN_BATCHES) and len(test) == len(TEST_BATCHES) and has_meta
        return bool(train or test), complete, (f"{len(train)}/5 train batches, {len(test)}/1 test batch in '{folder}'; "
                                               f"batches.meta {'present' if has_meta else 'absent'}")
    if name == "resisc45":
        folder = resisc45_folder(root)
        classes, images, empty = _class_tree(folder)
        unknown = sorted(e.name for e in os.scandir(folder)
                         if e.is_dir() and not e.name.startswith(".") and e.name not in RESISC_CLASSES)
        if unknown or empty:  # load() refuses such a tree; "found" must not say otherwise
            why = (f"folders that are not RESISC45 classes: {', '.join(unknown)}" if unknown
                   else f"class folders without images: {', '.join(empty)}")
            return False, False, f"{classes} classes, {images} images in '{folder}', but {why}; load() would refuse it"
        return images > 0, (classes, images) == (45, 31_500), (f"{classes} classes, {images} images in '{folder}' "
                                                               "(full dataset: 45 classes, 31,500 images)")
    if name == "ham10000":
        metadata = find_metadata(root)
        if metadata is None:
            return False, False, f"no metadata file ({' / '.join(METADATA_NAMES)})"
        try:
            with open(metadata, newline="", encoding="utf-8-sig") as f:
                rows = sum(1 for line in f if line.strip()) - 1
        except UnicodeDecodeError as err:
            return False, False, f"'{metadata}' is not UTF-8 text ({err}); load() would refuse it"
        images = len(index_images(root))
        return images > 0, images >= rows > 0, (f"'{metadata.name}' with {rows} rows; {images} images in "
                            f"{', '.join(n for n in IMAGE_FOLDERS[:2])} (+ variants) (full dataset: 10,015)")
    if name == "folder":
        base = root / "train" if (root / "train").is_dir() and (root / "test").is_dir() else root
        classes, images, empty = _class_tree(base)
        if empty:
            return False, False, (f"{classes} class folders, {images} images in '{base}', but class folders without "
                                  f"images: {', '.join(empty)}; load() would refuse it")
        return images > 0, images > 0, f"{classes} class folders, {images} images in '{base}'"
    raise AssertionError(name)


def dataset_status(name: str, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Report where ``name`` is looked for and whether its files are there (no decoding).

    Args:
        name: a name from :func:`masimu_env.datasets.available`.
        root: as for :func:`masimu_env.datasets.load`.

    Returns:
        dict with keys ``name``, ``root`` (str path, None for digits), ``origin`` (how the root was
        chosen), ``found`` (bool: loadable at least in part), ``detail`` (what is there or missing),
        ``complete`` (bool: every file of the official dataset is there; a user's ``folder`` dataset is complete
        when found), ``source``, ``license``, ``downloadable``.
    """
    from . import _check_name

    _check_name(name)
    info = INFO[name]
    out: dict[str, Any] = {"name": name, "source": info.source, "license": info.license,
                           "downloadable": info.downloadable}
    if name == "digits":
        return {**out, "root": None, "origin": "bundled", "found": True, "complete": True,
                "detail": "bundled with scikit-learn: 1,797 images of 8x8"}
    path = resolve_root(name, root)
    out.update(root=str(path), origin=root_origin(name, root))
    if not path.is_dir():
        return {**out, "found": False, "complete": False,
                "detail": f"folder '{path}' does not exist; expected {info.layout}"}
    try:
        found, complete, detail = _probe(name, path)
    except OSError as err:
        found, complete, detail = False, False, f"cannot list '{path}': {err}"
    return {**out, "found": found, "complete": complete, "detail": detail}
