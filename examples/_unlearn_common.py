"""Shared command line of the ``unlearn_<dataset>.py`` examples: parse, run, print the table."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from masimu_env.argtypes import open_fraction, positive_int
from masimu_env.datasets import ImageDataset
from unlearning import DEFAULT_METHODS, run_experiment
from unlearning.methods import ALL_METHODS, settings_read_by


def parser(description: str, needs_root: bool) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    if needs_root:
        p.add_argument("--root", default=None,
                       help="the dataset's own folder (default: $MASIMU_DATA/<name>, see `masimu datasets`)")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=ALL_METHODS, metavar="METHOD")
    p.add_argument("--seeds", type=positive_int, default=1)
    p.add_argument("--out", default=None, help="report folder (default runs/<example>)")
    p.add_argument("--cnn-epochs", type=positive_int, default=None)
    p.add_argument("--ma-epochs", type=positive_int, default=None)
    p.add_argument("--forget-fraction", type=open_fraction, default=0.1)
    p.add_argument("--quick", action="store_true",
                   help="tiny settings (1 epoch everywhere, few LIME samples): a smoke run, not a result")
    return p


def split_in_two(images: ImageDataset, test_fraction: float = 0.15, seed: int = 0) -> tuple[ImageDataset, ImageDataset]:
    """Seeded permutation split of one folder of images into (train, test), for samples with one split only."""
    order = np.random.default_rng(seed).permutation(len(images))
    cut = len(images) - int(math.ceil(test_fraction * len(images)))
    train, test = images.subset(np.sort(order[:cut])), images.subset(np.sort(order[cut:]))
    train.split, test.split = "train", "test"
    return train, test


def run(args: argparse.Namespace, dataset: Any, name: str, **kw: Any) -> None:
    """Run the experiment and print the comparison table."""
    settings: dict[str, Any] = dict(kw.pop("settings", {}) or {})
    method_settings: dict[str, dict[str, Any]] | None = None
    cnn_epochs, ma_epochs = args.cnn_epochs, args.ma_epochs
    if args.quick:
        cnn_epochs, ma_epochs = cnn_epochs or 1, ma_epochs or 1
        quick = dict(epochs=1, lime_num_samples=32, retrain_epochs=1)
        # only what the chosen methods use: run_experiment refuses a setting none of them would read
        used = settings_read_by(args.methods)
        settings.update({k: v for k, v in quick.items() if k in used})
        method_settings = {}
    extra = {k: v for k, v in (("cnn_epochs", cnn_epochs), ("ma_epochs", ma_epochs)) if v is not None}
    report = run_experiment(dataset, methods=args.methods, seeds=range(args.seeds), out_dir=args.out or f"runs/{name}",
                            forget_fraction=args.forget_fraction, settings=settings,
                            method_settings=method_settings, **extra, **kw)
    print()
    print(report.to_markdown())
    print(f"\nReport files in {args.out or f'runs/{name}'}/")


def main_for(name: str, description: str, make_dataset: Callable[[argparse.Namespace], Any] | None = None,
             extra_args: Callable[[argparse.ArgumentParser], None] | None = None, argv: Sequence[str] | None = None,
             **kw: Any) -> None:
    p = parser(description, needs_root=make_dataset is not None)
    if extra_args:
        extra_args(p)
    args = p.parse_args(argv)
    dataset = make_dataset(args) if make_dataset else name
    run(args, dataset, name, **kw)
