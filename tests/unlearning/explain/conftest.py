"""Tiny classifiers shared by the explain tests."""

import pytest
import torch
from torch import nn


class TinyCNN(nn.Module):
    """(B, C, H, W) float in [0, 1] -> (B, num_classes) logits; weights drawn a few times
    larger than the default init so that switching superpixels off moves the softmax
    visibly, but not so large that it saturates."""

    def __init__(self, channels: int, side: int, num_classes: int = 4, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.head = nn.Linear(4 * side * side, num_classes)
        with torch.no_grad():
            for layer in (self.conv, self.head):
                fan_in = layer.weight[0].numel()
                for param in (layer.weight, layer.bias):
                    param.copy_(torch.randn(param.shape, generator=generator) * 3 / fan_in ** 0.5)
        self.forward_calls = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.forward_calls += 1
        return self.head(torch.relu(self.conv(images)).flatten(1))


@pytest.fixture
def grey_model() -> TinyCNN:
    return TinyCNN(channels=1, side=8)


@pytest.fixture
def colour_model() -> TinyCNN:
    return TinyCNN(channels=3, side=16)


@pytest.fixture
def grey_images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8, generator=generator)


@pytest.fixture
def colour_images() -> torch.Tensor:
    # Smooth blobs rather than noise, so SLIC finds several superpixels.
    generator = torch.Generator().manual_seed(2)
    coarse = torch.rand((3, 3, 4, 4), generator=generator)
    return nn.functional.interpolate(coarse, size=(16, 16), mode="bilinear", align_corners=False)
