"""`masimu train`: train MASMU/MALMU on a dataset, print per-epoch progress and the test accuracy, write checkpoint + metrics.

Usage:
    python -m agents.train --dataset digits --epochs 20 --out runs/digits
    python -m agents.train --dataset mnist --root /data --split-from test --out runs/mnist
    torchrun --standalone --nproc_per_node=2 -m agents.train --dataset digits --out runs/ddp

Every :class:`AgentConfig` field is also an option (``--hidden-size 64``, ``--belief lstm`` ...); fields
left unset take the dataset's paper defaults (:meth:`AgentConfig.for_dataset`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import time
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from masimu_env import datasets
from masimu_env.argtypes import positive_int
from masimu_env.config import check_device

from .config import AgentConfig, field_help
from .ddp import cleanup_distributed, init_distributed, rank_device
from .learner import MAReinforce
from .plots import plot_history
from .serialization import write_text_atomically
from .rollout import uniform_log_prob
from .tensorboard import INSTALL_HINT, TensorBoardLogger

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"
CURVES_NAME = "curves.png"
DATA_NAME = "data.json"  # the data options of a run, which --resume must keep
DEFAULT_TRAIN_FRACTION = 0.85  # share of the --split-from rows trained on


def _parse_optional_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false; got {text!r}")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except where the help already names the real one (the AgentConfig flags, and run flags whose
    None means "see the text") and for switches."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action) or ""


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser: run options, then one option per AgentConfig field."""
    parser = argparse.ArgumentParser(prog="masimu train", description=__doc__.splitlines()[0],
                                     formatter_class=_HelpFormatter)
    run = parser.add_argument_group("run")
    run.add_argument("--dataset", required=True, help=f"dataset name; one of {', '.join(datasets.available())}")
    run.add_argument("--root", default=None, help="folder holding the dataset's native files (not needed for digits)")
    run.add_argument("--download", action="store_true",
                     help="fetch missing MNIST / CIFAR-10 files into --root with torchvision's downloaders")
    run.add_argument("--image-size", type=positive_int, default=None,
                     help="resize images to this side (high-res datasets)")
    run.add_argument("--out", default="runs/train",
                     help="folder for checkpoint.pt, metrics.json, history.{json,csv}, curves.png and data.json")
    run.add_argument("--split-from", default=None,
                     help="make train/test from this one split with np.random.default_rng(0).permutation "
                          "(e.g. 'test' for the MNIST t10k file alone) instead of the train and test splits")
    run.add_argument("--train-fraction", type=float, default=None,
                     help="share of --split-from rows used for training (only with --split-from; default "
                          f"{DEFAULT_TRAIN_FRACTION})")
    run.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt up to --epochs in total")
    run.add_argument("--max-minutes", type=float, default=None, help="stop after the epoch that passes this budget")
    run.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    run.add_argument("--threads", type=positive_int, default=None,
                     help="torch CPU threads (default: 1 for digits, mnist and cifar10, whose tiny networks run faster "
                          "single-threaded; torch's default otherwise)")
    run.add_argument("--tensorboard", nargs="?", const="", default=None, metavar="DIR",
                     help="also log each epoch's metrics to TensorBoard, in DIR (default --out/tensorboard); needs "
                          "pip install 'masimu[tensorboard]'")
    helps = field_help()
    cfg_group = parser.add_argument_group("AgentConfig (unset: dataset defaults)")
    hints = typing.get_type_hints(AgentConfig)
    for f in fields(AgentConfig):
        choices = typing.get_args(hints[f.name]) if typing.get_origin(hints[f.name]) is typing.Literal else None
        default = f.default if f.default is not MISSING else None
        text = helps.get(f.name, "").replace("%", "%%")
        # SUPPRESS: an unset flag is absent from the namespace, so "--grad-clip none" (a given None) is not
        # mistaken for "not given" (it was silently ignored)
        cfg_group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=_field_reader(f.name)[0],
                               default=argparse.SUPPRESS, choices=choices,
                               help=f"{text} (default: {default}, or the dataset's default)")
    return parser


