"""Unlearning benchmark: the report table for digits, real MNIST test images and the HAM10000 sample.

    python benchmarks/unlearn.py                        # digits, every method, 3 seeds
    python benchmarks/unlearn.py --parts digits --seeds 1 --methods retrain mu imu masmu masimu
    MASIMU_REAL_DATA=/work/shared/data python benchmarks/unlearn.py --parts mnist ham

Parts:
  digits  embedded 8x8 digits (1,527 train / 270 test), 10% random forget set.
  mnist   the MNIST test images under $MASIMU_REAL_DATA/mnist, split with
          np.random.default_rng(0).permutation(10000): first 8,500 train, last 1,500 test; 10% forget.
  ham     the HAM10000 sample under $MASIMU_REAL_DATA/ham10000 (rows without image files skipped),
          64x64, seeded 85/15 split, ResNet-18 and 16 agents x 16 steps, LIME on a 4x4 grid with 64
          samples (fewer features than samples); only shows that the high-resolution path runs.

Targets printed after each table: every method completes; IMU and MASIMU take at most 20% of
Retrain's time; and, beside the paper's Tables 1-2, whether IMU/MASIMU beat MU/MASMU on
completeness (higher is better) and on the balanced MIA (closer to 0.5 is better).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from masimu_env import datasets
from masimu_env.argtypes import positive_int
from masimu_env.config import check_device
from unlearning.experiment import Report, run_experiment
from unlearning.methods import ALL_METHODS, METHODS, settings_read_by

#: Paper Table 1 (MU/IMU) and Table 2 (MA frameworks), MNIST rows: (MIA, completeness).
PAPER_MNIST = {"mu": (0.545, 0.998), "imu": (0.545, 0.995), "malmu": (0.545, 0.756), "masmu": (0.545, 0.729),
               "malimu": (0.545, 0.770), "masimu": (0.545, 0.732)}
#: Paper HAM10000 rows.
PAPER_HAM = {"mu": (0.640, 0.781), "imu": (0.640, 0.760), "malmu": (0.640, 0.828), "masmu": (0.640, 0.807),
             "malimu": (0.640, 0.814), "masimu": (0.640, 0.838)}


def mnist_pair(root: Path) -> tuple[datasets.ImageDataset, datasets.ImageDataset]:
    images = datasets.load("mnist", root=root / "mnist", split="test")
    order = np.random.default_rng(0).permutation(len(images))
    train, test = images.subset(np.sort(order[:8500])), images.subset(np.sort(order[8500:]))
    train.split, test.split = "train", "test"
    return train, test


def ham_pair(root: Path, image_size: int) -> tuple[datasets.ImageDataset, datasets.ImageDataset]:
    everything = datasets.load("ham10000", root=root / "ham10000", split="all", image_size=image_size,
                               missing="skip").materialize()
    order = np.random.default_rng(0).permutation(len(everything))
    cut = int(math.ceil(0.85 * len(everything)))
    return everything.subset(np.sort(order[:cut])), everything.subset(np.sort(order[cut:]))


def targets(report: Report, paper: dict[str, tuple[float, float]] | None, paper_name: str) -> None:
    summary = report.summary()
    runs_per_method = {m: sum(r.method == m for r in report.runs) for m in report.methods}
    done = all(n == len(report.seeds) for n in runs_per_method.values())
    print(f"\n[target] every method completes: {'yes' if done else 'NO'} ({runs_per_method})")
    retrain_time = summary.get("retrain", {}).get("time_s", (math.nan, 0))[0]
    for method in ("imu", "masimu", "malimu"):
        if method not in summary:
            continue
        t = summary[method]["time_s"][0]
        line = f"[target] {method} time {t:.1f} s"
        if method == "imu" and math.isfinite(retrain_time):
            line += f" = {t / retrain_time:.2f} x Retrain (cnn) {retrain_time:.1f} s [{'ok' if t <= 0.2 * retrain_time else 'MISSED'} <= 0.20]"
        if method != "imu":
            ratio = summary[method]["time_ratio"][0]
            reference = "ma_lstm_retrain" if method == "malimu" else "ma_retrain"
            reference_time = summary.get(reference, {}).get("time_s", (math.nan, 0))[0]
            ref = (f"{reference} {reference_time:.1f} s" if math.isfinite(reference_time)
                   else "MA original's training time x retain share (est.)")
            line += f" = {ratio:.2f} x {ref} [{'ok' if ratio <= 0.2 else 'MISSED'} <= 0.20]"
        print(line)
    for plain, interp in (("mu", "imu"), ("masmu", "masimu"), ("malmu", "malimu")):
        if plain not in summary or interp not in summary:
            continue
        c0, c1 = summary[plain]["completeness"][0], summary[interp]["completeness"][0]
        m0, m1 = summary[plain]["mia_balanced"][0], summary[interp]["mia_balanced"][0]
        u0, u1 = summary[plain]["mia"][0], summary[interp]["mia"][0]
        chance = summary[plain]["mia_chance"][0]
        print(f"[compare] {interp} vs {plain}: completeness {c1:.3f} vs {c0:.3f} -> "
              f"{interp} {'higher' if c1 > c0 + 5e-4 else ('LOWER' if c1 < c0 - 5e-4 else 'equal within 0.0005')}; "
              f"balanced MIA |x-0.5| {abs(m1 - 0.5):.4f} vs {abs(m0 - 0.5):.4f} -> "
              f"{interp} {_closer(abs(m1 - 0.5), abs(m0 - 0.5))}; "
              f"paper-style MIA {u1:.3f} vs {u0:.3f} (chance {chance:.3f})")
        if paper and plain in paper and interp in paper:
            print(f"          paper ({paper_name}): {interp} MIA {paper[interp][0]:.3f} comp {paper[interp][1]:.3f}; "
                  f"{plain} MIA {paper[plain][0]:.3f} comp {paper[plain][1]:.3f}")


def _closer(a: float, b: float) -> str:
    if abs(a - b) < 5e-4:
        return "as close to 0.5 (tie within 0.0005)"
    return "closer to 0.5" if a < b else "NOT closer"


def run_part(name: str, pair, args, paper, paper_name: str, **extra) -> None:
    print(f"\n=== {name} ===", flush=True)
    start = time.perf_counter()
    report = run_experiment(pair, methods=args.methods, seeds=list(range(args.seeds)),
                            out_dir=Path(args.out) / name, cnn_epochs=args.cnn_epochs, ma_epochs=args.ma_epochs,
                            device=args.device, progress=not args.no_progress, **extra)
    print(report.to_markdown())
    targets(report, paper, paper_name)
    print(f"\n{name}: whole experiment {time.perf_counter() - start:.1f} s (originals included; cached originals "
          f"under {Path(args.out) / name / 'originals'} are reused by a rerun)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", nargs="+", default=["digits", "mnist", "ham"], choices=["digits", "mnist", "ham"])
    parser.add_argument("--methods", nargs="+", default=list(ALL_METHODS), choices=ALL_METHODS, metavar="METHOD",
                        help="registered method names (default: all, in report order)")
    parser.add_argument("--seeds", type=positive_int, default=3, help="number of seeds (0..n-1)")
    parser.add_argument("--cnn-epochs", type=positive_int, default=25)
    parser.add_argument("--ma-epochs", type=positive_int, default=10)
    parser.add_argument("--ham-size", type=positive_int, default=None, help="HAM10000 side after resizing")
    parser.add_argument("--ham-arch", default=None, choices=["auto", "cnn", "resnet18"],
                        help="standard classifier for HAM10000 (default resnet18: ResNet-18 from scratch, the "
                             "high-resolution path)")
    parser.add_argument("--ham-lime-samples", type=positive_int, default=None,
                        help="LIME samples per image on HAM10000 (each multi-agent query is 16 agents x 16 steps)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="benchmark_out/unlearn")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="torch intra-op threads (1: these tiny models gain little from more, and on a "
                             "busy machine 2 threads were ~10x slower per step through oversubscription)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    given_ham = [flag for flag, value in (("--ham-size", args.ham_size), ("--ham-arch", args.ham_arch),
                                          ("--ham-lime-samples", args.ham_lime_samples)) if value is not None]
    if given_ham and "ham" not in args.parts:
        parser.error(f"{', '.join(given_ham)} {'applies' if len(given_ham) == 1 else 'apply'} only to --parts ham.")
    if args.ham_lime_samples is not None and "lime_num_samples" not in settings_read_by(args.methods):
        parser.error("--ham-lime-samples sets the LIME tables of imu/masimu/malimu, none of which --methods runs.")
    if args.ham_arch is not None and all(METHODS[m].model_kind == "ma" for m in args.methods):
        parser.error("--ham-arch chooses the standard classifier, which none of the --methods uses.")
    if args.ham_lime_samples is not None and args.ham_lime_samples < 2:
        parser.error("--ham-lime-samples must be >= 2 (the unperturbed image plus at least one perturbation).")
    args.ham_size = 64 if args.ham_size is None else args.ham_size
    args.ham_arch = "resnet18" if args.ham_arch is None else args.ham_arch
    args.ham_lime_samples = 64 if args.ham_lime_samples is None else args.ham_lime_samples
    try:
        check_device(args.device, "--device")
    except ValueError as err:
        parser.error(str(err))
    torch.set_num_threads(args.threads)
    real = os.environ.get("MASIMU_REAL_DATA")
    for part in args.parts:
        if part == "digits":
            run_part("digits", "digits", args, PAPER_MNIST, "MNIST rows")
        elif real is None:
            print(f"\n=== {part} === skipped: set MASIMU_REAL_DATA to the folder holding mnist/ and ham10000/.")
        elif part == "mnist":
            run_part("mnist", mnist_pair(Path(real)), args, PAPER_MNIST, "MNIST rows")
        else:
            # only what the chosen methods read: run_experiment refuses settings (and an arch) none of them uses
            used = settings_read_by(args.methods)
            lime = {k: v for k, v in (("lime_num_samples", args.ham_lime_samples), ("lime_grid", (4, 4))) if k in used}
            cnn = any(METHODS[m].model_kind != "ma" for m in args.methods)
            run_part("ham", ham_pair(Path(real), args.ham_size), args, PAPER_HAM, "HAM10000 rows",
                     arch=args.ham_arch if cnn else "auto", settings=lime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
