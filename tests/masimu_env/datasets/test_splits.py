"""Train/test and retain/forget splits: sizes, stratification, groups, determinism, JSON, validation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from masimu_env.datasets import RetainForgetSplit, from_arrays, load, retain_forget_split, train_test_indices
from masimu_env.datasets.base import ImageDataset
from masimu_env.datasets.splits import group_stratified_split


def grouped_dataset(seed: int = 0, n_groups: int = 300, num_classes: int = 5) -> ImageDataset:
    """Groups of 1-6 samples, one label per group, unbalanced classes."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, size=n_groups)
    group_labels = rng.choice(num_classes, size=n_groups, p=np.linspace(1, 3, num_classes) / np.linspace(1, 3, num_classes).sum())
    groups = np.repeat([f"L{g:04d}" for g in range(n_groups)], sizes)
    labels = np.repeat(group_labels, sizes)
    perm = rng.permutation(len(labels))
    images = np.zeros((len(labels), 1, 2, 2), np.uint8)
    ds = from_arrays(images, labels[perm], classes=[f"c{k}" for k in range(num_classes)])
    return ImageDataset("grouped", ds.labels, ds.classes, images=ds.get_batch(range(len(ds)))[0], groups=groups[perm])


def test_train_test_sizes_stratified_no_group_overlap():
    ds = grouped_dataset()
    train, test = train_test_indices(ds.labels, ds.groups, test_fraction=0.15, seed=3)
    n = len(ds)
    assert len(test) == int(np.ceil(0.15 * n)) and len(train) + len(test) == n
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(n))
    assert not set(ds.groups[train]) & set(ds.groups[test])
    share = np.bincount(ds.labels[test], minlength=5) / np.bincount(ds.labels, minlength=5)
    assert np.all(np.abs(share - 0.15) < 0.03)


def test_ungrouped_exact_per_class_counts():
    labels = np.repeat(np.arange(3), 700)
    train, test = train_test_indices(labels, seed=0)
    assert len(test) == 315 and np.bincount(labels[test]).tolist() == [105, 105, 105]


def test_paper_sizes_on_full_resisc_shape():
    labels = np.repeat(np.arange(45), 700)
    train, test = train_test_indices(labels)
    assert (len(train), len(test)) == (26775, 4725)
    retain_forget = retain_forget_split(from_arrays(np.zeros((len(train), 1, 1), np.uint8), labels[train]))
    assert (len(retain_forget.retain), len(retain_forget.forget)) == (24098, 2677)


def test_splits_are_deterministic_and_seeded():
    ds = grouped_dataset()
    a = train_test_indices(ds.labels, ds.groups, seed=5)
    b = train_test_indices(ds.labels, ds.groups, seed=5)
    c = train_test_indices(ds.labels, ds.groups, seed=6)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])
    assert np.array_equal(retain_forget_split(ds, seed=2).forget, retain_forget_split(ds, seed=2).forget)
    assert not np.array_equal(retain_forget_split(ds, seed=2).forget, retain_forget_split(ds, seed=3).forget)


def test_bad_split_arguments():
    labels = np.arange(10) % 2
    with pytest.raises(ValueError, match="test_fraction"):
        train_test_indices(labels, test_fraction=1.0)
    with pytest.raises(ValueError, match="split size"):
        group_stratified_split(labels, 10)
    with pytest.raises(ValueError, match="empty on one side"):
        group_stratified_split(labels, 3, groups=np.zeros(10))  # one group cannot be split
    with pytest.raises(ValueError, match="groups must have shape"):
        train_test_indices(labels, groups=np.zeros(3))


def test_random_forget_is_group_aware_and_partitions():
    ds = grouped_dataset()
    split = retain_forget_split(ds, forget_fraction=0.1, seed=1)
    assert len(split.forget) == int(np.floor(0.1 * len(ds)))
    assert np.array_equal(np.sort(np.concatenate([split.retain, split.forget])), np.arange(len(ds)))
    assert not set(ds.groups[split.retain]) & set(ds.groups[split.forget])
    split.check(ds)
    retain, forget = split.subsets(ds)
    assert len(retain) == len(split.retain) and len(forget) == len(split.forget)


def test_class_forget_by_name_index_and_random_draw():
    ds = load("digits", split="train")
    by_name = retain_forget_split(ds, mode="class", forget_classes=["3", "7"])
    by_index = retain_forget_split(ds, mode="class", forget_classes=[3, 7])
    assert np.array_equal(by_name.forget, by_index.forget)
    assert set(ds.labels[by_name.forget]) == {3, 7} and not {3, 7} & set(ds.labels[by_name.retain])
    assert by_name.forget_classes == ("3", "7")
    drawn = retain_forget_split(ds, mode="class", forget_fraction=0.2, seed=4)
    assert len(drawn.forget_classes) == 2 and set(ds.labels[drawn.forget]) == {int(c) for c in drawn.forget_classes}


