"""GA: gradient ascent on the forget set's cross-entropy (Thudi et al. 2022; defaults of Unlearn-Sparse)."""

from __future__ import annotations

from typing import Any

from torch.nn import functional as F

from ..config import UnlearningConfig
from ..data import UnlearningData
from .common import (UnlearningMethod, UnlearningResult, make_optimizer, private_copy, require_standard, run_epochs,
                     supervised_epoch)


class GradientAscent(UnlearningMethod):
    """Maximise CE on D_f (minimise its negative); the retain set is not used.

    Defaults from Unlearn-Sparse (Jia et al. 2023, ``--unlearn GA --unlearn_lr 0.0001
    --unlearn_epochs 5``): SGD lr 1e-4, momentum 0.9, weight decay 5e-4, 5 epochs. Batch size 64
    instead of 256 (tiny forget sets would otherwise take one step per epoch).
    """

    name = "gradient_ascent"
    model_kind = "cnn"
    DEFAULTS = {"epochs": 5, "lr": 1e-4, "momentum": 0.9, "weight_decay": 5e-4, "optimizer": "sgd"}
    reference = "Jia et al. 2023 (Unlearn-Sparse) GA defaults"

    def run(self, model: Any, data: UnlearningData, config: UnlearningConfig, on_epoch_end: Any = None) -> UnlearningResult:
        require_standard(self.name, model)
        student = private_copy(model, config.device)
        optimizer = make_optimizer(student.parameters(), config)
        record = run_epochs(self, student, optimizer, data, config,
                            lambda epoch: supervised_epoch(student, optimizer, data, data.forget, config, epoch,
                                                           loss_fn=lambda logits, y: -F.cross_entropy(logits, y)),
                            on_epoch_end=on_epoch_end)
        return UnlearningResult(student, record)
