"""Fast backend against the lime package, and the behaviour of explain / lime_coefficients."""

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances
from torch import nn

from unlearning.explain import ExplainConfig, explain, lime_coefficients
from unlearning.explain._inputs import perturbation_matrix
from unlearning.explain.lime_fast import kernel_weights, weighted_ridge


def _assert_close_relative(fast: np.ndarray, reference: np.ndarray, rtol: float = 1e-4) -> None:
    scale = np.abs(reference).max()
    assert scale > 1e-6, "reference coefficients are all ~0: the test would prove nothing"
    assert np.abs(fast - reference).max() <= rtol * scale


@pytest.mark.parametrize("segmentation", ["grid", "slic"])
def test_fast_equals_lime_grey_8x8(grey_model, grey_images, segmentation):
    config = ExplainConfig(num_samples=200, grid=(2, 2), segmentation=segmentation,
                           slic_segments=6, batch_size=64)
    fast = explain(grey_model, grey_images, config=config)
    reference = explain(grey_model, grey_images,
                        config=dataclasses.replace(config, backend="lime"))
    np.testing.assert_array_equal(fast.labels, reference.labels)
    np.testing.assert_array_equal(fast.num_segments, reference.num_segments)
    _assert_close_relative(fast.segment_coefs, reference.segment_coefs)
    _assert_close_relative(fast.coefs, reference.coefs)
    _assert_close_relative(fast.intercepts, reference.intercepts)


@pytest.mark.parametrize("segmentation", ["grid", "slic"])
def test_fast_equals_lime_colour_16x16(colour_model, colour_images, segmentation):
    config = ExplainConfig(num_samples=200, grid=(4, 4), segmentation=segmentation,
                           slic_segments=8, batch_size=50)
    labels = np.array([0, 3, 1])
    fast = explain(colour_model, colour_images, labels, config=config)
    reference = explain(colour_model, colour_images, labels,
                        config=dataclasses.replace(config, backend="lime"))
    if segmentation == "slic":
        # Several superpixels and differing counts across images exercise the padding.
        assert fast.num_segments.min() > 1
    np.testing.assert_array_equal(fast.labels, labels)
    np.testing.assert_array_equal(reference.labels, labels)
    _assert_close_relative(fast.segment_coefs, reference.segment_coefs)
    _assert_close_relative(fast.coefs, reference.coefs)


def test_perturbation_matrix_matches_lime_draws():
    z = perturbation_matrix(50, 7, seed=11)
    expected = np.random.RandomState(11).randint(0, 2, 50 * 7).reshape(50, 7)
    expected[0] = 1
    np.testing.assert_array_equal(z, expected)


def test_kernel_weights_match_lime_kernel():
    z = perturbation_matrix(300, 9, seed=3)
    z[5] = 0  # an all-off row: cosine distance 1
    distances = pairwise_distances(z, z[0].reshape(1, -1), metric="cosine").ravel()
    expected = np.sqrt(np.exp(-(distances ** 2) / 0.25 ** 2))
    got = kernel_weights(torch.from_numpy(z.sum(1, keepdims=True).T.astype(np.float64)),
                         torch.tensor([9.0], dtype=torch.float64), 0.25)
    np.testing.assert_allclose(got.numpy()[0], expected, rtol=1e-12, atol=1e-12)


