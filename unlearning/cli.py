"""The ``masimu`` command line: datasets, train, unlearn, render.

Errors are printed as one line (no traceback) unless ``--debug`` is given (or ``MASIMU_DEBUG=1`` is set).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _cmd_datasets(args: argparse.Namespace) -> int:
    from masimu_env import datasets

    print(f"{'name':<10} {'found':<6} where")
    for name in datasets.available():
        root = os.path.join(args.root, name) if args.root else None
        info = datasets.dataset_status(name, root=root)
        found = ("yes" if info.get("complete") else "part") if info.get("found") else "no"
        where = info.get("root") or "(embedded)"
        detail = info.get("detail", "")
        print(f"{name:<10} {found:<6} {where}" + (f"  [{detail}]" if detail else ""))
    print("\nfound: yes = every file of the official dataset; part = loadable, but some files are missing (see the "
          "brackets); no = nothing loadable.")
    print("Set MASIMU_DATA to a folder with one sub-folder per dataset (e.g. $MASIMU_DATA/mnist/MNIST/raw/...).")
    return 0


def _cmd_train(argv: Sequence[str]) -> int:
    from agents.train import train_main

    peek = argparse.ArgumentParser(add_help=False)  # --threads and its default by dataset, before torch works
    peek.add_argument("--dataset", default="")
    peek.add_argument("--threads", default=None)
    known, _ = peek.parse_known_args(list(argv))
    if known.threads is None:
        set_threads(None, known.dataset)
    return int(train_main(list(argv)) or 0)  # its parser checks and applies a given --threads


def build_unlearn_parser() -> argparse.ArgumentParser:
    from masimu_env.argtypes import open_fraction, positive_int
    from unlearning.experiment import DEFAULT_METHODS

    p = argparse.ArgumentParser(
        prog="masimu unlearn",
        description="Train (or load) the original models, split off a forget set, run the unlearning methods, "
                    "print the comparison table and write report.json, report.md and PNG plots to --out.")
    p.add_argument("--dataset", default="digits", help="dataset name (default: the embedded 'digits')")
    p.add_argument("--root", default=None, help="dataset folder (default $MASIMU_DATA/<dataset>)")
    p.add_argument("--image-size", type=positive_int, default=None,
                   help="resize images to this side (default: native; HAM10000 64)")
    p.add_argument("--download", action="store_true",
                   help="fetch missing MNIST / CIFAR-10 files into --root with torchvision's downloaders")
    p.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS),
                   help=f"registered methods (default: {' '.join(DEFAULT_METHODS)}; "
                        "see `python -c 'import unlearning; print(unlearning.available())'`)")
    p.add_argument("--seeds", type=positive_int, default=1,
                   help="number of seeds, run as 0..K-1 (default 1); the table shows mean ± std")
    p.add_argument("--out", default="runs/unlearn",
                   help="output folder (default runs/unlearn); a rerun reuses its originals and finished "
                        "checkpoints and replaces its report")
    p.add_argument("--forget-fraction", type=open_fraction, default=None,
                   help="share of the training images to forget (random mode) or of the classes to draw (class "
                        "mode without --forget-classes); default 0.1")
    p.add_argument("--forget-mode", choices=("random", "class"), default=None,
                   help="random: a random share of the images (default); class: whole classes (the default when "
                        "--forget-classes is given)")
    p.add_argument("--forget-classes", nargs="*", default=None,
                   help="class names, or label indices where no class has that name (implies --forget-mode class)")
    p.add_argument("--cnn-epochs", type=positive_int, default=None,
                   help="epochs of the original standard classifier, and of Retrain, which trains the same way "
                        "(default 25)")
    p.add_argument("--ma-epochs", type=positive_int, default=None,
                   help=f"epochs of the original multi-agent models, and of ma_retrain (default: {MA_EPOCHS_DEFAULT} "
                        "on digits, where MASMU passes 95%% test accuracy; 10 elsewhere)")
    p.add_argument("--original", action="append", default=[], metavar="KIND=PATH",
                   help="use a trained original instead of training one; KIND is cnn, ma_gru or ma_lstm "
                        "(PATH: a state dict for cnn, an MAReinforce checkpoint otherwise); repeatable")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu (default), cuda, cuda:1")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch CPU threads (default: 1 for the small-image datasets, whose tiny networks run "
                        "faster single-threaded; torch's default otherwise)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


SMALL_IMAGE_DATASETS = ("digits", "mnist", "cifar10")
MA_EPOCHS_DEFAULT = 40


def set_threads(threads: int | None, dataset: str) -> None:
    """Apply --threads (see build_unlearn_parser)."""
    import torch

    if threads is None and dataset in SMALL_IMAGE_DATASETS:
        threads = 1
    if threads is not None:
        if threads < 1:
            raise ValueError(f"--threads must be >= 1; got {threads}.")
        torch.set_num_threads(threads)


def _cmd_unlearn(argv: Sequence[str]) -> int:
    from masimu_env.config import check_device
    from unlearning.experiment import run_experiment

    parser = build_unlearn_parser()
    args = parser.parse_args(list(argv))
    if args.forget_mode is None:
        args.forget_mode = "class" if args.forget_classes else "random"
    elif args.forget_mode == "random" and args.forget_classes:
        parser.error("--forget-classes names whole classes to forget, which --forget-mode random does not; drop one.")
    set_threads(args.threads, args.dataset)
    originals = {}
    for item in args.original:
        kind, sep, path = item.partition("=")
        if not sep or kind not in ("cnn", "ma_gru", "ma_lstm"):
            raise ValueError(f"--original {item!r}: expected KIND=PATH with KIND in cnn, ma_gru, ma_lstm.")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--original {item!r}: no such file {path!r}.")
        if kind in originals:
            raise ValueError(f"--original gives {kind} twice ({originals[kind]!r} and {path!r}); give it once.")
        originals[kind] = path
    extra = {}
    if args.cnn_epochs is not None:
        extra["cnn_epochs"] = args.cnn_epochs
    if args.ma_epochs is not None:
        extra["ma_epochs"] = args.ma_epochs
    elif args.dataset == "digits":
        extra["ma_epochs"] = MA_EPOCHS_DEFAULT
    if originals:
        extra["originals"] = originals
    forget_classes = None
    if args.forget_classes is not None and not args.forget_classes:
        raise ValueError("--forget-classes was given without class names or indices; name them, e.g. "
                         "--forget-classes 3 7 (or drop the flag to forget a random fraction).")
    if args.forget_classes:
        forget_classes = list(args.forget_classes)  # names first, then label indices (retain_forget_split)
        if args.forget_fraction is not None:
            raise ValueError("--forget-fraction and --forget-classes exclude each other: the named classes are "
                             "forgotten whole.")
    if len(set(args.methods)) != len(args.methods):
        raise ValueError(f"--methods names a method twice: {' '.join(args.methods)}.")
    check_device(args.device, "--device")
    check_out_dir(args.out, parser)  # last: a run refused for another flag leaves no folder behind
    started = time.perf_counter()
    report = run_experiment(args.dataset, methods=args.methods, seeds=range(args.seeds), out_dir=args.out,
                            root=args.root, image_size=args.image_size, download=args.download,
                            forget_fraction=args.forget_fraction,
                            forget_mode=args.forget_mode, forget_classes=forget_classes, device=args.device,
                            progress=not args.no_progress, **extra)
    print()
    print(report.to_markdown())
    print(f"\nReport written to {Path(args.out).resolve()}/ (report.json, report.md, curves.png, time.png); "
          f"whole run {time.perf_counter() - started:.1f} s")
    return 0


def check_out_dir(out: str, parser: argparse.ArgumentParser) -> None:
    """A usage error naming --out unless it is a folder that exists or can be made (made here, so no training
    starts for a run that could not write its results)."""
    if not out:
        parser.error("--out is empty; name the output folder, e.g. --out runs/unlearn.")
    path = Path(out)
    if path.exists() and not path.is_dir():
        parser.error(f"--out {out} is a file; name a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        parser.error(f"--out {out} cannot be created: {err.strerror or err}.")
    if not os.access(path, os.W_OK | os.X_OK):
        parser.error(f"--out {out} is not writable.")


def _cmd_render(args: argparse.Namespace) -> int:
    import masimu_env
    from masimu_env.api.render import save_episode_gif

    if Path(args.out).suffix.lower() != ".gif":
        raise ValueError(f"--out {args.out}: render writes a GIF; give the file a .gif name.")

    download = {"download": True} if args.download else None
    if not args.checkpoint:
        extra = {} if args.device is None else {"device": args.device}
        env = masimu_env.parallel_env(args.dataset, root=args.root, split=args.split, image_size=args.image_size,
                                      dataset_options=download, render_mode="rgb_array", **extra)
        path = save_episode_gif(env, args.out, seed=args.seed)
        print(f"wrote {path} (random policy)")
        return 0
    from agents import MAReinforce
    from agents.pettingzoo_policy import PettingZooPolicy

    try:
        model = MAReinforce.load(args.checkpoint, device=args.device)
    except ValueError as err:
        raise ValueError(str(err).replace("pass device='cpu'", "pass --device cpu")) from None
    config = model.config.sim_config.replace(render_mode="rgb_array")
    env = masimu_env.parallel_env(args.dataset, root=args.root, split=args.split, image_size=args.image_size,
                                  dataset_options=download, config=config)
    if tuple(env.image_shape) != tuple(model.image_shape):
        raise ValueError(f"--checkpoint {args.checkpoint} was trained on {tuple(model.image_shape)} images, but "
                         f"--dataset {args.dataset} gives {tuple(env.image_shape)}; pass --image-size (or the "
                         "dataset it was trained on).")
    agent_policy = PettingZooPolicy(model.net, mode="greedy")

    def policy(observations: dict) -> dict:
        if float(next(iter(observations.values()))["time"][0]) == 0.0:  # first step of the episode
            agent_policy.reset(agents=list(observations))
        return agent_policy.act(observations)

    path = save_episode_gif(env, args.out, policy=policy, seed=args.seed)
    print(f"wrote {path} (greedy policy of {args.checkpoint})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from masimu_env.argtypes import non_negative_int, positive_int

    parser = argparse.ArgumentParser(prog="masimu", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("datasets", help="list datasets, where each is looked for, whether it was found")
    p.add_argument("--root", default=None, help="a MASIMU_DATA-style folder to check instead of $MASIMU_DATA "
                   "(one sub-folder per dataset)")
    sub.add_parser("train", help="train the MA-REINFORCE classifier (see `masimu train --help`)", add_help=False)
    sub.add_parser("unlearn", help="run and compare unlearning methods (see `masimu unlearn --help`)", add_help=False)
    p = sub.add_parser("render", help="write an episode GIF of a random or trained policy")
    p.add_argument("--dataset", default="digits", help="dataset name (default: the embedded 'digits')")
    p.add_argument("--root", default=None, help="dataset folder (default $MASIMU_DATA/<dataset>)")
    p.add_argument("--split", default="test", help="train, test (default) or all")
    p.add_argument("--download", action="store_true",
                   help="fetch missing MNIST / CIFAR-10 files into --root with torchvision's downloaders")
    p.add_argument("--image-size", type=positive_int, default=None,
                   help="resize the images to this side (as the checkpoint's model was trained; default: native, "
                        "HAM10000 64)")
    p.add_argument("--checkpoint", default=None,
                   help="MAReinforce checkpoint (e.g. from `masimu train`); a random policy when omitted")
    p.add_argument("--seed", type=non_negative_int, default=0, help="picks the image and the start corners (default 0)")
    p.add_argument("--device", default=None,
                   help="torch device of the env (and of the checkpoint's networks; default: the one it was saved with)")
    p.add_argument("--out", default="episode.gif", help="the GIF to write (default episode.gif)")
    return parser


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                      file: Any = None, line: str | None = None) -> None:
    """Warnings as one line each, like errors (``--debug`` keeps Python's form with the source line)."""
    print(f"masimu: warning: {message}", file=file if file is not None else sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``masimu`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("MASIMU_DEBUG", "").lower() not in ("", "0", "false", "no")
    argv_wo_debug = [a for a in argv if a != "--debug"]
    shown_as = warnings.showwarning
    if not debug:
        warnings.showwarning = _one_line_warning
    try:
        if argv_wo_debug and argv_wo_debug[0] in ("train", "unlearn"):
            runner = _cmd_train if argv_wo_debug[0] == "train" else _cmd_unlearn
            return runner(argv_wo_debug[1:])
        args = build_parser().parse_args(argv)
        if args.command == "datasets":
            return _cmd_datasets(args)
        if args.command == "render":
            return _cmd_render(args)
        return 2
    except KeyboardInterrupt:
        print("masimu: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's contract is one clear line per error
        if debug:
            raise
        print(f"masimu: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = shown_as  # main() called from Python leaves the caller's warning display as it was


if __name__ == "__main__":
    sys.exit(main())
