"""``run_experiment``: train (or load) originals, split, run methods over seeds, evaluate, write the report.

Called by the ``masimu`` CLI and by ``benchmarks/unlearn.py``. Output folder layout::

    out_dir/originals/   cnn_*.pt, ma_gru_*.pt, ma_lstm_*.pt  (reused by later runs with the same data)
    out_dir/checkpoints/ per-method, per-seed epoch checkpoints (an interrupted run resumes)
    out_dir/report.json  every run: evaluation, record (per-epoch history), originals' training times
    out_dir/report.md    the table: methods x metrics, mean ± std over seeds
    out_dir/curves.png   forget accuracy and training loss per epoch (paper Figs. 3-4)
    out_dir/time.png     unlearning time per method (paper Fig. 5)
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from agents.serialization import load_weights_only, save_atomically, save_figure_atomically, write_text_atomically
from masimu_env import datasets as datasets_module
from masimu_env.config import check_int, check_seed
from masimu_env.datasets import ImageDataset

from .config import UnlearningConfig
from .data import UnlearningData
from .methods import METHODS, RETRAINS, get_method, settings_read_by
from .methods.common import classifier_step, epoch_batches, make_optimizer
from .methods.retrain import TRAIN_RECIPE
from .metrics import evaluate, gap_to_retrain
from .metrics.evaluate import Evaluation
from .models import ARCHITECTURES, make_classifier, predict_proba

DEFAULT_METHODS = ("retrain", "mu", "imu", "ma_retrain", "masmu", "masimu")
"""The CLI's default run: the paper's single-network and GRU multi-agent frameworks, each with its Retrain."""

MIN_FORGET = 2
"""The smallest forget set ``run_experiment`` accepts: the MIA cross-validates over forget and test images."""

METRIC_COLUMNS = [
    ("retain_accuracy", "RA"), ("forget_accuracy", "Forget acc"), ("test_accuracy", "TA"),
    ("train_accuracy", "Train acc"), ("retain_loss", "Retain loss"), ("forget_loss", "Forget loss"),
    ("test_loss", "Test loss"), ("completeness", "Comp (Eq.17)"), ("mia", "MIA (Eq.18)"),
    ("mia_balanced", "MIA bal."), ("mia_efficacy", "MIA-eff."), ("avg_gap", "Avg gap"),
    ("time_s", "Time s"), ("time_ratio", "x Retrain"),
]


@dataclass
class MethodRun:
    """One method on one seed."""

    method: str
    seed: int
    model_kind: str
    evaluation: dict[str, Any]
    record: dict[str, Any]
    time_reference: str = ""
    """What ``time_ratio`` divides by: the Retrain of the same model kind ("retrain", "ma_retrain",
    "ma_lstm_retrain"), or the original's training time x retain share (est.) when there is none."""


