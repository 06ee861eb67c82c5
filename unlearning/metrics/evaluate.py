"""``unlearning.evaluate``: every metric of paper A.5 and of the field for one unlearned model."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from masimu_env.datasets import ImageDataset

from ..data import UnlearningData
from ..models import predict_proba
from ._inputs import check_probs
from .mia import loss_mia, mia_efficacy


def per_example_loss(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n,) cross-entropy -log p[i, y_i] (Eq. 2), probabilities clipped at 1e-12 (so a confident miss costs
    27.6, not inf); a ValueError names ``probs`` or ``labels`` when they are not (n, K) probabilities and n labels
    in [0, K)."""
    probs, labels = check_probs(probs, "probs", labels, "labels")
    return -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))


def completeness(unlearned_probs: np.ndarray, original_probs: np.ndarray) -> float:
    """Eq. 17: share of examples where the unlearned and original models predict the same class."""
    unlearned_probs, _ = check_probs(unlearned_probs, "unlearned_probs")
    original_probs, _ = check_probs(original_probs, "original_probs")
    if unlearned_probs.shape != original_probs.shape:
        raise ValueError(f"probability arrays differ in shape: {unlearned_probs.shape} vs {original_probs.shape}.")
    if len(unlearned_probs) == 0:
        raise ValueError("completeness needs at least one example.")
    return float((unlearned_probs.argmax(1) == original_probs.argmax(1)).mean())


@dataclass
class Evaluation:
    """Metrics of one unlearned model (fractions in [0, 1]; losses are mean cross-entropy).

    ``unlearning_accuracy`` (UA) = 1 - forget accuracy, ``retain_accuracy`` (RA) and
    ``test_accuracy`` (TA) follow Jia et al. 2023. ``time_s``, ``time_ratio`` (to Retrain's
    time) and ``avg_gap`` (mean |UA, RA, TA, MIA-efficacy difference| to Retrain, computed by
    :func:`gap_to_retrain`) are filled by the experiment runner (:func:`unlearning.run_experiment`), NaN until then.
    """

    retain_accuracy: float
    retain_loss: float
    forget_accuracy: float
    forget_loss: float
    test_accuracy: float
    test_loss: float
    train_accuracy: float
    train_loss: float
    completeness: float
    mia: float
    mia_chance: float
    mia_balanced: float
    mia_balanced_chance: float
    mia_efficacy: float
    time_s: float = float("nan")
    time_ratio: float = float("nan")
    avg_gap: float = float("nan")

    @property
    def unlearning_accuracy(self) -> float:
        return 1.0 - self.forget_accuracy

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["unlearning_accuracy"] = self.unlearning_accuracy
        return out


def gap_to_retrain(evaluation: Evaluation, retrain: Evaluation) -> float:
    """Avg. Gap (Fan et al. 2024): mean absolute difference to Retrain in UA, RA, TA and MIA-efficacy."""
    pairs = [(evaluation.unlearning_accuracy, retrain.unlearning_accuracy),
             (evaluation.retain_accuracy, retrain.retain_accuracy),
             (evaluation.test_accuracy, retrain.test_accuracy),
             (evaluation.mia_efficacy, retrain.mia_efficacy)]
    return float(np.mean([abs(a - b) for a, b in pairs]))


def evaluate(unlearned: Any, original: Any, dataset: ImageDataset, split: Any, test: ImageDataset, *,
             seed: int = 0, batch_size: int = 512, device: str = "cpu",
             original_test_probs: np.ndarray | None = None) -> Evaluation:
    """Accuracy/loss on retain, forget, test and the full train set, completeness, three MIAs.

    Args:
        unlearned: the unlearned model (``nn.Module`` or multi-agent learner).
        original: the model before unlearning (for completeness, Eq. 17, on ``test``).
        dataset: the training set; ``split`` its retain/forget split (see :func:`unlearning.unlearn`).
        test: held-out images.
        seed: seed of the MIA subsamples and folds.
        original_test_probs: (t, K) the original's test probabilities, to skip recomputing them.

    Returns:
        :class:`Evaluation`.
    """
    data = UnlearningData.from_split(dataset, split, test)
    if test is None or len(test) == 0:
        raise ValueError("evaluate needs a non-empty test set (completeness and the MIAs are measured on it).")
    train_probs = predict_proba(unlearned, dataset, None, batch_size=batch_size, device=device)
    test_probs = predict_proba(unlearned, test, None, batch_size=batch_size, device=device)
    if original_test_probs is None:
        original_test_probs = predict_proba(original, test, None, batch_size=batch_size, device=device)
        check_probs(original_test_probs, "the original model's test-set probabilities")
    else:
        original_test_probs, _ = check_probs(original_test_probs, "original_test_probs")
    # named here, so a diverged model is reported as such rather than as a bad loss array further down
    check_probs(train_probs, "the unlearned model's training-set probabilities")
    check_probs(test_probs, "the unlearned model's test-set probabilities")
    if original_test_probs.shape != test_probs.shape:
        raise ValueError(f"original_test_probs has shape {original_test_probs.shape}, but the test set gives "
                         f"{test_probs.shape}; pass the original model's probabilities on this test set.")
    train_labels, test_labels = dataset.labels, test.labels
    correct = train_probs.argmax(1) == train_labels
    losses = per_example_loss(train_probs, train_labels)
    test_losses = per_example_loss(test_probs, test_labels)
    retain, forget = data.retain, data.forget
    paper = loss_mia(losses[forget], test_losses, seed=seed)
    balanced = loss_mia(losses[forget], test_losses, balanced=True, seed=seed)
    efficacy = mia_efficacy(train_probs[retain], train_labels[retain], test_probs, test_labels,
                            train_probs[forget], train_labels[forget], seed=seed)
    return Evaluation(
        retain_accuracy=float(correct[retain].mean()), retain_loss=float(losses[retain].mean()),
        forget_accuracy=float(correct[forget].mean()), forget_loss=float(losses[forget].mean()),
        test_accuracy=float((test_probs.argmax(1) == test_labels).mean()), test_loss=float(test_losses.mean()),
        train_accuracy=float(correct.mean()), train_loss=float(losses.mean()),
        completeness=completeness(test_probs, original_test_probs),
        mia=paper.accuracy, mia_chance=paper.chance, mia_balanced=balanced.accuracy,
        mia_balanced_chance=balanced.chance, mia_efficacy=efficacy)
