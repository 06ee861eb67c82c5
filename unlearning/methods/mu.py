"""MU: fine-tune the original standard classifier on the retain set (paper's baseline; SGD, lr 0.1)."""

from __future__ import annotations

from typing import Any

from ..config import UnlearningConfig
from ..data import UnlearningData
from ..explain import scale_gradients
from ..interpretable import InterpretableWeights
from .common import (UnlearningMethod, UnlearningResult, make_optimizer, private_copy, refuse_adam_with_iw,
                     require_standard, run_epochs, supervised_epoch)


class Mu(UnlearningMethod):
    """Fine-tuning on D_r with cross-entropy.

    Defaults: SGD, lr 0.1, no momentum or weight decay (paper §5); 3 epochs (the paper's
    Figure 3 runs 25, as many as Retrain, which would leave no speed-up; 3 keeps MU/IMU near 10%
    of Retrain's 25 epochs). IMU's LIME tables default to 5 explained retain and 5 explained forget
    images per class with 32 samples each, averaged per label (paper §3; ``lime_retain_per_class=0``,
    ``lime_forget_per_class=0`` explain every image); see ``METHODS.md`` for the measured agreement.
    """

    name = "mu"
    model_kind = "cnn"
    interpretable = False
    DEFAULTS = {"epochs": 3, "lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "optimizer": "sgd",
                "lime_retain_per_class": 5, "lime_forget_per_class": 5}
    reference = "paper §5 (MU)"

    def run(self, model: Any, data: UnlearningData, config: UnlearningConfig, on_epoch_end: Any = None) -> UnlearningResult:
        require_standard(self.name, model)
        if self.interpretable:
            refuse_adam_with_iw(self.name, config)
        weights = InterpretableWeights.compute(model, data, config) if self.interpretable else None
        student = private_copy(model, config.device)
        optimizer = make_optimizer(student.parameters(), config)

        def before_step(batch: Any) -> float | None:
            if weights is None:
                return None
            i_w = weights.weight(batch)
            scale_gradients(student.parameters(), i_w)  # Algorithm 3: grad <- grad - I_w * grad
            return i_w

        record = run_epochs(self, student, optimizer, data, config,
                            lambda epoch: supervised_epoch(student, optimizer, data, data.retain, config, epoch,
                                                           before_step=before_step if weights else None),
                            setup_time_s=weights.seconds if weights else 0.0, on_epoch_end=on_epoch_end)
        return UnlearningResult(student, record)