@dataclass
class Report:
    """Everything one experiment measured; ``to_markdown`` gives the table, ``save`` writes all files."""

    dataset: str
    methods: list[str]
    seeds: list[int]
    sizes: dict[str, int]
    runs: list[MethodRun] = field(default_factory=list)
    originals: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def values(self, method: str, metric: str) -> np.ndarray:
        return np.array([r.evaluation[metric] for r in self.runs if r.method == method], dtype=float)

    def summary(self) -> dict[str, dict[str, tuple[float, float]]]:
        """method -> metric -> (mean, sample standard deviation over seeds, ddof=1; 0 for one seed); NaN entries
        are ignored (all-NaN gives NaN)."""
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for method in self.methods:
            out[method] = {}
            for metric, _ in METRIC_COLUMNS + [("mia_chance", ""), ("mia_balanced_chance", "")]:
                v = self.values(method, metric)
                v = v[np.isfinite(v)]
                spread = float(v.std(ddof=1)) if v.size > 1 else 0.0
                out[method][metric] = (float(v.mean()), spread) if v.size else (math.nan, math.nan)
        return out

    def to_markdown(self) -> str:
        """Rows: methods; columns: metrics as mean ± std over seeds, MIA with its chance level."""
        summary = self.summary()
        header = ["Method", "Model"] + [label for _, label in METRIC_COLUMNS]
        lines = [f"Dataset {self.dataset}: train {self.sizes['train']}, retain {self._size_text('retain')}, "
                 f"forget {self._size_text('forget')}, test {self.sizes['test']}; seeds {self.seeds}.", "",
                 "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for method in self.methods:
            kind = METHODS[method].model_kind
            cells = [method, kind]
            for metric, _ in METRIC_COLUMNS:
                mean, std = summary[method][metric]
                if math.isnan(mean):
                    cells.append("n/a")
                    continue
                digits = 1 if metric == "time_s" else (2 if metric == "time_ratio" else 3)
                text = f"{mean:.{digits}f} ± {std:.{digits}f}" if len(self.seeds) > 1 else f"{mean:.{digits}f}"
                if metric == "mia":
                    text += f" (chance {summary[method]['mia_chance'][0]:.3f})"
                elif metric == "mia_balanced":
                    text += " (chance 0.500)"
                cells.append(text)
            lines.append("| " + " | ".join(cells) + " |")
        refs = sorted({r.time_reference for r in self.runs if r.time_reference})
        lines += ["", ("± is the sample standard deviation over seeds (ddof=1). " if len(self.seeds) > 1 else "")
                  + "Comp: agreement with the original model on the test set. MIA (Eq.18): 10-fold CV accuracy of "
                  "a logistic regression on per-example losses, forget (member) vs test (non-member), printed with "
                  "its majority-class chance level; MIA bal.: the same on equal-size samples (chance 0.5). "
                  "MIA-eff.: share of forget images an SVC (retain vs test confidence) calls non-members "
                  "(Jia et al. 2023). Avg gap: mean |UA, RA, TA, MIA-eff. - Retrain's| for the same model kind "
                  "and seed (n/a without that Retrain run). Time: unlearning wall time incl. LIME/mask setup; "
                  f"x Retrain divides by: {', '.join(refs) if refs else 'n/a'}."]
        recipes = self._recipes()
        if recipes:
            lines += ["", "Methods as run (seed " + str(self.seeds[0]) + "): " + "; ".join(recipes) + "."]
        if self.originals:
            lines += ["", "Originals: " + "; ".join(
                (f"{name} trained {info['epochs']} epochs in {info['train_time_s']:.1f} s"
                 + (" (by an earlier run)" if info.get("reused") else "")
                 if info.get("train_time_s") is not None and math.isfinite(info["train_time_s"])
                 else f"{name} loaded from {info['path']}") + f", test acc {info['test_accuracy']:.3f}"
                for name, info in sorted(self.originals.items()))]
        return "\n".join(lines)

    def _recipes(self) -> list[str]:
        """'mu: 3 epochs, sgd lr 0.1, batch 64' per method, from the first seed's record (what the method read)."""
        out = []
        for method in self.methods:
            run = next((r for r in self.runs if r.method == method and r.seed == self.seeds[0]), None)
            if run is None:
                continue
            config = run.record.get("config", {})
            parts = [f"{run.record.get('epochs', 0)} epochs"]
            if "lr" in config:
                parts.append(f"{config.get('optimizer', 'sgd')} lr {config['lr']:g}")
            if "batch_size" in config:
                parts.append(f"batch {config['batch_size']}")
            if run.record.get("resumed_from_epoch"):
                parts.append(f"resumed at epoch {run.record['resumed_from_epoch']}")
            out.append(f"{method}: " + ", ".join(parts))
        return out

    def _size_text(self, part: str) -> str:
        """The size of ``part`` ('retain' or 'forget'), or its range over the seeds when they differ."""
        values = sorted({v[part] for v in self.sizes.get("per_seed", {}).values()}) or [self.sizes[part]]
        return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]} (by seed)"

    def to_dict(self) -> dict[str, Any]:
        return {"format": "masimu.unlearning_report/1", "dataset": self.dataset, "methods": self.methods,
                "seeds": self.seeds, "sizes": self.sizes, "settings": self.settings, "originals": self.originals,
                "summary": self.summary(), "runs": [asdict(r) for r in self.runs]}

    def save(self, out_dir: str | Path) -> dict[str, Path]:
        """Write report.json, report.md, curves.png and time.png into ``out_dir``; returns their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"json": out / "report.json", "markdown": out / "report.md",
                 "curves": out / "curves.png", "time": out / "time.png"}
        write_text_atomically(paths["json"], json.dumps(_jsonable(self.to_dict()), indent=2))
        write_text_atomically(paths["markdown"], self.to_markdown() + "\n")
        plot_curves(self, paths["curves"])
        plot_times(self, paths["time"])
        return paths


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


# --- plots ---

def plot_curves(report: Report, path: Path) -> None:
    """Forget-set accuracy and training loss per epoch, first seed, one line per method (Figs. 3-4)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seed = report.seeds[0]
    kinds = sorted({METHODS[r.method].model_kind for r in report.runs if r.seed == seed and r.record.get("history")})
    # one loss panel per model kind: a classifier's cross-entropy and the learner's MA-REINFORCE loss do not share a
    # scale (one symlog axis squashed both)
    fig, axes = plt.subplots(1, 1 + max(1, len(kinds)), figsize=(5.5 * (1 + max(1, len(kinds))), 4))
    ax_acc, loss_axes = axes[0], dict(zip(kinds, axes[1:])) if kinds else {"cnn": axes[1]}
    # methods that share a model often trace the same curve for a while (MU and IMU when I_w is small): a line style
    # and marker per method keep the one drawn last from hiding the other
    styles = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1)), "v"), ((0, (1, 1)), "x")]
    for number, run in enumerate(r for r in report.runs if r.seed == seed):
        history = run.record.get("history") or []
        if not history:
            continue
        line, marker = styles[number % len(styles)]
        style = dict(linestyle=line, marker=marker, markersize=4, fillstyle="none", label=run.method)
        epochs = [h["epoch"] for h in history]
        ax_acc.plot(epochs, [h["forget_accuracy"] for h in history], **style)
        loss_axes[METHODS[run.method].model_kind].plot(epochs, [h["train_loss"] for h in history], **style)
    which = f"seed {seed}" + (f" of {len(report.seeds)}" if len(report.seeds) > 1 else "")
    ax_acc.set(xlabel="epoch", ylabel="forget-set accuracy", title=f"{report.dataset}: accuracy per epoch ({which})")
    for kind, ax in loss_axes.items():
        what = "multi-agent learners (MA-REINFORCE loss)" if kind == "ma" else "standard classifiers (method's loss)"
        ax.set(xlabel="epoch", ylabel="training loss", title=f"{what}, {which}")
        ax.set_yscale("symlog", linthresh=1e-2)
    for ax in (ax_acc, *loss_axes.values()):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure_atomically(fig, path)
    plt.close(fig)


