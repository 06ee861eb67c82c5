"""SCRUB: teacher-student unlearning alternating max-steps on the forget set and min-steps on the retain set
(Kurmanji et al. 2023)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..config import UnlearningConfig
from ..data import UnlearningData
from .common import (UnlearningMethod, UnlearningResult, classifier_step, epoch_batches, make_optimizer, private_copy,
                     require_standard, run_epochs)


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) at ``temperature``, times T^2, averaged over the batch (SCRUB's DistillKL)."""
    log_p_student = F.log_softmax(student_logits / temperature, dim=1)
    p_teacher = F.softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_p_student, p_teacher, reduction="sum") * temperature ** 2 / student_logits.shape[0]


class Scrub(UnlearningMethod):
    """Student starts as the original (the frozen teacher). Epoch e: if e <= ``scrub_max_steps``, one
    pass over D_f maximising KL(teacher || student); then one pass over D_r minimising
    gamma * CE + alpha * KL.

    Defaults from the SCRUB code (Kurmanji et al. 2023): SGD lr 5e-4, momentum 0.9, weight decay
    5e-4, 3 epochs (``sgda_epochs``), 2 max-steps (``msteps``), KD temperature 4, gamma 0.99,
    alpha 0.001 (the lr decay at epochs 3/5/9 never triggers within 3 epochs).
    """

    name = "scrub"
    model_kind = "cnn"
    DEFAULTS = {"epochs": 3, "lr": 5e-4, "momentum": 0.9, "weight_decay": 5e-4, "optimizer": "sgd"}
    reference = "Kurmanji et al. 2023 (SCRUB) defaults"
    EXTRA_SETTINGS = frozenset({"scrub_kd_temperature", "scrub_max_steps", "scrub_gamma", "scrub_alpha"})

    def run(self, model: Any, data: UnlearningData, config: UnlearningConfig, on_epoch_end: Any = None) -> UnlearningResult:
        require_standard(self.name, model)
        teacher = copy.deepcopy(model).to(config.device).eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        student = private_copy(model, config.device)
        optimizer = make_optimizer(student.parameters(), config)
        temperature = config.scrub_kd_temperature

        def epoch_fn(epoch: int) -> tuple[float, float, float]:
            student.train()
            if epoch <= config.scrub_max_steps:
                for batch in epoch_batches(data.forget, config.batch_size, config.seed, epoch, stream=1):
                    images, labels = data.train.get_batch(batch)
                    images = images.to(config.device)
                    with torch.no_grad():
                        target = teacher(images)
                    classifier_step(student, optimizer, images, labels.to(config.device),
                                    lambda logits, _y, target=target: -distill_kl(logits, target, temperature))
            total, correct, seen = 0.0, 0, 0
            for batch in epoch_batches(data.retain, config.batch_size, config.seed, epoch, stream=2):
                images, labels = data.train.get_batch(batch)
                images, labels = images.to(config.device), labels.to(config.device)
                with torch.no_grad():
                    target = teacher(images)

                def min_loss(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor = target) -> torch.Tensor:
                    return config.scrub_gamma * F.cross_entropy(logits, y) + config.scrub_alpha * distill_kl(
                        logits, target, temperature)

                loss, hits = classifier_step(student, optimizer, images, labels, min_loss)
                total += loss * len(batch)
                correct += hits
                seen += len(batch)
            return total / max(seen, 1), correct / max(seen, 1), float(np.nan)

        record = run_epochs(self, student, optimizer, data, config, epoch_fn, on_epoch_end=on_epoch_end)
        return UnlearningResult(student, record)
