"""Mechanics every unlearning method shares: result records, optimizer, batch order, the epoch loop
with checkpoint/resume, and the LIME tables behind the interpretable weight I_w.

A method file holds only what makes it different (its loss, its data, its defaults).
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from agents.serialization import load_weights_only, python_numbers, save_atomically

from ..config import UnlearningConfig
from ..data import UnlearningData
from ..models import is_multi_agent, predict_proba

CHECKPOINT_FORMAT = "masimu.unlearning_checkpoint/1"


# --- results ---

@dataclass
class EpochStats:
    """Numbers of one finished epoch."""

    epoch: int
    """1-based epoch number."""
    train_loss: float
    """Mean training loss over the epoch's batches (the method's own objective)."""
    train_accuracy: float
    """Accuracy on the epoch's training batches (NaN where the objective has no labels)."""
    retain_accuracy: float
    """Accuracy on the retain set after the epoch (NaN when not measured)."""
    forget_accuracy: float
    """Accuracy on the forget set after the epoch."""
    forget_loss: float
    """Mean cross-entropy on the forget set after the epoch."""
    seconds: float
    """Wall time of the epoch's training (evaluation excluded)."""
    interpretable_weight: float = float("nan")
    """Mean I_w over the epoch's batches (IMU/MASIMU/MALIMU only)."""


@dataclass
class RunRecord:
    """What :func:`unlearning.unlearn` reports about one run."""

    method: str
    model_kind: str
    """"cnn" (standard classifier) or "ma" (multi-agent learner)."""
    wall_time_s: float
    """Unlearning time: setup (LIME tables, saliency mask) plus training epochs; evaluation excluded."""
    setup_time_s: float
    epochs: int
    history: list[EpochStats] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    """The UnlearningConfig fields the method read (resolved), not every field: what took effect."""
    resumed_from_epoch: int = 0
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class UnlearningResult:
    """An unlearned model and the record of the run that produced it."""

    model: Any
    record: RunRecord

    def __iter__(self) -> Any:
        """Unpack as ``model, record = unlearn(...)``."""
        return iter((self.model, self.record))


COMMON_SETTINGS = frozenset({"seed", "device", "checkpoint_dir", "progress", "eval_batch_size"})
"""UnlearningConfig fields every method honours (where and how it runs, its checkpoints, evaluation batches)."""
TRAINING_SETTINGS = frozenset({"epochs", "lr", "momentum", "weight_decay", "optimizer", "batch_size"})
"""The fine-tuning recipe of the methods that train with ``make_optimizer``."""
LIME_SETTINGS = frozenset({"lime_backend", "lime_segmentation", "lime_num_samples", "lime_grid", "lime_cache_dir",
                           "lime_retain_per_class", "lime_forget_per_class"})
"""The I_w tables of the interpretable methods (IMU, MASIMU, MALIMU)."""


class UnlearningMethod:
    """Base of every registered method: a name, a model kind, defaults and ``run``.

    Subclasses set ``name``, ``model_kind`` ("cnn", "ma" or "any"), ``DEFAULTS`` (config
    fields filled when left None) and ``reference`` (where the defaults come from), and
    implement ``run(model, data, config, on_epoch_end)``, which receives a private copy of
    the original model.
    """

    name: str = ""
    model_kind: str = "any"
    DEFAULTS: dict[str, Any] = {}
    reference: str = ""

    def run(self, model: Any, data: UnlearningData, config: UnlearningConfig,
            on_epoch_end: Callable[[int], None] | None = None) -> UnlearningResult:
        raise NotImplementedError

    def defaults(self, model: Any, data: UnlearningData) -> dict[str, Any]:
        """Config values used where the caller left a field None (``DEFAULTS`` unless overridden)."""
        return dict(self.DEFAULTS)

    EXTRA_SETTINGS: frozenset[str] = frozenset()
    """Method-specific UnlearningConfig fields it reads on top of :data:`TRAINING_SETTINGS`."""

    def settings_used(self, multi_agent: bool) -> frozenset[str]:
        """The UnlearningConfig fields this method reads beyond :data:`COMMON_SETTINGS`, for a multi-agent learner
        or a standard classifier."""
        lime = LIME_SETTINGS if getattr(self, "interpretable", False) else frozenset()
        return TRAINING_SETTINGS | self.EXTRA_SETTINGS | lime

    def check_settings(self, settings: dict[str, Any], multi_agent: bool) -> None:
        """Raise ValueError for settings the caller gave that this method would not use (they would be recorded as
        if they had taken effect) or cannot honour; called by ``unlearn`` and ``run_experiment`` before any work."""
        unused = sorted(set(settings) - COMMON_SETTINGS - self.settings_used(multi_agent))
        if unused:
            used = sorted(self.settings_used(multi_agent))
            raise ValueError(f"{self.name!r} does not use {', '.join(unused)}; leave "
                             f"{'it' if len(unused) == 1 else 'them'} unset (it uses: "
                             f"{', '.join(used) if used else 'none beyond ' + ', '.join(sorted(COMMON_SETTINGS))}).")
        if getattr(self, "interpretable", False):
            refuse_adam_with_iw(self.name, UnlearningConfig.from_settings(**settings))

    def __call__(self, model: Any, data: UnlearningData, config: UnlearningConfig,
                 on_epoch_end: Callable[[int], None] | None = None) -> UnlearningResult:
        return self.run(model, data, config.resolve(self.defaults(model, data)), on_epoch_end)