def plot_times(report: Report, path: Path) -> None:
    """Unlearning time per method, mean ± std over seeds (Fig. 5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = report.summary()
    means = [summary[m]["time_s"][0] for m in report.methods]
    stds = [summary[m]["time_s"][1] for m in report.methods]
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(report.methods) + 2), 4))
    ax.bar(report.methods, means, yerr=stds, capsize=3,
           color=["tab:orange" if METHODS[m].model_kind == "ma" else "tab:blue" for m in report.methods])
    ax.set(ylabel="unlearning time (s)", title=f"{report.dataset}: unlearning time (blue: CNN, orange: multi-agent)")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    save_figure_atomically(fig, path)
    plt.close(fig)


# --- originals ---

def _data_fingerprint(train: ImageDataset) -> str:
    """What the training images are, pixels (or source files) included: name, labels and shape alone let an
    original trained on other pixels under the same name be reused."""
    return train.fingerprint()[:10]


def train_cnn(train: ImageDataset, epochs: int, seed: int, device: str = "cpu", batch_size: int = 64,
              progress: bool = False, arch: str = "auto") -> torch.nn.Module:
    """A standard classifier trained on all of ``train`` with Retrain's recipe (SGD 0.05, momentum 0.9)."""
    config = UnlearningConfig(seed=seed, device=device, batch_size=batch_size, **TRAIN_RECIPE)
    torch.manual_seed(seed)
    model = make_classifier(train.image_shape, train.num_classes, arch=arch, seed=seed).to(device)
    optimizer = make_optimizer(model.parameters(), config)
    loss_fn = torch.nn.functional.cross_entropy
    for epoch in tqdm(range(1, epochs + 1), desc="original cnn", disable=not progress, leave=False):
        model.train()
        for batch in epoch_batches(np.arange(len(train)), batch_size, seed, epoch, stream=5):
            images, labels = train.get_batch(batch)
            classifier_step(model, optimizer, images.to(device), labels.to(device), loss_fn)
    return model.eval()


