"""Benchmark the MA-REINFORCE learner: test accuracy, the random-walk policy with the same networks, time per epoch.

Parts (``--part``, repeatable; default digits):
    digits       embedded 8x8 digits, paper-style 3 agents x 5 steps, window 4; target >= 95% in 5 minutes.
    mnist        real MNIST t10k images under $MASIMU_REAL_DATA, split by np.random.default_rng(0).permutation(10000):
                 first 8,500 train, last 1,500 test; 3 agents x 5 steps, window 6.
                 Targets: >= 92% test accuracy, 89% within 10 minutes, learned >= random walk + 10 points.
    mnist-large  same split, 6 agents x 9 steps, window 8 (reference).
    ham10000     the HAM10000 sample at 64x64 (missing='skip'), 16 agents x 16 steps, window 12: the high-res path runs.
    speed        GRU (MASMU) vs LSTM (MALMU) wall time per epoch on the MNIST split.
    cnn          a full-image CNN on the same MNIST split (upper reference).
    bound        how much the agents' pixels allow: a full-image CNN trained and tested on MNIST images masked to
                 exactly the pixels N agents x T steps with window f see (start corners and moves from the core's
                 rules) under scripted policies: random walk, "toward the centre", and an oracle "toward the
                 image's ink centroid" that peeks at the whole image; with --bound-model, also under a trained
                 learner's own greedy policy ('learned'): does the CNN read more out of those pixels than the agents?

Each learner run trains for ``--minutes`` of wall-clock time (or ``--epochs``), evaluating the test split
after every epoch; the time to reach ``--reach`` test accuracy counts training time only. The machine's
CPUs are shared, so timings are noisy: rerun on an idle machine for clean figures.

Usage:
    python benchmarks/train_ma.py --part digits --minutes 5
    MASIMU_REAL_DATA=../shared/data python benchmarks/train_ma.py --part mnist --minutes 10 --threads 2 \
        --cosine --set batch_size=64 --policy learned
    MASIMU_REAL_DATA=../shared/data python benchmarks/train_ma.py --part bound --epochs 30
    MASIMU_REAL_DATA=../shared/data python benchmarks/train_ma.py --part mnist --epochs 120 --cosine --policy learned \
        --set batch_size=64 --save models && \
    MASIMU_REAL_DATA=../shared/data python benchmarks/train_ma.py --part bound --epochs 30 --bound-policy learned \
        --bound-model models/mnist-learned.pt
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents import AgentConfig, MAReinforce, run_episode  # noqa: E402
from agents.rollout import uniform_log_prob  # noqa: E402
from agents.train import parse_field  # noqa: E402
from masimu_env.argtypes import accuracy, positive_float, positive_int  # noqa: E402
from masimu_env import datasets  # noqa: E402
from masimu_env.core import dynamics  # noqa: E402

PARTS = ("digits", "mnist", "mnist-large", "ham10000", "speed", "cnn", "bound")
BOUND_POLICIES = ("random", "centre", "ink", "learned")


def real_data_root(name: str) -> Path:
    root = os.environ.get("MASIMU_REAL_DATA")
    if not root:
        raise SystemExit(f"--part {name} needs the real data: set MASIMU_REAL_DATA to the folder holding mnist/, ham10000/.")
    return Path(root)


def mnist_split() -> tuple[Any, np.ndarray, np.ndarray]:
    """The MNIST t10k images, first 8,500 rows of permutation(10000) for training, last 1,500 for test."""
    ds = datasets.load("mnist", root=real_data_root("mnist") / "mnist", split="test")
    order = np.random.default_rng(0).permutation(10000)
    return ds, order[:8500], order[8500:]


class Timer:
    """Stops training after ``minutes`` and records when test accuracy first reaches ``reach``.

    With ``cosine``, it also anneals the learning rate after every epoch along a cosine from ``config.lr`` at
    the start to 0 at the end of the budget: over ``minutes`` of training time when a time budget is given (a
    schedule over the wall-clock budget), else over ``epochs`` (a schedule that machine load cannot change).
    """

    def __init__(self, test: Any, test_rows: np.ndarray | None, minutes: float | None, reach: float | None,
                 cosine: bool = False, epochs: int | None = None) -> None:
        if cosine and minutes is None and epochs is None:
            raise ValueError("--cosine needs a budget to anneal over: --minutes or --epochs.")
        self.test, self.test_rows, self.minutes, self.reach, self.cosine = test, test_rows, minutes, reach, cosine
        self.epochs, self.epochs_done = epochs, 0
        self.train_seconds = 0.0
        self.reached_at: float | None = None
        self.best = 0.0

    def __call__(self, model: MAReinforce, record: dict[str, Any]) -> bool:
        self.train_seconds += record["seconds"]
        self.epochs_done += 1
        acc = record["val_accuracy"]
        self.best = max(self.best, acc)
        if self.reach is not None and self.reached_at is None and acc >= self.reach:
            self.reached_at = self.train_seconds
        if self.cosine and model.optimizer is not None:
            progress = min(1.0, self.train_seconds / (60 * self.minutes) if self.minutes is not None
                           else self.epochs_done / self.epochs)
            for group in model.optimizer.param_groups:
                group["lr"] = float(model.config.lr * 0.5 * (1 + np.cos(np.pi * progress)))
        return self.minutes is not None and self.train_seconds >= 60 * self.minutes


def run_learner(name: str, config: AgentConfig, train: Any, train_rows: np.ndarray, test: Any, test_rows: np.ndarray,
                minutes: float | None, epochs: int, reach: float | None, verbose: bool,
                cosine: bool = False, save_dir: str | None = None) -> dict[str, Any]:
    """Train one learner on ``train_rows``, evaluating ``test_rows`` after every epoch; print and return its figures.

    With ``save_dir`` the trained model is saved there as ``{name}-{policy}.pt`` (e.g. for ``--bound-model``).
    """
    model = MAReinforce(config, train.num_classes, train.image_shape)
    timer = Timer(test, test_rows, minutes, reach, cosine, epochs)
    start = time.perf_counter()
    model.fit(train, epochs=epochs, indices=train_rows, val=test, val_indices=test_rows, callbacks=[timer],
              progress=False, verbose=verbose)
    wall = time.perf_counter() - start
    final = model.evaluate(test, indices=test_rows)
    fitted = model.evaluate(train, indices=train_rows)  # the training rows scored like the test rows
    moved_at_random = None
    if config.policy == "learned":  # ablation: these trained networks with their policy switched off at test time
        trained_config = model.config
        model.config = trained_config.replace(eval_policy="random")
        try:
            moved_at_random = model.evaluate(test, indices=test_rows)["accuracy"]
        finally:
            model.config = trained_config
    if save_dir is not None:
        model.save(Path(save_dir) / f"{name}-{config.policy}.pt")
    n_epochs = len(model.history)
    result = dict(run=name, belief=config.belief, policy=config.policy, cosine=cosine, test_accuracy=final["accuracy"],
                  train_accuracy=fitted["accuracy"], random_moves_test_accuracy=moved_at_random,
                  best_test_accuracy=timer.best, epochs=n_epochs,
                  train_seconds=timer.train_seconds,
                  seconds_per_epoch=timer.train_seconds / max(n_epochs, 1), wall_seconds=wall,
                  reached=reach, reached_after_s=timer.reached_at,
                  final_log_prob=model.history[-1]["log_prob"], final_entropy=model.history[-1]["entropy"],
                  uniform_log_prob=uniform_log_prob(config.n_agents, config.n_steps))
    schedule = ", cosine lr" if cosine else ""
    line = (f"[{name}] {config.belief.upper()} policy={config.policy}{schedule}: test acc {final['accuracy']:.4f} "
            f"(best {timer.best:.4f}; train rows {fitted['accuracy']:.4f}) after {n_epochs} epochs, "
            f"{timer.train_seconds:.0f}s training, "
            f"{result['seconds_per_epoch']:.2f} s/epoch; log p_tau {result['final_log_prob']:.2f} "
            f"(uniform {result['uniform_log_prob']:.2f})")
    if moved_at_random is not None:
        line += f"; the same networks moved at random at test: {moved_at_random:.4f}"
    if reach is not None:
        line += (f"; reached {reach:.0%} after {timer.reached_at:.0f}s" if timer.reached_at is not None
                 else f"; did not reach {reach:.0%}")
    print(line, flush=True)
    return result


def learned_vs_random(name: str, config: AgentConfig, train: Any, train_rows: np.ndarray, test: Any,
                      test_rows: np.ndarray, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The learned policy, then the random walk with the same networks and the same budget (``--policy`` picks one)."""
    results = []
    if args.policy in ("both", "learned"):
        results.append(run_learner(name, config, train, train_rows, test, test_rows, args.minutes, args.epochs,
                                   args.reach, args.verbose, args.cosine, args.save))
    if args.policy in ("both", "random"):
        results.append(run_learner(name, config.replace(policy="random"), train, train_rows, test, test_rows,
                                   args.minutes, args.epochs, args.reach, args.verbose, args.cosine, args.save))
    if len(results) == 2:
        gap = 100 * (results[0]["test_accuracy"] - results[1]["test_accuracy"])
        print(f"[{name}] learned - random walk = {gap:+.1f} points (same networks, same training-time budget)", flush=True)
    return results


