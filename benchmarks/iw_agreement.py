"""Agreement of the interpretable weight I_w under cheaper LIME tables with I_w read literally.

Rebuilds the "Measured agreement" table of ``unlearning/METHODS.md`` (section "The interpretable
weight") on the embedded digits dataset:

    python benchmarks/iw_agreement.py                         # the METHODS.md table (1 thread, ~1-2 min)
    python benchmarks/iw_agreement.py --seed 1 --json iw.json  # another forget set; per-batch values as JSON
    python benchmarks/iw_agreement.py --ma-max-rollouts 100000 # skip multi-agent rows above that LIME cost

What it does, with the package's own building blocks (nothing re-implemented here):

* data: ``retain_forget_split(train, forget_fraction=0.1, mode="random", seed=seed)`` of the digits
  training set, as ``benchmarks/unlearn.py`` (through ``run_experiment``) builds it;
* models: the benchmark's originals (CNN 25 epochs, GRU multi-agent learner 10 epochs), loaded from
  or saved to the folder ``benchmarks/unlearn.py`` uses, so both scripts see the same weights;
* for each table setting (explained retain / forget images per class, LIME samples per image):
  ``InterpretableWeights.compute`` with the config IMU (CNN) or MASIMU (MA) would run with, those
  three LIME fields overridden;
* I_w of every retain batch of the first unlearning epoch, in the order the method sees them: IMU's
  ``epoch_batches(retain, batch_size, seed, epoch=1)``; for MASIMU the batches are recorded from one
  real ``learner_epoch`` of a copy of the MA original (the learner draws its own order).

Columns: mean I_w over the batches; mean over batches of |I_w - I_w of the literal row| (same batch,
same order); the same two for the multi-agent learner. A multi-agent row whose LIME cost (explained
images x samples, each sample one N-agent, T-step rollout) exceeds ``--ma-max-rollouts`` is not run; its
cost is estimated from the rate of the multi-agent rows that did run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from masimu_env import datasets
from unlearning.config import UnlearningConfig
from unlearning.data import UnlearningData
# private helpers imported, not copied: the benchmark's cached originals and the per-class draw of explained images
from unlearning.experiment import original_model
from unlearning.interpretable import InterpretableWeights
from unlearning.methods import get_method
from unlearning.methods.common import epoch_batches
from unlearning.methods.multi_agent import fine_tune_copy, learner_epoch


@dataclasses.dataclass(frozen=True)
class TableSetting:
    """One row of the table: which images the LIME tables explain, and with how many samples."""

    label: str
    retain_per_class: int
    """Explained retain images per class; 0: every retain image."""
    forget_per_class: int
    """Explained forget images per class; 0: every forget image."""
    num_samples: int
    """LIME samples per explained image."""

    def applied_to(self, config: UnlearningConfig) -> UnlearningConfig:
        """``config`` with this row's LIME table settings."""
        return dataclasses.replace(config, lime_retain_per_class=self.retain_per_class,
                                   lime_forget_per_class=self.forget_per_class, lime_num_samples=self.num_samples)

    @property
    def literal(self) -> bool:
        return self.retain_per_class == 0 and self.forget_per_class == 0


def default_settings(data: UnlearningData) -> list[TableSetting]:
    """The METHODS.md rows; the last two are IMU's and MASIMU's registered defaults for ``data``."""
    lime_samples = UnlearningConfig().lime_num_samples
    rows = [TableSetting("literal: every image, 128 samples", 0, 0, 128),
            TableSetting("10 retain/class, every forget image, 128 samples (old default)", 10, 0, 128),
            TableSetting("10 + 10 per class, 64 samples", 10, 10, 64)]
    for method, name in (("imu", "IMU"), ("masimu", "MASIMU")):
        defaults = get_method(method).defaults(None, data)  # reads only the image size from data
        retain_k, forget_k = defaults["lime_retain_per_class"], defaults["lime_forget_per_class"]
        rows.append(TableSetting(f"{retain_k} + {forget_k} per class, {lime_samples} samples ({name} default)",
                                 retain_k, forget_k, lime_samples))
    return rows


@dataclasses.dataclass
class ModelRow:
    """One model's numbers for one setting (NaN where the row was not run)."""

    batch_weights: list[float]
    """I_w of each retain batch of the first epoch, in the method's order."""
    mean: float
    mean_abs_delta: float
    """Mean over batches of |I_w - literal I_w|; NaN without the literal row."""
    seconds: float
    """Wall time of ``InterpretableWeights.compute`` (the LIME tables)."""
    queries: int
    """Model queries of the LIME tables: explained images x samples."""
    note: str = ""
    """Why the row was not run, with its estimated cost."""


@dataclasses.dataclass
class RowResult:
    setting: TableSetting
    cnn: ModelRow | None
    ma: ModelRow | None


