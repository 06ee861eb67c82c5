"""``unlearning.unlearn``: run one registered method on one retain/forget split."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from masimu_env.datasets import ImageDataset

from .config import UnlearningConfig
from .data import UnlearningData
from .methods import RETRAINS, UnlearningResult, get_method
from .models import is_multi_agent


def unlearn(method: str, original: Any, dataset: ImageDataset, split: Any, *, test: ImageDataset | None = None,
            on_epoch_end: Callable[[int], None] | None = None, **settings: Any) -> UnlearningResult:
    """Unlearn ``split``'s forget set from ``original`` with the registered ``method``.

    Args:
        method: a name from :func:`unlearning.methods.available` (e.g. "imu", "masimu", "salun").
        original: the trained model: an ``nn.Module`` mapping (B, C, H, W) images to (B, K) logits
            for the standard methods, an ``agents.MAReinforce`` for the multi-agent ones. Never modified.
        dataset: the training set the original was trained on.
        split: a ``RetainForgetSplit`` (or anything with ``.retain``/``.forget`` index arrays into
            ``dataset``, or a (retain, forget) pair). Empty, overlapping or out-of-range sets raise ValueError.
        test: optional held-out set (kept with the data; not used for training).
        on_epoch_end: called with the 1-based epoch after each epoch's checkpoint (an exception
            raised there interrupts the run; rerunning with the same ``checkpoint_dir`` resumes).
        **settings: fields of :class:`UnlearningConfig` (epochs, lr, seed, checkpoint_dir, ...);
            fields left out take the method's documented defaults. The Retrain methods train for
            ``retrain_epochs``; ``epochs=`` alone raises ValueError for them. A setting the method would not use
            (e.g. ``retrain_epochs`` for MU, ``lr`` for ``original``) raises ValueError naming it.

    Returns:
        :class:`UnlearningResult` (unpacks as ``model, record``): the unlearned model and a
        :class:`RunRecord` with wall time, epochs and per-epoch loss/accuracy.
    """
    runner = get_method(method)
    if method in RETRAINS and "epochs" in settings and "retrain_epochs" not in settings:
        raise ValueError(f"{method!r} trains for retrain_epochs (default: as long as the original), not epochs; "
                         f"pass retrain_epochs={settings['epochs']!r}.")
    config = UnlearningConfig.from_settings(**settings)
    runner.check_settings(settings, is_multi_agent(original))
    data = UnlearningData.from_split(dataset, split, test)
    return runner(original, data, config, on_epoch_end)