def test_weighted_ridge_matches_sklearn():
    rng = np.random.default_rng(0)
    features = rng.integers(0, 2, (3, 120, 5)).astype(np.float64)
    targets = rng.random((3, 120))
    weights = rng.random((3, 120)) + 0.1
    coefs, intercepts = weighted_ridge(torch.from_numpy(features), torch.from_numpy(targets),
                                       torch.from_numpy(weights), alpha=1.0)
    for b in range(3):
        ridge = Ridge(alpha=1.0, fit_intercept=True).fit(features[b], targets[b],
                                                         sample_weight=weights[b])
        np.testing.assert_allclose(coefs[b].numpy(), ridge.coef_, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(intercepts[b].item(), ridge.intercept_, rtol=1e-9)


def test_zero_padded_features_do_not_change_ridge():
    rng = np.random.default_rng(1)
    features = rng.integers(0, 2, (1, 80, 4)).astype(np.float64)
    padded = np.concatenate([features, np.zeros((1, 80, 3))], axis=2)
    targets, weights = rng.random((1, 80)), rng.random((1, 80)) + 0.1
    plain, _ = weighted_ridge(*(torch.from_numpy(a) for a in (features, targets, weights)), 1.0)
    wide, _ = weighted_ridge(*(torch.from_numpy(a) for a in (padded, targets, weights)), 1.0)
    np.testing.assert_allclose(wide[0, :4].numpy(), plain[0].numpy(), rtol=1e-12)
    assert torch.all(wide[0, 4:] == 0)


class PixelProbe(nn.Module):
    """Class-1 logit = 10 * pixel (0, 0): only the superpixel holding that pixel matters."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixel = images[:, 0, 0, 0]
        return torch.stack([torch.zeros_like(pixel), 10.0 * pixel], dim=1)


def test_only_the_relevant_cell_gets_weight():
    images = torch.zeros((2, 1, 8, 8))
    images[:, 0, 0, 0] = 1.0  # cell 0's mean is 1/16, so switching it off drops the logit
    coefs = lime_coefficients(PixelProbe(), images, labels=[1, 1], num_samples=300, grid=(2, 2))
    assert coefs.shape == (2, 4)
    assert np.all(coefs[:, 0] > 0.1)
    # Other cells pick up only sampling noise (z columns are not exactly uncorrelated).
    assert np.all(np.abs(coefs[:, 1:]) < 1e-2 * coefs[:, :1])


def test_shapes_dtypes_and_uint8_equals_float(grey_model, grey_images):
    coefs = lime_coefficients(grey_model, grey_images, num_samples=100, grid=(2, 4))
    assert coefs.shape == (3, 8) and coefs.dtype == np.float64
    as_float = lime_coefficients(grey_model, grey_images.float() / 255, num_samples=100,
                                 grid=(2, 4))
    _assert_close_relative(as_float, coefs, rtol=1e-5)


def test_default_grid_and_projected_length(colour_model, colour_images):
    explanations = explain(colour_model, colour_images,
                           config=ExplainConfig(num_samples=50, segmentation="quickshift"))
    assert explanations.grid == (4, 4)
    assert explanations.coefs.shape == (3, 16)
    segments_max = explanations.segment_coefs.shape[1]
    assert segments_max == explanations.num_segments.max()


def test_predicted_labels_are_explained_by_default(grey_model, grey_images):
    config = ExplainConfig(num_samples=100, grid=(2, 2))
    default = explain(grey_model, grey_images, config=config)
    with torch.no_grad():
        predicted = grey_model(grey_images.float() / 255).argmax(1).numpy()
    np.testing.assert_array_equal(default.labels, predicted)
    explicit = explain(grey_model, grey_images, torch.from_numpy(predicted), config=config)
    _assert_close_relative(explicit.coefs, default.coefs, rtol=1e-9)
    other = explain(grey_model, grey_images, (predicted + 1) % 4, config=config)
    assert not np.allclose(other.coefs, default.coefs)


def test_batch_size_and_seed(grey_model, grey_images):
    base = ExplainConfig(num_samples=120, grid=(2, 2), batch_size=1000)
    small = explain(grey_model, grey_images, config=dataclasses.replace(base, batch_size=7))
    large = explain(grey_model, grey_images, config=base)
    _assert_close_relative(small.coefs, large.coefs, rtol=1e-5)
    reseeded = explain(grey_model, grey_images, config=dataclasses.replace(base, seed=5))
    assert not np.allclose(reseeded.coefs, large.coefs)


def test_one_image_alone_equals_its_row_in_a_batch(grey_model, grey_images):
    config = ExplainConfig(num_samples=100, grid=(2, 2))
    batch = explain(grey_model, grey_images, config=config)
    alone = explain(grey_model, grey_images[:1], config=config)
    _assert_close_relative(alone.coefs[0], batch.coefs[0], rtol=1e-5)


def test_callable_segmentation(colour_model, colour_images):
    def halves(image: np.ndarray) -> np.ndarray:
        labels = np.full(image.shape[:2], 7)
        labels[:, image.shape[1] // 2:] = 42  # arbitrary ids are renumbered
        return labels

    explanations = explain(colour_model, colour_images,
                           config=ExplainConfig(num_samples=100, grid=(2, 2),
                                                segmentation=halves))
    np.testing.assert_array_equal(explanations.num_segments, [2, 2, 2])
    # Left cells carry segment 0's coefficient, right cells segment 1's.
    np.testing.assert_allclose(explanations.coefs[:, [0, 2]],
                               explanations.segment_coefs[:, [0, 0]])
    np.testing.assert_allclose(explanations.coefs[:, [1, 3]],
                               explanations.segment_coefs[:, [1, 1]])


def test_model_training_flag_restored(grey_model, grey_images):
    grey_model.train()
    lime_coefficients(grey_model, grey_images, num_samples=20, grid=(2, 2))
    assert grey_model.training
    assert all(p.grad is None for p in grey_model.parameters())


@pytest.mark.parametrize("images, match", [
    (torch.zeros((1, 8, 8), dtype=torch.uint8), "shape"),
    (torch.zeros((1, 2, 8, 8), dtype=torch.uint8), "C = 1 or 3"),
    (torch.zeros((0, 1, 8, 8), dtype=torch.uint8), "non-empty"),
    (torch.full((1, 1, 8, 8), 2.0), r"\[0, 1\]"),
    (torch.full((1, 1, 8, 8), float("nan")), "NaN"),
    (torch.zeros((1, 1, 8, 8), dtype=torch.int32), "uint8"),
])
def test_bad_images_raise(grey_model, images, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lime_coefficients(grey_model, images, num_samples=10, grid=(2, 2))


def test_seed_too_large_for_the_batch_is_refused_before_any_work(grey_model, grey_images):
    """Image i draws from RandomState(seed + i): a seed whose last image would pass 2**32 - 1 is refused up front
    with the largest seed that fits, instead of numpy's bare 'Seed must be between 0 and 2**32 - 1' mid-run."""
    batch = len(grey_images)
    calls = grey_model.forward_calls
    with pytest.raises(ValueError, match=rf"ExplainConfig.seed .* {batch} images.*seed <= {2**32 - batch}"):
        lime_coefficients(grey_model, grey_images, num_samples=10, grid=(2, 2), seed=2**32 - batch + 1)
    assert grey_model.forward_calls == calls
    coefs = lime_coefficients(grey_model, grey_images, num_samples=10, grid=(2, 2), seed=2**32 - batch)
    assert coefs.shape == (batch, 4) and np.isfinite(coefs).all()


def test_bad_arguments_raise(grey_model, grey_images):
    with pytest.raises(ValueError, match="num_samples"):
        lime_coefficients(grey_model, grey_images, num_samples=1)
    with pytest.raises(ValueError, match="backend"):
        lime_coefficients(grey_model, grey_images, backend="shap")
    with pytest.raises(ValueError, match="segmentation"):
        lime_coefficients(grey_model, grey_images, segmentation="felzenszwalb")
    with pytest.raises(ValueError, match="grid"):
        lime_coefficients(grey_model, grey_images, grid=(9, 2), num_samples=10)
    with pytest.raises(ValueError, match="labels"):
        lime_coefficients(grey_model, grey_images, labels=[0, 1], num_samples=10)
    with pytest.raises(ValueError, match="num_classes"):
        lime_coefficients(grey_model, grey_images, labels=[0, 1, 4], num_samples=10, grid=(2, 2))
    with pytest.raises(ValueError, match="num_classes"):
        lime_coefficients(grey_model, grey_images, labels=[0, 1, 4], num_samples=10, grid=(2, 2),
                          backend="lime")
    with pytest.raises(ValueError, match="device"):
        lime_coefficients(grey_model, grey_images, device="cuda", num_samples=10)
    with pytest.raises(ValueError, match="segmentation callable"):
        lime_coefficients(grey_model, grey_images, num_samples=10,
                          segmentation=lambda image: np.zeros((3, 3), dtype=int))
    with pytest.raises(TypeError, match="model"):
        lime_coefficients(lambda x: x, grey_images, num_samples=10)
    with pytest.raises(TypeError, match="ExplainConfig"):
        explain(grey_model, grey_images, config={"num_samples": 10})


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(colour_model, colour_images):
    config = ExplainConfig(num_samples=200, grid=(4, 4))
    cpu = explain(colour_model, colour_images, config=config)
    cuda = explain(colour_model.to("cuda"), colour_images, config=config)
    _assert_close_relative(cuda.coefs, cpu.coefs)


@pytest.mark.parametrize("segmentation", ["grid", "slic"])
def test_processing_in_blocks_changes_nothing(monkeypatch, colour_model, colour_images,
                                              segmentation):
    import unlearning.explain.coefficients as coefficients
    import unlearning.explain.lime_fast as lime_fast

    config = ExplainConfig(num_samples=100, grid=(4, 4), segmentation=segmentation,
                           slic_segments=8)
    whole = explain(colour_model, colour_images, config=config)
    monkeypatch.setattr(coefficients, "_MAX_BLOCK_ELEMENTS", 2 * 3 * 16 * 16)  # 2 images
    monkeypatch.setattr(lime_fast, "_MAX_BLOCK_PIXELS", 3 * 16 * 16)           # 1 image
    blocked = explain(colour_model, colour_images, config=config)
    _assert_close_relative(blocked.coefs, whole.coefs, rtol=1e-5)
    _assert_close_relative(blocked.segment_coefs, whole.segment_coefs, rtol=1e-5)
    np.testing.assert_array_equal(blocked.num_segments, whole.num_segments)


def test_torch_mask_gather_path_equals_numpy_path(monkeypatch, colour_model, colour_images):
    # The torch indexing path is the one used on CUDA; run it on CPU here.
    import unlearning.explain.lime_fast as lime_fast

    config = ExplainConfig(num_samples=100, grid=(4, 4), segmentation="slic", slic_segments=8)
    numpy_path = explain(colour_model, colour_images, config=config)
    monkeypatch.setattr(lime_fast, "_NUMPY_GATHER_ON_CPU", False)
    torch_path = explain(colour_model, colour_images, config=config)
    np.testing.assert_array_equal(torch_path.segment_coefs, numpy_path.segment_coefs)


def test_numpy_views_and_big_endian_arrays_are_explained(grey_model, grey_images):
    """A flipped view (negative strides) and a big-endian array used to fail inside torch.from_numpy."""
    array = grey_images.numpy()
    flipped = array[:, :, ::-1]
    expected = lime_coefficients(grey_model, np.ascontiguousarray(flipped), num_samples=20, grid=(2, 2))
    np.testing.assert_array_equal(lime_coefficients(grey_model, flipped, num_samples=20, grid=(2, 2)), expected)
    floats = (array / 255.0).astype(">f4")
    np.testing.assert_allclose(lime_coefficients(grey_model, floats, num_samples=20, grid=(2, 2)),
                               lime_coefficients(grey_model, floats.astype("<f4"), num_samples=20, grid=(2, 2)))