def _field_reader(name: str) -> tuple[Callable[[str], Any], str]:
    """How the text of AgentConfig field ``name`` is read (the --<name> flag's argparse type), and what it expects
    in words. The graph stays text here; :func:`parse_field` reads a JSON list of lists."""
    hint = typing.get_type_hints(AgentConfig)[name]
    if name == "grad_clip":
        return _parse_optional_float, "a number or none"
    if hint is bool:
        return _bool, "true or false"
    if hint is int:
        return int, "an integer"
    if hint is float:
        return float, "a number"
    return str, "text"


def parse_field(name: str, text: str) -> Any:
    """The value of AgentConfig field ``name`` written as command-line text, read exactly as ``masimu train``'s
    ``--<name>`` flag reads it: an int or float by the field's type, true/false (or 1/0, yes/no) for a bool, a
    number or 'none' for grad_clip, a graph name or a JSON list of lists for graph, the text itself otherwise.
    ``benchmarks/train_ma.py --set`` reads its values with it too. The config itself checks ranges and choices.

    Raises:
        ValueError: naming the field, when the text is not what it expects.
    """
    if name not in AgentConfig.__dataclass_fields__:
        raise ValueError(f"{name!r} is not an AgentConfig field; fields: {', '.join(AgentConfig.__dataclass_fields__)}.")
    reader, expected = _field_reader(name)
    try:
        value = reader(text)
    except (ValueError, argparse.ArgumentTypeError):
        raise ValueError(f"AgentConfig.{name} expects {expected}; got {text!r}.") from None
    if name == "graph" and value.lstrip().startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"AgentConfig.graph {text!r} is neither a graph name nor a JSON list of lists: "
                             f"{err}") from None
    return value


def load_splits(dataset: str, root: str | None, image_size: int | None, split_from: str | None,
                train_fraction: float | None, download: bool = False) -> tuple[Any, Any, np.ndarray, np.ndarray]:
    """(train_ds, test_ds, train_rows, test_rows); with ``split_from`` both are the same dataset. ``download``
    fetches MNIST / CIFAR-10 files that are missing (``datasets.load(download=True)``)."""
    if split_from is None and train_fraction is not None:
        raise ValueError("--train-fraction applies only with --split-from (the train and test splits are used as "
                         "they are otherwise).")
    train_fraction = DEFAULT_TRAIN_FRACTION if train_fraction is None else train_fraction
    kw: dict[str, Any] = {"download": download}
    if root is not None:
        kw["root"] = root
    if image_size is not None:
        kw["image_size"] = image_size
    if split_from is not None:
        if not 0 < train_fraction < 1:
            raise ValueError(f"--train-fraction must lie in (0, 1); got {train_fraction}.")
        ds = datasets.load(dataset, split=split_from, **kw)
        order = np.random.default_rng(0).permutation(len(ds))
        n_train = int(round(train_fraction * len(ds)))
        if n_train == 0 or n_train == len(ds):
            raise ValueError(f"--train-fraction {train_fraction} of {len(ds)} images leaves "
                             f"{'no training' if n_train == 0 else 'no test'} images.")
        return ds, ds, order[:n_train], order[n_train:]
    try:
        train = datasets.load(dataset, split="train", **kw)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err}\nIf only the test split is on disk (e.g. MNIST t10k), "
                                f"pass --split-from test to split it into train/test.") from None
    test = datasets.load(dataset, split="test", **kw)
    return train, test, np.arange(len(train)), np.arange(len(test))


def _read_data_options(path: Path) -> dict[str, Any]:
    """The data options a run saved in ``path`` (``data.json``), or a ValueError naming the file."""
    try:
        options = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"--resume: '{path}' cannot be read ({err}); it records the data the run was trained on. "
                         "Restore it, or train into a new --out.") from None
    if not isinstance(options, dict):
        raise ValueError(f"--resume: '{path}' holds {type(options).__name__}, not the data options of a run; restore "
                         "it, or train into a new --out.")
    if options.get("split_from") is not None and options.get("train_fraction") is None:
        options["train_fraction"] = DEFAULT_TRAIN_FRACTION  # written by runs that stored the default as None
    return options


def _flag_changes(given: dict[str, Any], saved: dict[str, Any]) -> str:
    """The flags among ``given`` whose value differs from ``saved``'s, as "--flag new (saved: old), ..." ("" if
    none)."""
    return ", ".join(f"--{k.replace('_', '-')} {v!r} (saved: {saved.get(k)!r})"
                     for k, v in sorted(given.items()) if v != saved.get(k))


