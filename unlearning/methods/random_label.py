"""RL: fine-tune on the retain set plus the forget set relabelled at random (Golatkar et al. 2020; SalUn's defaults)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from ..config import UnlearningConfig
from ..data import UnlearningData
from .common import (UnlearningMethod, UnlearningResult, make_optimizer, private_copy, require_standard, run_epochs,
                     supervised_epoch)


def random_forget_labels(data: UnlearningData, seed: int, epoch: int) -> dict[int, int]:
    """One uniformly random class per forget image, redrawn every epoch as SalUn's RL does (its reference code draws
    them anew in each epoch's pass), from (seed, epoch), so a resumed run redraws the same labels. A draw may equal
    the true class; over the epochs that averages out (a label drawn once kept about one image in K on its true
    class for the whole run)."""
    rng = np.random.default_rng([seed, epoch, 11])
    labels = rng.integers(0, data.num_classes, size=len(data.forget))
    return {int(i): int(k) for i, k in zip(data.forget, labels)}


def relabel(mapping: dict[int, int]) -> Any:
    """``labels_for`` callback: forget rows get their random label, retain rows keep theirs."""
    def labels_for(batch: np.ndarray, labels: torch.Tensor) -> torch.Tensor:
        out = labels.clone()
        for pos, index in enumerate(batch.tolist()):
            if index in mapping:
                out[pos] = mapping[index]
        return out
    return labels_for


class RandomLabel(UnlearningMethod):
    """Cross-entropy on D_r (true labels) and D_f (uniformly random labels, redrawn every epoch), shuffled together
    (SalUn's CIFAR-100 path; its CIFAR-10 path runs a forget pass, then a retain pass).

    Defaults from SalUn (Fan et al. 2024, ``--unlearn RL --unlearn_epochs 10 --unlearn_lr 0.013``):
    SGD lr 0.013, momentum 0.9, weight decay 5e-4, 10 epochs.
    """

    name = "random_label"
    model_kind = "cnn"
    DEFAULTS = {"epochs": 10, "lr": 0.013, "momentum": 0.9, "weight_decay": 5e-4, "optimizer": "sgd"}
    reference = "Fan et al. 2024 (SalUn) RL defaults"

    def saliency_mask(self, model: Any, data: UnlearningData, config: UnlearningConfig) -> list[torch.Tensor] | None:
        return None

    def run(self, model: Any, data: UnlearningData, config: UnlearningConfig, on_epoch_end: Any = None) -> UnlearningResult:
        require_standard(self.name, model)
        student = private_copy(model, config.device)
        import time

        start = time.perf_counter()
        mask = self.saliency_mask(student, data, config)
        setup = time.perf_counter() - start
        # with a mask, weight decay joins the gradient before the mask (as torch's SGD would add it, bit for bit), so
        # the masked-out weights stay exactly at the original: the optimizer's own decay moved every one of them
        decay = float(config.weight_decay or 0.0) if mask is not None else 0.0
        optimizer = make_optimizer(student.parameters(),
                                   dataclasses.replace(config, weight_decay=0.0) if mask is not None else config)
        both = np.sort(np.concatenate([data.retain, data.forget]))

        def apply_mask(batch: np.ndarray) -> None:
            for param, keep in zip(student.parameters(), mask or []):
                if param.grad is not None:
                    if decay:
                        param.grad.add_(param.detach(), alpha=decay)
                    param.grad.mul_(keep)

        record = run_epochs(self, student, optimizer, data, config,
                            lambda epoch: supervised_epoch(
                                student, optimizer, data, both, config, epoch,
                                labels_for=relabel(random_forget_labels(data, config.seed, epoch)),
                                before_step=apply_mask if mask is not None else None),
                            setup_time_s=setup, on_epoch_end=on_epoch_end)
        return UnlearningResult(student, record)