def small_cnn(in_channels: int, num_classes: int, example: torch.Tensor) -> nn.Sequential:
    """The LeNet-style reference CNN of the cnn and bound parts (its lazy layer sized on ``example``)."""
    net = nn.Sequential(nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.LazyLinear(128), nn.ReLU(), nn.Linear(128, num_classes))
    net(example[:2])
    return net


def train_epoch(net: nn.Module, opt: torch.optim.Optimizer, inputs: torch.Tensor, labels: torch.Tensor,
                schedule: Any = None) -> None:
    """One pass of cross-entropy steps over ``inputs`` in the given order, 64 images per step."""
    for begin in range(0, len(inputs), 64):
        loss = nn.functional.cross_entropy(net(inputs[begin:begin + 64]), labels[begin:begin + 64])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if schedule is not None:
            schedule.step()


def full_image_cnn(train: Any, train_rows: np.ndarray, test: Any, test_rows: np.ndarray, epochs: int) -> dict[str, Any]:
    """A small LeNet-style CNN on whole images: the upper reference on the same split."""
    torch.manual_seed(0)
    images, labels = train.get_batch(train_rows)
    x = images.float() / 255
    net = small_cnn(train.image_shape[0], train.num_classes, x)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.as_tensor(rng.permutation(len(train_rows)))
        train_epoch(net, opt, x[order], labels[order])
    seconds = time.perf_counter() - start
    test_images, test_labels = test.get_batch(test_rows)
    with torch.no_grad():
        acc = float((net(test_images.float() / 255).argmax(1) == test_labels).float().mean())
    print(f"[cnn] full-image CNN: test acc {acc:.4f} after {epochs} epochs, {seconds / epochs:.2f} s/epoch", flush=True)
    return dict(run="cnn", test_accuracy=acc, epochs=epochs, seconds_per_epoch=seconds / epochs)