def test_class_forget_bad_input():
    ds = load("digits", split="train")
    with pytest.raises(ValueError, match="not a class"):
        retain_forget_split(ds, mode="class", forget_classes=["eleven"])
    with pytest.raises(ValueError, match="out of range"):
        retain_forget_split(ds, mode="class", forget_classes=[10])
    with pytest.raises(ValueError, match="duplicates"):
        retain_forget_split(ds, mode="class", forget_classes=[1, "1"])
    with pytest.raises(ValueError, match="cover every sample"):
        retain_forget_split(ds, mode="class", forget_classes=list(range(10)))
    with pytest.raises(ValueError, match="mode must be"):
        retain_forget_split(ds, mode="lesion")
    with pytest.raises(ValueError, match="only used with mode='class'"):
        retain_forget_split(ds, forget_classes=[1])
    with pytest.raises(ValueError, match="forget_fraction"):
        retain_forget_split(ds, forget_fraction=0.0)
    with pytest.raises(ValueError, match="empty forget set"):
        retain_forget_split(load("digits", split="test"), forget_fraction=0.001)


def test_class_forget_refuses_mixed_groups():
    labels = np.array([0, 0, 1, 1, 2, 2])
    ds = ImageDataset("mixed", labels, ["a", "b", "c"], images=torch.zeros((6, 1, 1, 1), dtype=torch.uint8),
                      groups=np.array(["g0", "g1", "g1", "g2", "g3", "g3"]))
    with pytest.raises(ValueError, match="hold both forgotten and retained"):
        retain_forget_split(ds, mode="class", forget_classes=["a"])


def test_json_round_trip(tmp_path):
    ds = grouped_dataset()
    split = retain_forget_split(ds, forget_fraction=0.2, seed=9)
    path = tmp_path / "split.json"
    split.to_json(path)
    back = RetainForgetSplit.from_json(path)
    assert np.array_equal(back.retain, split.retain) and np.array_equal(back.forget, split.forget)
    assert (back.mode, back.seed, back.num_samples, back.dataset) == ("random", 9, len(ds), "grouped")
    assert back.to_dict() == split.to_dict()
    back.check(ds)


@pytest.mark.parametrize("retain, forget, num_samples, match", [
    ([], [1], 5, "retain is empty"),
    ([0, 1], [], 5, "forget is empty"),
    ([0, 1, 2], [2, 3], 5, "in both retain and forget"),
    ([0, 1], [5], 5, "must lie in"),
    ([-1, 1], [2], 5, "must lie in"),
    ([0, 0], [2], 5, "duplicate"),
    ([0.5], [2], 5, "integer"),
])
def test_invalid_splits(retain, forget, num_samples, match, tmp_path):
    with pytest.raises(ValueError, match=match):
        RetainForgetSplit(retain=np.array(retain), forget=np.array(forget), num_samples=num_samples)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"retain": retain, "forget": forget, "num_samples": num_samples}))
    with pytest.raises(ValueError, match=match):
        RetainForgetSplit.from_json(path)


def test_bad_json_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        RetainForgetSplit.from_json(path)
    path.write_text(json.dumps({"retain": [0]}))
    with pytest.raises(ValueError, match="lacks keys"):
        RetainForgetSplit.from_json(path)


def test_check_rejects_other_dataset_and_group_leaks():
    ds = grouped_dataset()
    split = retain_forget_split(ds, seed=0)
    with pytest.raises(ValueError, match="was made for"):
        split.check(ds.subset(np.arange(10)))
    sizes = {g: int((ds.groups == g).sum()) for g in set(ds.groups[split.forget])}
    g = next(g for g, size in sizes.items() if size > 1)
    moved = int(np.flatnonzero(ds.groups == g)[0])  # one sample of a forgotten group goes to retain
    leaky = RetainForgetSplit(retain=np.append(split.retain, moved), forget=np.setdiff1d(split.forget, [moved]),
                              num_samples=len(ds))
    with pytest.raises(ValueError, match="groups have samples in both"):
        leaky.check(ds)


def test_equality_compares_contents():
    ds = grouped_dataset()
    assert retain_forget_split(ds, seed=1) == retain_forget_split(ds, seed=1)
    assert retain_forget_split(ds, seed=1) != retain_forget_split(ds, seed=2)


