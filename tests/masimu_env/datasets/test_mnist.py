"""MNIST IDX reader on fixture files: layouts, gz/raw, split-only files, and corrupt input."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from masimu_env.datasets import CorruptFileError, load


@pytest.mark.parametrize("layout", ["torchvision", "flat"])
@pytest.mark.parametrize("gz", [True, False])
def test_reads_both_layouts_gz_and_raw(make_mnist, layout, gz):
    root = make_mnist(layout=layout, gz=gz)
    train = load("mnist", root=root, split="train")
    test = load("mnist", root=root, split="test")
    both = load("mnist", root=root, split="all")
    assert (len(train), len(test), len(both)) == (30, 20, 50)
    image, label = train[7]
    assert image.dtype == torch.uint8 and image.shape == (1, 28, 28)
    assert label == 7 and int(image[0, 0, 0]) == 7  # pixel (0, 0) was written as the label
    images, labels = test.get_batch(np.arange(20))
    assert images.shape == (20, 1, 28, 28) and labels.dtype == torch.int64
    assert torch.equal(images[:, 0, 0, 0].long(), labels)
    assert test.classes == [str(d) for d in range(10)] and test.groups is None


def test_test_split_needs_only_its_two_files(make_mnist):
    root = make_mnist(splits=("test",))
    assert len(load("mnist", root=root, split="test")) == 20
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte") as err:
        load("mnist", root=root, split="train")
    assert "yann.lecun.com" in str(err.value) and "License" in str(err.value)


def test_dotted_file_names_are_accepted(make_mnist):
    root = make_mnist(layout="flat", gz=False, splits=("test",))
    for f in list(root.iterdir()):
        f.rename(f.with_name(f.name.replace("-idx", ".idx")))
    assert len(load("mnist", root=root, split="test")) == 20


def test_image_size_resizes_in_memory(make_mnist):
    ds = load("mnist", root=make_mnist(), split="test", image_size=(14, 10))
    assert ds.image_shape == (1, 14, 10) and ds[0][0].shape == (1, 14, 10)


def _rewrite(path, transform):
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(transform(data)))


@pytest.mark.parametrize("case, match", [
    ("magic", "bad IDX magic"),
    ("short", "does not match header"),
    ("long", "does not match header"),
    ("truncated_gz", "cannot decompress"),
    ("not_gz", "cannot decompress"),
])
def test_corrupt_image_file_names_the_file(make_mnist, case, match):
    root = make_mnist(splits=("test",))
    path = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    if case == "magic":
        _rewrite(path, lambda d: b"\x00\x00\x08\x07" + d[4:])
    elif case == "short":
        _rewrite(path, lambda d: d[:-100])
    elif case == "long":
        _rewrite(path, lambda d: d + b"\x00" * 5)
    elif case == "truncated_gz":
        path.write_bytes(path.read_bytes()[:-30])
    else:
        path.write_bytes(b"this is not gzip at all")
    with pytest.raises(CorruptFileError, match=match) as err:
        load("mnist", root=root, split="test")
    assert err.value.path == str(path)


def test_label_count_mismatch_and_swapped_files(make_mnist, idx_writer):
    write_idx = idx_writer
    root = make_mnist(splits=("test",), gz=False)
    raw = root / "MNIST" / "raw"
    write_idx(raw / "t10k-labels-idx1-ubyte", np.zeros(19, np.uint8), gz=False)
    with pytest.raises(CorruptFileError, match="19 labels but"):
        load("mnist", root=root, split="test")
    write_idx(raw / "t10k-labels-idx1-ubyte", np.full(20, 12, np.uint8), gz=False)
    with pytest.raises(CorruptFileError, match="label 12 outside"):
        load("mnist", root=root, split="test")
    (raw / "t10k-labels-idx1-ubyte").write_bytes((raw / "t10k-images-idx3-ubyte").read_bytes())
    with pytest.raises(CorruptFileError, match="t10k-labels-idx1-ubyte"):
        load("mnist", root=root, split="test")
