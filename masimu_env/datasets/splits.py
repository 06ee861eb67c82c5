"""Seeded, stratified, group-aware splits: train/test for the readers and retain/forget for unlearning.

Sizes follow the paper's Table 3: the test part is ``ceil(n * test_fraction)`` (HAM10000:
1,503 of 10,015; RESISC-45: 4,725 of 31,500) and the forget part is ``floor(n * forget_fraction)``
(HAM10000 train: 851 of 8,512; RESISC-45 train: 2,677 of 26,775). Whenever ``groups`` are given,
whole groups go to one side, so no group (e.g. a HAM10000 ``lesion_id``) appears on both sides.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import check_indices, check_int, check_seed, is_real
from .base import _integer_array
from ..serialization import python_numbers, write_text_atomically

if TYPE_CHECKING:
    from .base import ImageDataset

SPLITS = ("train", "test", "all")
"""Values accepted for ``split=`` by every reader."""


def check_split(split: str, name: str) -> None:
    """Raise ``ValueError`` unless ``split`` is one of :data:`SPLITS`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, SPLITS))} for {name}; got {split!r}.")


def _group_codes(groups: Sequence[Any] | np.ndarray | None, n: int) -> np.ndarray:
    """(n,) int64 code per sample; every sample its own group when ``groups`` is None."""
    if groups is None:
        return np.arange(n, dtype=np.int64)
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"groups must have shape ({n},) to match labels; got {groups.shape}.")
    _, codes = np.unique(groups, return_inverse=True)
    return codes.reshape(-1).astype(np.int64)