def original_model(kind: str, train: ImageDataset, test: ImageDataset, seed: int, epochs: int, out: Path,
                   device: str, progress: bool, agent_overrides: dict[str, Any],
                   arch: str = "auto") -> tuple[Any, dict[str, Any]]:
    """Load the original of ``kind`` ("cnn", "ma_gru", "ma_lstm") from ``out`` or train and save it there.

    The file name holds the kind, a fingerprint of ``train``, the seed, the epochs and (for the learners) a hash of
    the whole resolved ``AgentConfig`` but its device, so :func:`run_experiment` and the benchmarks share one cache
    of originals, and a changed default (not only a changed override) trains a new original.

    Returns:
        (model, info) with info's ``epochs``, ``train_time_s``, ``test_accuracy``, ``path``, ``reused`` (whether it
        came from ``out``) and, for the learners, ``agent_config`` (the resolved AgentConfig).
    """
    tag = f"{kind}-{arch}" if kind == "cnn" and arch != "auto" else kind
    if kind != "cnn":  # another learner configuration is another original
        config = _agent_config(train, seed, epochs, device, agent_overrides, kind.split("_")[1])
        tag += "-" + config.fingerprint()[:8]
    path = out / f"{tag}_{_data_fingerprint(train)}_seed{seed}_e{epochs}.pt"
    info_path = path.with_suffix(".json")
    cached = _read_cached_original(kind, path, info_path, train, arch, seed, device)
    if cached is not None:
        model, info = cached
        if info.get("test_fingerprint") != test.fingerprint():  # the info's test accuracy is for another test set
            info = dict(info, test_accuracy=_test_accuracy(model, test, device), test_fingerprint=test.fingerprint())
            write_text_atomically(info_path, json.dumps(info))
        return model, dict(info, reused=True)
    if kind == "cnn":
        start = time.perf_counter()
        model = train_cnn(train, epochs, seed, device, progress=progress, arch=arch)
        seconds = time.perf_counter() - start
        save_atomically(model.state_dict(), path)
    else:
        from agents import MAReinforce

        model = MAReinforce(config, train.num_classes, train.image_shape)
        start = time.perf_counter()
        model.fit(train, epochs=epochs, progress=progress)
        seconds = time.perf_counter() - start
        model.save(path)
    info = {"epochs": epochs, "train_time_s": seconds, "test_accuracy": _test_accuracy(model, test, device),
            "path": str(path), "test_fingerprint": test.fingerprint()}
    if kind != "cnn":
        info["agent_config"] = model.config.to_dict()
    write_text_atomically(info_path, json.dumps(info))
    return model, dict(info, reused=False)


def _agent_config(train: ImageDataset, seed: int, epochs: int, device: str, agent_overrides: dict[str, Any],
                  belief: str) -> Any:
    """The multi-agent original's AgentConfig: the dataset's paper defaults with ``agent_overrides`` on top."""
    from agents import AgentConfig

    name = train.name if train.name in ("digits", "mnist", "cifar10", "resisc45", "ham10000") else None
    return AgentConfig.for_dataset(name, image_side=max(train.image_shape[1:]), belief=belief, seed=seed,
                                   epochs=epochs, device=device, **agent_overrides)


def _test_accuracy(model: Any, test: ImageDataset, device: str) -> float:
    return float((predict_proba(model, test, None, device=device).argmax(1) == test.labels).mean())


def _read_cached_original(kind: str, path: Path, info_path: Path, train: ImageDataset, arch: str, seed: int,
                          device: str) -> tuple[Any, dict[str, Any]] | None:
    """The cached original and its info, or None when there is none; an unreadable pair (a run killed mid-write
    by an older version, a disk that filled) is reported with a warning naming the files and trained again."""
    if not (path.exists() and info_path.exists()):
        return None
    try:
        info = json.loads(info_path.read_text())
        if kind == "cnn":
            model = make_classifier(train.image_shape, train.num_classes, arch=arch, seed=seed)
            model.load_state_dict(load_weights_only(path, device, "a saved state dict"))
            return model.to(device).eval(), info
        from agents import MAReinforce

        return MAReinforce.load(path, device=device), info
    except (ValueError, RuntimeError, OSError) as err:  # JSONDecodeError is a ValueError
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        warnings.warn(f"Ignoring the unreadable cached original '{path}' / '{info_path.name}' ({first}); training it "
                      "again.", UserWarning, stacklevel=3)
        return None


