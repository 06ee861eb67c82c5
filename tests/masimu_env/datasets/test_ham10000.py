"""HAM10000 reader on fixture CSV variants + JPEGs: labels, lesion groups, missing images, bad CSVs."""

from __future__ import annotations

import numpy as np
import pytest

from masimu_env.datasets import CorruptFileError, load, train_test_indices
from masimu_env.datasets.ham10000 import CLASSES


def _by_image(rows):
    return {r["image_id"]: r for r in rows}


@pytest.mark.parametrize("variant", ["kaggle", "dataverse"])
@pytest.mark.parametrize("lower", [False, True])
def test_variants_labels_groups_and_colours(make_ham, variant, lower, class_colours):
    root, rows = make_ham(variant=variant, lower=lower)
    ds = load("ham10000", root=root, split="all")
    assert len(ds) == len(rows) and ds.classes == CLASSES
    meta = _by_image(rows)
    ids = [s.rsplit("/", 1)[1][:-4] for s in ds.sources]
    assert [CLASSES.index(meta[i]["dx"]) for i in ids] == ds.labels.tolist()
    assert [meta[i]["lesion_id"] for i in ids] == ds.groups.tolist()
    images, labels = ds.get_batch(np.arange(0, len(ds), 7))
    assert images.shape[1:] == (3, 15, 20)
    for image, label in zip(images, labels.tolist()):
        assert np.abs(image.float().mean(dim=(1, 2)).numpy() - class_colours[label]).max() < 4


def test_split_is_grouped_stratified_and_covers_rows(make_ham):
    root, rows = make_ham()
    train = load("ham10000", root=root, split="train")
    test = load("ham10000", root=root, split="test")
    assert len(train) + len(test) == len(rows)
    assert len(test) == int(np.ceil(0.15 * len(rows)))
    assert not set(train.groups) & set(test.groups)
    assert set(test.labels.tolist()) == set(range(7))
    again = load("ham10000", root=root, split="test")
    assert again.sources == test.sources
    other = load("ham10000", root=root, split="test", split_seed=1)
    assert other.sources != test.sources


def test_split_is_the_same_with_or_without_images(make_ham):
    full_root, rows = make_ham(variant="kaggle")
    part_root, _ = make_ham(variant="dataverse", images=40)
    full = load("ham10000", root=full_root, split="test")
    with pytest.warns(UserWarning, match=r"skipped \d+ of \d+ rows"):
        part = load("ham10000", root=part_root, split="test", missing="skip")
    full_ids = {s.rsplit("/", 1)[1] for s in full.sources}
    part_ids = {s.rsplit("/", 1)[1] for s in part.sources}
    present = {r["image_id"] + ".jpg" for r in rows[:40]}
    assert part_ids == full_ids & present


def test_missing_images_error_by_default(make_ham):
    root, rows = make_ham(images=40)
    with pytest.raises(FileNotFoundError, match=r"of \d+ images of split 'all'.*first missing: ISIC_\d{7}\.jpg") as err:
        load("ham10000", root=root, split="all")
    message = str(err.value)
    assert f"{len(rows) - 40} of {len(rows)}" in message
    assert "missing='skip'" in message and "CC BY-NC-SA 4.0" in message and "DBW86T" in message


def test_skip_with_no_images_at_all_is_an_error(make_ham):
    root, _ = make_ham(images=0)
    with pytest.raises(FileNotFoundError, match="none of the"):
        load("ham10000", root=root, split="all", missing="skip")


def test_bad_missing_policy(make_ham):
    root, _ = make_ham(images=3)
    with pytest.raises(ValueError, match="missing must be one of"):
        load("ham10000", root=root, missing="ignore")


def _write_csv(root, text):
    (root / "HAM10000_metadata.csv").write_text(text)


@pytest.mark.parametrize("text, match", [
    ("lesion_id,image_id,dx_type\nHAM_1,ISIC_0024306,histo\n", "missing column.*dx"),
    ("image_id,dx\nISIC_0024306,nv\n", "missing column.*lesion_id"),
    ("lesion_id,image_id,dx\nHAM_1,ISIC_0024306,melanoma\n", "line 2: dx 'melanoma'"),
    ("lesion_id,image_id,dx\nHAM_1,ISIC_0024306\n", "line 2 has 2 fields"),
    ("lesion_id,image_id,dx\nHAM_1,,nv\n", "line 2 has an empty image_id"),
    ("lesion_id,image_id,dx\nHAM_1,ISIC_0024306,nv\nHAM_2,ISIC_0024306,nv\n", "image_id 'ISIC_0024306' appears 2 times"),
    ("", "empty file"),
    ("lesion_id,image_id,dx\n", "no data rows"),
])
def test_bad_csv_names_the_file(make_ham, text, match):
    root, _ = make_ham(images=0)
    _write_csv(root, text)
    with pytest.raises(CorruptFileError, match=match) as err:
        load("ham10000", root=root, split="all")
    assert err.value.path.endswith("HAM10000_metadata.csv")


def test_tab_separated_dataverse_metadata(make_ham):
    root, rows = make_ham()
    csv_path = root / "HAM10000_metadata.csv"
    (root / "HAM10000_metadata.tab").write_text(csv_path.read_text().replace(",", "\t"))
    csv_path.unlink()
    assert len(load("ham10000", root=root, split="all")) == len(rows)


def test_no_metadata(tmp_path):
    with pytest.raises(FileNotFoundError, match="no metadata file") as err:
        load("ham10000", root=tmp_path)
    assert str(tmp_path) in str(err.value) and "CC BY-NC-SA" in str(err.value)


def test_broken_jpeg_names_the_file(make_ham):
    root, rows = make_ham()
    ds = load("ham10000", root=root, split="all")
    bad = ds.sources[5]
    with open(bad, "r+b") as f:
        f.truncate(100)
    with pytest.raises(CorruptFileError, match=bad.rsplit("/", 1)[1]):
        ds[5]


def test_split_helper_matches_reader(make_ham):
    root, rows = make_ham()
    labels = np.array([CLASSES.index(r["dx"]) for r in rows])
    _, test = train_test_indices(labels, np.array([r["lesion_id"] for r in rows]))
    ds = load("ham10000", root=root, split="test")
    assert sorted(s.rsplit("/", 1)[1][:-4] for s in ds.sources) == sorted(rows[i]["image_id"] for i in test)