class _BatchRecorder:
    """Takes the place of InterpretableWeights in ``learner_epoch``: records each batch's rows, I_w 0
    (so the gradients are scaled by 1 and the epoch is the plain MASMU epoch)."""

    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def weight(self, batch_rows: np.ndarray) -> float:
        self.batches.append(np.asarray(batch_rows, dtype=np.int64).copy())
        return 0.0


def method_config(method: str, model: Any, data: UnlearningData, seed: int, device: str) -> UnlearningConfig:
    """The config ``method`` runs with for ``seed`` (its defaults filled in), as in ``run_experiment``."""
    return UnlearningConfig(seed=seed, device=device).resolve(get_method(method).defaults(model, data))


def cnn_batches(data: UnlearningData, config: UnlearningConfig) -> list[np.ndarray]:
    """IMU's retain batches of epoch 1 (``supervised_epoch`` over ``data.retain``, stream 0)."""
    return epoch_batches(data.retain, config.batch_size, config.seed, 1)


def ma_batches(original: Any, data: UnlearningData, config: UnlearningConfig) -> list[np.ndarray]:
    """MASIMU's retain batches of epoch 1, recorded from one ``learner_epoch`` of a copy of ``original``
    set up as ``MultiAgentFineTune.run`` sets it up (its seed, clipping inside the hook)."""
    learner, clip = fine_tune_copy(original, config)
    recorder = _BatchRecorder()
    learner_epoch(learner, data, config, 1, weights=recorder, clip=clip)
    return recorder.batches


def lime_queries(data: UnlearningData, setting: TableSetting, seed: int) -> int:
    """Explained images x samples of ``setting`` (the draw ``InterpretableWeights.compute`` makes)."""
    retain, forget = InterpretableWeights.explained_indices(data, setting.applied_to(UnlearningConfig(seed=seed)))
    return (len(retain) + len(forget)) * setting.num_samples