def _load_given(kind: str, path: Path, train: ImageDataset, test: ImageDataset, arch: str,
                device: str) -> tuple[Any, dict[str, Any]]:
    """A user-supplied original (see ``run_experiment(originals=)``), checked against the data."""
    if kind == "cnn":
        model = make_classifier(train.image_shape, train.num_classes, arch=arch)
        try:
            state = load_weights_only(path, device, "a saved state dict")
        except ValueError as err:
            raise ValueError(f"originals['cnn']: {err}") from None
        if not isinstance(state, dict) or "format" in state:
            raise ValueError(f"originals['cnn'] '{path}' is not a classifier's state dict (a learner checkpoint? "
                             "pass it as ma_gru= or ma_lstm=).")
        try:
            model.load_state_dict(state)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(f"originals['cnn'] '{path}' does not fit make_classifier({train.image_shape}, "
                             f"{train.num_classes}, arch={arch!r}): {first}") from None
        model = model.to(device).eval()
        epochs = None
    else:
        from agents import MAReinforce

        try:
            model = MAReinforce.load(path, device=device)
        except ValueError as err:
            raise ValueError(f"originals[{kind!r}]: {err}") from None
        if model.config.belief != kind.split("_")[1]:
            raise ValueError(f"originals[{kind!r}] '{path}' has belief={model.config.belief!r}.")
        if tuple(model.image_shape) != tuple(train.image_shape) or model.n_classes != train.num_classes:
            raise ValueError(f"originals[{kind!r}] '{path}' was trained on {tuple(model.image_shape)} images with "
                             f"{model.n_classes} classes; this data has {tuple(train.image_shape)} and "
                             f"{train.num_classes}.")
        epochs = int(model.epochs_done)
    info = {"epochs": epochs, "train_time_s": float("nan"), "test_accuracy": _test_accuracy(model, test, device),
            "path": str(path), "given": True}
    if kind != "cnn":
        info["agent_config"] = model.config.to_dict()
    return model, info


def _kind_of(method: str) -> str:
    if METHODS[method].model_kind != "ma":
        return "cnn"
    return "ma_lstm" if method in ("malmu", "malimu", "ma_lstm_retrain") else "ma_gru"


# --- the experiment ---

