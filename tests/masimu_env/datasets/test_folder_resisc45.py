"""Image-tree readers (resisc45, folder) on fixture JPEG/PNG trees: lazy decode, resize, cache, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from masimu_env.datasets import CorruptFileError, load


def colour_of(image: torch.Tensor) -> np.ndarray:
    return image.float().mean(dim=(1, 2)).numpy()


def test_resisc45_layout_classes_and_stratified_split(make_tree):
    root = make_tree(per_class=20, name="NWPU-RESISC45").parent
    train = load("resisc45", root=root, split="train")
    test = load("resisc45", root=root, split="test")
    assert train.classes == ["airplane", "beach", "cloud"]
    assert (len(train), len(test)) == (51, 9)  # ceil(0.15 * 60) = 9, 3 per class
    assert np.bincount(test.labels).tolist() == [3, 3, 3]
    assert not set(train.sources) & set(test.sources)
    assert len(load("resisc45", root=root, split="all")) == 60
    # root may also point at the NWPU-RESISC45 folder itself
    inner = load("resisc45", root=root / "NWPU-RESISC45", split="test")
    assert inner.sources == test.sources


def test_images_match_labels_and_batches(make_tree, class_colours):
    root = make_tree(per_class=6, size=(20, 24))
    ds = load("folder", root=root, split="all")
    assert not ds.in_memory and ds.image_shape == (3, 20, 24)
    images, labels = ds.get_batch(np.arange(len(ds)))
    assert images.shape == (18, 3, 20, 24) and images.dtype == torch.uint8
    for image, label in zip(images, labels.tolist()):
        assert np.abs(colour_of(image) - class_colours[label]).max() < 4  # JPEG of a flat colour
    single, label = ds[7]
    assert torch.equal(single, images[7]) and label == int(labels[7])


def test_image_size_resizes_on_decode(make_tree):
    ds = load("resisc45", root=make_tree(size=(40, 48)), split="test", image_size=16)
    assert ds.image_shape == (3, 16, 16)
    assert ds.get_batch([0, 1, 2])[0].shape == (3, 3, 16, 16)
    rect = load("resisc45", root=make_tree(size=(40, 48), name="t2"), split="test", image_size=(10, 30))
    assert rect[0][0].shape == (3, 10, 30)


def test_cache_written_once_and_reused(make_tree, tmp_path, monkeypatch):
    root = make_tree(per_class=5)
    cache = tmp_path / "cache"
    lazy = load("resisc45", root=root, split="all", image_size=12)
    reference = lazy.get_batch(range(15))[0]
    first = load("resisc45", root=root, split="all", image_size=12, cache_dir=cache)
    files = list(cache.glob("*.npy"))
    assert len(files) == 1 and not list(cache.glob(".*tmp"))
    assert torch.equal(first.get_batch(range(15))[0], reference)

    import masimu_env.datasets.images as images_mod

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded although a cache exists")

    monkeypatch.setattr(images_mod, "decode_image", no_decode)
    second = load("resisc45", root=root, split="all", image_size=12, cache_dir=cache)
    assert torch.equal(second.get_batch(range(15))[0], reference)
    assert torch.equal(second[4][0], reference[4])
    sub = second.subset([3, 1])
    assert torch.equal(sub.get_batch([0, 1])[0], reference[[3, 1]])


def test_cache_is_rebuilt_when_a_file_changes(make_tree, tmp_path, image_writer):
    root = make_tree(per_class=3)
    cache = tmp_path / "cache"
    load("folder", root=root, split="all", cache_dir=cache)
    image_writer(root / "beach" / "beach_001.jpg", label=2)
    ds = load("folder", root=root, split="all", cache_dir=cache)
    assert len(list(cache.glob("*.npy"))) == 2
    fresh = load("folder", root=root, split="all")
    assert torch.equal(ds.get_batch(range(9))[0], fresh.get_batch(range(9))[0])


def test_native_size_cache_refuses_mixed_sizes(make_tree, tmp_path, image_writer):
    root = make_tree(per_class=3, size=(20, 24))
    image_writer(root / "cloud" / "cloud_999.jpg", label=2, size=(30, 30))
    with pytest.raises(ValueError, match="pass image_size="):
        load("folder", root=root, split="all", cache_dir=tmp_path / "c")
    ds = load("folder", root=root, split="all")
    with pytest.raises(ValueError, match="pass image_size="):
        ds.get_batch(np.arange(len(ds)))
    assert load("folder", root=root, split="all", image_size=8).get_batch(np.arange(10))[0].shape == (10, 3, 8, 8)


def test_folder_train_test_subfolders_are_the_official_split(make_tree, tmp_path):
    make_tree(classes=("a", "b"), per_class=4, name="split/train")
    make_tree(classes=("a", "b", "c"), per_class=2, name="split/test")
    root = tmp_path / "split"
    train = load("folder", root=root, split="train")
    test = load("folder", root=root, split="test")
    assert train.classes == test.classes == ["a", "b", "c"]
    assert (len(train), len(test), len(load("folder", root=root, split="all"))) == (8, 6, 14)
    assert np.bincount(test.labels).tolist() == [2, 2, 2]


def test_folder_png_and_grey_mode(make_tree):
    ds = load("folder", root=make_tree(ext="png", per_class=2), split="all", mode="L")
    assert ds[0][0].shape == (1, 20, 24)


def test_truncated_jpeg_names_the_file(make_tree):
    root = make_tree(per_class=4)
    bad = root / "beach" / "beach_002.jpg"
    bad.write_bytes(bad.read_bytes()[:200])
    ds = load("folder", root=root, split="all")
    index = ds.sources.index(str(bad))
    with pytest.raises(CorruptFileError, match="beach_002.jpg"):
        ds[index]
    with pytest.raises(CorruptFileError, match="beach_002.jpg"):
        ds.get_batch(np.arange(len(ds)))


def test_not_an_image_names_the_file(make_tree, tmp_path):
    root = make_tree(per_class=3)
    (root / "cloud" / "cloud_001.jpg").write_text("hello")
    with pytest.raises(CorruptFileError, match="cloud_001.jpg"):
        load("folder", root=root, split="all", cache_dir=tmp_path / "cache")


def test_empty_class_folder_and_no_classes(make_tree, tmp_path):
    root = make_tree(per_class=3)
    (root / "wetland").mkdir()
    with pytest.raises(FileNotFoundError, match="wetland"):
        load("resisc45", root=root)
    (tmp_path / "flat").mkdir()
    with pytest.raises(FileNotFoundError, match="no class sub-folders") as err:
        load("resisc45", root=tmp_path / "flat")
    assert "torchgeo" in str(err.value)


def test_non_image_files_are_reported(make_tree):
    root = make_tree(per_class=3)
    (root / "beach" / "notes.txt").write_text("x")
    with pytest.warns(UserWarning, match="ignored 1 non-image files"):
        ds = load("folder", root=root, split="all")
    assert len(ds) == 9


def test_batches_decode_in_a_forked_child(make_tree):
    import multiprocessing

    ds = load("folder", root=make_tree(per_class=4), split="all", image_size=8)
    expected = ds.get_batch(np.arange(12))[0]  # starts the parent's decode threads
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        child = pool.apply_async(_child_batch, (ds,)).get(timeout=60)
    assert torch.equal(torch.as_tensor(child), expected)


def _child_batch(ds):
    return ds.get_batch(np.arange(12))[0].numpy()


def test_lazy_and_cached_subsets_pickle(make_tree, tmp_path):
    import pickle

    root = make_tree(per_class=4)
    for kw in ({}, {"cache_dir": tmp_path / "cache"}):
        sub = load("folder", root=root, split="all", image_size=8, **kw).subset([5, 2, 9])
        back = pickle.loads(pickle.dumps(sub))
        assert torch.equal(back.get_batch([0, 1, 2])[0], sub.get_batch([0, 1, 2])[0])
        assert torch.equal(back[1][0], sub[1][0]) and back.labels.tolist() == sub.labels.tolist()
    cached = load("folder", root=root, split="all", image_size=64, cache_dir=tmp_path / "cache")
    assert cached.get_batch(range(12))[0].numel() == 147_456
    assert len(pickle.dumps(cached)) < 20_000  # the memory map is re-opened, not copied


def test_images_in_nested_folders_are_reported_not_dropped_silently(make_tree, image_writer):
    root = make_tree(per_class=2)
    image_writer(root / "beach" / "more" / "beach_100.jpg", 1)
    with pytest.warns(UserWarning, match=r"ignored 1 sub-folders inside class folders.*more"):
        ds = load("folder", root=root, split="all")
    assert len(ds) == 6


def test_resisc45_refuses_folders_that_are_not_its_classes(make_tree, make_ham):
    """A stray or misspelt folder used to become a class (shifting every label after it); a wrong root (here a
    HAM10000 folder) loaded as a 2-class 'RESISC45'. Both are refused, naming the folders."""
    root = make_tree(per_class=3)
    (root / "Beach_typo").mkdir()
    with pytest.raises(ValueError, match="not RESISC45 classes: 'Beach_typo'.*use the 'folder' dataset"):
        load("resisc45", root=root, split="all")
    assert len(load("resisc45", root=make_tree(per_class=3, name="clean"), split="all")) == 9
    ham_root, _ = make_ham(images=4)
    (ham_root / "HAM10000_images_part_1").mkdir(exist_ok=True)
    with pytest.raises(ValueError, match="not RESISC45 classes: 'HAM10000_images_part_1'"):
        load("resisc45", root=ham_root, split="all")


def test_broken_link_in_a_class_folder_is_named(make_tree):
    root = make_tree(per_class=3)
    (root / "beach" / "beach_999.jpg").symlink_to(root / "nowhere.jpg")
    with pytest.raises(FileNotFoundError, match=r"beach_999.jpg' is a link to nothing"):
        load("resisc45", root=root, split="all")


def test_split_all_needs_no_split(make_tree):
    """'all' returns every image without computing a train/test split, so a one-image tree loads; the split options
    are still checked rather than ignored."""
    root = make_tree(classes=("airplane",), per_class=1)
    assert len(load("folder", root=root, split="all")) == 1
    with pytest.raises(ValueError, match="split_seed must be an int"):
        load("folder", root=root, split="all", split_seed=-1)


@pytest.mark.parametrize("option, match", [
    # None drew a fresh split on every load, so a train and a test load overlapped
    ({"split_seed": None}, r"split_seed must be an int in \[0, 2\*\*63\); got None"),
    ({"split_seed": 1.5}, "split_seed must be an int"),
    ({"test_fraction": "0.2"}, r"test_fraction must be a number in \(0, 1\); got '0.2'"),
])
def test_split_options_are_checked(make_tree, option, match):
    with pytest.raises(ValueError, match=match):
        load("resisc45", root=make_tree(per_class=3), split="train", **option)


def test_wide_images_are_refused_not_clipped(tmp_path):
    """16-bit and float images used to be clipped to 255 by PIL's convert (1000 -> 255)."""
    from PIL import Image

    for name, image in (("deep.png", Image.fromarray(np.array([[0, 1000], [30000, 65535]], dtype=np.uint16))),
                        ("float.tif", Image.fromarray(np.array([[0, 0.5], [1, 300]], dtype=np.float32)))):
        root = tmp_path / name.split(".")[0]
        (root / "a").mkdir(parents=True)
        image.save(root / "a" / name)
        with pytest.raises(ValueError, match=rf"{name}' is a (I;16|I|F) image .*would clip every value above 255"):
            load("folder", root=root, split="all", mode="L")[0]


def test_jpeg_resize_is_the_plain_bilinear_resize(make_tree):
    """image_size= on a JPEG equals decoding it whole and resizing bilinearly (libjpeg's reduced-scale draft
    decode, used before, differed by up to 53 grey levels)."""
    from PIL import Image

    root = make_tree(classes=("airplane",), per_class=2, size=(96, 128))
    rng = np.random.default_rng(0)
    for path in (root / "airplane").glob("*.jpg"):  # texture, where a reduced-scale decode shows
        Image.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(path, format="JPEG", quality=95)
    ds = load("resisc45", root=root, split="all", image_size=(24, 32))
    for i, path in enumerate(sorted((root / "airplane").glob("*.jpg"))):
        with Image.open(path) as img:
            expected = np.asarray(img.convert("RGB").resize((32, 24), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
        np.testing.assert_array_equal(ds[i][0].numpy(), expected)