def require_standard(method: str, model: Any) -> None:
    """Raise TypeError unless ``model`` is a standard classifier (an nn.Module returning logits)."""
    if is_multi_agent(model):
        raise TypeError(f"{method!r} unlearns a standard classifier (torch nn.Module); got the multi-agent "
                        f"{type(model).__name__}. Use masmu/malmu/masimu/malimu/ma_retrain/ma_original for it.")


def require_multi_agent(method: str, model: Any) -> None:
    """Raise TypeError unless ``model`` is the multi-agent learner."""
    if not is_multi_agent(model):
        raise TypeError(f"{method!r} unlearns the multi-agent learner (agents.MAReinforce); got "
                        f"{type(model).__name__}. Use mu/imu/retrain/original or a baseline for a standard classifier.")


def refuse_unused(method: str, config: UnlearningConfig, names: tuple[str, ...], why: str) -> None:
    """Raise ValueError naming the settings among ``names`` that the caller set although ``method`` cannot use them
    (rather than recording values that never took effect)."""
    used = [name for name in names if getattr(config, name) is not None]
    if used:
        raise ValueError(f"{method!r} does not use {', '.join(used)} ({why}); leave {'it' if len(used) == 1 else 'them'} "
                         "unset.")


def refuse_adam_with_iw(method: str, config: UnlearningConfig) -> None:
    """Raise ValueError when an interpretable method (IMU, MASIMU, MALIMU) is asked to step with Adam: Adam's update
    m / sqrt(v) cancels a common factor on the gradients, so Algorithm 2/3's grad <- (1 - I_w) grad would all but
    vanish (50 Adam steps at scale 0.7 vs 1.0 moved the weights by 1.6e-7, SGD's by 6.4e-2) and the method would
    silently become MU / MASMU / MALMU."""
    if config.optimizer == "adam":
        raise ValueError(f"{method!r} scales every gradient by (1 - I_w), which Adam's update m / sqrt(v) all but "
                         f"cancels, so it would silently run as its non-interpretable twin; use optimizer='sgd' "
                         f"(the default; momentum is allowed) or that twin.")


# --- optimizer and batches ---