def _apportion(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over strata proportionally to ``counts`` (largest remainder, ties to lower index)."""
    quotas = counts * (total / counts.sum())
    base = np.floor(quotas).astype(np.int64)
    remainder = total - int(base.sum())
    order = np.lexsort((np.arange(len(counts)), -(quotas - base)))
    base[order[:remainder]] += 1
    return base


def _fill_groups(group_ids: np.ndarray, group_sizes: np.ndarray, target: int, rng: np.random.Generator) -> list[int]:
    """Pick whole groups in a random order, skipping any that would overshoot ``target`` samples.

    Hits ``target`` exactly whenever small enough groups remain (always without groups).
    """
    chosen: list[int] = []
    filled = 0
    for g in rng.permutation(group_ids):
        if filled >= target:
            break
        if filled + group_sizes[g] <= target:
            chosen.append(int(g))
            filled += int(group_sizes[g])
    return chosen


def group_stratified_split(
    labels: Sequence[int] | np.ndarray,
    part_size: int,
    groups: Sequence[Any] | np.ndarray | None = None,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Split sample indices into ``(rest, part)`` with ``len(part) ~= part_size``.

    Args:
        labels: (n,) int class of each sample.
        part_size: number of samples wanted in ``part``; met exactly unless group sizes forbid it.
        groups: (n,) group id of each sample or ``None``; a group never straddles the split. A
            group is stratified under the label of its first sample.
        seed: seed of the numpy generator; same inputs and seed give the same split.
        stratify: keep each class's share in ``part`` proportional to its share in the data.

    Returns:
        rest, part: sorted int64 index arrays, disjoint, together covering ``range(n)``.
    """
    labels = _integer_array(labels, "labels").reshape(-1)  # float labels were truncated into classes
    n = labels.shape[0]
    if not 0 < part_size < n:
        raise ValueError(f"split size must lie in [1, {n - 1}] for {n} samples; got {part_size}.")
    codes = _group_codes(groups, n)
    num_groups = int(codes.max()) + 1 if n else 0
    group_sizes = np.bincount(codes, minlength=num_groups)
    first = np.full(num_groups, n, dtype=np.int64)
    np.minimum.at(first, codes, np.arange(n))
    group_labels = labels[first] if stratify else np.zeros(num_groups, dtype=np.int64)
    strata = np.unique(group_labels)
    stratum_counts = np.array([group_sizes[group_labels == s].sum() for s in strata], dtype=np.int64)
    targets = _apportion(stratum_counts, part_size)
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for stratum, target in zip(strata, targets):
        chosen += _fill_groups(np.flatnonzero(group_labels == stratum), group_sizes, int(target), rng)
    shortfall = part_size - int(group_sizes[chosen].sum()) if chosen else part_size
    if shortfall > 0:
        # a class whose groups could not fill its share exactly: make the total up from any class's groups (a
        # split that was exact before is left unchanged), so part_size is met whenever group sizes allow it
        left = np.setdiff1d(np.arange(num_groups), np.asarray(chosen, dtype=np.int64))
        chosen += _fill_groups(left, group_sizes, shortfall, rng)
    in_part = np.zeros(num_groups, dtype=bool)
    in_part[chosen] = True
    mask = in_part[codes]
    part, rest = np.flatnonzero(mask), np.flatnonzero(~mask)
    if part.size == 0 or rest.size == 0:
        raise ValueError(f"split of {n} samples into {part_size} is empty on one side because groups are too large; "
                         "use a larger fraction or smaller groups.")
    return rest, part


def train_test_indices(
    labels: Sequence[int] | np.ndarray,
    groups: Sequence[Any] | np.ndarray | None = None,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified, group-aware train/test split with ``ceil(n * test_fraction)`` test samples.

    Args:
        labels: (n,) int class of each sample.
        groups: (n,) group ids (no group on both sides) or ``None``.
        test_fraction: in (0, 1); 0.15 gives the paper's 85/15 proportions.
        seed: split seed.

    Returns:
        train, test: sorted int64 index arrays into ``labels``.
    """
    check_fraction(test_fraction, "test_fraction")
    # None would draw a fresh split on every load, so a train and a test load could overlap
    seed = check_seed(seed, "seed")
    n = len(labels)
    return group_stratified_split(labels, math.ceil(n * test_fraction - 1e-9), groups=groups, seed=seed)


def check_fraction(value: Any, name: str) -> float:
    """``value`` as a float, or a ValueError naming ``name`` unless it is a real number (not a bool) in (0, 1)."""
    if not is_real(value) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number in (0, 1); got {value!r}.")
    return float(value)


def select_split(indices_train: np.ndarray, indices_test: np.ndarray, split: str) -> np.ndarray:
    """Indices for ``split`` ("train", "test" or "all")."""
    if split == "train":
        return indices_train
    if split == "test":
        return indices_test
    return np.sort(np.concatenate([indices_train, indices_test]))


# --- retain / forget ---

@dataclass(frozen=True, eq=False)
class RetainForgetSplit:
    """Indices of the retain and forget sets within one dataset, savable to JSON.

    Attributes:
        retain: (r,) int64 sorted indices into the dataset.
        forget: (f,) int64 sorted indices into the dataset.
        num_samples: length of the dataset the indices refer to.
        mode: "random", "class" or "custom".
        seed: seed that produced the split (None when given by hand).
        forget_classes: class names forgotten in "class" mode.
        dataset: name of the dataset (informational).
    """

    retain: np.ndarray
    forget: np.ndarray
    num_samples: int
    mode: str = "custom"
    seed: int | None = None
    forget_classes: tuple[str, ...] = ()
    dataset: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        retain = np.sort(check_indices(self.retain, self.num_samples, "RetainForgetSplit.retain indices",
                                       size_name="num_samples"))
        forget = np.sort(check_indices(self.forget, self.num_samples, "RetainForgetSplit.forget indices",
                                       size_name="num_samples"))
        for part_name, part in (("retain", retain), ("forget", forget)):
            if part.size == 0:
                raise ValueError(f"RetainForgetSplit.{part_name} is empty; both sets need at least one sample.")
            if np.any(part[1:] == part[:-1]):
                raise ValueError(f"RetainForgetSplit.{part_name} holds duplicate indices, e.g. "
                                 f"{int(part[1:][part[1:] == part[:-1]][0])}.")
        overlap = np.intersect1d(retain, forget)
        if overlap.size:
            raise ValueError(f"RetainForgetSplit: {overlap.size} indices are in both retain and forget, "
                             f"e.g. {overlap[:5].tolist()}.")
        object.__setattr__(self, "retain", retain.astype(np.int64))
        object.__setattr__(self, "forget", forget.astype(np.int64))
        object.__setattr__(self, "forget_classes", tuple(self.forget_classes))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RetainForgetSplit):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # holds mutable arrays

    def check(self, ds: "ImageDataset") -> None:
        """Raise ``ValueError`` if this split does not fit ``ds`` (length, or a group on both sides)."""
        if len(ds) != self.num_samples:
            raise ValueError(f"split was made for {self.num_samples} samples but dataset {ds.name!r} has {len(ds)}; "
                             "load the same dataset/split that produced it.")
        if ds.groups is not None:
            shared = np.intersect1d(np.unique(ds.groups[self.retain]), np.unique(ds.groups[self.forget]))
            if shared.size:
                raise ValueError(f"{shared.size} groups have samples in both retain and forget, e.g. {shared[:3].tolist()}.")

    def subsets(self, ds: "ImageDataset") -> tuple["ImageDataset", "ImageDataset"]:
        """``(retain, forget)`` dataset views of ``ds`` after :meth:`check`."""
        self.check(ds)
        return ds.subset(self.retain), ds.subset(self.forget)

    def to_dict(self) -> dict[str, Any]:
        # plain Python values: a NumPy seed or fraction (from a sweep) used to make to_json fail
        return python_numbers({"format": "masimu.retain_forget/1", "dataset": self.dataset, "num_samples": int(self.num_samples),
                       "mode": self.mode, "seed": self.seed, "forget_classes": list(self.forget_classes),
                       "meta": self.meta, "retain": self.retain.tolist(), "forget": self.forget.tolist()})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RetainForgetSplit":
        missing = [k for k in ("num_samples", "retain", "forget") if k not in data]
        if missing:
            raise ValueError(f"retain/forget split data lacks keys {missing}; expected the output of to_dict().")
        retain, forget = np.asarray(data["retain"]), np.asarray(data["forget"])
        for name, array in (("retain", retain), ("forget", forget)):
            if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
                raise ValueError(f"{name} must be a flat list of integers; got shape {array.shape}, dtype {array.dtype}.")
        num_samples = check_int(data["num_samples"], "num_samples", 1)  # 10.9 was truncated to 10
        mode = data.get("mode", "custom")
        if mode not in ("random", "class", "custom"):
            raise ValueError(f"mode must be 'random', 'class' or 'custom'; got {mode!r}.")
        seed = check_seed(data.get("seed"), "seed", optional=True)
        return cls(retain=retain, forget=forget, num_samples=num_samples, mode=mode, seed=seed,
                   forget_classes=tuple(data.get("forget_classes", ())), dataset=data.get("dataset", ""),
                   meta=dict(data.get("meta", {})))

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write to ``path`` atomically (temporary file, then rename)."""
        write_text_atomically(path, json.dumps(self.to_dict()))

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> "RetainForgetSplit":
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"'{path}' is not valid JSON ({err}); expected a file written by RetainForgetSplit.to_json.") from None
        if not isinstance(data, dict):
            raise ValueError(f"'{path}' holds {type(data).__name__}; expected a JSON object from RetainForgetSplit.to_json.")
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise ValueError(f"'{path}': {err}") from None

    def __repr__(self) -> str:
        return (f"RetainForgetSplit(dataset={self.dataset!r}, mode={self.mode!r}, retain={self.retain.size}, "
                f"forget={self.forget.size}, num_samples={self.num_samples})")


def _class_indices(ds: "ImageDataset", forget_classes: Sequence[int | str]) -> list[int]:
    out: list[int] = []
    for c in forget_classes:
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool):
            if not 0 <= int(c) < ds.num_classes:
                raise ValueError(f"forget_classes entry {c} out of range [0, {ds.num_classes}) for {ds.name!r}.")
            out.append(int(c))
        elif isinstance(c, str) and c in ds.classes:  # a class name first: folder classes may be named "1", "10"
            out.append(ds.classes.index(c))
        elif isinstance(c, str) and c.isdigit() and int(c) < ds.num_classes:  # else digits are a label index
            out.append(int(c))
        else:
            raise ValueError(f"forget_classes entry {c!r} is not a class of {ds.name!r}; classes: {', '.join(ds.classes)}.")
    if len(set(out)) != len(out):
        raise ValueError(f"forget_classes has duplicates: {list(forget_classes)}.")
    return out