def window_mask(corners: list[torch.Tensor], height: int, width: int, window: int) -> torch.Tensor:
    """(B, 1, H, W) float 0/1: the union of the f x f windows at ``corners`` (one (B, N, 2) long tensor per step)."""
    mask = torch.zeros(corners[0].shape[0], height, width, dtype=torch.bool)
    rows, cols = torch.arange(height), torch.arange(width)
    for step_corners in corners:
        in_rows = (rows >= step_corners[..., :1]) & (rows < step_corners[..., :1] + window)  # (B, N, H)
        in_cols = (cols >= step_corners[..., 1:]) & (cols < step_corners[..., 1:] + window)  # (B, N, W)
        mask |= (in_rows[..., :, None] & in_cols[..., None, :]).any(1)  # (B, N, H, W) -> (B, H, W)
    return mask[:, None].float()


@torch.no_grad()
def seen_mask(images: torch.Tensor, config: AgentConfig, policy: str, generator: torch.Generator,
              model: MAReinforce | None = None) -> torch.Tensor:
    """(B, 1, H, W) float 0/1: the pixels N agents see in T steps under ``policy``.

    Start corners and moves go through the core (``dynamics.sample_corners``, ``dynamics.move_windows``),
    so the mask obeys the environment's rules: T windows per agent, a move per step, the window stays inside.
    'random' draws uniform moves; 'centre' and 'ink' move along the axis with the larger offset toward the image
    centre or toward the image's ink centroid (an oracle: agents cannot see the whole image); 'learned' plays
    ``model``'s greedy policy (argmax pi, as its evaluation does) through the learner's own rollout.
    """
    b, _, h, w = images.shape
    f, n = config.window, config.n_agents
    corners = dynamics.sample_corners(b, n, h, w, f, generator)
    if policy == "learned":
        if model is None:
            raise ValueError("policy 'learned' needs the trained model (--bound-model CHECKPOINT).")
        model.net.eval()
        paths = []
        for begin in range(0, b, 1024):  # chunks bound the rollout's memory
            chunk = images[begin:begin + 1024]
            unused_labels = torch.zeros(len(chunk), dtype=torch.long)  # only the path is read, not the reward
            paths.append(run_episode(model.net, model.simulator, chunk, unused_labels, generator, "greedy",
                                     corners[begin:begin + 1024])["path"])
        path = torch.cat(paths).cpu()  # (B, T + 1, N, 2); the corner after the T-th move is never observed
        return window_mask(list(path[:, :config.n_steps].unbind(1)), h, w, f)
    if policy == "ink":
        ink = images.float().sum(1)
        total = ink.sum((1, 2)).clamp_min(1e-6)
        rows = (ink.sum(2) * torch.arange(h)).sum(1) / total
        cols = (ink.sum(1) * torch.arange(w)).sum(1) / total
        target = torch.stack([rows, cols], -1)[:, None, :] - (f - 1) / 2
    else:
        target = torch.tensor([(h - f) / 2, (w - f) / 2])
    visited = [corners]
    for _ in range(config.n_steps - 1):
        if policy == "random":
            moves = torch.randint(0, 4, (b, n), generator=generator)
        else:
            offset = target - corners.float()
            axis = (offset[..., 1].abs() > offset[..., 0].abs()).long()  # 0: rows, 1: cols
            forward = (offset.gather(-1, axis[..., None]).squeeze(-1) > 0).long()
            moves = 2 * axis + forward  # up, down, left, right = 0, 1, 2, 3
        corners = dynamics.move_windows(corners, moves, config.stride, h, w, f)
        visited.append(corners)
    return window_mask(visited, h, w, f)


