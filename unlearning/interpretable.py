"""LIME tables of the retain and forget sets and the per-batch interpretable weight I_w (Algorithms 2-3).

Design choice (the paper is silent on when LIME runs): the coefficients of every forget image
and of every retain image are computed **once per run, with the original model**, before the
first unlearning step, and looked up by dataset index for each retain batch. Re-explaining each
batch with the current model would multiply the cost by the number of epochs, and the paper's
Algorithms 2-3 take "LIME coefficients on retain data I_{D_r}" and "on forget data I_{D_f}" as
inputs, i.e. fixed tables. The time spent here is counted in the method's unlearning time.
With ``lime_cache_dir`` set the tables are reused across runs of the same original model.

By default only k random images per class of each set are explained (paper §3 averages LIME weights
per label): explained forget images are weighted by their class's share of D_f, and each retain image
takes the mean rsim of its class's explained retain images. ``lime_retain_per_class=0`` and
``lime_forget_per_class=0`` explain every image (Algorithms 2-3 read literally). See ``METHODS.md``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from masimu_env.config import check_indices

from .config import UnlearningConfig
from .data import UnlearningData
from .explain import ExplainConfig, explain
from .explain.config import MAX_SEED
from .explain.weight import row_similarities
from .models import is_multi_agent


class MultiAgentLogits(nn.Module):
    """Presents the multi-agent learner as a classifier ``images -> log p_bar`` for LIME.

    Every image of a call starts its agents at the same corners (``masimu_env.core.row_corners`` of row 0) and moves
    them greedily, so the perturbed copies of one image differ only in their pixels, as LIME requires. The classifier
    explained is therefore the learner with those fixed start corners, not each dataset row's own evaluation corners
    (LIME's interface passes images, not rows): on a trained digits learner the two agree on most but not all rows
    (a review counted 211 of 270).
    """

    def __init__(self, learner: Any) -> None:
        super().__init__()
        self.learner = learner
        self.net = learner.net  # registered so device lookup and the cache fingerprint see the weights

    def get_extra_state(self) -> dict[str, Any]:
        """What the output depends on beyond the weights (steps, agents, window, eval policy and seed, ...), so the
        LIME cache, which keys a model by its ``state_dict``, misses when it changes (it returned stale
        explanations for a learner with equal weights and other settings)."""
        return {"agent_config": self.learner.config.fingerprint(), "n_classes": int(self.learner.n_classes),
                "image_shape": tuple(int(s) for s in self.learner.image_shape)}

    def set_extra_state(self, state: Any) -> None:
        """Nothing to restore: the adapter reads its learner's settings (the state only keys caches)."""

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        """Args: images (B, C, H, W) float in [0, 1]. Returns: (B, K) float log-probabilities."""
        rows = np.zeros(images.shape[0], dtype=np.int64)
        labels = torch.zeros(images.shape[0], dtype=torch.long, device=images.device)
        generator = torch.Generator().manual_seed(self.learner.config.eval_seed)
        was_training = self.net.training
        self.net.eval()
        try:
            episode = self.learner._episodes(images, labels, rows, generator)
        finally:
            self.net.train(was_training)
        return torch.log(episode["probs"].mean(1).clamp_min(1e-12))


def explainable(model: Any) -> nn.Module:
    """The ``nn.Module`` LIME should query for ``model`` (itself, or the multi-agent adapter)."""
    return MultiAgentLogits(model) if is_multi_agent(model) else model


class InterpretableWeights:
    """LIME vectors of the retain and forget sets and I_w of any retain batch.

    I_w of a batch is crsim = mean over the batch's rows of rsim, clipped at 0 (Algorithm 3 lines
    12-15, :func:`unlearning.explain.interpretable_weight`). rsim of a retain image depends only on
    that image and the fixed forget table, so it is computed once per retain image here and a batch
    only averages them -- the same number as calling ``interpretable_weight`` on the batch when every forget
    column has weight 1 (``forget_weights``: a column standing for several forget images, as with the per-class
    sampling of :meth:`compute`, counts that many times, which ``interpretable_weight`` has no argument for).

    Attributes:
        retain_indices: (r,) int64 sorted dataset indices of the retain images.
        row_sims: (r,) float64 rsim of each retain image: the mean of its non-zero cosine
            similarities to the forget vectors, each forget column weighted by ``forget_weights``.
        retain_coefs: (m, F) float64 LIME vectors of the explained retain images (m = r unless only
            some were explained per class, see :meth:`compute`).
        forget_coefs: (g, F) float64 LIME vectors of the explained forget images.
        forget_weights: (g,) float64 how many forget images each column stands for (all 1 when
            every forget image was explained).
        seconds: wall time spent computing the tables (tables read from ``lime_cache_dir`` count the time they
            took when they were computed, so a cached run does not look cheaper than it is).
    """

    def __init__(self, retain_indices: np.ndarray, retain_coefs: np.ndarray, forget_coefs: np.ndarray,
                 seconds: float = 0.0, *, forget_weights: np.ndarray | None = None) -> None:
        """
        Args:
            retain_indices: (r,) sorted unique dataset indices, one per row of ``retain_coefs``.
            retain_coefs: (r, F) LIME vectors of those retain images.
            forget_coefs: (g, F) LIME vectors of forget images.
            seconds: time it took to compute them.
            forget_weights: (g,) positive weights of the forget columns; None: all 1.
        """
        self.retain_indices = check_indices(retain_indices, None, "retain_indices", flat=False)
        self.retain_coefs = np.asarray(retain_coefs, dtype=np.float64)
        self.forget_coefs = np.asarray(forget_coefs, dtype=np.float64)
        if self.retain_coefs.shape[0] != self.retain_indices.shape[0]:
            raise ValueError(f"retain_coefs has {self.retain_coefs.shape[0]} rows for "
                             f"{self.retain_indices.shape[0]} retain indices.")
        if np.any(np.diff(self.retain_indices) <= 0):
            raise ValueError("retain_indices must be sorted and unique.")
        self.forget_weights = (np.ones(len(self.forget_coefs)) if forget_weights is None
                               else np.asarray(forget_weights, dtype=np.float64))
        if (self.forget_weights.shape != (len(self.forget_coefs),) or not np.all(self.forget_weights > 0)
                or not np.all(np.isfinite(self.forget_weights))):  # inf made every rsim NaN, then I_w silently 0
            raise ValueError(f"forget_weights must be {len(self.forget_coefs)} finite positive numbers, one per "
                             f"forget row; got {self.forget_weights!r}.")
        self.row_sims = np.concatenate([
            row_similarities(self.retain_coefs[i:i + 4096], self.forget_coefs, self.forget_weights).numpy()
            for i in range(0, len(self.retain_coefs), 4096)]) if len(self.retain_coefs) else np.zeros(0)
        self.seconds = seconds

    def weight(self, batch_indices: np.ndarray | Tensor) -> float:
        """I_w of a retain batch given by dataset indices (Algorithm 3 lines 12-15)."""
        raw = np.asarray(batch_indices.cpu() if isinstance(batch_indices, Tensor) else batch_indices).reshape(-1)
        if raw.size == 0:
            raise ValueError("batch_indices is empty; I_w is the mean over a non-empty retain batch.")
        if not np.issubdtype(raw.dtype, np.integer):
            raise ValueError(f"batch_indices must be integer dataset indices; got dtype {raw.dtype}.")
        idx = raw.astype(np.int64)
        pos = np.searchsorted(self.retain_indices, idx)
        bad = (pos >= self.retain_indices.size) | (self.retain_indices[np.minimum(pos, self.retain_indices.size - 1)] != idx)
        if bad.any():
            raise ValueError(f"batch index {int(idx[bad][0])} is not in the retain set; "
                             "I_w is defined for retain batches only.")
        return max(0.0, float(self.row_sims[pos].mean()))

    def spread_by_class(self, retain_indices: np.ndarray, labels: np.ndarray) -> None:
        """Give every image of ``retain_indices`` the mean rsim of the explained retain images of its
        class (paper §3's per-label averaging); afterwards ``weight`` accepts any of them.

        Args:
            retain_indices: (r,) sorted dataset indices of the whole retain set.
            labels: (N,) int labels of the dataset; every class of the retain set must have an
                explained image.
        """
        explained_labels = labels[self.retain_indices]
        means = {int(c): float(self.row_sims[explained_labels == c].mean()) for c in np.unique(explained_labels)}
        missing = sorted(set(np.unique(labels[retain_indices]).tolist()) - set(means))
        if missing:
            raise ValueError(f"classes {missing} of the retain set have no explained retain image.")
        self.retain_indices = np.asarray(retain_indices, dtype=np.int64)
        self.row_sims = np.array([means[int(c)] for c in labels[self.retain_indices]], dtype=np.float64)

    @staticmethod
    def explained_indices(data: UnlearningData, config: UnlearningConfig) -> tuple[np.ndarray, np.ndarray]:
        """The dataset indices that :meth:`compute` explains: (retain, forget), each sorted.

        Every image of a set when its ``config.lime_*_per_class`` is 0, else that many random images per class
        (all of a class that has fewer), drawn from ``config.seed``.
        """
        labels = data.train.labels
        return (_per_class_sample(data.retain, labels, config.lime_retain_per_class, [config.seed, 7]),
                _per_class_sample(data.forget, labels, config.lime_forget_per_class, [config.seed, 8]))

    @classmethod
    def compute(cls, model: Any, data: UnlearningData, config: UnlearningConfig) -> "InterpretableWeights":
        """LIME tables of ``data.retain`` and ``data.forget`` with ``model`` (see the module docstring).

        ``config.lime_retain_per_class`` / ``config.lime_forget_per_class`` = k > 0 explain k random
        images per class of that set and give every image of the set its class's mean vector (paper
        §3's per-label averaging); 0 explains every image of the set. Both sets are explained in one
        LIME call (one pass of batched model queries).
        """
        start = time.perf_counter()
        module = explainable(model)
        labels = data.train.labels
        retain_explained, forget_explained = cls.explained_indices(data, config)
        explained = np.concatenate([retain_explained, forget_explained])
        if config.seed + len(explained) - 1 > MAX_SEED:
            raise ValueError(f"UnlearningConfig.seed {config.seed} is too large for the LIME explanations of "
                             f"{len(explained)} images: image i draws its perturbations from numpy "
                             f"RandomState(seed + i), which takes seeds up to 2**32 - 1; "
                             f"pass a seed <= {MAX_SEED - len(explained) + 1}.")
        chunks, cached_seconds = [], 0.0
        for begin in range(0, len(explained), 1024):
            images, _ = data.train.get_batch(explained[begin:begin + 1024])
            explanations = explain(module, images, config=ExplainConfig(
                backend=config.lime_backend, segmentation=config.lime_segmentation,
                num_samples=config.lime_num_samples, grid=config.lime_grid,
                batch_size=max(config.eval_batch_size, 256), seed=config.seed + begin),
                device=config.device, cache_dir=config.lime_cache_dir)
            chunks.append(explanations.coefs)
            if explanations.from_cache:  # what the cached rows cost when computed, so the method's time stays real
                cached_seconds += explanations.compute_seconds
        coefs = np.concatenate(chunks)
        retain_coefs, forget_coefs = coefs[:len(retain_explained)], coefs[len(retain_explained):]
        forget_weights = None
        if config.lime_forget_per_class:
            # each explained forget image stands for its class's share: n_c / k_c images
            counts = {int(c): int(n) for c, n in zip(*np.unique(labels[data.forget], return_counts=True))}
            picked = {int(c): int(n) for c, n in zip(*np.unique(labels[forget_explained], return_counts=True))}
            forget_weights = np.array([counts[int(c)] / picked[int(c)] for c in labels[forget_explained]])
        weights = cls(retain_explained, retain_coefs, forget_coefs, forget_weights=forget_weights)
        if config.lime_retain_per_class:
            weights.spread_by_class(data.retain, labels)
        weights.seconds = time.perf_counter() - start + cached_seconds
        return weights


def _per_class_sample(indices: np.ndarray, labels: np.ndarray, per_class: int | None, seed: list[int]) -> np.ndarray:
    """The dataset indices to explain: all of ``indices`` (per_class 0/None) or k random ones per class.

    Args:
        indices: (n,) int64 sorted dataset indices of one set. labels: (N,) int64 labels of the dataset.
        per_class: k; a class with fewer than k images in the set has all of them explained.

    Returns:
        (m,) int64 sorted dataset indices, m <= n.
    """
    k = int(per_class or 0)
    if k == 0:
        return indices
    rng = np.random.default_rng(seed)
    set_labels = labels[indices]
    return np.sort(np.concatenate([rng.permutation(indices[set_labels == c])[:k] for c in np.unique(set_labels)]))