def retain_forget_split(
    ds: "ImageDataset",
    forget_fraction: float | None = None,
    mode: str = "random",
    forget_classes: Sequence[int | str] | None = None,
    seed: int = 0,
) -> RetainForgetSplit:
    """Split ``ds`` into retain and forget index sets, group-aware when ``ds.groups`` is set.

    Args:
        ds: the (training) dataset to unlearn from.
        forget_fraction: in (0, 1); None: 0.1. "random": the forget set holds ``floor(len(ds) * forget_fraction)``
            samples (whole groups, uniformly at random; exact unless group sizes forbid it). "class"
            with ``forget_classes=None``: ``max(1, round(num_classes * forget_fraction))`` classes are
            drawn at random. It does not apply when ``forget_classes`` names the classes, and is refused then.
        mode: "random" (a random share of the samples) or "class" (every sample of ``forget_classes``).
        forget_classes: class names or label ints, "class" mode only. A string is a class name when one is
            spelled so, else (all digits) a label index.
        seed: seed of the draw.

    Returns:
        A :class:`RetainForgetSplit` whose ``retain`` and ``forget`` partition ``range(len(ds))``.
    """
    if forget_fraction is not None and forget_classes is not None and mode == "class":
        raise ValueError(f"forget_fraction={forget_fraction} does not apply when forget_classes names the classes to "
                         "forget (they are forgotten whole); leave it unset.")  # it was ignored, and recorded
    if forget_fraction is not None or forget_classes is None:
        forget_fraction = check_fraction(0.1 if forget_fraction is None else forget_fraction, "forget_fraction")
    seed = check_seed(seed, "seed")  # None drew a different split on every call (and recorded seed=None)
    if isinstance(forget_classes, (str, bytes)):  # "12" was read letter by letter: classes 1 and 2
        raise ValueError(f"forget_classes must be a list of class names or label indices; got the string "
                         f"{forget_classes!r} (write [{forget_classes!r}] for one class).")
    n = len(ds)
    rng = np.random.default_rng(seed)
    if mode == "random":
        if forget_classes is not None:
            raise ValueError("forget_classes is only used with mode='class'; drop it or set mode='class'.")
        size = math.floor(n * forget_fraction + 1e-9)
        if size < 1:
            raise ValueError(f"forget_fraction={forget_fraction} of {n} samples leaves an empty forget set; raise it.")
        retain, forget = group_stratified_split(ds.labels, size, groups=ds.groups, seed=seed, stratify=False)
        names: tuple[str, ...] = ()
    elif mode == "class":
        if forget_classes is None:
            k = max(1, round(ds.num_classes * forget_fraction))
            present = np.unique(ds.labels)
            if k >= present.size:
                raise ValueError(f"{k} forget classes drawn from {present.size} present classes leaves no retain set; "
                                 "lower forget_fraction or pass forget_classes=.")
            class_ids = sorted(int(c) for c in rng.choice(present, size=k, replace=False))
        else:
            class_ids = _class_indices(ds, forget_classes)
        in_forget = np.isin(ds.labels, class_ids)
        if ds.groups is not None:
            codes = _group_codes(ds.groups, n)
            mixed = np.unique(codes[in_forget])[np.isin(np.unique(codes[in_forget]), codes[~in_forget])]
            if mixed.size:
                example = ds.groups[np.flatnonzero(codes == mixed[0])[0]]
                raise ValueError(f"{mixed.size} groups of {ds.name!r} hold both forgotten and retained classes "
                                 f"(e.g. group {example!r}); a class split cannot keep them on one side.")
        forget, retain = np.flatnonzero(in_forget), np.flatnonzero(~in_forget)
        if forget.size == 0:
            raise ValueError(f"forget_classes {[ds.classes[c] for c in class_ids]} have no samples in {ds.name!r}.")
        if retain.size == 0:
            raise ValueError(f"forget_classes {[ds.classes[c] for c in class_ids]} cover every sample of {ds.name!r}.")
        names = tuple(ds.classes[c] for c in class_ids)
    else:
        raise ValueError(f"mode must be 'random' or 'class'; got {mode!r}.")
    return RetainForgetSplit(retain=retain, forget=forget, num_samples=n, mode=mode, seed=seed,
                             forget_classes=names, dataset=ds.name,
                             meta={"forget_fraction": forget_fraction, "split": ds.split})
