"""CIFAR-10 pickle reader on fixture batches: subsets of batches, meta, and corrupt input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from masimu_env.datasets import CorruptFileError, load


def test_reads_train_test_all(make_cifar):
    root = make_cifar(n=20)
    train, test, both = (load("cifar10", root=root, split=s) for s in ("train", "test", "all"))
    assert (len(train), len(test), len(both)) == (100, 20, 120)
    image, label = test[3]
    assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)
    assert label == 3 and int(image[0, 0, 0]) == 3  # first red value was written as the label
    assert test.classes[0] == "airplane" and test.num_classes == 10


def test_planar_rgb_order(make_cifar):
    root = make_cifar(train_batches=(), n=10)
    path = root / "cifar-10-batches-py" / "test_batch"
    batch = pickle.loads(path.read_bytes(), encoding="bytes")
    ds = load("cifar10", root=root, split="test")
    row = batch[b"data"][4]
    assert np.array_equal(ds[4][0].numpy(), row.reshape(3, 32, 32))
    assert int(ds[4][0][2, 31, 31]) == int(row[3071])  # last value = blue, bottom-right


def test_subset_of_train_batches_warns(make_cifar):
    root = make_cifar(train_batches=(2, 4), n=10)
    with pytest.warns(UserWarning, match="missing data_batch_1, data_batch_3, data_batch_5"):
        ds = load("cifar10", root=root, split="train")
    assert len(ds) == 20


def test_root_may_be_the_batch_folder_and_meta_is_optional(make_cifar):
    root = make_cifar(train_batches=(), meta=False, n=10)
    ds = load("cifar10", root=root / "cifar-10-batches-py", split="test")
    assert len(ds) == 10 and ds.classes[-1] == "truck"


def test_missing_split_names_folder_source_license(make_cifar):
    root = make_cifar(train_batches=(), n=10)
    with pytest.raises(FileNotFoundError, match="data_batch_1") as err:
        load("cifar10", root=root, split="train")
    assert "cifar-10-batches-py" in str(err.value) and "cs.toronto.edu" in str(err.value)


@pytest.mark.parametrize("payload, match", [
    (b"\x80\x02garbage", "not a readable CIFAR pickle"),
    (b"", "not a readable CIFAR pickle"),
    (pickle.dumps([1, 2, 3], protocol=2), "expected a dict"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2), "lacks keys"),
    (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2), r"uint8 \(n, 3072\)"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, protocol=2), "1 labels for 2 images"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, protocol=2), "outside 0..9"),
    (pickle.dumps(torch.nn.Identity(), protocol=2), "refusing to load"),
    # float labels were truncated (1.7 -> 1) and bools read as 0/1
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1.7, 2.2]}, protocol=2),
     r"'labels' are not integers \(dtype float64\)"),
    (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [True, False]}, protocol=2),
     r"'labels' are not integers \(dtype bool\)"),
])
def test_corrupt_batch_names_the_file(make_cifar, payload, match):
    root = make_cifar(train_batches=(), n=10)
    path = root / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(payload)
    with pytest.raises(CorruptFileError, match=match) as err:
        load("cifar10", root=root, split="test")
    assert err.value.path == str(path)


def test_truncated_batch(make_cifar):
    root = make_cifar(train_batches=(), n=10)
    path = root / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(CorruptFileError, match="test_batch"):
        load("cifar10", root=root, split="test")


def test_bad_meta(make_cifar):
    root = make_cifar(train_batches=(), n=10)
    (root / "cifar-10-batches-py" / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"a"]}, protocol=2))
    with pytest.raises(CorruptFileError, match="batches.meta"):
        load("cifar10", root=root, split="test")