def run_experiment(dataset: str | tuple[ImageDataset, ImageDataset] = "digits",
                   methods: Sequence[str] = DEFAULT_METHODS, seeds: Sequence[int] = (0,),
                   out_dir: str | Path = "unlearning_out", *, root: Any = None, image_size: Any = None,
                   download: bool = False,
                   forget_fraction: float | None = None, forget_mode: str = "random",
                   forget_classes: Sequence[int | str] | None = None, cnn_epochs: int = 25, ma_epochs: int = 10,
                   agent_overrides: dict[str, Any] | None = None, settings: dict[str, Any] | None = None,
                   method_settings: dict[str, dict[str, Any]] | None = None, arch: str = "auto",
                   originals: dict[str, str | Path] | None = None, device: str = "cpu",
                   progress: bool = True, write: bool = True) -> Report:
    """Train or load the originals, split, unlearn with every method for every seed, evaluate, report.

    Args:
        dataset: a name for :func:`masimu_env.datasets.load` (train and test splits are loaded), or a
            (train, test) pair of ImageDatasets.
        methods: registered method names (see :func:`unlearning.available`).
        seeds: one split, one original per model kind and one run per method for each seed.
        out_dir: folder for originals, checkpoints and the report files.
        root, image_size, download: forwarded to ``datasets.load`` (``download`` fetches missing MNIST /
            CIFAR-10 files).
        forget_fraction, forget_mode, forget_classes: the retain/forget split
            (:func:`masimu_env.datasets.retain_forget_split`; ``forget_fraction`` None: 0.1, or unused when
            ``forget_classes`` names the classes).
        cnn_epochs: epochs of the original standard classifier (Retrain uses as many by default).
        ma_epochs: epochs of the original multi-agent learners (``ma_retrain`` uses as many).
        agent_overrides: ``AgentConfig`` fields for the multi-agent originals (e.g. hidden_size).
        settings: :class:`UnlearningConfig` fields shared by the methods (e.g. ``{"lime_num_samples": 64}``); each
            method gets those it uses, and a setting none of them uses raises ValueError.
        method_settings: per-method fields on top of ``settings`` (e.g. ``{"mu": {"epochs": 5}}``); one the method
            does not use raises ValueError.
        arch: standard classifier: "auto" (SmallCNN up to 64 px, ResNet-18 above), "cnn" or "resnet18".
        originals: trained originals to use instead of training them, by kind: "cnn" (a state dict of
            ``make_classifier(image_shape, K, arch)``), "ma_gru" / "ma_lstm" (``MAReinforce.save`` files).
            The same original serves every seed (only the split changes); its training time is unknown,
            so time ratios need a Retrain run of that kind.
        device: torch device.
        progress: tqdm bar over (seed, method).
        write: write report.json/.md and the PNG plots into ``out_dir``.

    Returns:
        :class:`Report`.
    """
    for method in methods:
        get_method(method)  # fails early, listing valid names
    for what, values in (("methods", list(methods)), ("seeds", list(seeds))):
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:  # a repeated seed would be averaged as if it were another one
            raise ValueError(f"{what} names {', '.join(repeated)} more than once; give each once.")
    seeds = [check_seed(s, "seeds[...]") for s in seeds]
    given = {str(k): Path(v) for k, v in (originals or {}).items()}
    bad = sorted(set(given) - {"cnn", "ma_gru", "ma_lstm"})
    if bad:
        raise ValueError(f"originals keys must be 'cnn', 'ma_gru' or 'ma_lstm'; got {bad}.")
    for kind, path in given.items():
        if not path.is_file():
            raise FileNotFoundError(f"originals[{kind!r}]: no file at '{path}'; pass a saved model.")
    unknown = sorted(set(method_settings or {}) - set(methods))
    if unknown:
        raise ValueError(f"method_settings names methods not being run: {unknown}; methods: {list(methods)}.")
    if not seeds:
        raise ValueError("seeds is empty; pass at least one seed, e.g. (0,).")
    cnn_epochs, ma_epochs = check_int(cnn_epochs, "cnn_epochs", 1), check_int(ma_epochs, "ma_epochs", 1)
    for source, values in [("settings", settings or {})] + [(f"method_settings[{m!r}]", v)
                                                            for m, v in (method_settings or {}).items()]:
        fixed = sorted(set(values) & {"seed", "device", "checkpoint_dir"})
        if fixed:
            raise ValueError(f"{source} sets {fixed}, which run_experiment sets itself (seeds=, device=, out_dir=).")
    for method in methods:  # every method's settings, validated before any training
        merged = dict(settings or {}, **(method_settings or {}).get(method, {}))
        UnlearningConfig.from_settings(**merged)
        runner, multi_agent = get_method(method), METHODS[method].model_kind == "ma"
        runner.check_settings((method_settings or {}).get(method, {}), multi_agent)  # its own: all must be used
        if getattr(runner, "interpretable", False):
            runner.check_settings({k: v for k, v in merged.items() if k == "optimizer"}, multi_agent)
    shared_unused = sorted(set(settings or {}) - settings_read_by(methods))
    if shared_unused:
        raise ValueError(f"settings {', '.join(shared_unused)} {'is' if len(shared_unused) == 1 else 'are'} used by "
                         f"none of the methods {list(methods)}; leave {'it' if len(shared_unused) == 1 else 'them'} "
                         "unset.")
    kinds = {_kind_of(m) for m in methods}
    if agent_overrides:
        if not kinds & {"ma_gru", "ma_lstm"}:
            raise ValueError("agent_overrides apply to the multi-agent originals, which none of the methods "
                             f"{list(methods)} uses; leave it unset.")
        fixed = sorted(set(agent_overrides) & {"seed", "epochs", "device", "belief"})
        if fixed:
            raise ValueError(f"agent_overrides sets {fixed}, which run_experiment sets itself (seeds=, ma_epochs=, "
                             "device=, and the method's cell).")
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}; got {arch!r}.")
    if arch != "auto" and "cnn" not in kinds:
        raise ValueError(f"arch={arch!r} chooses the standard classifier, which none of the methods {list(methods)} "
                         "uses; leave it at 'auto'.")
    if isinstance(dataset, str):
        train = datasets_module.load(dataset, root=root, split="train", image_size=image_size, download=download)
        test = datasets_module.load(dataset, root=root, split="test", image_size=image_size, download=download)
        name = dataset
    else:
        if root is not None or image_size is not None or download:
            raise ValueError("root=, image_size= and download= apply only when dataset is a name; a (train, test) "
                             "pair of ImageDatasets is used as it is.")
        train, test = dataset
        name = train.name
    if agent_overrides:  # unknown fields and bad values, against this dataset's defaults, before anything trains
        _agent_config(train, 0, ma_epochs, device, agent_overrides, "gru")
    unused = sorted(set(given) - {_kind_of(m) for m in methods})
    if unused:
        raise ValueError(f"originals given for {unused}, which none of the methods {list(methods)} uses.")
    # every seed's split before anything trains: a forget set too small to attack fails now, not after training
    splits = {}
    for seed in seeds:
        split = datasets_module.retain_forget_split(train, forget_fraction=forget_fraction, mode=forget_mode,
                                                    forget_classes=forget_classes, seed=seed)
        if len(split.forget) < MIN_FORGET:
            remedy = ("name more classes in forget_classes (--forget-classes)" if forget_classes is not None else
                      f"raise forget_fraction (now {split.meta.get('forget_fraction')}; --forget-fraction on the "
                      "command line)")
            raise ValueError(f"seed {seed}'s forget set holds {len(split.forget)} image(s) of the {len(train)} "
                             f"training images, but the membership-inference attack (cross-validated over forget "
                             f"and test images) needs at least {MIN_FORGET}; {remedy}.")
        splits[seed] = split
    # the given originals serve every seed: loaded and checked once, before anything trains
    loaded = {kind: _load_given(kind, path, train, test, arch, device) for kind, path in given.items()}
    out = Path(out_dir)
    (out / "originals").mkdir(parents=True, exist_ok=True)
    if write and (out / "report.json").exists():
        warnings.warn(f"'{out}' already holds a report ({_describe_report(out / 'report.json')}); this run replaces "
                      "report.json, report.md and the plots when it ends. Originals and finished checkpoints there "
                      "that match are reused (each is named below as it is).", UserWarning, stacklevel=2)
    base = dict(settings or {})
    report: Report | None = None
    per_seed_sizes: dict[int, dict[str, int]] = {}
    bar = tqdm(total=len(seeds) * len(methods), desc=f"unlearning {name}", disable=not progress)
    for seed in seeds:
        split = splits[seed]
        data = UnlearningData.from_split(train, split, test)
        per_seed_sizes[int(seed)] = {"retain": len(data.retain), "forget": len(data.forget)}
        if report is None:
            report = Report(name, list(methods), [int(s) for s in seeds],
                            {"train": len(train), "retain": len(data.retain), "forget": len(data.forget),
                             "test": len(test)},
                            settings={"global": base, "per_method": method_settings or {},
                                      "cnn_epochs": cnn_epochs, "ma_epochs": ma_epochs,
                                      "forget_fraction": split.meta.get("forget_fraction"), "forget_mode": forget_mode,
                                      "forget_classes": None if forget_classes is None else list(forget_classes),
                                      "agent_overrides": dict(agent_overrides or {}), "arch": arch,
                                      "environment": run_environment(device)})
        originals: dict[str, tuple[Any, dict[str, Any], np.ndarray]] = {}
        for kind in sorted({_kind_of(m) for m in methods}):
            epochs = cnn_epochs if kind == "cnn" else ma_epochs
            bar.set_postfix_str(f"seed {seed}: training original {kind}")
            if kind in loaded:
                model, info = loaded[kind]
            else:
                model, info = original_model(kind, train, test, seed, epochs, out / "originals", device,
                                              progress=progress, agent_overrides=agent_overrides or {}, arch=arch)
                if info["reused"]:
                    bar.write(f"seed {seed}: original {kind} reused from {info['path']} (trained by an earlier run)")
            originals[kind] = (model, info, predict_proba(model, test, None, device=device))
            report.originals[f"{kind}/seed{seed}"] = info
        seed_runs: list[tuple[MethodRun, Evaluation]] = []
        for method in methods:
            bar.set_postfix_str(f"seed {seed}: {method}")
            kind = _kind_of(method)
            original, _, original_test_probs = originals[kind]
            # the shared settings this method uses (IMU's lime_* are not MU's), then its own
            used = settings_read_by([method])
            config = dict({k: v for k, v in base.items() if k in used}, **(method_settings or {}).get(method, {}))
            config.update(seed=seed, device=device, checkpoint_dir=str(out / "checkpoints" / f"seed{seed}"),
                          progress=progress)
            if kind == "cnn" and method == "retrain":
                config.setdefault("retrain_epochs", cnn_epochs)
            result = get_method(method)(original, data, UnlearningConfig.from_settings(**config))
            resumed, total = result.record.resumed_from_epoch, result.record.epochs
            if resumed:
                bar.write(f"seed {seed}: {method} resumed from its checkpoint at epoch {resumed} of {total}"
                          + (" (finished earlier: its time is the earlier run's)" if resumed >= total else ""))
            evaluation = evaluate(result.model, original, train, split, test, seed=seed, device=device,
                                  original_test_probs=original_test_probs)
            evaluation.time_s = result.record.wall_time_s
            seed_runs.append((MethodRun(method, int(seed), result.record.model_kind, {}, result.record.to_dict()),
                              evaluation))
            bar.update(1)
        _fill_relative(seed_runs, originals, data)
        for run, evaluation in seed_runs:
            run.evaluation = evaluation.to_dict()
            report.runs.append(run)
    bar.close()
    assert report is not None
    report.sizes["per_seed"] = per_seed_sizes  # a class split or rounding can differ by seed
    if write:
        report.save(out)
    return report


