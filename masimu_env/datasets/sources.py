"""Where each dataset is looked for, where to get it, and under which license."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "MASIMU_DATA"
"""Environment variable naming a folder with one sub-folder per dataset (``$MASIMU_DATA/mnist``, ...)."""

DEFAULT_DATA_HOME = Path("~/.cache/masimu/data")
"""Fallback data folder when neither ``root=`` nor ``$MASIMU_DATA`` is given: ``~/.cache/masimu/data/<name>``."""


@dataclass(frozen=True)
class DatasetInfo:
    """Provenance of one dataset, quoted in error messages and by ``dataset_status``."""

    layout: str
    """Expected files under ``root``."""
    source: str
    """Official place to get the data."""
    license: str
    """License or terms of use."""
    downloadable: bool = False
    """Whether ``download=True`` can fetch it (through torchvision)."""


INFO: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        layout="bundled with scikit-learn (sklearn.datasets.load_digits); no files needed",
        source="scikit-learn (UCI ML optical recognition of handwritten digits)",
        license="BSD-3-Clause (scikit-learn); UCI data CC BY 4.0"),
    "mnist": DatasetInfo(
        layout="MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (torchvision layout) or those files directly in root",
        source="http://yann.lecun.com/exdb/mnist/ (mirror https://ossci-datasets.s3.amazonaws.com/mnist/); "
               "or pass download=True (--download on the masimu command line)",
        license="Y. LeCun, C. Cortes, C. Burges; commonly redistributed under CC BY-SA 3.0",
        downloadable=True),
    "cifar10": DatasetInfo(
        layout="cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} (or those files directly in root)",
        source="https://www.cs.toronto.edu/~kriz/cifar.html (cifar-10-python.tar.gz); or pass "
               "download=True (--download on the masimu command line)",
        license="A. Krizhevsky 2009, no formal license (cite the tech report)",
        downloadable=True),
    "resisc45": DatasetInfo(
        layout="NWPU-RESISC45/<class>/<class>_NNN.jpg (or root pointing at the NWPU-RESISC45 folder)",
        source="NWPU-RESISC45.rar from the authors (Cheng, Han, Lu 2017, doi:10.1109/JPROC.2017.2675998), "
               "or the zip re-hosted by torchgeo (torchgeo.datasets.RESISC45)",
        license="released by the authors for research use; no explicit license"),
    "ham10000": DatasetInfo(
        layout="HAM10000_metadata.csv + HAM10000_images_part_1/ + HAM10000_images_part_2/ (ISIC_*.jpg)",
        source="Harvard Dataverse doi:10.7910/DVN/DBW86T (or Kaggle 'skin-cancer-mnist-ham10000')",
        license="CC BY-NC-SA 4.0 (Tschandl, Rosendahl, Kittler 2018, doi:10.1038/sdata.2018.161)"),
    "folder": DatasetInfo(
        layout="<root>/<class>/<image>.{png,jpg,jpeg,bmp,...}, or <root>/{train,test}/<class>/<image>",
        source="your own images",
        license="yours"),
}


def resolve_root(name: str, root: str | os.PathLike[str] | None) -> Path:
    """The folder dataset ``name`` is read from.

    Order: ``root`` when given; else ``$MASIMU_DATA/<name>``; else ``~/.cache/masimu/data/<name>``.
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser() / name
    return DEFAULT_DATA_HOME.expanduser() / name


def root_origin(name: str, root: str | os.PathLike[str] | None) -> str:
    """How :func:`resolve_root` chose the folder, for messages."""
    if root is not None:
        return "root="
    if os.environ.get(DATA_ENV):
        return f"${DATA_ENV}/{name}"
    return f"default {DEFAULT_DATA_HOME}/{name}"


def where_to_get(name: str) -> str:
    """One sentence on the expected layout, the official source and the license of ``name``."""
    info = INFO[name]
    return f"Expected layout: {info.layout}. Get it from {info.source}. License: {info.license}."


def missing_data_error(name: str, looked_at: Path | str, what: str) -> FileNotFoundError:
    """A ``FileNotFoundError`` naming the path looked at, the official source and the license."""
    hint = (" Pass root= to point at the dataset folder, or set $MASIMU_DATA to a folder holding "
            f"'{name}/'.")
    return FileNotFoundError(f"{name}: {what} (looked at '{looked_at}'). {where_to_get(name)}{hint}")


class CorruptFileError(ValueError):
    """A dataset file exists but cannot be read; ``path`` names it."""

    def __init__(self, path: Path | str, problem: str, advice: str = "Re-download or re-extract this file.") -> None:
        self.path = str(path)
        super().__init__(f"Corrupt or unreadable dataset file '{path}': {problem}. {advice}")
