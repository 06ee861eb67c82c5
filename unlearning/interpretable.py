"""LIME tables of the retain and forget sets and the per-batch interpretable weight I_w (Algorithms 2-3).

Design choice (the paper is silent on when LIME runs): the coefficients of every forget image
and of every retain image are computed **once per run, with the original model**, before the
first unlearning step, and looked up by dataset index for each retain batch. Re-explaining each
batch with the current model would multiply the cost by the number of epochs, and the paper's
Algorithms 2-3 take "LIME coefficients on retain data I_{D_r}" and "on forget data I_{D_f}" as
inputs, i.e. fixed tables. The time spent here is counted in the method's unlearning time.
With ``lime_cache_dir`` set the tables are reused across runs of the same original model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .config import UnlearningConfig
from .data import UnlearningData
from .explain import interpretable_weight, lime_coefficients
from .models import is_multi_agent


class MultiAgentLogits(nn.Module):
    """Presents the multi-agent learner as a classifier ``images -> log p_bar`` for LIME.

    Every image of a call starts its agents at the same corners (those of row 0) and moves them
    greedily, so the perturbed copies of one image differ only in their pixels, as LIME requires.
    """

    def __init__(self, learner: Any) -> None:
        super().__init__()
        self.learner = learner
        self.net = learner.net  # registered so device lookup and the cache fingerprint see the weights

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

    Attributes:
        retain_indices: (r,) int64 sorted dataset indices of the retain rows of ``retain_coefs``.
        retain_coefs: (r, F) float64 LIME vectors of the retain images.
        forget_coefs: (f, F) float64 LIME vectors of the forget images.
        seconds: wall time spent computing the tables.
    """

    def __init__(self, retain_indices: np.ndarray, retain_coefs: np.ndarray, forget_coefs: np.ndarray,
                 seconds: float = 0.0) -> None:
        self.retain_indices = np.asarray(retain_indices, dtype=np.int64)
        self.retain_coefs = np.asarray(retain_coefs, dtype=np.float64)
        self.forget_coefs = np.asarray(forget_coefs, dtype=np.float64)
        if self.retain_coefs.shape[0] != self.retain_indices.shape[0]:
            raise ValueError(f"retain_coefs has {self.retain_coefs.shape[0]} rows for "
                             f"{self.retain_indices.shape[0]} retain indices.")
        if np.any(np.diff(self.retain_indices) <= 0):
            raise ValueError("retain_indices must be sorted and unique.")
        self.seconds = seconds

    def weight(self, batch_indices: np.ndarray | Tensor) -> float:
        """I_w of a retain batch given by dataset indices (Algorithm 3 lines 12-15)."""
        idx = np.asarray(batch_indices.cpu() if isinstance(batch_indices, Tensor) else batch_indices,
                         dtype=np.int64).reshape(-1)
        pos = np.searchsorted(self.retain_indices, idx)
        bad = (pos >= self.retain_indices.size) | (self.retain_indices[np.minimum(pos, self.retain_indices.size - 1)] != idx)
        if bad.any():
            raise ValueError(f"batch index {int(idx[bad][0])} is not in the retain set; "
                             "I_w is defined for retain batches only.")
        return interpretable_weight(self.retain_coefs[pos], self.forget_coefs)

    @classmethod
    def compute(cls, model: Any, data: UnlearningData, config: UnlearningConfig) -> "InterpretableWeights":
        """Explain every retain and forget image of ``data.train`` with ``model`` (see the module docstring)."""
        start = time.perf_counter()
        module = explainable(model)
        per_class = int(config.lime_retain_per_class or 0)
        explained_retain = data.retain
        if per_class > 0:
            rng = np.random.default_rng([config.seed, 7])
            labels = data.train.labels[data.retain]
            explained_retain = np.sort(np.concatenate([
                rng.permutation(data.retain[labels == k])[:per_class] for k in np.unique(labels)]))
        tables = []
        for indices in (explained_retain, data.forget):
            chunks = []
            for begin in range(0, len(indices), 1024):
                images, _ = data.train.get_batch(indices[begin:begin + 1024])
                chunks.append(lime_coefficients(module, images, backend=config.lime_backend,
                                                segmentation=config.lime_segmentation,
                                                num_samples=config.lime_num_samples, grid=config.lime_grid,
                                                batch_size=max(config.eval_batch_size, 256), device=config.device,
                                                seed=config.seed, cache_dir=config.lime_cache_dir))
            tables.append(np.concatenate(chunks))
        retain_coefs = tables[0]
        if per_class > 0:
            # paper §3: LIME weights averaged per label; each retain image gets its class's mean vector
            explained_labels = data.train.labels[explained_retain]
            means = {int(k): retain_coefs[explained_labels == k].mean(0) for k in np.unique(explained_labels)}
            retain_coefs = np.stack([means[int(k)] for k in data.train.labels[data.retain]])
        return cls(data.retain, retain_coefs, tables[1], seconds=time.perf_counter() - start)
