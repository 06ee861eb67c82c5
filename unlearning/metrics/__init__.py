"""Unlearning metrics: accuracy/loss per set, completeness (Eq. 17), MIAs (Eq. 18, balanced, MIA-efficacy)."""

from .evaluate import Evaluation, completeness, evaluate, gap_to_retrain, per_example_loss
from .mia import MiaResult, confidence, entropy, loss_mia, mia_efficacy

__all__ = ["Evaluation", "MiaResult", "completeness", "confidence", "entropy", "evaluate", "gap_to_retrain",
           "loss_mia", "mia_efficacy", "per_example_loss"]
