"""LIME explanations at batch speed and the interpretable weight I_w (paper section 3).

Needs nothing from ``masimu_env`` but its shared integer check: works with any torch
classifier mapping (B, C, H, W) float images in [0, 1] to logits.

    coefs = lime_coefficients(model, images)                  # (B, rows*cols)
    i_w = interpretable_weight(retain_coefs, forget_coefs)   # float in [0, 1]
    GradientScaler(model).apply(i_w)                         # grad <- grad - i_w * grad

In an unlearning loop (Algorithm 3) the retain and forget sets are explained once with the
original model (``cache_dir`` makes reruns free), and each batch indexes its rows:

    retain_coefs = lime_coefficients(model, retain_images, cache_dir=cache)
    forget_coefs = lime_coefficients(model, forget_images, cache_dir=cache)
    scaler = GradientScaler(model)
    for batch_indices, images, labels in loader:
        loss = criterion(model(images), labels); loss.backward()
        scaler.apply(interpretable_weight(retain_coefs[batch_indices], forget_coefs))
        optimizer.step(); optimizer.zero_grad()

Pass ``class_mean_coefficients(forget_coefs, forget_labels)`` as the forget matrix to use
the per-label averages of the paper's section 3 instead of per-image vectors.

The fast backend runs a plain ``nn.Sequential`` whose first layers are convolutions, pooling and
pointwise layers incrementally (those layers on a few probe images, not on every perturbation; the
same function, see ``incremental.py``); ``plan_for(model, label_map, num_samples)`` says which path a
model gets and why, and ``ExplainConfig(incremental=False)`` runs every perturbation through the model.
"""

from .cache import cache_key, model_fingerprint
from .coefficients import Explanations, class_mean_coefficients, explain, lime_coefficients
from .config import ExplainConfig, default_grid
from .incremental import IncrementalPlan, plan_for
from .segmentation import grid_labels, grid_projection, project_to_grid, segment_images
from .weight import (GradientScaler, cosine_similarity_matrix, interpretable_weight,
                     interpretable_weight_tensor, scale_gradients)

__all__ = [
    "ExplainConfig", "Explanations", "GradientScaler", "IncrementalPlan", "cache_key", "class_mean_coefficients",
    "cosine_similarity_matrix", "default_grid", "explain", "grid_labels", "grid_projection",
    "interpretable_weight", "interpretable_weight_tensor", "lime_coefficients",
    "model_fingerprint", "plan_for", "project_to_grid", "scale_gradients", "segment_images",
]
