"""Dataset-reader findings of a review (each reproduced first)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from masimu_env import datasets
from masimu_env.datasets.sources import CorruptFileError


def _class_tree(root, names, size=8, count=2):
    for name in names:
        (root / name).mkdir(parents=True)
        for k in range(count):
            Image.fromarray(np.full((size, size, 3), 40 * k, np.uint8)).save(root / name / f"{k}.png")


def test_a_damaged_image_cache_is_rebuilt_with_a_warning(tmp_path):
    """It raised CorruptFileError with 'Re-download or re-extract this file', wrong advice for derived data."""
    _class_tree(tmp_path / "tree", ["a", "b"])
    kwargs = dict(root=tmp_path / "tree", split="all", cache_dir=tmp_path / "cache")
    first = datasets.load("folder", **kwargs).get_batch([0, 1, 2, 3])[0]
    (cache,) = (tmp_path / "cache").glob("*.npy")
    cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    with pytest.warns(UserWarning, match="derived from the image files.*Rebuilding it now"):
        again = datasets.load("folder", **kwargs).get_batch([0, 1, 2, 3])[0]
    assert (again == first).all()


def test_images_above_pil_limit_are_named_not_called_corrupt(tmp_path, monkeypatch):
    _class_tree(tmp_path / "tree", ["a", "b"], size=32)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200)  # a 32x32 image is now 'too large' (bomb: > 2x limit)
    for size in (None, 16):
        with pytest.raises(ValueError, match=r"tree/a/0.png' is larger than PIL decodes by default") as caught:
            datasets.load("folder", root=tmp_path / "tree", split="all", image_size=size).get_batch([0])
        assert not isinstance(caught.value, CorruptFileError)


def test_cifar_batches_saved_with_pickle_protocol_5_load(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=5))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": ["c"] * 10}, protocol=5))
    assert len(datasets.load("cifar10", root=tmp_path, split="test")) == 4  # was refused as corrupt


def test_forged_idx_header_is_named(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    header = (0x00000803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (2**22, 2**21, 2**21))
    (raw / "t10k-images-idx3-ubyte").write_bytes(header)  # dims multiply to 2**64: np.prod wrapped to 0
    (raw / "t10k-labels-idx1-ubyte").write_bytes((0x00000801).to_bytes(4, "big") + (0).to_bytes(4, "big"))
    with pytest.raises(CorruptFileError, match="t10k-images-idx3-ubyte"):
        datasets.load("mnist", root=tmp_path, split="test")


def test_status_does_not_call_a_tree_load_refuses_found(tmp_path):
    _class_tree(tmp_path / "r", ["airplane", "Airport"])
    status = datasets.dataset_status("resisc45", root=tmp_path / "r")
    assert status["found"] is False and "not RESISC45 classes: Airport" in status["detail"]
    _class_tree(tmp_path / "f", ["a"])
    (tmp_path / "f" / "b").mkdir()
    status = datasets.dataset_status("folder", root=tmp_path / "f")
    assert status["found"] is False and "class folders without images: b" in status["detail"]


def test_render_names_the_fix_for_a_2d_grey_image(tmp_path):
    from masimu_env.api.render import render_frame

    with pytest.raises(ValueError, match=r"2-D \(8, 8\) array: for a grey image pass image\[None\]"):
        render_frame(np.zeros((8, 8)), np.zeros((1, 1, 2), dtype=np.int64), 4)