def test_class_strings_are_names_first_then_label_indices():
    """A folder dataset whose classes are named "1", "10", "2" (sorted as text): "1" is the class named "1"
    (label 0), not label 1 (the class named "10"); "cloud"-style names and bare indices keep working."""
    from masimu_env.datasets import from_arrays

    ds = from_arrays(np.zeros((6, 4, 4), dtype=np.uint8), [0, 0, 1, 1, 2, 2], classes=["1", "10", "2"])
    assert ds.labels[retain_forget_split(ds, mode="class", forget_classes=["1"]).forget].tolist() == [0, 0]
    assert ds.labels[retain_forget_split(ds, mode="class", forget_classes=["10"]).forget].tolist() == [1, 1]
    named = from_arrays(np.zeros((4, 4, 4), dtype=np.uint8), [0, 0, 1, 1], classes=["cat", "dog"])
    assert named.labels[retain_forget_split(named, mode="class", forget_classes=["1"]).forget].tolist() == [1, 1]


def test_a_class_short_of_its_share_is_made_up_from_the_others():
    """Class 0's groups (2 samples each) cannot fill its 1.2-sample share; the test part used to end at 2 of the
    paper's ceil(0.3 * 10) = 3, although a class-1 singleton could make up the difference."""
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    groups = ["a", "a", "b", "b", "c", "d", "e", "f", "g", "h"]
    train, test = train_test_indices(labels, groups, test_fraction=0.3)
    assert len(test) == 3 and len(train) == 7
    assert not set(np.asarray(groups)[train]) & set(np.asarray(groups)[test])


@pytest.mark.parametrize("kwargs, match", [
    ({"seed": None}, r"seed must be an int in \[0, 2\*\*63\); got None"),  # drew a new split on every call
    ({"seed": -1}, "seed must be an int"),
    ({"forget_fraction": "0.1"}, r"forget_fraction must be a number in \(0, 1\); got '0.1'"),
    ({"mode": "class", "forget_classes": "12"}, "forget_classes must be a list .* got the string '12'"),
])
def test_retain_forget_split_checks_its_arguments(kwargs, match):
    ds = from_arrays(np.zeros((40, 1, 2, 2), np.uint8), np.arange(40) % 20)
    with pytest.raises(ValueError, match=match):
        retain_forget_split(ds, **kwargs)


def test_splits_made_with_numpy_scalars_save_and_bad_files_are_named(tmp_path):
    ds = from_arrays(np.zeros((40, 1, 2, 2), np.uint8), np.arange(40) % 4)
    split = retain_forget_split(ds, forget_fraction=np.float32(0.2), seed=np.int64(3))
    split.to_json(tmp_path / "s.json")  # used to fail: int64 is not JSON serializable
    assert RetainForgetSplit.from_json(tmp_path / "s.json").seed == 3
    good = split.to_dict()
    for change, match in (({"num_samples": 10.9}, "num_samples must be an int"),  # was truncated to 10
                          ({"mode": "bogus"}, "mode must be 'random', 'class' or 'custom'"),
                          ({"seed": "x"}, "seed must be None or an int"),
                          ({"retain": [[0, 1]]}, "retain must be a flat list of integers")):
        with pytest.raises(ValueError, match=match):
            RetainForgetSplit.from_dict({**good, **change})


def test_from_arrays_refuses_an_ambiguous_layout():
    """(n, 4, 4, 3) used to be read as 4 channels of 4x3 pixels."""
    with pytest.raises(ValueError, match="could be channels-first or channels-last; pass channels_last"):
        from_arrays(np.zeros((2, 4, 4, 3), np.uint8), [0, 1])
    assert from_arrays(np.zeros((2, 4, 4, 3), np.uint8), [0, 1], channels_last=True).image_shape == (3, 4, 4)
    assert from_arrays(np.zeros((2, 28, 28, 3), np.uint8), [0, 1]).image_shape == (3, 28, 28)


def test_grey_stacks_stay_unambiguous_and_the_seed_is_named():
    assert from_arrays(np.zeros((2, 1, 4, 4), np.uint8), [0, 1]).image_shape == (1, 4, 4)
    with pytest.raises(ValueError, match=r"^seed must be an int"):
        train_test_indices([0, 1, 0, 1], seed=None)


def test_forget_fraction_is_refused_where_named_classes_make_it_unused():
    """It was ignored and still recorded in the split's meta (and in run_experiment's report) as if used."""
    from masimu_env import datasets

    ds = datasets.load("digits")
    with pytest.raises(ValueError, match="forget_fraction=0.5 does not apply when forget_classes names the classes"):
        datasets.retain_forget_split(ds, forget_fraction=0.5, mode="class", forget_classes=[3])
    named = datasets.retain_forget_split(ds, mode="class", forget_classes=[3])
    assert named.meta["forget_fraction"] is None and set(ds.labels[named.forget]) == {3}
    assert datasets.retain_forget_split(ds).meta["forget_fraction"] == 0.1  # the default where it applies
    drawn = datasets.retain_forget_split(ds, mode="class", forget_fraction=0.2)
    assert drawn.meta["forget_fraction"] == 0.2 and len(drawn.forget_classes) == 2
