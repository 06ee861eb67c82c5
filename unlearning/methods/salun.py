"""SalUn: random-label unlearning restricted to the weights most salient for the forget loss (Fan et al. 2024)."""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from ..config import UnlearningConfig
from ..data import UnlearningData
from .random_label import RandomLabel


def saliency_mask(model: torch.nn.Module, data: UnlearningData, config: UnlearningConfig) -> list[torch.Tensor]:
    """1 for the ``salun_threshold`` share of weights with the largest |grad of the forget CE|, else 0.

    The gradient is accumulated over the whole forget set with the original weights and the
    threshold is global over all parameters (SalUn's ``generate_mask.py``, threshold 0.5).

    Returns:
        one float tensor per parameter, shaped like it.
    """
    model.zero_grad(set_to_none=True)
    model.eval()
    for begin in range(0, len(data.forget), config.eval_batch_size):
        images, labels = data.train.get_batch(data.forget[begin:begin + config.eval_batch_size])
        loss = F.cross_entropy(model(images.to(config.device)), labels.to(config.device), reduction="sum")
        loss.backward()
    params = list(model.parameters())
    grads = [(p.grad.abs() if p.grad is not None else torch.zeros_like(p)) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    keep = max(1, int(round(flat.numel() * config.salun_threshold)))
    # exactly `keep` weights by rank, ties broken by position (SalUn's generate_mask.py ranks with argsort), so
    # gradients that tie at the cutoff, e.g. many exact zeros, cannot free more than the threshold's share
    chosen = torch.zeros(flat.numel(), device=flat.device)
    chosen[torch.argsort(flat, descending=True, stable=True)[:keep]] = 1.0
    model.zero_grad(set_to_none=True)
    model.train()
    return [part.reshape(g.shape) for part, g in zip(torch.split(chosen, [g.numel() for g in grads]), grads)]


class Salun(RandomLabel):
    """RL (same defaults: SGD lr 0.013, momentum 0.9, weight decay 5e-4, 10 epochs) with every
    gradient, weight decay included, multiplied by the saliency mask (50% of weights free, SalUn's default), so the
    masked-out weights stay exactly at the original (theta_u = m * (theta_o + delta) + (1 - m) * theta_o)."""

    name = "salun"
    reference = "Fan et al. 2024 (SalUn) defaults: RL + 50% saliency mask"
    EXTRA_SETTINGS = frozenset({"salun_threshold"})

    def saliency_mask(self, model: Any, data: UnlearningData, config: UnlearningConfig) -> list[torch.Tensor]:
        return saliency_mask(model, data, config)
