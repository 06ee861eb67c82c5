"""l1-sparse: fine-tune on the retain set with a linearly decaying l1 penalty on the weights (Jia et al. 2023)."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from ..config import UnlearningConfig
from ..data import UnlearningData
from .common import (UnlearningMethod, UnlearningResult, make_optimizer, private_copy, require_standard, run_epochs,
                     supervised_epoch)


class L1Sparse(UnlearningMethod):
    """CE on D_r + gamma_t * ||theta||_1 with gamma_t = gamma * (1 - (t - 1) / E) in epoch t of E.

    Defaults from Unlearn-Sparse (Jia et al. 2023: gamma = 5e-4, ``--unlearn_lr 0.01
    --unlearn_epochs 10``): SGD lr 0.01, momentum 0.9, weight decay 5e-4, 10 epochs.
    """

    name = "l1_sparse"
    model_kind = "cnn"
    DEFAULTS = {"epochs": 10, "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "optimizer": "sgd"}
    reference = "Jia et al. 2023 (Unlearn-Sparse) l1-sparse defaults"
    EXTRA_SETTINGS = frozenset({"l1_gamma"})

    def run(self, model: Any, data: UnlearningData, config: UnlearningConfig, on_epoch_end: Any = None) -> UnlearningResult:
        require_standard(self.name, model)
        student = private_copy(model, config.device)
        optimizer = make_optimizer(student.parameters(), config)
        epochs = int(config.epochs or 1)

        def epoch_fn(epoch: int) -> tuple[float, float, float]:
            gamma = config.l1_gamma * (1.0 - (epoch - 1) / epochs)

            def loss_fn(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
                l1 = torch.cat([p.reshape(-1) for p in student.parameters()]).abs().sum()
                return F.cross_entropy(logits, labels) + gamma * l1

            return supervised_epoch(student, optimizer, data, data.retain, config, epoch, loss_fn=loss_fn)

        record = run_epochs(self, student, optimizer, data, config, epoch_fn, on_epoch_end=on_epoch_end)
        return UnlearningResult(student, record)
