"""MAReinforce: train, evaluate, save and load the multi-agent classifier (MASMU with GRU, MALMU with LSTM).

Example:
    >>> from masimu_env import datasets
    >>> from agents import AgentConfig, MAReinforce
    >>> train = datasets.load("digits", split="train")
    >>> model = MAReinforce(AgentConfig.for_dataset("digits", epochs=3), train.num_classes, train.image_shape)
    >>> result = model.fit(train, val=datasets.load("digits", split="test"))
    >>> model.evaluate(datasets.load("digits", split="test"))["accuracy"]

Randomness: parameter init uses ``config.seed``; epoch ``e`` shuffles rows with
``np.random.default_rng([seed, e, ...])`` and plays its episodes with a torch.Generator seeded from
(seed, e, rank), so training is a pure function of (seed, epochs done) and resuming from a
checkpoint reproduces an uninterrupted run. Evaluation starts row ``r``'s agents at corners hashed
from (eval_seed, r) and, by default, moves them greedily (argmax pi): every row's prediction is the same
whatever subset or batch it is scored in. ``eval_policy='sample'`` instead samples moves from a generator
seeded by ``eval_seed`` at each call (deterministic for the same rows in the same order).
"""

from __future__ import annotations

import csv
import json
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from masimu_env.config import check_device, check_fits, check_indices, check_int, is_real
from masimu_env.core import Simulator, dynamics, row_corners

from .config import AgentConfig
from .networks import MultiAgentNet
from .reinforce import reinforce_loss
from .rollout import EpisodeModule, run_episode
from .serialization import atomic_path, load_weights_only, python_numbers, save_atomically, write_text_atomically

CHECKPOINT_FORMAT = "masimu.agents.MAReinforce/1"

#: Called between ``loss.backward()`` and ``optimizer.step()`` with (net, batch_indices): the shared
#: networks (their ``.grad`` are filled, averaged over ranks under DDP) and the (B,) int64 dataset rows of the batch.
#: Under DDP each rank passes its own rows: a hook must change the gradients identically on every rank (not as a
#: function of the rows), or the ranks' weights drift apart.
GradHook = Callable[[nn.Module, np.ndarray], None]
#: Called after every epoch with (learner, record); return True to stop training.
EpochCallback = Callable[["MAReinforce", dict[str, Any]], Any]


@dataclass
class FitResult:
    """What :meth:`MAReinforce.fit` returns.

    Attributes:
        history: one dict per epoch run in this call (``epoch``, ``train_loss``, ``train_reward``,
            ``train_accuracy``, ``log_prob``, ``entropy``, ``seconds`` (this epoch), ``elapsed`` (training time
            since the model's first epoch, across fits and resumes) and, with ``val``, ``val_accuracy``,
            ``val_loss``, ``val_nll``). Under DDP the ``train_*`` averages are over this rank's shard of the rows.
        epochs_done: total epochs this model has trained (across fits and resumes).
        wall_time_s: seconds spent in this call.
    """

    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_done: int = 0
    wall_time_s: float = 0.0

    @property
    def accuracy(self) -> list[float]:
        """Accuracy per epoch: the validation accuracy where ``fit`` had ``val``, else the training accuracy."""
        return [h.get("val_accuracy", h["train_accuracy"]) for h in self.history]

    @property
    def loss(self) -> list[float]:
        """Mean training loss per epoch."""
        return [h["train_loss"] for h in self.history]


def _has_unused_parameters(mode: str, n_steps: int) -> bool:
    """Whether a training episode leaves parameters without a gradient, which DDP must then search for every step
    (and warns about when told to search in vain): the random walk never uses the decision RNN and pi, and a
    one-step episode never reads the messages (m, d) it sends."""
    return mode == "random" or n_steps < 2


def _seed_for(*parts: int) -> int:
    """A 63-bit seed mixed from integers (stable across runs and platforms)."""
    state = np.random.SeedSequence([p % (1 << 32) for p in parts]).generate_state(1, np.uint64)
    return int(state[0] % (1 << 63))


def _dist_info() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _asks_to_stop(value: Any) -> bool:
    """A callback's return value stops training only when it is True (a Python or NumPy bool)."""
    return isinstance(value, (bool, np.bool_)) and bool(value)


_INIT_LOCK = threading.Lock()
"""Held while a learner seeds torch's global generator and initialises its networks."""


