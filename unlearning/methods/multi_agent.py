"""Shared mechanics of MASMU, MALMU, MASIMU and MALIMU: MA-REINFORCE fine-tuning of a copy of the
original multi-agent learner on retain-set episodes, optionally with the I_w gradient scaling.

The learner (``agents.MAReinforce``) plays episodes only on the rows it is given, so
``fit(train, indices=retain)`` is exactly "episodes drawn from the retain set"; its ``grad_hook``
runs between ``backward`` and ``optimizer.step`` with the batch's dataset rows, which is where
Algorithm 2 (lines 23-27) rescales the gradients. The learner clips the gradient norm after the
hook, which would undo part of the (1 - I_w) scaling; the fine-tuned copy therefore clips inside
the hook, *before* scaling, exactly as the learner does (each parameter group of the networks
separately), and runs with the learner's own clipping switched off.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from torch import nn

from ..config import UnlearningConfig
from ..data import UnlearningData
from ..explain import scale_gradients
from ..interpretable import InterpretableWeights
from .common import (LIME_SETTINGS, UnlearningMethod, UnlearningResult, mean_or_nan, private_copy, refuse_adam_with_iw,
                     refuse_unused, require_multi_agent, run_epochs)


def fresh_learner(original: Any, seed: int) -> Any:
    """A new, untrained learner with ``original``'s configuration, initialised from ``seed``."""
    config = original.config.replace(seed=seed)
    return type(original)(config, original.n_classes, original.image_shape)


def learner_epoch(learner: Any, data: UnlearningData, config: UnlearningConfig, epoch: int, *,
                  own_optimizer: bool = False, weights: InterpretableWeights | None = None,
                  clip: float | None = None) -> tuple[float, float, float]:
    """One MA-REINFORCE epoch of ``learner`` on the retain rows of ``data.train``.

    Args:
        own_optimizer: use the learner's configured optimizer and lr (Retrain) instead of
            ``config.optimizer`` / ``config.lr`` (fine-tuning).
        weights: I_w tables; None for no scaling.
        clip: gradient-norm clip applied in the hook before the scaling (see module docstring).

    Returns:
        (mean training loss, training accuracy, mean I_w or NaN).
    """
    seen_weights: list[float] = []

    def hook(net: nn.Module, batch_rows: np.ndarray) -> None:
        if clip is not None:
            net.clip_gradients(clip)  # the learner's own clipping: policy and classifier groups separately
        if weights is not None:
            i_w = weights.weight(batch_rows)
            scale_gradients(net.parameters(), i_w)  # Algorithm 2 line 25: grad <- grad - I_w * grad
            seen_weights.append(i_w)

    kwargs: dict[str, Any] = {}
    if not own_optimizer:
        kwargs = dict(lr=config.lr, optimizer=config.optimizer, batch_size=config.batch_size,
                      reset_optimizer=(epoch == 1))
    result = learner.fit(data.train, epochs=1, indices=data.retain, progress=False,
                         grad_hook=hook if (weights is not None or clip is not None) else None, **kwargs)
    last = result.history[-1]
    return float(last["train_loss"]), float(last["train_accuracy"]), mean_or_nan(seen_weights)


class MultiAgentFineTune(UnlearningMethod):
    """Fine-tune a copy of the original learner on D_r episodes (Algorithm 2 without / with I_w).

    Defaults (paper §5): SGD; lr 1e-3 for images up to 32 px, 1e-4 above; 2 epochs (the
    paper's Figure 4 runs 5 against a 25-epoch retrain; run_experiment's originals train 10 epochs, so 2
    keeps the same 1:5 ratio). LIME tables for the I_w variants use the original learner and,
    because one learner query costs N agents x T steps, by default 3 retain and 3 forget images per
    class with 32 samples each, averaged per label (paper §3), instead of every image
    (``lime_retain_per_class=0``, ``lime_forget_per_class=0``).
    """

    model_kind = "ma"
    belief = "gru"
    interpretable = False

    def settings_used(self, multi_agent: bool) -> frozenset[str]:
        """epochs, lr, optimizer, batch_size (momentum and weight decay are the learner's own), and LIME's."""
        base = frozenset({"epochs", "lr", "optimizer", "batch_size"})
        return base | LIME_SETTINGS if self.interpretable else base

    def defaults(self, model: Any, data: UnlearningData) -> dict[str, Any]:
        side = max(data.train.image_shape[1:]) if data.train.image_shape else 32
        return {"epochs": 2, "lr": 1e-3 if side <= 32 else 1e-4, "optimizer": "sgd",
                "lime_retain_per_class": 3, "lime_forget_per_class": 3}

    def run(self, model: Any, data: UnlearningData, config: UnlearningConfig, on_epoch_end: Any = None) -> UnlearningResult:
        require_multi_agent(self.name, model)
        if model.config.belief != self.belief:
            raise ValueError(f"{self.name!r} fine-tunes a {self.belief.upper()} multi-agent model but the original "
                             f"has belief={model.config.belief!r}; use "
                             f"{'masmu/masimu' if model.config.belief == 'gru' else 'malmu/malimu'} for it.")
        refuse_unused(self.name, config, ("momentum", "weight_decay"), "the learner's optimizer: SGD with momentum "
                      "0.9 or Adam, with the original's AgentConfig.weight_decay")
        if self.interpretable:
            refuse_adam_with_iw(self.name, config)
        weights = InterpretableWeights.compute(model, data, config) if self.interpretable else None
        learner, clip = fine_tune_copy(model, config)
        record = run_epochs(self, learner, None, data, config,
                            lambda epoch: learner_epoch(learner, data, config, epoch, weights=weights, clip=clip),
                            setup_time_s=weights.seconds if weights else 0.0, on_epoch_end=on_epoch_end)
        learner.config = learner.config.replace(grad_clip=clip)
        return UnlearningResult(learner, record)


def fine_tune_copy(model: Any, config: UnlearningConfig) -> tuple[Any, float | None]:
    """A private copy of ``model`` on ``config.device`` set up for :func:`learner_epoch`: the run's seed, and the
    learner's own gradient clipping switched off (returned, for ``learner_epoch`` to apply inside its hook)."""
    learner = private_copy(model, config.device)
    clip = learner.config.grad_clip
    learner.config = learner.config.replace(seed=config.seed, grad_clip=None)
    return learner, clip


def _replace(config: UnlearningConfig, **changes: Any) -> UnlearningConfig:
    return dataclasses.replace(config, **changes)
