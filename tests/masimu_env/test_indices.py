"""One check of row indices (masimu_env.config.check_indices) behind every public entry point that takes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import masimu_env
from masimu_env.config import IndexDtypeError, IndexRangeError, check_indices
from masimu_env.datasets import RetainForgetSplit, from_arrays


def test_check_indices_accepts_integers_of_any_kind():
    for values in ([3, 0], np.int16([3, 0]), torch.tensor([3, 0]), (3, 0), np.uint8([3, 0])):
        got = check_indices(values, 4, "rows")
        assert got.dtype == np.int64 and got.tolist() == [3, 0]
    assert check_indices([], 4, "rows").shape == (0,)
    assert check_indices([[1, 2]], 4, "rows").tolist() == [1, 2]  # flat by default


@pytest.mark.parametrize("values, error, bases, match", [
    ([1.7], IndexDtypeError, (TypeError, ValueError), r"rows must be integers; got dtype float64\.$"),
    (np.array([True, False]), IndexDtypeError, (TypeError, ValueError), r"np\.flatnonzero\(mask\)"),
    (torch.tensor([0.0]), IndexDtypeError, (TypeError, ValueError), "got dtype float32"),
    ([0, 4], IndexRangeError, (IndexError, ValueError), r"rows must lie in \[0, 4\) \(the set\); got range \[0, 4\]"),
    ([-1], IndexRangeError, (IndexError, ValueError), r"got range \[-1, -1\]"),
])
def test_check_indices_refuses_and_names(values, error, bases, match):
    with pytest.raises(error, match=match) as caught:
        check_indices(values, 4, "rows", size_name="the set")
    assert all(isinstance(caught.value, base) for base in bases)


def test_check_indices_not_flat_wants_1d():
    with pytest.raises(ValueError, match=r"rows must be a 1-D array of indices; got shape \(1, 2\)"):
        check_indices([[1, 2]], 4, "rows", flat=False)


def test_every_entry_point_refuses_float_rows_and_names_them():
    """Before, the same 1.7 met five hand-written checks with different exception types; the sites that took
    it as row 1 are covered where they were fixed, this pins that all of them now say the same."""
    rng = np.random.default_rng(0)
    data = from_arrays(rng.integers(0, 256, (6, 8, 8), dtype=np.uint8), np.arange(6) % 2, name="toy")
    calls = {
        "toy indices": lambda rows: data.get_batch(rows),
        "toy subset indices": lambda rows: data.subset(rows),
        "indices": lambda rows: masimu_env.parallel_env(data, indices=rows, window=4),
        "RetainForgetSplit.forget indices": lambda rows: RetainForgetSplit(retain=np.array([0]), forget=rows,
                                                                           num_samples=6),
    }
    for name, call in calls.items():
        with pytest.raises(IndexDtypeError, match=rf"^{name} must be integers; got dtype float64\.$"):
            call(np.array([1.7]))
        with pytest.raises(IndexRangeError, match=rf"^{name} must lie in \[0, 6\)"):
            call(np.array([6]))


def test_labels_rows_and_shapes_are_refused_not_truncated(tmp_path):
    """Each of these used to be cast silently (a clamp/drop audit reproduced every one)."""
    from masimu_env.config import SimConfig
    from masimu_env.core import Simulator
    from masimu_env.datasets import ImageDataset, train_test_indices

    images = torch.zeros((4, 1, 4, 4), dtype=torch.uint8)
    with pytest.raises(TypeError, match="x labels must be integers; got dtype float64"):
        ImageDataset("x", np.array([0.9, 1.7, 0.2, 1.999]), ["a", "b"], images=images)  # was [0 1 0 1]
    with pytest.raises(TypeError, match="x labels must be integers; got dtype bool"):
        ImageDataset("x", np.array([True, False, True, False]), ["a", "b"], images=images)
    data = ImageDataset("x", np.array([0, 1, 0, 1]), ["a", "b"], images=images)
    with pytest.raises(TypeError, match="x index must be an int; got True"):
        data[True]  # was row 1
    for bad in (torch.tensor(True), 1.0, torch.tensor(1.0)):
        with pytest.raises(TypeError, match="x index must be an int"):
            data[bad]
    # integer scalars of every kind, as torch samplers (randperm, SubsetRandomSampler) and Subset hand them over
    assert data[np.int64(-1)][1] == data[torch.tensor(3)][1] == data[np.array(1)][1] == 1
    from torch.utils.data import DataLoader, Subset

    loaded = next(iter(DataLoader(data, batch_size=4, sampler=torch.randperm(4))))
    assert sorted(loaded[1].tolist()) == [0, 0, 1, 1] and Subset(data, torch.tensor([2, 3]))[1][1] == 1
    with pytest.raises(TypeError, match="labels must be integers"):
        train_test_indices(np.array([0.5, 1.5] * 10), 0.2, seed=0)  # was stratified as classes 0 and 1
    sim = Simulator(SimConfig(n_agents=2, n_steps=1, window=2), n_classes=3)
    state = sim.reset(images[:1], torch.tensor([0]), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"probs must be \(B, N, K\) = \(1, 2, 3\) class distributions"):
        sim.reward(state, torch.full((1, 2, 5), 0.2))  # a 5-class tensor scored on a 3-class core


def test_learner_and_unlearning_inputs_are_refused_not_truncated(tmp_path):
    from agents import AgentConfig, MAReinforce
    from unlearning.interpretable import InterpretableWeights
    from unlearning.models import make_classifier, predict_proba
    from unlearning.wrapper import InterpretableStepHook

    with pytest.raises(ValueError, match=r"image_shape \(1\.9, 8\.7, 8\.2\)'s entries must be an int >= 1"):
        MAReinforce(AgentConfig(window=4), 10, (1.9, 8.7, 8.2))  # was (1, 8, 8)
    with pytest.raises(IndexDtypeError, match="retain_indices must be integers; got dtype float64"):
        InterpretableWeights([0.2, 5.9, 9.5], np.ones((3, 2)), np.ones((1, 2)))  # was [0 5 9]
    weights = InterpretableWeights([0, 5], np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0]]))
    hook = InterpretableStepHook(weights, lambda: [0.9, 5.7])
    with pytest.raises(IndexDtypeError, match="InterpretableStepHook source\\(\\) indices must be integers"):
        hook.scale([torch.nn.Parameter(torch.ones(2))])  # I_w was computed for rows 0 and 5
    data = from_arrays(np.zeros((6, 8, 8), dtype=np.uint8), np.arange(6) % 2, name="toy")
    with pytest.raises(ValueError, match="predict_proba batch_size must be an int >= 1; got -5"):
        predict_proba(make_classifier((1, 8, 8), 2), data, np.arange(6), batch_size=-5)  # returned 0 rows


def test_folder_train_test_layout_refuses_split_settings_it_cannot_use(tmp_path):
    from PIL import Image

    from masimu_env import datasets

    for part in ("train", "test"):
        for name in ("a", "b"):
            (tmp_path / part / name).mkdir(parents=True)
            Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / part / name / "x.png")
    assert len(datasets.load("folder", root=tmp_path, split="train")) == 2
    with pytest.raises(ValueError, match="test_fraction must be a number in"):
        datasets.load("folder", root=tmp_path, split="train", test_fraction=7.5)  # loaded without a word
    with pytest.raises(ValueError, match="has train/ and test/ folders, its own split"):
        datasets.load("folder", root=tmp_path, split="train", test_fraction=0.3)