def _history_values(record: dict[str, Any]) -> dict[str, Any]:
    """``record``'s values as plain Python numbers (NumPy scalars a callback set become int/float), so the history
    writes to JSON and loads with ``weights_only=True``; anything else a callback put there raises, naming the key,
    before the epoch's checkpoint or metrics file is written."""
    out = {}
    for key, value in record.items():
        if isinstance(value, Tensor) and value.numel() == 1:  # e.g. an lr read from a tensor: the number it holds
            value = value.item()
        value = python_numbers(value)
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise ValueError(f"history record key {key!r} holds a {type(value).__name__}; epoch records keep numbers "
                             "and strings only (they go to JSON, CSV and the checkpoint): store a number.")
        out[key] = value
    return out


def _check_indices(indices: Any, n: int, name: str) -> np.ndarray:
    return np.arange(n, dtype=np.int64) if indices is None else check_indices(indices, n, name)


def _needs_labels(data: Any, method: str) -> None:
    if isinstance(data, Tensor):
        raise TypeError(f"{method} scores against labels, which an image tensor does not have; pass a dataset, e.g. "
                        "masimu_env.datasets.from_arrays(images, labels).")


class MAReinforce:
    """The MA-REINFORCE learner over the batched core.

    Args:
        config: an :class:`AgentConfig`, or a dict of its fields (validated the same way); None: ``AgentConfig()``.
        n_classes: K.
        image_shape: (C, H, W) of the images it will see; the window must fit.
    """

    def __init__(self, config: AgentConfig | dict[str, Any] | None, n_classes: int,
                 image_shape: Sequence[int]) -> None:
        if config is None:
            config = AgentConfig()
        elif isinstance(config, dict):
            config = AgentConfig.from_dict(config)
        elif not isinstance(config, AgentConfig):
            raise TypeError(f"config must be an AgentConfig or a dict of its fields; got {type(config).__name__}.")
        n_classes = check_int(n_classes, "n_classes", 2)
        image_shape = tuple(image_shape.tolist() if isinstance(image_shape, Tensor) else image_shape)
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (C, H, W); got {image_shape}.")
        image_shape = tuple(check_int(s, f"image_shape {image_shape}'s entries", 1) for s in image_shape)
        check_fits(config.sim_config, image_shape)
        self.config = config
        self.n_classes = int(n_classes)
        self.image_shape = image_shape
        self.device = torch.device(config.device)
        # torch's init draws from the global generator: seeded inside fork_rng, and under a lock, so that models
        # built in parallel threads still get exactly their seed's weights
        with _INIT_LOCK, torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.net = MultiAgentNet(config, self.n_classes, image_shape[0]).to(self.device)
        self.simulator = Simulator(config.sim_config, self.n_classes)
        self.epochs_done = 0
        self.history: list[dict[str, Any]] = []
        self.optimizer: torch.optim.Optimizer | None = None
        self._optimizer_kind: str | None = None

    # --- optimisation ---
    def _make_optimizer(self, kind: str, lr: float) -> torch.optim.Optimizer:
        params = self.net.parameters()
        if kind == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=self.config.weight_decay)
        if kind == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=self.config.weight_decay)
        raise ValueError(f"optimizer must be 'adam' or 'sgd'; got {kind!r}.")

    def _train_mode(self) -> str:
        return "random" if self.config.policy == "random" else "sample"

    def fit(self, train: Any, epochs: int | None = None, val: Any = None, *, indices: Any = None,
            val_indices: Any = None, lr: float | None = None, optimizer: str | None = None,
            batch_size: int | None = None, reset_optimizer: bool = False, grad_hook: GradHook | None = None,
            callbacks: Sequence[EpochCallback] = (), checkpoint_path: str | os.PathLike | None = None,
            metrics_path: str | os.PathLike | None = None, max_seconds: float | None = None,
            progress: bool = True, verbose: bool = False) -> FitResult:
        """Train with MA-REINFORCE (Eq. 6) for ``epochs`` more epochs.

        Under ``torch.distributed`` (initialised by the caller, e.g. via :mod:`agents.ddp` and torchrun)
        the shared networks are wrapped in DistributedDataParallel, every rank plays its shard of each
        epoch's rows, and ``batch_size`` is per rank.

        Args:
            train: an ImageDataset (``get_batch``, ``labels``).
            epochs: epochs to run in this call (default ``config.epochs``); the epoch counter continues
                from earlier fits / a loaded checkpoint, so per-epoch randomness continues too.
            val: optional dataset evaluated after every epoch (``val_indices`` selects rows).
            indices: rows of ``train`` to train on (e.g. a retain set); default all rows.
            lr: learning rate, applied to a kept optimizer too; None gives a new optimizer ``config.lr`` and leaves a
                kept (or resumed) one at its current lr, so an lr schedule set by a callback carries over a resume.
            optimizer: 'adam' or 'sgd' (default ``config.optimizer``).
            batch_size: images per update (default ``config.batch_size``); each plays ``config.rollouts_per_image``
                episodes.
            reset_optimizer: start a fresh optimizer instead of continuing the kept/loaded one
                (a different ``optimizer`` kind always starts fresh).
            grad_hook: called as ``grad_hook(net, batch_indices)`` after ``loss.backward()`` and before
                gradient clipping and ``optimizer.step()``; may rescale ``p.grad`` in place. Clipping
                (``config.grad_clip``) bounds the policy networks' and the other networks' gradient norms separately.
            callbacks: called as ``cb(learner, record)`` after each epoch; returning True (a bool) stops training,
                any other value does not. Values a callback adds to ``record`` must be numbers or strings.
            checkpoint_path: if given, :meth:`save` there after every epoch (rank 0 only).
            metrics_path: if given, write the full history as JSON there and as CSV next to it.
            max_seconds: stop after the first epoch that ends past this wall-clock budget.
            progress: tqdm bar per epoch (rank 0 only).
            verbose: print one summary line per epoch (rank 0 only).

        Returns:
            :class:`FitResult` with this call's per-epoch history.
        """
        cfg = self.config
        epochs = cfg.epochs if epochs is None else epochs
        check_int(epochs, "epochs", 0)
        batch_size = cfg.batch_size if batch_size is None else batch_size
        check_int(batch_size, "batch_size", 1)
        if lr is not None and (not is_real(lr) or not 0 < lr < math.inf):
            raise ValueError(f"lr must be None or a finite number > 0; got {lr!r}.")
        if max_seconds is not None and (not is_real(max_seconds) or not 0 < max_seconds < math.inf):
            raise ValueError(f"max_seconds must be None or a finite number of seconds > 0; got {max_seconds!r}.")
        kind = cfg.optimizer if optimizer is None else optimizer
        self._check_dataset(train, "train")
        rows = _check_indices(indices, len(train), "indices")
        if rows.size == 0:
            raise ValueError("fit got no training rows: indices is empty.")
        if metrics_path is not None and Path(metrics_path).suffix.lower() == ".csv":
            raise ValueError(f"metrics_path '{metrics_path}' ends in .csv, where the CSV copy would overwrite the JSON "
                             "history; pass a .json path (the CSV goes next to it).")
        if val is not None:  # checked now, not after the first epoch has trained
            self._check_dataset(val, "val")
            if _check_indices(val_indices, len(val), "val_indices").size == 0:  # gave NaN metrics and bare NaN JSON
                raise ValueError("fit got no validation rows: val_indices (or val) is empty.")
        elif val_indices is not None:
            raise ValueError("val_indices= was given without val=.")
        if self.optimizer is None or reset_optimizer or kind != self._optimizer_kind:
            self.optimizer = self._make_optimizer(kind, cfg.lr if lr is None else float(lr))
            self._optimizer_kind = kind
        elif lr is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = float(lr)
        # else: the optimizer keeps its lr (the config's, or what a callback set and a checkpoint saved), so a
        # resumed run continues an lr schedule exactly as an uninterrupted one

        rank, world = _dist_info()
        episode_module: nn.Module = EpisodeModule(self.net, self.simulator)
        mode = self._train_mode()
        if world > 1:
            episode_module = nn.parallel.DistributedDataParallel(
                episode_module, find_unused_parameters=_has_unused_parameters(mode, cfg.n_steps))
        show = progress and rank == 0
        talk = verbose and rank == 0
        result = FitResult(epochs_done=self.epochs_done)
        start = time.perf_counter()
        elapsed_before = float(self.history[-1].get("elapsed", 0.0)) if self.history else 0.0
        if cfg.baseline == "loo" and cfg.normalize_advantage and mode == "sample" and epochs > 0:
            warnings.warn("baseline='loo' with normalize_advantage=True scales the first epochs' tiny within-image "
                          "reward differences to unit size; on MNIST this made pi deterministic within 2 epochs (see "
                          "README). Set normalize_advantage=False unless you have checked otherwise.", UserWarning,
                          stacklevel=2)
        for _ in range(epochs):
            epoch = self.epochs_done
            epoch_start = time.perf_counter()
            # --- data order: a pure function of (seed, epoch); each rank takes a strided shard ---
            order = rows[np.random.default_rng([cfg.seed, epoch]).permutation(rows.size)]
            if world > 1:
                padded = int(math.ceil(order.size / world)) * world  # like DistributedSampler: wrap to even shards
                order = np.resize(order, padded)[rank::world]
            generator = torch.Generator().manual_seed(_seed_for(cfg.seed, epoch, rank))
            self.net.train()
            totals = dict(loss=0.0, reward=0.0, log_prob=0.0, entropy=0.0, accuracy=0.0)
            n_seen = 0
            batches = range(0, order.size, batch_size)
            bar = tqdm(batches, desc=f"epoch {epoch + 1}", leave=False, disable=not show)
            for begin in bar:
                batch_rows = order[begin:begin + batch_size]
                images, labels = train.get_batch(batch_rows)
                self._check_images(images, "train", batch_rows)
                episode, labels = self._training_episodes(episode_module, images, labels.to(self.device), generator,
                                                          mode)
                # --- update ---
                loss, stats = reinforce_loss(episode, labels, cfg)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if grad_hook is not None:
                    grad_hook(self.net, batch_rows)
                if cfg.grad_clip is not None:
                    self.net.clip_gradients(cfg.grad_clip)
                self.optimizer.step()
                for key in totals:
                    totals[key] += stats[key] * len(batch_rows)
                n_seen += len(batch_rows)
                bar.set_postfix(acc=f"{stats['accuracy']:.3f}", r=f"{stats['reward']:.3f}", refresh=False)
            bar.close()
            self.epochs_done += 1
            record: dict[str, Any] = {"epoch": self.epochs_done}
            record.update({f"train_{k}" if k in ("loss", "reward", "accuracy") else k: v / n_seen
                           for k, v in totals.items()})
            record["seconds"] = time.perf_counter() - epoch_start
            if val is not None:
                metrics = self.evaluate(val, indices=val_indices)
                record.update(val_accuracy=metrics["accuracy"], val_loss=metrics["loss"], val_nll=metrics["nll"])
            record["elapsed"] = elapsed_before + time.perf_counter() - start  # training time across fits and resumes
            self.history.append(record)  # callbacks may still add to it; checked below
            result.history.append(record)
            if talk:
                line = (f"epoch {record['epoch']}: loss {record['train_loss']:.4f} reward {record['train_reward']:.4f} "
                        f"train acc {record['train_accuracy']:.4f} log p_tau {record['log_prob']:.2f} "
                        f"H(path) {record['entropy']:.2f}")
                if "val_accuracy" in record:
                    line += f" | val acc {record['val_accuracy']:.4f} val loss {record['val_loss']:.4f}"
                print(line + f" ({record['seconds']:.1f}s)", flush=True)
            # every callback runs, before the checkpoint, so what it records or changes (e.g. the lr) is saved
            # only True stops: a callback that returns something else (file.write's count, a metric) must not
            own = dict(record)
            stops = [_asks_to_stop(cb(self, record)) for cb in callbacks]
            try:
                record.update(_history_values(record))
            except ValueError:  # keep the epoch's own values, so save() and later fits still work, then say why
                record.clear()
                record.update(own)
                raise
            stop = any(stops) or (max_seconds is not None and time.perf_counter() - start > max_seconds)
            if rank == 0:
                if checkpoint_path is not None:
                    self.save(checkpoint_path)
                if metrics_path is not None:
                    self.write_history(metrics_path)
            if world > 1:  # stop together: a rank that went on alone would wait in the next all-reduce forever
                flag = torch.tensor([float(stop)], device=self.device)
                torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
                stop = bool(flag.item())
            if stop:
                break
        result.epochs_done = self.epochs_done
        result.wall_time_s = time.perf_counter() - start
        return result

    def _training_episodes(self, episode_module: nn.Module, images: Tensor, labels: Tensor,
                           generator: torch.Generator, mode: str) -> tuple[dict[str, Tensor], Tensor]:
        """Play one batch's training episodes: (episode outputs, the labels of its B x K episodes).

        With ``rollouts_per_image`` K > 1 every image plays K consecutive episodes from the same start corners
        (the groups ``baseline='loo'`` expects); ``baseline='greedy'`` adds ``baseline_reward``, the reward of a
        gradient-free greedy rollout of each image from those corners.
        """
        cfg = self.config
        corners, greedy_reward = None, None
        repeats = cfg.rollouts_per_image
        self_critical = cfg.baseline == "greedy" and mode == "sample"
        if repeats > 1 or self_critical:
            corners = dynamics.sample_corners(len(images), cfg.n_agents, *images.shape[-2:], cfg.window, generator,
                                              self.device)
        if self_critical:
            with torch.no_grad():
                greedy_reward = run_episode(self.net, self.simulator, images, labels, generator, "greedy",
                                            corners)["reward"]
        if repeats > 1:
            images, labels = images.repeat_interleave(repeats, dim=0), labels.repeat_interleave(repeats, dim=0)
            corners = corners.repeat_interleave(repeats, dim=0)
            if greedy_reward is not None:
                greedy_reward = greedy_reward.repeat_interleave(repeats, dim=0)
        episode = episode_module(images, labels, generator, mode, corners, cfg.step_reward_weight > 0)
        if greedy_reward is not None:
            episode["baseline_reward"] = greedy_reward
        return episode, labels

    def write_history(self, path: str | os.PathLike) -> None:
        """Write the full per-epoch history as JSON at ``path`` and as CSV at ``path`` with suffix .csv."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(path, json.dumps({"history": self.history, "config": self.config.to_dict()}, indent=2))
        keys: list[str] = []
        for record in self.history:
            keys += [k for k in record if k not in keys]
        with atomic_path(path.with_suffix(".csv")) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.history)

    # --- evaluation ---
    def _check_images(self, images: Tensor, name: str, rows: np.ndarray) -> None:
        """The images a dataset actually returned must have this model's (C, H, W): a dataset without a fixed
        ``image_shape`` (lazy, mixed sizes) is only checked here, before any episode is played on them."""
        if tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(f"{name} rows {rows[:3].tolist()}{'...' if len(rows) > 3 else ''} gave images of "
                             f"{tuple(images.shape[1:])}, but this model was built for {self.image_shape}; load the "
                             "dataset with a matching image_size or build a new model.")

    def _check_dataset(self, ds: Any, name: str) -> None:
        if not hasattr(ds, "get_batch") or not hasattr(ds, "labels"):
            raise TypeError(f"{name} must be an ImageDataset (with get_batch and labels); got {type(ds).__name__}.")
        shape = tuple(ds.image_shape) if getattr(ds, "image_shape", None) is not None else None
        if shape is not None and shape != self.image_shape:
            raise ValueError(f"{name} images are {shape} but this model was built for {self.image_shape}; "
                             f"load the dataset with a matching image_size or build a new model.")
        labels = np.asarray(ds.labels)
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise ValueError(f"{name} has labels {int(labels.min())}..{int(labels.max())} but this model has "
                             f"n_classes={self.n_classes}.")

    @torch.no_grad()
    def _episodes(self, images: Tensor, labels: Tensor, rows: np.ndarray, generator: torch.Generator) -> dict[str, Tensor]:
        cfg = self.config
        _, h, w = self.image_shape
        corners = row_corners(rows, cfg.n_agents, h, w, cfg.window, cfg.eval_seed)
        mode = "random" if cfg.policy == "random" else cfg.eval_policy
        return run_episode(self.net, self.simulator, images, labels, generator, mode, corners=corners)

    @torch.no_grad()
    def episode_outputs(self, data: Any, indices: Any = None, batch_size: int = 256) -> dict[str, Tensor]:
        """Per-row evaluation episodes: ``probs`` (n, K) p_bar, ``agent_probs`` (n, N, K), ``reward`` (n,),
        ``labels`` (n,), ``moves`` (n, T, N). ``data`` is a dataset (rows ``indices``) or a (B, C, H, W) tensor.

        A dataset row's start corners are a function of its index, so its episode is the same in any subset or
        batch. A tensor has no labels and no row identity: row i starts at the corners of index i, ``labels`` are
        -1 and ``reward`` is NaN."""
        check_int(batch_size, "batch_size", 1)
        if isinstance(data, Tensor):
            if indices is not None:
                raise ValueError("indices= applies to datasets; slice the image tensor instead.")
            images_all = data
            if images_all.ndim != 4 or tuple(images_all.shape[1:]) != self.image_shape:
                raise ValueError(f"images must be (B, {', '.join(map(str, self.image_shape))}); "
                                 f"got {tuple(images_all.shape)}.")
            rows = np.arange(images_all.shape[0], dtype=np.int64)

            def fetch(r: np.ndarray) -> tuple[Tensor, Tensor]:
                return images_all[torch.as_tensor(r)], torch.zeros(len(r), dtype=torch.long)
        else:
            self._check_dataset(data, "data")
            rows = _check_indices(indices, len(data), "indices")
            fetch = data.get_batch
        self.net.eval()
        generator = torch.Generator().manual_seed(self.config.eval_seed)
        chunks: dict[str, list[Tensor]] = {k: [] for k in ("probs", "agent_probs", "reward", "labels", "moves")}
        for begin in range(0, rows.size, batch_size):
            batch_rows = rows[begin:begin + batch_size]
            images, labels = fetch(batch_rows)
            self._check_images(images, "data", batch_rows)
            episode = self._episodes(images, labels.to(self.device), batch_rows, generator)
            chunks["agent_probs"].append(episode["probs"].cpu())
            chunks["probs"].append(episode["probs"].mean(1).cpu())
            chunks["reward"].append(episode["reward"].cpu())
            chunks["labels"].append(labels.cpu())
            chunks["moves"].append(episode["moves"].cpu())
        cfg = self.config
        empty = dict(probs=(0, self.n_classes), agent_probs=(0, cfg.n_agents, self.n_classes), reward=(0,),
                     labels=(0,), moves=(0, cfg.n_steps, cfg.n_agents))
        out = {k: torch.cat(v) if v else torch.zeros(empty[k]) for k, v in chunks.items()}
        if isinstance(data, Tensor):  # played against placeholder labels: nothing label-dependent is meaningful
            out["labels"] = torch.full_like(out["labels"], -1)
            out["reward"] = torch.full_like(out["reward"], float("nan"))
        return out

    def predict_proba(self, data: Any, indices: Any = None, batch_size: int = 256) -> np.ndarray:
        """p_bar, the agents' mean class distribution: (n, K) float32 numpy, rows in ``indices`` order."""
        return self.episode_outputs(data, indices, batch_size)["probs"].numpy()

    def predict(self, data: Any, indices: Any = None, batch_size: int = 256) -> np.ndarray:
        """Predicted classes argmax p_bar: (n,) int64 numpy."""
        return self.predict_proba(data, indices, batch_size).argmax(-1).astype(np.int64)

    def per_example_loss(self, data: Any, indices: Any = None, batch_size: int = 256) -> dict[str, np.ndarray]:
        """Per-row losses of a dataset: ``loss`` (n,) = -r_tau = L(p_bar - e_i) and ``nll`` (n,) = -log p_bar[i]."""
        _needs_labels(data, "per_example_loss")
        out = self.episode_outputs(data, indices, batch_size)
        p_true = out["probs"].gather(1, out["labels"][:, None].long()).squeeze(1)
        return dict(loss=(-out["reward"]).numpy(), nll=(-torch.log(p_true.clamp_min(1e-12))).numpy())

    def evaluate(self, data: Any, indices: Any = None, batch_size: int = 256) -> dict[str, Any]:
        """Accuracy, loss (mean L(p_bar - e_i), the negated reward), nll and per-class accuracy on a dataset split.

        Returns:
            dict with ``accuracy`` float, ``loss`` float, ``nll`` float, ``per_class_accuracy`` list of K
            floats (None for classes absent from the rows), ``n`` int.
        """
        _needs_labels(data, "evaluate")
        out = self.episode_outputs(data, indices, batch_size)
        labels = out["labels"].long()
        predicted = out["probs"].argmax(-1)
        correct = (predicted == labels).float()
        p_true = out["probs"].gather(1, labels[:, None]).squeeze(1) if labels.numel() else torch.zeros(0)
        per_class: list[float | None] = []
        for k in range(self.n_classes):
            mask = labels == k
            per_class.append(float(correct[mask].mean()) if bool(mask.any()) else None)
        n = int(labels.numel())
        return dict(accuracy=float(correct.mean()) if n else float("nan"),
                    loss=float((-out["reward"]).mean()) if n else float("nan"),
                    nll=float(-torch.log(p_true.clamp_min(1e-12)).mean()) if n else float("nan"),
                    per_class_accuracy=per_class, n=n)

    # --- checkpoints ---
    def state_dict(self) -> dict[str, Any]:
        """Plain dict of tensors and Python values, loadable with ``torch.load(..., weights_only=True)``.

        NumPy scalars (e.g. a learning rate set from a NumPy schedule) become Python numbers, which
        ``weights_only`` loading accepts; NumPy scalar objects it refuses.
        """
        return python_numbers(dict(format=CHECKPOINT_FORMAT, config=self.config.to_dict(), n_classes=self.n_classes,
                                   image_shape=list(self.image_shape), net=self.net.state_dict(),
                                   optimizer=None if self.optimizer is None else self.optimizer.state_dict(),
                                   optimizer_kind=self._optimizer_kind, epochs_done=self.epochs_done,
                                   history=[_history_values(record) for record in self.history]))

    def save(self, path: str | os.PathLike) -> None:
        """Write the checkpoint (networks, optimizer, epoch counter, history, config) to ``path`` atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = self.state_dict()  # raises (naming the problem) before any file is touched
        save_atomically(state, path)

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], device: str | None = None,
                        source: str | os.PathLike | None = None) -> "MAReinforce":
        """The learner a :meth:`state_dict` describes; ``device`` overrides the saved one, and ``source`` (the file
        it was read from) is named in errors."""
        try:
            return cls._from_state(state, device)
        except ValueError as err:
            if source is None:
                raise
            raise ValueError(f"'{source}': {err}") from None

    @classmethod
    def _from_state(cls, state: dict[str, Any], device: str | None) -> "MAReinforce":
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"not a {CHECKPOINT_FORMAT} checkpoint (format={state.get('format') if isinstance(state, dict) else None!r}).")
        values = dict(state["config"])
        # saved before these options existed: p_bar averaged softmaxes, and an LSTM's head read h
        values.setdefault("combine", "probs")
        if values.get("belief") == "lstm":
            values.setdefault("lstm_head", "hidden")
        config = AgentConfig.from_dict(values)
        if device is not None:
            config = config.replace(device=device)
        model = cls(config, state["n_classes"], state["image_shape"])
        model.net.load_state_dict(state["net"])
        model.epochs_done = int(state["epochs_done"])
        model.history = [dict(h) for h in state["history"]]
        if state.get("optimizer") is not None:
            model._optimizer_kind = state["optimizer_kind"]
            model.optimizer = model._make_optimizer(model._optimizer_kind, config.lr)
            model.optimizer.load_state_dict(state["optimizer"])
        return model

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> "MAReinforce":
        """Read a checkpoint written by :meth:`save` (with ``weights_only=True``); ``device`` overrides the saved one."""
        if device is not None:
            check_device(device, "device")  # a bad device= is the argument's fault, not the file's
        state = cls.read_checkpoint(path, device)
        if device is None and isinstance(state, dict) and isinstance(state.get("config"), dict):
            saved = state["config"].get("device", "cpu")
            try:
                check_device(saved, "its device")
            except ValueError as err:
                raise ValueError(f"'{path}' was saved for device {saved!r}, which this machine cannot use ({err}); "
                                 f"pass device='cpu' (or another device it has).") from None
        return cls.from_state_dict(state, device=device, source=path)

    @staticmethod
    def read_checkpoint(path: str | os.PathLike, device: str | None = None) -> dict[str, Any]:
        """The plain dict a checkpoint file holds (:meth:`state_dict`'s), its tensors on ``device`` (default cpu)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No checkpoint at '{path}'; pass the file written by MAReinforce.save().")
        return load_weights_only(path, device or "cpu", "a checkpoint written by MAReinforce.save()")
