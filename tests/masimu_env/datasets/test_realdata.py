"""Acceptance tests on the real sample files; skipped unless MASIMU_REAL_DATA names the data folder."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from masimu_env.datasets import dataset_status, load, retain_forget_split, train_test_indices
from masimu_env.datasets.ham10000 import CLASSES as HAM_CLASSES

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def data() -> Path:
    folder = os.environ.get("MASIMU_REAL_DATA")
    if not folder:
        pytest.skip("MASIMU_REAL_DATA is not set")
    return Path(folder)


def test_mnist_test_split(data):
    ds = load("mnist", root=data / "mnist", split="test")
    assert len(ds) == 10_000 and ds.image_shape == (1, 28, 28)
    assert np.bincount(ds.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load("mnist", root=data / "mnist", split="train")


def test_mnist_via_masimu_data(data, monkeypatch):
    monkeypatch.setenv("MASIMU_DATA", str(data))
    assert len(load("mnist", split="test")) == 10_000


def test_cifar10_test_batch(data):
    ds = load("cifar10", root=data / "cifar10", split="test")
    assert len(ds) == 200 and ds.image_shape == (3, 32, 32)
    assert np.bincount(ds.labels, minlength=10).tolist() == [21, 17, 28, 25, 14, 22, 14, 17, 26, 16]
    assert ds.classes[0] == "airplane" and ds.classes[9] == "truck"


def _metadata(data: Path) -> dict[str, dict[str, str]]:
    with open(data / "ham10000" / "HAM10000_metadata.csv", newline="") as f:
        return {row["image_id"]: row for row in csv.DictReader(f)}


def test_ham10000_images_present_agree_with_csv(data):
    with pytest.warns(UserWarning, match="skipped 9940 of 10015 rows"):
        ds = load("ham10000", root=data / "ham10000", split="all", missing="skip")
    assert len(ds) == 75 and ds.image_shape == (3, 450, 600)
    meta = _metadata(data)
    ids = [Path(s).stem for s in ds.sources]
    assert [HAM_CLASSES.index(meta[i]["dx"]) for i in ids] == ds.labels.tolist()
    assert [meta[i]["lesion_id"] for i in ids] == ds.groups.tolist()
    assert np.bincount(ds.labels).tolist() == [10, 10, 12, 10, 10, 13, 10]
    images, _ = ds.get_batch([0, 1, 2])
    assert images.shape == (3, 3, 450, 600)


def test_ham10000_default_is_an_error_naming_the_missing_file(data):
    with pytest.raises(FileNotFoundError, match=r"first missing: ISIC_\d{7}\.jpg"):
        load("ham10000", root=data / "ham10000", split="train")


def test_ham10000_full_csv_group_split(data):
    meta = list(_metadata(data).values())
    assert len(meta) == 10_015
    labels = np.array([HAM_CLASSES.index(r["dx"]) for r in meta])
    lesions = np.array([r["lesion_id"] for r in meta])
    train, test = train_test_indices(labels, lesions)
    assert (len(train), len(test)) == (8512, 1503)
    assert not set(lesions[train]) & set(lesions[test])
    with pytest.warns(UserWarning):
        tr = load("ham10000", root=data / "ham10000", split="train", missing="skip")
    with pytest.warns(UserWarning):
        te = load("ham10000", root=data / "ham10000", split="test", missing="skip")
    assert len(tr) + len(te) == 75 and not set(tr.groups) & set(te.groups)
    forget = retain_forget_split(tr, forget_fraction=0.1, seed=0)
    assert not set(tr.groups[forget.retain]) & set(tr.groups[forget.forget])


def test_resisc45_two_classes(data):
    ds = load("resisc45", root=data / "resisc45", split="all", image_size=32)
    assert len(ds) == 1400 and ds.classes == ["airplane", "airport"]
    assert np.bincount(ds.labels).tolist() == [700, 700]
    assert ds.get_batch([0, 1399])[0].shape == (2, 3, 32, 32)
    assert load("resisc45", root=data / "resisc45")[0][0].shape == (3, 256, 256)
    assert len(load("resisc45", root=data / "resisc45", split="test")) == 210


def test_status_on_real_folders(data):
    for name in ("mnist", "cifar10", "ham10000", "resisc45"):
        status = dataset_status(name, root=data / name)
        assert status["found"] is True and status["complete"] is False, status  # samples, not the full datasets
