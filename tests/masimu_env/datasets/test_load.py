"""The ``load`` entry point: names, root resolution, options, digits, download (monkeypatched), status."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

import masimu_env.datasets as datasets
from masimu_env.datasets import available, dataset_status, from_arrays, load, reader_options


def test_available_names():
    assert available() == ["cifar10", "digits", "folder", "ham10000", "mnist", "resisc45"]


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="Unknown dataset 'cub'; available: cifar10, digits, folder, ham10000"):
        load("cub")
    with pytest.raises(ValueError, match="available: "):
        dataset_status("cub")


def test_unknown_option_lists_accepted_ones(make_mnist):
    with pytest.raises(TypeError, match="mnist accepts: none"):
        load("mnist", root=make_mnist(), cache_dir="/tmp/x")
    with pytest.raises(TypeError, match="cache_dir, missing"):
        load("ham10000", root="/nowhere", colour="rgb")
    assert "cache_dir" in reader_options("resisc45")


@pytest.mark.parametrize("split", ["val", "TRAIN", ""])
def test_bad_split(split):
    with pytest.raises(ValueError, match="split must be one of"):
        load("digits", split=split)


@pytest.mark.parametrize("size, error", [(0, ValueError), ((8,), TypeError), (2.5, TypeError), ((4, -1), ValueError)])
def test_bad_image_size(size, error):
    with pytest.raises(error, match="image_size"):
        load("digits", image_size=size)


def test_digits_default():
    train, test, both = (load("digits", split=s) for s in ("train", "test", "all"))
    assert (len(train), len(test), len(both)) == (1527, 270, 1797)
    image, label = train[0]
    assert image.dtype == torch.uint8 and image.shape == (1, 8, 8) and 0 <= label < 10
    assert train.num_classes == 10 and train.image_shape == (1, 8, 8) and train.groups is None
    big = load("digits", split="test", image_size=32)
    assert big.get_batch([0, 1])[0].shape == (2, 1, 32, 32)
    assert np.array_equal(big.labels, test.labels)
    with pytest.raises(ValueError, match="drop root="):
        load("digits", root="/data")


def test_root_resolution_env_then_default(make_mnist, tmp_path, monkeypatch):
    root = make_mnist(splits=("test",))
    data = tmp_path / "data"
    data.mkdir()
    shutil.move(str(root), data / "mnist")
    monkeypatch.setenv("MASIMU_DATA", str(data))
    assert len(load("mnist", split="test")) == 20
    assert dataset_status("mnist")["root"] == str(data / "mnist")
    monkeypatch.delenv("MASIMU_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError) as err:
        load("mnist", split="test")
    expected = tmp_path / "home" / ".cache" / "masimu" / "data" / "mnist"
    assert str(expected) in str(err.value) and "MASIMU_DATA" in str(err.value)


@pytest.mark.parametrize("name", ["mnist", "cifar10", "resisc45", "ham10000", "folder"])
def test_missing_root_names_path_source_license(name, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load(name, root=tmp_path / "absent")
    message = str(err.value)
    assert str(tmp_path / "absent") in message and "Get it from" in message and "License" in message


@pytest.mark.parametrize("name, words", [("ham10000", ["DBW86T", "CC BY-NC-SA 4.0"]),
                                         ("resisc45", ["torchgeo", "Cheng"]), ("folder", ["your own"])])
def test_download_refused_where_no_downloader(name, words, tmp_path):
    with pytest.raises(ValueError, match="cannot be downloaded") as err:
        load(name, root=tmp_path, download=True)
    assert all(w in str(err.value) for w in words)


def test_mnist_download_uses_torchvision_downloader(monkeypatch, tmp_path, idx_writer):
    import torchvision.datasets.utils as tv_utils
    from torchvision.datasets import MNIST

    calls = []

    def fake_download(url, download_root, filename=None, md5=None, **kwargs):
        calls.append((url, filename, md5))
        staging = tmp_path / "staging"
        kind = "labels" if "labels" in filename else "images"
        array = np.arange(5, dtype=np.uint8) if kind == "labels" else np.full((5, 28, 28), 9, np.uint8)
        gz = idx_writer(staging / filename[:-3], array, True)
        Path(download_root).mkdir(parents=True, exist_ok=True)
        shutil.copy(gz, Path(download_root) / filename)
        tv_utils.extract_archive(str(Path(download_root) / filename), download_root)

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake_download)
    root = tmp_path / "mnist"
    ds = load("mnist", root=root, split="test", download=True)
    assert len(ds) == 5 and ds.labels.tolist() == [0, 1, 2, 3, 4]
    assert (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()
    md5s = dict(MNIST.resources)
    assert [c[1] for c in calls] == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert all(c[0].startswith(MNIST.mirrors[0]) and c[2] == md5s[c[1]] for c in calls)
    load("mnist", root=root, split="test", download=True)  # files present: nothing fetched again
    assert len(calls) == 2


def test_mnist_download_failure_is_reported(monkeypatch, tmp_path):
    import torchvision.datasets.utils as tv_utils

    def offline(url, download_root, filename=None, md5=None, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", offline)
    with pytest.raises(RuntimeError, match="could not download t10k-images-idx3-ubyte.gz.*network unreachable"):
        load("mnist", root=tmp_path / "m", split="test", download=True)


def test_cifar_download_uses_torchvision_downloader(monkeypatch, tmp_path, make_cifar):
    import torchvision.datasets.utils as tv_utils
    from torchvision.datasets import CIFAR10

    source = make_cifar(n=10) / "cifar-10-batches-py"
    calls = []

    def fake_download(url, download_root, filename=None, md5=None, **kwargs):
        calls.append((url, filename, md5))
        archive = Path(download_root) / filename
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(source, arcname="cifar-10-batches-py")
        tv_utils.extract_archive(str(archive), download_root)

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fake_download)
    ds = load("cifar10", root=tmp_path / "c10", split="train", download=True)
    assert len(ds) == 50 and calls == [(CIFAR10.url, CIFAR10.filename, CIFAR10.tgz_md5)]
    # batches on disk (even without the archive): nothing fetched or unpacked again, as for MNIST
    (tmp_path / "c10" / CIFAR10.filename).unlink()
    assert len(load("cifar10", root=tmp_path / "c10", split="test", download=True)) == 10
    assert len(calls) == 1
    # a user's unpacked folder without the test batch: the archive is fetched for it
    partial = tmp_path / "partial"
    (partial / "cifar-10-batches-py").mkdir(parents=True)
    for batch in source.glob("data_batch_*"):
        shutil.copy(batch, partial / "cifar-10-batches-py" / batch.name)
    load("cifar10", root=partial, split="train", download=True)
    assert len(calls) == 1
    load("cifar10", root=partial, split="test", download=True)
    assert len(calls) == 2


def test_status_reports_found_and_missing(make_mnist, make_ham, tmp_path):
    root = make_mnist(splits=("test",))
    status = dataset_status("mnist", root=root)
    assert status["found"] is True and "splits available: test" in status["detail"]
    assert "missing train" in status["detail"] and status["root"] == str(root)
    absent = dataset_status("ham10000", root=tmp_path / "nothing")
    assert absent["found"] is False and "does not exist" in absent["detail"] and "CC BY-NC-SA" in absent["license"]
    ham_root, rows = make_ham(images=4)
    ham = dataset_status("ham10000", root=ham_root)
    assert ham["found"] is True and f"{len(rows)} rows; 4 images" in ham["detail"]
    assert dataset_status("digits")["found"] is True
    assert set(status) >= {"name", "root", "found", "complete", "detail", "source", "license"}


def test_status_tells_complete_from_partial_folders(make_mnist, make_cifar, make_ham):
    """'found' means loadable at least in part; 'complete' that every file of the official layout is there."""
    assert dataset_status("mnist", root=make_mnist(splits=("test",)))["complete"] is False
    assert dataset_status("mnist", root=make_mnist())["complete"] is True
    assert dataset_status("cifar10", root=make_cifar(train_batches=(1, 2)))["complete"] is False
    assert dataset_status("cifar10", root=make_cifar())["complete"] is True
    partial, _ = make_ham(images=4)
    assert dataset_status("ham10000", root=partial)["complete"] is False
    full, _ = make_ham(variant="dataverse")
    assert dataset_status("ham10000", root=full)["complete"] is True
    assert dataset_status("digits")["complete"] is True


def test_status_is_cheap_for_empty_folders(tmp_path):
    for name in ("mnist", "cifar10", "resisc45", "folder"):
        status = dataset_status(name, root=tmp_path)
        assert status["found"] is False, name


def test_from_arrays_and_subset_still_work():
    ds = from_arrays(np.random.default_rng(0).random((6, 5, 5, 3)), [0, 1, 2, 0, 1, 2])
    assert ds.image_shape == (3, 5, 5) and ds.classes == ["0", "1", "2"]
    sub = ds.subset([4, 1])
    assert torch.equal(sub.get_batch([0, 1])[0], ds.get_batch([4, 1])[0])
    assert sub.labels.tolist() == [1, 1] and isinstance(sub, datasets.ImageDataset)




def test_float_indices_and_labels_raise_instead_of_truncating():
    ds = from_arrays(np.zeros((4, 5, 5), dtype=np.uint8), [0, 1, 2, 0])
    for call in (lambda: ds.get_batch([1.7]), lambda: ds.subset([1.7]), lambda: ds.get_batch(torch.tensor([1.0]))):
        with pytest.raises(TypeError, match="indices must be integers; got dtype float"):
            call()
    assert ds.get_batch(np.array([], dtype=np.int64))[0].shape[0] == 0
    with pytest.raises(TypeError, match="labels must be integers"):
        from_arrays(np.zeros((2, 5, 5), dtype=np.uint8), [0.9, 1.2])
    with pytest.raises(ValueError, match=r"one per image"):
        from_arrays(np.zeros((2, 5, 5), dtype=np.uint8), [0, 1, 1])
    with pytest.raises(ValueError, match=r"labels must be < len\(classes\) = 2"):
        from_arrays(np.zeros((2, 5, 5), dtype=np.uint8), [0, 2], classes=["a", "b"])


@pytest.mark.parametrize("fraction", [50, 0.0, 1.0, True])
def test_digits_test_fraction_must_be_a_fraction(fraction):
    with pytest.raises(ValueError, match=r"test_fraction must be a number in \(0, 1\)"):
        load("digits", split="test", test_fraction=fraction)


def test_status_reports_a_metadata_file_that_is_not_utf8(make_ham):
    """dataset_status used to crash with a bare UnicodeDecodeError (no path); it reports the file instead."""
    root, _ = make_ham(images=2)
    metadata = root / "HAM10000_metadata.csv"
    metadata.write_bytes(metadata.read_bytes().replace(b"nv", b"n\xe9", 1))
    status = dataset_status("ham10000", root=root)
    assert status["found"] is False and "is not UTF-8 text" in status["detail"] and str(metadata) in status["detail"]
