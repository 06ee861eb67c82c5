"""Standard classifiers: input conventions, architectures, re-initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearning.models import SmallCNN, make_classifier, predict_proba, reinitialize


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_small_cnn_accepts_uint8_and_unit_float_alike(shape):
    model = make_classifier(shape, 10, seed=0).eval()
    assert isinstance(model, SmallCNN)
    images = torch.randint(0, 256, (3, *shape), dtype=torch.uint8)
    with torch.no_grad():
        logits = model(images)
        assert logits.shape == (3, 10)
        assert torch.allclose(logits, model(images.float() / 255.0), atol=1e-5)


def test_resnet18_for_high_resolution():
    model = make_classifier((3, 96, 96), 7, seed=0).eval()
    assert type(model).__name__ == "_ResNet18"
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 96, 96, dtype=torch.uint8)).shape == (2, 7)
    grey = make_classifier((1, 64, 64), 5, arch="resnet18").eval()
    with torch.no_grad():
        assert grey(torch.zeros(1, 1, 64, 64)).shape == (1, 5)
    with pytest.raises(ValueError, match="arch must be one of"):
        make_classifier((1, 8, 8), 10, arch="vgg")
    # swapped arguments (MAReinforce takes n_classes first) used to fail with "'int' object is not iterable"
    with pytest.raises(ValueError, match=r"image_shape must be \(C, H, W\).*make_classifier\(image_shape, num_classes\)"):
        make_classifier(10, (1, 8, 8))
    with pytest.raises(ValueError, match="num_classes must be an int >= 2; got 1"):
        make_classifier((1, 8, 8), 1)
    assert make_classifier(np.array([1, 8, 8]), np.int64(3))(torch.zeros(1, 1, 8, 8)).shape == (1, 3)
    assert make_classifier(torch.tensor([1, 8, 8]), 3)(torch.zeros(1, 1, 8, 8)).shape == (1, 3)


def test_reinitialize_is_seeded_and_changes_weights():
    a = make_classifier((1, 8, 8), 10, seed=0)
    b = make_classifier((1, 8, 8), 10, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    reinitialize(a, seed=5)
    reinitialize(b, seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = make_classifier((1, 8, 8), 10, seed=0)
    assert any(not torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_predict_proba_rows_sum_to_one(digits_small, trained_cnn):
    _, test, _ = digits_small
    probs = predict_proba(trained_cnn, test, np.arange(7), batch_size=3)
    assert probs.shape == (7, 10) and np.allclose(probs.sum(1), 1.0)


def test_classifiers_read_pixels_as_the_core_does():
    """One conversion rule: uint8 / 255 bit for bit as masimu_env.core.to_float_images, and float images outside
    [0, 1] raise (they used to reach the network as they were, e.g. 0..255 floats)."""
    from masimu_env.core import to_float_images
    from unlearning.models import to_unit_float

    pixels = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)
    assert torch.equal(to_unit_float(pixels), to_float_images(pixels))
    model = make_classifier((3, 8, 8), 4)
    with pytest.raises(ValueError, match=r"float images must be finite and lie in \[0, 1\]"):
        model(torch.full((1, 3, 8, 8), 255.0))
