"""Retrain: train a freshly initialised copy of the architecture on the retain set only (the gold standard)."""

from __future__ import annotations

from typing import Any

from ..config import UnlearningConfig
from ..data import UnlearningData
from ..models import is_multi_agent, reinitialize
from .common import (UnlearningMethod, UnlearningResult, make_optimizer, private_copy, refuse_unused, require_standard,
                     run_epochs, supervised_epoch)
from .multi_agent import fresh_learner, learner_epoch

#: Training recipe of a standard classifier, shared by Retrain and by training the original
#: (run_experiment), so that Retrain differs from the original only in the data.
TRAIN_RECIPE = {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "optimizer": "sgd"}


class Retrain(UnlearningMethod):
    """Retrain from scratch on the retain set.

    Standard classifier: re-initialised (seeded by ``config.seed``) and trained with
    :data:`TRAIN_RECIPE` for ``retrain_epochs`` (default 25, the paper's Table 4).
    Multi-agent learner: a new learner with the original's configuration, trained by
    MA-REINFORCE with the learner's own optimizer and lr for as many epochs as the original.
    """

    name = "retrain"
    model_kind = "cnn"
    DEFAULTS = TRAIN_RECIPE
    reference = "Retrain on D_r from scratch (paper A.6, Table 4)"

    def settings_used(self, multi_agent: bool) -> frozenset[str]:
        """``retrain_epochs``; the standard classifier's recipe too (the learner trains with its own)."""
        if multi_agent:
            return frozenset({"retrain_epochs"})
        return frozenset({"retrain_epochs", "lr", "momentum", "weight_decay", "optimizer", "batch_size"})

    def defaults(self, model: Any, data: UnlearningData) -> dict[str, Any]:
        """:data:`TRAIN_RECIPE` for a standard classifier; none for the learner, which trains with its own."""
        return {} if is_multi_agent(model) else dict(self.DEFAULTS)

    def run(self, model: Any, data: UnlearningData, config: UnlearningConfig, on_epoch_end: Any = None) -> UnlearningResult:
        if is_multi_agent(model):
            refuse_unused(self.name, config, ("lr", "optimizer", "momentum", "weight_decay"),
                          "the multi-agent Retrain trains a fresh learner with the original's own optimizer and lr")
            epochs = config.retrain_epochs if config.retrain_epochs is not None else int(model.epochs_done)
            config = _with(config, epochs=epochs)
            learner = fresh_learner(model, config.seed)
            record = run_epochs(self, learner, None, data, config,
                                lambda epoch: learner_epoch(learner, data, config, epoch, own_optimizer=True),
                                on_epoch_end=on_epoch_end)
            return UnlearningResult(learner, record)
        require_standard(self.name, model)
        epochs = config.retrain_epochs if config.retrain_epochs is not None else 25
        config = _with(config, epochs=epochs)
        fresh = reinitialize(private_copy(model, config.device), config.seed)
        optimizer = make_optimizer(fresh.parameters(), config)
        record = run_epochs(self, fresh, optimizer, data, config,
                            lambda epoch: supervised_epoch(fresh, optimizer, data, data.retain, config, epoch),
                            on_epoch_end=on_epoch_end)
        return UnlearningResult(fresh, record)


def _with(config: UnlearningConfig, **changes: Any) -> UnlearningConfig:
    import dataclasses

    return dataclasses.replace(config, **changes)
