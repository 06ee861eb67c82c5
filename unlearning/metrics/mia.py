"""Membership-inference attacks on an unlearned model.

* :func:`loss_mia`: the paper's attack (Eq. 18): logistic regression on per-example losses,
  forget set = members (1) vs test set = non-members (0), 10-fold cross-validated accuracy.
  Unbalanced, its chance level is the majority share max(f, t) / (f + t), not 0.5, so it is
  always reported with that chance level; ``balanced=True`` subsamples the larger group to the
  size of the smaller one so that chance is exactly 0.5.
* :func:`mia_efficacy`: the field's MIA-efficacy (Jia et al. 2023, Fan et al. 2024): an RBF SVC
  (C=3, gamma="auto") on prediction confidence, trained on retain (members) vs test
  (non-members, with an equal-size random sample of the retain set), applied to the forget set;
  the share of forget images it calls non-members. Higher means better forgetting; Retrain is the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from masimu_env.config import check_int

from ._inputs import check_probs


@dataclass(frozen=True)
class MiaResult:
    """Accuracy of a membership-inference attack and the accuracy of always guessing the majority."""

    accuracy: float
    chance: float
    num_members: int
    num_nonmembers: int
    folds: int


def _check_losses(name: str, losses: np.ndarray) -> np.ndarray:
    losses = np.asarray(losses, dtype=np.float64).reshape(-1)
    if losses.size < 2:
        raise ValueError(f"{name} needs at least 2 examples for a cross-validated attack; got {losses.size}.")
    if not np.all(np.isfinite(losses)):
        raise ValueError(f"{name} holds non-finite losses; clip probabilities before taking logs.")
    return losses


def loss_mia(member_losses: np.ndarray, nonmember_losses: np.ndarray, *, balanced: bool = False,
             folds: int = 10, seed: int = 0) -> MiaResult:
    """The paper's MIA (Eq. 18) on per-example losses.

    Args:
        member_losses: (f,) float losses of the forget set (in the original training set).
        nonmember_losses: (t,) float losses of the test set.
        balanced: subsample the larger group to the smaller group's size (chance 0.5).
        folds: K of the stratified K-fold CV (capped at the smaller group's size).
        seed: seed of the subsample and of the fold shuffling.

    Returns:
        :class:`MiaResult`; ``chance`` is max(f, t) / (f + t) of the samples actually used.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = check_int(folds, "folds", 2, why="K of the K-fold CV")
    members = _check_losses("member_losses", member_losses)
    nonmembers = _check_losses("nonmember_losses", nonmember_losses)
    rng = np.random.default_rng(seed)
    if balanced:
        size = min(members.size, nonmembers.size)
        members = rng.permutation(members)[:size]
        nonmembers = rng.permutation(nonmembers)[:size]
    features = np.concatenate([members, nonmembers])[:, None]
    in_train = np.concatenate([np.ones(members.size, dtype=np.int64), np.zeros(nonmembers.size, dtype=np.int64)])
    k = int(min(folds, members.size, nonmembers.size))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    scores = cross_val_score(LogisticRegression(), features, in_train, cv=cv, scoring="accuracy")
    chance = max(members.size, nonmembers.size) / (members.size + nonmembers.size)
    return MiaResult(float(scores.mean()), float(chance), int(members.size), int(nonmembers.size), k)


def confidence(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n,) probability of the true class: p[i, y_i]."""
    probs, labels = check_probs(probs, "probs", labels, "labels")
    return probs[np.arange(len(labels)), labels]


def entropy(probs: np.ndarray) -> np.ndarray:
    """(n,) Shannon entropy of each row of ``probs``."""
    probs, _ = check_probs(probs, "probs")
    p = np.clip(probs, 1e-12, 1.0)
    return -(p * np.log(p)).sum(1)


def mia_efficacy(retain_probs: np.ndarray, retain_labels: np.ndarray, test_probs: np.ndarray,
                 test_labels: np.ndarray, forget_probs: np.ndarray, forget_labels: np.ndarray, *,
                 feature: str = "confidence", seed: int = 0) -> float:
    """MIA-efficacy: share of forget images an SVC trained on retain-vs-test calls non-members.

    Args:
        *_probs: (n, K) float class probabilities of the unlearned model; *_labels: (n,) int.
        feature: "confidence" (p of the true class; SalUn's reported variant) or "entropy".
        seed: seed of the equal-size retain sample.

    Returns:
        float in [0, 1].
    """
    from sklearn.svm import SVC

    if feature not in ("confidence", "entropy"):
        raise ValueError(f"feature must be 'confidence' or 'entropy'; got {feature!r}.")
    retain_probs, retain_labels = check_probs(retain_probs, "retain_probs", retain_labels, "retain_labels")
    test_probs, test_labels = check_probs(test_probs, "test_probs", test_labels, "test_labels")
    forget_probs, forget_labels = check_probs(forget_probs, "forget_probs", forget_labels, "forget_labels")
    if len({retain_probs.shape[1], test_probs.shape[1], forget_probs.shape[1]}) > 1:
        raise ValueError(f"retain_probs, test_probs and forget_probs must have the same number of classes; got "
                         f"{retain_probs.shape[1]}, {test_probs.shape[1]} and {forget_probs.shape[1]}.")

    def featurize(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
        values = confidence(probs, labels) if feature == "confidence" else entropy(probs)
        return values[:, None]

    rng = np.random.default_rng(seed)
    shadow = rng.permutation(len(retain_labels))[:len(test_labels)]
    features = np.concatenate([featurize(retain_probs[shadow], retain_labels[shadow]),
                               featurize(test_probs, test_labels)])
    membership = np.concatenate([np.ones(len(shadow)), np.zeros(len(test_labels))])
    if len(np.unique(membership)) < 2:
        raise ValueError("mia_efficacy needs non-empty retain and test sets.")
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(features, membership)
    return float(1.0 - clf.predict(featurize(forget_probs, forget_labels)).mean())
