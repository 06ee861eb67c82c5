"""Standard (single-network) classifiers for MU/IMU and the baselines, and model-agnostic prediction.

``SmallCNN`` serves 8x8, 28x28 and 32x32 inputs; ``resnet18`` is torchvision's ResNet-18 built
from scratch (``weights=None``) for high-resolution images. Both take uint8 images as the datasets
return them, or float images in [0, 1] as LIME's perturbations are, and return logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from masimu_env.config import check_indices, check_int
from masimu_env.core import to_float_images


def to_unit_float(images: Tensor) -> Tensor:
    """(B, C, H, W) uint8 in [0, 255] or float in [0, 1] -> float32 in [0, 1]: the core's conversion
    (:func:`masimu_env.core.to_float_images`), so the standard classifiers read pixels exactly as the agents do, and
    float images outside [0, 1] (or NaN) raise instead of being fed to the network as they are."""
    return to_float_images(images)


class SmallCNN(nn.Module):
    """Three 3x3 conv blocks with GroupNorm, global-ish pooling, two linear layers.

    GroupNorm (not BatchNorm) keeps predictions independent of the batch, so a single image,
    a LIME batch of perturbations and a training batch are classified alike.

    Args:
        in_channels: C of the input images.
        num_classes: K, number of logits.
        width: channels of the first block (the others use 2x).
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 32) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 2 or width < 4:
            raise ValueError(f"SmallCNN needs in_channels >= 1, num_classes >= 2, width >= 4; "
                             f"got {in_channels}, {num_classes}, {width}.")
        self.in_channels = in_channels
        self.num_classes = num_classes

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(4, cout), nn.ReLU())

        self.features = nn.Sequential(block(in_channels, width), block(width, width), nn.MaxPool2d(2, ceil_mode=True),
                                      block(width, 2 * width), nn.AdaptiveAvgPool2d(4))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 16, 128), nn.ReLU(), nn.Linear(128, num_classes))

    def forward(self, images: Tensor) -> Tensor:
        """Args: images (B, C, H, W) uint8 or float in [0, 1]. Returns: (B, K) float logits."""
        x = to_unit_float(images) * 2.0 - 1.0
        return self.head(self.features(x))


class _ResNet18(nn.Module):
    """torchvision ResNet-18 behind the same uint8/[0, 1] input convention."""

    def __init__(self, in_channels: int, num_classes: int, weights: Any = None) -> None:
        super().__init__()
        from torchvision.models import resnet18 as tv_resnet18

        net = tv_resnet18(weights=weights)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        net.fc = nn.Linear(net.fc.in_features, num_classes)
        self.net = net
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406][:in_channels] if in_channels == 3
                                                  else [0.5] * in_channels).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225][:in_channels] if in_channels == 3
                                                 else [0.25] * in_channels).view(1, -1, 1, 1))

    def forward(self, images: Tensor) -> Tensor:
        """Args: images (B, C, H, W) uint8 or float in [0, 1]. Returns: (B, K) float logits."""
        return self.net((to_unit_float(images) - self.mean) / self.std)


def resnet18(in_channels: int, num_classes: int, weights: Any = None) -> nn.Module:
    """ResNet-18 from scratch (``weights=None``); pass torchvision weights (e.g.
    ``ResNet18_Weights.DEFAULT``) to start from pretrained ones (the final layer is replaced)."""
    return _ResNet18(in_channels, num_classes, weights)


ARCHITECTURES = ("auto", "cnn", "resnet18")


def make_classifier(image_shape: Sequence[int], num_classes: int, arch: str = "auto", seed: int = 0) -> nn.Module:
    """A freshly initialised standard classifier for ``image_shape`` = (C, H, W).

    ``arch="auto"`` picks ``SmallCNN`` for images up to 64 px per side, ResNet-18 above.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}; got {arch!r}.")
    if isinstance(image_shape, Tensor):
        image_shape = image_shape.tolist()
    shape = tuple(image_shape) if isinstance(image_shape, (tuple, list, torch.Size, np.ndarray)) else None
    if shape is None or len(shape) != 3:
        raise ValueError(f"image_shape must be (C, H, W), e.g. dataset.image_shape; got {image_shape!r} (the "
                         "arguments are make_classifier(image_shape, num_classes)).")
    c, h, w = (check_int(s, f"image_shape {shape}'s entries", 1) for s in shape)
    check_int(num_classes, "num_classes", 2)
    if arch == "auto":
        arch = "cnn" if max(h, w) <= 64 else "resnet18"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # 16 channels suffice for 8x8 digits (and cost a third of 32); 32 for 28x28 / 32x32
        return SmallCNN(c, num_classes, width=16 if max(h, w) <= 16 else 32) if arch == "cnn" else resnet18(c, num_classes)


def reinitialize(model: nn.Module, seed: int) -> nn.Module:
    """Reset every submodule that has ``reset_parameters`` (in place), drawing from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in model.modules():
            if module is not model and hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return model


def is_multi_agent(model: Any) -> bool:
    """True for the multi-agent learner (anything with its own ``predict_proba(dataset, indices)``)."""
    return not isinstance(model, nn.Module) or hasattr(model, "predict_proba")


@torch.no_grad()
def predict_proba(model: Any, dataset: Any, indices: Sequence[int] | np.ndarray | None = None,
                  batch_size: int = 512, device: str = "cpu", seed: int = 0) -> np.ndarray:
    """Class probabilities of ``model`` on ``dataset[indices]``.

    Works for any ``nn.Module`` mapping (B, C, H, W) images to (B, K) logits and for the
    multi-agent learner (its ``predict_proba(dataset, indices)`` is used, seeded with ``seed``
    where it accepts one).

    Returns:
        (n, K) float64 numpy array, rows summing to 1.
    """
    idx = np.arange(len(dataset)) if indices is None else check_indices(indices, len(dataset), "indices")
    batch_size = check_int(batch_size, "predict_proba batch_size", 1)  # -5 returned no rows at all
    if is_multi_agent(model):
        import inspect

        accepts_seed = "seed" in inspect.signature(model.predict_proba).parameters
        probs = model.predict_proba(dataset, idx, seed=seed) if accepts_seed else model.predict_proba(dataset, idx)
        return np.asarray(probs.detach().cpu() if isinstance(probs, Tensor) else probs, dtype=np.float64)
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, len(idx), batch_size):
            images, _ = dataset.get_batch(idx[start:start + batch_size])
            out.append(torch.softmax(model(images.to(device)).float(), dim=1).cpu())
    finally:
        model.train(was_training)
    if not out:
        return np.zeros((0, dataset.num_classes))
    return torch.cat(out).double().numpy()


__all__ = ["ARCHITECTURES", "SmallCNN", "is_multi_agent", "make_classifier", "predict_proba", "reinitialize", "resnet18",
           "to_unit_float"]