def make_optimizer(params: Any, config: UnlearningConfig) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` names, with its resolved lr and weight decay: SGD (also with
    ``config.momentum``) or Adam (torch's default betas; ``momentum`` applies to SGD only)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=float(config.lr), weight_decay=float(config.weight_decay or 0.0))
    if config.optimizer not in (None, "sgd"):
        raise ValueError(f"UnlearningConfig.optimizer must be 'sgd' or 'adam'; got {config.optimizer!r}.")
    return torch.optim.SGD(params, lr=float(config.lr), momentum=float(config.momentum or 0.0),
                           weight_decay=float(config.weight_decay or 0.0))


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A 63-bit seed for (run seed, epoch, stream), so a resumed run redraws the same numbers."""
    return int(np.random.SeedSequence([seed, epoch, stream]).generate_state(2, dtype=np.uint32).view(np.uint64)[0]
               >> np.uint64(1))


def epoch_batches(indices: np.ndarray, batch_size: int, seed: int, epoch: int, stream: int = 0) -> list[np.ndarray]:
    """``indices`` shuffled by (seed, epoch, stream) and cut into batches of ``batch_size`` (last one smaller)."""
    order = np.random.default_rng(epoch_seed(seed, epoch, stream)).permutation(np.asarray(indices, dtype=np.int64))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def classifier_step(model: nn.Module, optimizer: torch.optim.Optimizer, images: Tensor, labels: Tensor,
                    loss_fn: Callable[[Tensor, Tensor], Tensor],
                    before_step: Callable[[], None] | None = None) -> tuple[float, int]:
    """One optimizer step of a standard classifier.

    Args:
        images: (B, C, H, W) uint8. labels: (B,) int64.
        loss_fn: (logits (B, K), labels (B,)) -> scalar loss to minimise.
        before_step: called between backward and ``optimizer.step`` (gradient scaling, masks).

    Returns:
        (loss value, number of correct predictions against ``labels``).
    """
    optimizer.zero_grad(set_to_none=True)
    logits = model(images)
    loss = loss_fn(logits, labels)
    loss.backward()
    if before_step is not None:
        before_step()
    optimizer.step()
    return float(loss.detach()), int((logits.detach().argmax(1) == labels).sum())


# --- evaluation inside the loop ---

def accuracy_and_loss(model: Any, data: UnlearningData, indices: np.ndarray, config: UnlearningConfig) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``data.train[indices]``."""
    probs = predict_proba(model, data.train, indices, batch_size=config.eval_batch_size, device=config.device,
                          seed=config.seed)
    labels = data.train.labels[indices]
    p_true = np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0)
    return float((probs.argmax(1) == labels).mean()), float(-np.log(p_true).mean())


# --- checkpoints ---

def _fingerprint(method: str, data: UnlearningData, config: UnlearningConfig, model: Any) -> str:
    h = hashlib.sha256()
    h.update(method.encode())
    net = model.net if is_multi_agent(model) else model
    for key, tensor in net.state_dict().items():  # the starting weights: a new original starts afresh
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    if is_multi_agent(model):  # and the learner's settings (e.g. combine), which equal weights do not pin down
        h.update(model.config.fingerprint().encode())
    h.update(data.train.fingerprint().encode())  # the images themselves (another size, other pixels)
    h.update(data.retain.tobytes())
    h.update(data.forget.tobytes())
    # settings that cannot change the trained weights do not invalidate a checkpoint
    relevant = {k: v for k, v in config.to_dict().items()
                if k not in ("checkpoint_dir", "progress", "eval_batch_size", "lime_cache_dir")}
    h.update(repr(sorted(relevant.items())).encode())
    return h.hexdigest()[:16]


class Checkpointer:
    """Saves (model, optimizer, finished epochs, history, extra tensors) after each epoch.

    The file loads with ``torch.load(weights_only=True)``: it holds only tensors, numbers,
    strings, lists and dicts (NumPy scalars, e.g. a metric from ``np.mean`` or a learning rate from a NumPy
    schedule, are saved as the Python numbers they hold). A checkpoint made with other data or settings, or one that
    cannot be read, is ignored with a warning naming the file, and replaced by this run's.
    """

    def __init__(self, method: str, data: UnlearningData, config: UnlearningConfig, model: Any) -> None:
        self.path = (Path(config.checkpoint_dir) / f"{method}.ckpt") if config.checkpoint_dir else None
        self.fingerprint = _fingerprint(method, data, config, model) if self.path is not None else ""

    def load(self) -> dict[str, Any] | None:
        if self.path is None or not self.path.exists():
            return None
        try:
            state = load_weights_only(self.path, "cpu", "an unlearning checkpoint")
        except ValueError as err:
            warnings.warn(f"{err}; ignoring it, and this run's checkpoint replaces it.", UserWarning, stacklevel=3)
            return None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            warnings.warn(f"'{self.path}' is not an unlearning checkpoint of this version; ignoring it, and this run's "
                          "checkpoint replaces it.", UserWarning, stacklevel=3)
            return None
        if state.get("fingerprint") != self.fingerprint:
            warnings.warn(f"'{self.path}' holds a {self.path.stem} checkpoint of other data, starting weights or "
                          "settings; ignoring it, and this run's checkpoint replaces it (pass another checkpoint_dir "
                          "to keep it).", UserWarning, stacklevel=3)
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_atomically(python_numbers({"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint, **state}),
                        self.path)

    def clear(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()


def model_state(model: Any) -> dict[str, Any]:
    """A ``weights_only``-safe snapshot of a standard classifier or of the multi-agent learner."""
    if is_multi_agent(model):
        return model.state_dict()
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def load_model_state(model: Any, state: dict[str, Any]) -> None:
    """Restore :func:`model_state` into ``model`` in place."""
    if is_multi_agent(model):
        restored = type(model).from_state_dict(state, device=str(getattr(model, "device", "cpu")))
        model.__dict__.update(restored.__dict__)
    else:
        model.load_state_dict(state)


# --- the epoch loop ---

EpochFn = Callable[[int], tuple[float, float, float]]
"""Runs one epoch (1-based number) and returns (mean loss, train accuracy, mean I_w or NaN)."""


def run_epochs(method: UnlearningMethod, model: Any, optimizer: Any, data: UnlearningData,
               config: UnlearningConfig, epoch_fn: EpochFn, *, setup_time_s: float = 0.0,
               extra_state: dict[str, Tensor] | None = None,
               on_epoch_end: Callable[[int], None] | None = None, measure_retain: bool = False,
               notes: str = "") -> RunRecord:
    """Run ``config.epochs`` epochs of ``epoch_fn`` with seeding, timing, evaluation and checkpoints.

    Each epoch starts from ``torch.manual_seed(epoch_seed(seed, epoch))`` and draws its batch
    order from the same (seed, epoch), so an interrupted run resumed from its checkpoint
    (``config.checkpoint_dir``) ends with the same weights as an uninterrupted one.
    ``on_epoch_end(epoch)`` is called after each epoch's checkpoint is written (an exception
    raised there interrupts the run, e.g. for tests).

    Args:
        model: nn.Module or multi-agent learner with ``state_dict``/``load_state_dict``.
        optimizer: the optimizer whose state is checkpointed (None for none).
        extra_state: tensors the method needs to resume that it cannot recompute from the original (SalUn's mask
            it can, so it passes none); saved as is.
    """
    epochs = int(config.epochs or 0)
    checkpointer = Checkpointer(method.name, data, config, model)
    history: list[EpochStats] = []
    start_epoch, elapsed = 0, 0.0
    state = checkpointer.load()
    if state is not None:
        load_model_state(model, state["model"])
        if optimizer is not None and state.get("optimizer") is not None:
            optimizer.load_state_dict(state["optimizer"])
        start_epoch, elapsed = int(state["epoch"]), float(state["elapsed"])
        history = [EpochStats(**h) for h in state["history"]]
        if extra_state is not None:
            for key in extra_state:
                extra_state[key].copy_(state["extra"][key])
    bar = tqdm(range(start_epoch + 1, epochs + 1), desc=method.name, disable=not config.progress, leave=False)
    for epoch in bar:
        torch.manual_seed(epoch_seed(config.seed, epoch, stream=99))
        t0 = time.perf_counter()
        loss, train_acc, iw = epoch_fn(epoch)
        seconds = time.perf_counter() - t0
        elapsed += seconds
        forget_acc, forget_loss = accuracy_and_loss(model, data, data.forget, config)
        retain_acc = accuracy_and_loss(model, data, data.retain, config)[0] if measure_retain else float("nan")
        history.append(EpochStats(epoch, loss, train_acc, retain_acc, forget_acc, forget_loss, seconds, iw))
        bar.set_postfix(loss=f"{loss:.3f}", forget_acc=f"{forget_acc:.3f}")
        checkpointer.save({"model": model_state(model),
                           "optimizer": optimizer.state_dict() if optimizer is not None else None,
                           "epoch": epoch, "elapsed": elapsed, "history": [asdict(h) for h in history],
                           "extra": {k: v.detach().cpu() for k, v in (extra_state or {}).items()}})
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    read = COMMON_SETTINGS | method.settings_used(is_multi_agent(model))  # what took effect (Retrain takes either kind)
    return RunRecord(method=method.name, model_kind=method.model_kind, wall_time_s=setup_time_s + elapsed,
                     setup_time_s=setup_time_s, epochs=epochs, history=history,
                     config={k: v for k, v in config.to_dict().items() if k in read},
                     resumed_from_epoch=start_epoch, notes=notes)


def mean_or_nan(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


# --- standard-classifier epochs ---

def supervised_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, data: UnlearningData, indices: np.ndarray,
                     config: UnlearningConfig, epoch: int, *,
                     loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
                     labels_for: Callable[[np.ndarray, Tensor], Tensor] | None = None,
                     before_step: Callable[[np.ndarray], float | None] | None = None,
                     stream: int = 0) -> tuple[float, float, float]:
    """One epoch of minibatch steps over ``data.train[indices]`` in seeded random order.

    Args:
        loss_fn: (logits (B, K), labels (B,)) -> scalar; default cross-entropy.
        labels_for: (batch dataset indices, true labels (B,)) -> labels to train on (e.g. random labels).
        before_step: called with the batch's dataset indices between backward and step (may scale
            gradients); a float it returns is averaged into the epoch's I_w.

    Returns:
        (mean loss, accuracy against the labels trained on, mean I_w or NaN).
    """
    loss_fn = loss_fn or nn.functional.cross_entropy
    model.train()
    total_loss, correct, seen, weights = 0.0, 0, 0, []
    for batch in epoch_batches(indices, config.batch_size, config.seed, epoch, stream):
        images, labels = data.train.get_batch(batch)
        if labels_for is not None:
            labels = labels_for(batch, labels)
        images, labels = images.to(config.device), labels.to(config.device)
        hook = None
        if before_step is not None:
            def hook(batch: np.ndarray = batch) -> None:
                value = before_step(batch)
                if value is not None:
                    weights.append(float(value))
        loss, hits = classifier_step(model, optimizer, images, labels, loss_fn, hook)
        total_loss += loss * len(batch)
        correct += hits
        seen += len(batch)
    return total_loss / max(seen, 1), correct / max(seen, 1), mean_or_nan(weights)


def private_copy(model: Any, device: str) -> Any:
    """A deep copy of ``model`` (the caller's original is never modified)."""
    import copy

    duplicate = copy.deepcopy(model)
    return duplicate.to(device) if isinstance(duplicate, nn.Module) else duplicate