def run_environment(device: str) -> dict[str, Any]:
    """What a report's numbers depend on beyond its settings: versions, threads, device, command line."""
    import platform
    import sys
    from importlib import metadata

    try:
        version = metadata.version("masimu")
    except metadata.PackageNotFoundError:
        version = "not installed"
    return {"masimu": version, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "torch_threads":
            torch.get_num_threads(), "device": device, "command": " ".join(sys.argv)}


def _describe_report(path: Path) -> str:
    """'methods ..., seeds ...' of a saved report, or why it cannot be read."""
    try:
        saved = json.loads(path.read_text())
        return f"methods {' '.join(saved['methods'])}; seeds {saved['seeds']}"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"unreadable: {type(err).__name__}"


def _fill_relative(seed_runs: list[tuple[MethodRun, Evaluation]], originals: dict[str, Any],
                   data: UnlearningData) -> None:
    """Time ratio and Avg. Gap of each run against the Retrain of its model kind (CNN, GRU learner, LSTM learner) in
    the same seed; without one, the time ratio is estimated from the original's training time and Avg. Gap stays
    unset."""
    retrains = {_kind_of(run.method): (run.method, evaluation)
                for run, evaluation in seed_runs if run.method in RETRAINS}
    share = len(data.retain) / len(data.train)
    for run, evaluation in seed_runs:
        kind = _kind_of(run.method)
        if kind in retrains:
            reference_name, reference = retrains[kind]
            evaluation.avg_gap = gap_to_retrain(evaluation, reference)
            if reference.time_s > 0:
                evaluation.time_ratio = evaluation.time_s / reference.time_s
            run.time_reference = reference_name
        else:
            info = originals[_kind_of(run.method)][1]
            estimate = info["train_time_s"] * share
            if math.isfinite(estimate) and estimate > 0:
                evaluation.time_ratio = evaluation.time_s / estimate
                run.time_reference = (f"{_kind_of(run.method)} original's training time x retain share "
                                      "(est., no Retrain run of this model kind)")
            # else: a given original has no training time and there is no Retrain: no ratio, no reference
