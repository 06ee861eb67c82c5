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