def _check_run_args(args: argparse.Namespace) -> None:
    """Errors naming the flag, before any data is loaded or any epoch trained (and before --out is made)."""
    if args.dataset not in datasets.available():  # a typo used to leave an empty --out folder behind
        raise ValueError(f"--dataset {args.dataset!r} is not a dataset; choose one of {', '.join(datasets.available())}.")
    if args.max_minutes is not None and not 0 < args.max_minutes < math.inf:
        raise ValueError(f"--max-minutes must be a finite number > 0; got {args.max_minutes}.")
    if getattr(args, "device", None) is not None:
        check_device(args.device, "--device")
    if getattr(args, "graph", None) is not None:
        args.graph = parse_field("graph", args.graph)  # its error names AgentConfig.graph, as --seed's names .seed
    if args.tensorboard is not None and importlib.util.find_spec("tensorboard") is None:
        raise ValueError(f"--tensorboard needs {INSTALL_HINT}")
    if args.tensorboard and Path(args.tensorboard).exists() and not Path(args.tensorboard).is_dir():
        raise ValueError(f"--tensorboard {args.tensorboard} is a file, not a folder.")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {args.out} is a file, not a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out {args.out} cannot be created: {err}") from None


def train_main(argv: list[str] | None = None) -> int:
    """Entry point of ``masimu train``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.threads is not None:  # the masimu command applies it (and the small-image default) before this
        torch.set_num_threads(args.threads)
    _check_run_args(args)
    checkpoint = Path(args.out) / CHECKPOINT_NAME
    if checkpoint.is_file() and not args.resume:
        raise ValueError(f"--out {args.out} already holds a trained model ({checkpoint}); pass --resume to continue "
                         "it, or choose another --out.")
    if args.resume and not checkpoint.is_file():
        print(f"--resume: no {checkpoint} yet, so training starts from scratch", flush=True)
    saved_state = MAReinforce.read_checkpoint(checkpoint) if args.resume and checkpoint.is_file() else None
    if getattr(args, "device", None) is None and saved_state is not None:
        # continue on the device family it was trained on; under torchrun every rank then takes its own GPU
        saved_device = str(saved_state["config"]["device"])
        args.device = "cuda" if saved_device.startswith("cuda") else saved_device
        try:
            check_device(args.device, "device")
        except ValueError as err:
            raise ValueError(f"--resume: {checkpoint} was trained on {saved_device!r}, which this machine cannot use "
                             f"({err}); pass --device cpu (or another device it has).") from None
    rank, world = init_distributed(device=getattr(args, "device", None) or "cpu")
    finished = False
    try:
        train, test, train_rows, test_rows = load_splits(args.dataset, args.root, args.image_size, args.split_from,
                                                         args.train_fraction, download=args.download)
        image_shape = tuple(train.image_shape)
        overrides = {f.name: getattr(args, f.name) for f in fields(AgentConfig) if hasattr(args, f.name)}
        if "device" in overrides:
            overrides["device"] = rank_device(overrides["device"])
        out = Path(args.out)
        # the data options as resolved (the default train fraction written out), and the world size, which sets the
        # shards and the effective batch: a resume must keep all of them to continue exactly
        data_options = {"dataset": args.dataset, "split_from": args.split_from,
                        "train_fraction": (args.train_fraction if args.train_fraction is not None
                                           else DEFAULT_TRAIN_FRACTION) if args.split_from is not None else None,
                        "image_size": args.image_size, "world_size": world}
        data_file = out / DATA_NAME
        if saved_state is not None:
            if data_file.is_file():  # the rows it was trained on: a resume must keep them
                saved_options = _read_data_options(data_file)
                saved_world = saved_options.get("world_size", world)
                if saved_world != world:  # not a flag: the number of torchrun processes
                    raise ValueError(f"--resume continues {checkpoint} with the world size it was trained with: "
                                     f"relaunch with torchrun --nproc_per_node {saved_world} (this run has {world} "
                                     "process(es)).")
                moved = _flag_changes({k: v for k, v in data_options.items()
                                       if k in saved_options and k != "world_size"}, saved_options)
                if moved:
                    raise ValueError(f"--resume continues {checkpoint} on the data it was trained on; these differ "
                                     f"from it: {moved}.")
            model = MAReinforce.from_state_dict(saved_state, device=overrides.get("device"), source=checkpoint)
            given = {k: v for k, v in overrides.items() if k not in ("epochs", "device")}
            if "graph" in given and torch.equal(model.config.replace(graph=given["graph"]).sim_config.adjacency(),
                                                model.config.sim_config.adjacency()):
                given.pop("graph")  # the same graph spelt another way (a name or its matrix)
            changed = _flag_changes(given, model.config.to_dict())
            if changed:
                raise ValueError(f"--resume continues {checkpoint} with its saved settings; only --epochs and --device "
                                 f"may change. These flags differ from it: {changed}. Drop them, or train into a new "
                                 "--out.")
            target = overrides.get("epochs", model.config.epochs)
            if target < model.epochs_done:  # a negative or smaller --epochs used to train nothing and exit 0
                raise ValueError(f"--epochs {target} is the total to reach, but {checkpoint} has done "
                                 f"{model.epochs_done} epochs already; pass --epochs {model.epochs_done} or more.")
            model.config = model.config.replace(epochs=target)  # the saved config and metrics say the real total
            remaining = target - model.epochs_done
            if rank == 0:
                print(f"resuming from {checkpoint} after {model.epochs_done} epochs; {remaining} to go", flush=True)
        else:
            if rank == 0:
                write_text_atomically(data_file, json.dumps(data_options, indent=2))
            config = AgentConfig.for_dataset(args.dataset, image_side=min(image_shape[1:]), **overrides)
            model = MAReinforce(config, train.num_classes, image_shape)
            remaining = config.epochs
        cfg = model.config
        if rank == 0:
            print(f"{args.dataset}: {len(train_rows)} train / {len(test_rows)} test images {image_shape}; "
                  f"{'MASMU (GRU)' if cfg.belief == 'gru' else 'MALMU (LSTM)'} {cfg.n_agents} agents x {cfg.n_steps} "
                  f"steps, window {cfg.window}; world size {world}", flush=True)
        start = time.perf_counter()
        logger = (contextlib.nullcontext() if args.tensorboard is None
                  else TensorBoardLogger(args.tensorboard or out / "tensorboard"))
        with logger as tensorboard:
            model.fit(train, epochs=remaining, indices=train_rows, checkpoint_path=checkpoint,
                      metrics_path=out / "history.json", progress=not args.no_progress, verbose=True,
                      max_seconds=None if args.max_minutes is None else 60 * args.max_minutes,
                      callbacks=[] if tensorboard is None else [tensorboard])
        train_seconds = time.perf_counter() - start
        if rank == 0:
            model.save(checkpoint)  # also when no epoch ran (fit saves after each epoch)
            metrics = model.evaluate(test, indices=test_rows)
            summary = dict(dataset=args.dataset, test_accuracy=metrics["accuracy"], test_loss=metrics["loss"],
                           test_nll=metrics["nll"], per_class_accuracy=metrics["per_class_accuracy"],
                           n_test=metrics["n"], n_train=int(len(train_rows)), epochs_done=model.epochs_done,
                           train_seconds=train_seconds, world_size=world, config=cfg.to_dict(),
                           history=model.history)
            out.mkdir(parents=True, exist_ok=True)
            write_text_atomically(out / METRICS_NAME, json.dumps(summary, indent=2))
            written = f"{checkpoint} and {out / METRICS_NAME}"
            if model.history:
                plot_history(model.history, out / CURVES_NAME, title=args.dataset,
                             uniform_log_prob=uniform_log_prob(cfg.n_agents, cfg.n_steps), policy=cfg.policy,
                             eval_policy=cfg.eval_policy)
                written = f"{checkpoint}, {out / METRICS_NAME} and {out / CURVES_NAME}"
            print(f"test accuracy {metrics['accuracy']:.4f} (loss {metrics['loss']:.4f}, {metrics['n']} images); "
                  f"wrote {written}", flush=True)
        finished = True
    finally:
        cleanup_distributed(wait=finished)  # the other ranks wait for rank 0's outputs before the teardown
    return 0


if __name__ == "__main__":  # e.g. torchrun ... -m agents.train: the masimu CLI's one-line errors and --debug
    import sys

    from unlearning.cli import main

    raise SystemExit(main(["train", *sys.argv[1:]]))