def glimpse_bound(config: AgentConfig, train: Any, train_rows: np.ndarray, test: Any, test_rows: np.ndarray,
                  policy: str, epochs: int, model: MAReinforce | None = None) -> dict[str, Any]:
    """A full-image CNN on images masked to what the agents see (fresh masks every epoch; fixed test masks).

    Adam at lr 1e-3 annealed to 0 along a cosine over the ``epochs``, batch 64.
    """
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    images, labels = train.get_batch(train_rows)
    test_images, test_labels = test.get_batch(test_rows)
    x, x_test = images.float() / 255, test_images.float() / 255
    test_mask = seen_mask(test_images, config, policy, torch.Generator().manual_seed(1), model)
    test_input = torch.cat([x_test * test_mask, test_mask], 1)
    net = small_cnn(train.image_shape[0] + 1, train.num_classes, test_input)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    steps_per_epoch = -(-len(train_rows) // 64)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)  # anneal to 0
    rng = np.random.default_rng(0)
    accuracies = []
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.as_tensor(rng.permutation(len(train_rows)))
        mask = seen_mask(images[order], config, policy, generator, model)
        train_epoch(net, opt, torch.cat([x[order] * mask, mask], 1), labels[order], schedule)
        with torch.no_grad():
            accuracies.append(float((net(test_input).argmax(1) == test_labels).float().mean()))
    seconds = time.perf_counter() - start
    seen = float(test_mask.mean())
    print(f"[bound] policy={policy}: CNN on the agents' pixels ({seen:.0%} of each test image seen on average): "
          f"test acc {accuracies[-1]:.4f} (best {max(accuracies):.4f}, mean of last 5 epochs "
          f"{np.mean(accuracies[-5:]):.4f}) after {epochs} epochs, {seconds:.0f}s", flush=True)
    return dict(run=f"bound-{policy}", test_accuracy=accuracies[-1], best_test_accuracy=max(accuracies),
                last5_mean=float(np.mean(accuracies[-5:])), seen_fraction=seen, epochs=epochs)


def load_bound_model(path: str, config: AgentConfig) -> MAReinforce:
    """The learner whose greedy policy ``--part bound`` masks with; its environment must be ``config``'s."""
    model = MAReinforce.load(path, device="cpu")
    keys = ("n_agents", "n_steps", "window", "stride")
    if any(getattr(model.config, k) != getattr(config, k) for k in keys):
        raise SystemExit(f"--bound-model {path} plays {model.config.n_agents} agents x {model.config.n_steps} steps, "
                         f"window {model.config.window}, stride {model.config.stride}; the bound part is set to "
                         f"{config.n_agents} x {config.n_steps}, window {config.window}, stride {config.stride}: "
                         "pass the --set overrides the model was trained with.")
    return model


def parse_set(item: str) -> tuple[str, Any]:
    """``FIELD=VALUE`` of ``--set`` as (field, value), the value read by :func:`agents.train.parse_field`, exactly
    as ``masimu train --FIELD VALUE`` reads it."""
    key, sep, value = item.partition("=")
    if not sep or not key or not value:
        raise ValueError(f"--set {item!r}: expected FIELD=VALUE, e.g. --set lr=0.002.")
    try:
        return key, parse_field(key, value)
    except ValueError as err:
        raise ValueError(f"--set {item!r}: {err}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", action="append", choices=PARTS, help="which part(s) to run; repeatable")
    parser.add_argument("--minutes", type=positive_float, default=None,
                        help="training budget per learned run (default: 5 for digits, 15 for mnist, 3 otherwise)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="epoch budget per run; given without --minutes, runs have no time limit")
    parser.add_argument("--reach", type=accuracy, default=None, help="report when test accuracy first reaches this")
    parser.add_argument("--belief", choices=("gru", "lstm"), default="gru")
    parser.add_argument("--policy", choices=("both", "learned", "random"), default="both",
                        help="run the learned policy, the random walk with the same networks, or both (one after the other)")
    parser.add_argument("--cosine", action="store_true",
                        help="anneal the learning rate to 0 along a cosine over the --minutes training budget "
                             "(over --epochs when no --minutes is given)")
    parser.add_argument("--bound-policy", action="append", choices=BOUND_POLICIES,
                        help="policy for --part bound (repeatable; default the three scripted ones, plus 'learned' "
                             "with --bound-model)")
    parser.add_argument("--bound-model", default=None, metavar="CHECKPOINT",
                        help="a learner saved by --save: --part bound's 'learned' policy plays its greedy moves")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="torch threads (1 is fastest for these small ops on a shared 2-core machine)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override an AgentConfig field, e.g. --set lr=0.002 (repeatable)")
    parser.add_argument("--json", default=None, help="write all results to this JSON file")
    parser.add_argument("--save", default=None, metavar="DIR",
                        help="save each trained learner to DIR/PART-POLICY.pt (e.g. for --bound-model)")
    parser.add_argument("--verbose", action="store_true", help="print every epoch")
    args = parser.parse_args(argv)
    parts = args.part or ["digits"]
    if (args.bound_policy or args.bound_model) and "bound" not in parts:
        parser.error("--bound-policy and --bound-model apply only to --part bound.")
    if "speed" in parts and (args.cosine or args.save or args.reach is not None or args.policy != "both"
                             or args.minutes is not None or args.epochs is not None or args.belief != "gru"):
        parser.error("--part speed times two epochs of the GRU and the LSTM learner; --cosine, --save, --reach, "
                     "--policy, --minutes, --epochs and --belief do not apply to it (run it on its own).")
    for part in ("cnn", "bound"):  # they train a full-image CNN for --epochs; the learner's flags would be ignored
        if part in parts and (args.cosine or args.save or args.reach is not None or args.policy != "both"
                              or args.minutes is not None or args.belief != "gru"):
            parser.error(f"--part {part} trains a CNN for --epochs; --cosine, --save, --reach, --policy, --minutes and "
                         "--belief do not apply to it (run it on its own).")
    if args.bound_model and args.bound_policy and "learned" not in args.bound_policy:
        parser.error("--bound-model is played by --bound-policy learned, which the given --bound-policy list lacks.")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        parser.error(f"--json {args.json}: its folder does not exist.")
    if args.json and Path(args.json).is_dir():
        parser.error(f"--json {args.json} is a folder; name a file.")
    if args.save and Path(args.save).exists() and not Path(args.save).is_dir():
        parser.error(f"--save {args.save} is a file; name a folder.")
    if args.bound_model and not Path(args.bound_model).is_file():
        parser.error(f"--bound-model {args.bound_model}: no such file.")
    if set(parts) - {"digits"} and not os.environ.get("MASIMU_REAL_DATA"):
        parser.error(f"--part {' '.join(sorted(set(parts) - {'digits'}))} reads the real samples: set MASIMU_REAL_DATA "
                     "to the folder holding mnist/ and ham10000/.")
    torch.set_num_threads(args.threads)
    overrides: dict[str, Any] = {"belief": args.belief}
    for item in args.set:
        try:
            key, value = parse_set(item)
        except ValueError as err:
            parser.error(str(err))
        if key == "belief":
            parser.error(f"--set {item!r}: the cell has its own flag; pass --belief {value} instead.")
        if key == "epochs":  # fit is always given the budget of --epochs / --minutes
            parser.error(f"--set {item!r}: the epoch budget has its own flag; pass --epochs {value} instead.")
        overrides[key] = value
    try:  # every --set value, before any part trains
        AgentConfig(**{k: v for k, v in overrides.items() if k != "belief"})
    except (TypeError, ValueError) as err:
        parser.error(f"--set: {err}")
    results: list[dict[str, Any]] = []
    for part in parts:
        if args.minutes is None and args.epochs is not None:
            budget = None  # an epoch budget alone: no time limit
        else:
            budget = args.minutes if args.minutes is not None else {"digits": 5.0, "mnist": 15.0}.get(part, 3.0)
        epochs = args.epochs if args.epochs is not None else 10_000
        part_args = argparse.Namespace(**{**vars(args), "minutes": budget, "epochs": epochs})
        if part == "digits":
            train, test = datasets.load("digits", split="train"), datasets.load("digits", split="test")
            part_args.reach = args.reach if args.reach is not None else 0.95
            config = AgentConfig.for_dataset("digits", **overrides)
            results += learned_vs_random("digits", config, train, np.arange(len(train)), test, np.arange(len(test)),
                                         part_args)
        elif part in ("mnist", "mnist-large"):
            ds, train_rows, test_rows = mnist_split()
            part_args.reach = args.reach if args.reach is not None else 0.89
            extra = dict(n_agents=6, n_steps=9, window=8) if part == "mnist-large" else {}
            config = AgentConfig.for_dataset("mnist", **{**extra, **overrides})
            results += learned_vs_random(part, config, ds, train_rows, ds, test_rows, part_args)
        elif part == "ham10000":
            ds = datasets.load("ham10000", root=real_data_root("ham10000") / "ham10000", split="train",
                               image_size=64, missing="skip")
            rows = np.random.default_rng(0).permutation(len(ds))
            n_train = int(0.8 * len(rows))
            config = AgentConfig.for_dataset("ham10000", **{"batch_size": 16, **overrides})
            results += learned_vs_random("ham10000", config, ds, rows[:n_train], ds, rows[n_train:], part_args)
        elif part == "speed":
            ds, train_rows, test_rows = mnist_split()
            for belief in ("gru", "lstm"):
                config = AgentConfig.for_dataset("mnist", **{**overrides, "belief": belief})
                results.append(run_learner(f"speed-{belief}", config, ds, train_rows, ds, test_rows, None,
                                           2, None, args.verbose))
            gru, lstm = results[-2]["seconds_per_epoch"], results[-1]["seconds_per_epoch"]
            print(f"[speed] s/epoch GRU (MASMU) {gru:.2f} vs LSTM (MALMU) {lstm:.2f}: LSTM/GRU = {lstm / gru:.2f}",
                  flush=True)
        elif part == "cnn":
            ds, train_rows, test_rows = mnist_split()
            results.append(full_image_cnn(ds, train_rows, ds, test_rows, args.epochs or 10))
        elif part == "bound":
            ds, train_rows, test_rows = mnist_split()
            config = AgentConfig.for_dataset("mnist", **overrides)
            model = load_bound_model(args.bound_model, config) if args.bound_model else None
            policies = args.bound_policy or [p for p in BOUND_POLICIES if p != "learned" or model is not None]
            if "learned" in policies and model is None:
                raise SystemExit("--bound-policy learned needs --bound-model CHECKPOINT (a learner saved with --save).")
            for policy in policies:
                results.append(glimpse_bound(config, ds, train_rows, ds, test_rows, policy, args.epochs or 40, model))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