def table_weights(model: Any, data: UnlearningData, config: UnlearningConfig, setting: TableSetting,
                  batches: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """(I_w of each batch under ``setting``'s LIME tables, seconds the tables took)."""
    weights = InterpretableWeights.compute(model, data, setting.applied_to(config))
    return np.array([weights.weight(batch) for batch in batches]), weights.seconds


def measure_agreement(data: UnlearningData, settings: list[TableSetting], *, cnn: Any = None, ma: Any = None,
                      seed: int = 0, device: str = "cpu", ma_max_rollouts: int = 0,
                      log: Any = print) -> list[RowResult]:
    """I_w of every retain batch of one epoch for each setting, and its distance to the literal row.

    Args:
        data: retain/forget split of the training set.
        settings: table rows; at most one literal row (deltas are NaN without one).
        cnn: the original standard classifier, or None to leave the CNN columns out.
        ma: the original multi-agent learner (GRU), or None to leave the MA columns out.
        seed: the unlearning run's seed (batch order, LIME draws).
        ma_max_rollouts: skip multi-agent rows costing more LIME rollouts than this; 0: run all.
        log: called with one progress line per model and row.

    Returns:
        one :class:`RowResult` per setting, in order.
    """
    literal = [s for s in settings if s.literal]
    if len(literal) > 1:
        raise ValueError(f"settings hold {len(literal)} literal rows (0 + 0 per class); pass at most one.")
    models = {}
    if cnn is not None:
        config = method_config("imu", cnn, data, seed, device)
        models["cnn"] = (cnn, config, cnn_batches(data, config), 0)
    if ma is not None:
        config = method_config("masimu", ma, data, seed, device)
        models["ma"] = (ma, config, ma_batches(ma, data, config), ma_max_rollouts)
    queries = [lime_queries(data, setting, seed) for setting in settings]
    rows: dict[str, list[ModelRow | None]] = {}
    for kind, (model, config, batches, max_queries) in models.items():
        done: dict[int, ModelRow] = {}
        for i, setting in enumerate(settings):
            if max_queries and queries[i] > max_queries:
                continue
            values, seconds = table_weights(model, data, config, setting, batches)
            done[i] = ModelRow(values.tolist(), float(values.mean()), math.nan, seconds, queries[i])
            log(f"[{kind}] {setting.label}: {len(batches)} batches, mean I_w {values.mean():.3f}, "
                f"LIME tables {queries[i]:,} queries in {seconds:.1f} s")
        rate = sum(r.queries for r in done.values()) / max(sum(r.seconds for r in done.values()), 1e-9)
        for i, setting in enumerate(settings):
            if i not in done:
                estimate = f"est. {queries[i] / rate:.0f} s" if done else "no row ran to estimate the rate"
                done[i] = ModelRow([], math.nan, math.nan, math.nan, queries[i],
                                   note=f"not run: {queries[i]:,} rollouts > --ma-max-rollouts {max_queries:,}; "
                                        f"{estimate}")
                log(f"[{kind}] {setting.label}: {done[i].note}")
        reference = next((done[i] for i, s in enumerate(settings) if s.literal and done[i].batch_weights), None)
        if reference is not None:
            for row in done.values():
                if row.batch_weights:
                    row.mean_abs_delta = float(np.abs(np.subtract(row.batch_weights, reference.batch_weights)).mean())
        rows[kind] = [done[i] for i in range(len(settings))]
    return [RowResult(s, rows.get("cnn", [None] * len(settings))[i], rows.get("ma", [None] * len(settings))[i])
            for i, s in enumerate(settings)]


def to_markdown(results: list[RowResult]) -> str:
    """The METHODS.md table: mean I_w and mean |delta I_w| vs literal per model kind."""
    def cells(row: ModelRow | None) -> list[str]:
        if row is None:
            return ["n/a", "n/a"]
        if not row.batch_weights:
            return [f"({row.note})", "n/a"]
        delta = "n/a" if math.isnan(row.mean_abs_delta) else ("0" if row.mean_abs_delta == 0 else f"{row.mean_abs_delta:.3f}")
        return [f"{row.mean:.3f}", delta]

    lines = ["| tables | CNN mean I_w | CNN mean \\|ΔI_w\\| vs literal | MA mean I_w | MA mean \\|ΔI_w\\| vs literal |",
             "|---|---|---|---|---|"]
    for result in results:
        lines.append("| " + " | ".join([result.setting.label] + cells(result.cnn) + cells(result.ma)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="seed of the forget set, the originals and the unlearning run")
    parser.add_argument("--forget-fraction", type=float, default=0.1)
    parser.add_argument("--cnn-epochs", type=int, default=25, help="epochs of the original CNN (benchmarks/unlearn.py's)")
    parser.add_argument("--ma-epochs", type=int, default=10, help="epochs of the original MA learner (benchmarks/unlearn.py's)")
    parser.add_argument("--originals", default="benchmark_out/unlearn/digits/originals",
                        help="folder of cached originals, shared with benchmarks/unlearn.py (trained there if missing)")
    parser.add_argument("--ma-max-rollouts", type=int, default=0,
                        help="skip multi-agent rows whose LIME tables cost more rollouts than this (0: run every row)")
    parser.add_argument("--no-ma", action="store_true", help="CNN columns only")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--json", default=None, help="also write settings, sizes and per-batch I_w to this file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()

    train = datasets.load("digits", split="train")
    test = datasets.load("digits", split="test")
    split = datasets.retain_forget_split(train, forget_fraction=args.forget_fraction, mode="random", seed=args.seed)
    data = UnlearningData.from_split(train, split, test)
    folder = Path(args.originals)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"originals: CNN {args.cnn_epochs} epochs, MA (GRU) {args.ma_epochs} epochs, under {folder}", flush=True)
    cnn, cnn_info = original_model("cnn", train, test, args.seed, args.cnn_epochs, folder, args.device, False, {})
    ma, ma_info = (None, None) if args.no_ma else original_model("ma_gru", train, test, args.seed, args.ma_epochs,
                                                                  folder, args.device, False, {})
    settings = default_settings(data)
    results = measure_agreement(data, settings, cnn=cnn, ma=ma, seed=args.seed, device=args.device,
                                ma_max_rollouts=args.ma_max_rollouts, log=lambda line: print(line, flush=True))

    n_batches = len(results[0].cnn.batch_weights)
    print(f"\ndigits, seed {args.seed}: train {len(train)}, retain {len(data.retain)}, forget {len(data.forget)} "
          f"(random {args.forget_fraction:.0%}); I_w of the {n_batches} retain batches of one epoch; originals' test "
          f"accuracy CNN {cnn_info['test_accuracy']:.3f}" + (f", MA {ma_info['test_accuracy']:.3f}" if ma else "")
          + f"; {args.threads} torch thread(s)\n")
    print(to_markdown(results))
    print("\nLIME table seconds (CNN / MA): " + "; ".join(
        f"{r.setting.label.split(' (')[0]}: {r.cnn.seconds:.1f} / "
        + ("n/a" if r.ma is None or math.isnan(r.ma.seconds) else f"{r.ma.seconds:.1f}") for r in results))
    print(f"whole run {time.perf_counter() - start:.0f} s")
    if args.json:
        payload = {"format": "masimu.iw_agreement/1", "seed": args.seed, "threads": args.threads,
                   "sizes": {"train": len(train), "retain": len(data.retain), "forget": len(data.forget),
                             "batches": n_batches},
                   "originals": {"cnn": cnn_info, "ma_gru": ma_info},
                   "rows": [{"setting": dataclasses.asdict(r.setting),
                             "cnn": dataclasses.asdict(r.cnn) if r.cnn else None,
                             "ma": dataclasses.asdict(r.ma) if r.ma else None} for r in results]}
        Path(args.json).write_text(json.dumps(payload, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
