"""Reference backend: the ``lime`` package's ``LimeImageExplainer``, one image at a time.

Settings are chosen so that lime computes exactly what ``lime_fast`` computes:

* the segmentation is computed once by ``segmentation.py`` and handed to lime through
  ``segmentation_fn`` (lime's own default would be quickshift);
* ``random_state=seed + i`` and an explicit ``random_seed`` (without it lime draws the
  segmentation seed from the same stream first, shifting every perturbation);
* ``hide_color=None`` (mean colour fill), ``num_features=100000`` with
  ``feature_selection='auto'``: 'auto' means 'highest_weights' for num_features > 6, and
  asking for 100000 of them keeps every superpixel, so the final ``Ridge(alpha=1)`` is fit
  on all of them;
* ``labels=(label,)``, ``top_labels=None``: explain exactly one class.

Grey images: lime works on (H, W, 3); the grey image is repeated over three channels and
``classifier_fn`` hands the model the first channel back. lime 0.2.0.1 has no
``progress_bar`` argument, so its tqdm bar is silenced by redirecting stderr.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from lime.lime_image import LimeImageExplainer
from sklearn.linear_model import Ridge
from torch import Tensor, nn

from ._inputs import check_label_range, class_probabilities, evaluating, predicted_labels
from .config import ExplainConfig
from .lime_fast import SuperpixelCoefficients
from .segmentation import to_rgb_hwc

_ALL_FEATURES = 100000  # lime's default num_features: keep every superpixel


def explain_reference(model: nn.Module, images: Tensor, labels: np.ndarray | None,
                      segments: np.ndarray, config: ExplainConfig,
                      device: torch.device) -> SuperpixelCoefficients:
    """LIME coefficients from ``lime.lime_image.LimeImageExplainer``.

    Args:
        model: maps (N, C, H, W) float32 in [0, 1] to (N, K) logits; lives on ``device``.
        images: (B, C, H, W) float64 CPU in [0, 1].
        labels: (B,) int64 classes to explain, or None for the predicted class.
        segments: (B, H, W) int64, ids 0 .. F_b - 1 per image.
        config: num_samples, batch_size, kernel_width, ridge_alpha and seed are read.
        device: where the model runs.

    Returns:
        Per-superpixel coefficients, intercepts and explained labels.
    """
    batch, channels = images.shape[:2]
    if labels is None:
        labels, num_classes = predicted_labels(model, images, device, config.batch_size)
    else:
        _, num_classes = predicted_labels(model, images[:1], device, config.batch_size)
        check_label_range(labels, num_classes)

    def classifier_fn(batch_hwc: np.ndarray) -> np.ndarray:
        # (N, H, W, 3) float64 from lime -> (N, C, H, W) float32 for the model.
        chw = torch.from_numpy(np.ascontiguousarray(batch_hwc)).permute(0, 3, 1, 2)[:, :channels]
        with evaluating(model):
            probs = class_probabilities(model, chw.to(device=device, dtype=torch.float32))
        return probs.cpu().numpy()

    num_segments = segments.reshape(batch, -1).max(axis=1).astype(np.int64) + 1
    coefs = np.zeros((batch, int(num_segments.max())), dtype=np.float64)
    intercepts = np.zeros(batch, dtype=np.float64)
    for i in range(batch):
        label = int(labels[i])
        explainer = LimeImageExplainer(kernel_width=config.kernel_width,
                                       random_state=config.seed + i)
        regressor = None if config.ridge_alpha == 1.0 else Ridge(alpha=config.ridge_alpha,
                                                                   fit_intercept=True)
        image_segments = segments[i]
        with contextlib.redirect_stderr(io.StringIO()):
            explanation = explainer.explain_instance(
                to_rgb_hwc(images[i].numpy()), classifier_fn, labels=(label,), top_labels=None,
                hide_color=None, num_features=_ALL_FEATURES, num_samples=config.num_samples,
                batch_size=config.batch_size,
                segmentation_fn=lambda _image, seg=image_segments: seg,
                model_regressor=regressor, random_seed=config.seed)
        for feature, weight in explanation.local_exp[label]:
            coefs[i, feature] = weight
        intercepts[i] = explanation.intercept[label]
    return SuperpixelCoefficients(coefs=coefs, intercepts=intercepts,
                                  labels=labels.astype(np.int64), num_segments=num_segments)
