"""Grid labels, segmentations and projection of superpixel coefficients onto a grid."""

import numpy as np
import pytest

from unlearning.explain import (ExplainConfig, class_mean_coefficients, default_grid, grid_labels,
                                grid_projection, project_to_grid, segment_images)
from unlearning.explain.segmentation import relabel


def test_grid_labels_even_and_uneven():
    cells = grid_labels(4, 6, (2, 3))
    np.testing.assert_array_equal(cells, [[0, 0, 1, 1, 2, 2],
                                          [0, 0, 1, 1, 2, 2],
                                          [3, 3, 4, 4, 5, 5],
                                          [3, 3, 4, 4, 5, 5]])
    uneven = grid_labels(10, 10, (4, 4))
    assert uneven.dtype == np.int64 and set(np.unique(uneven)) == set(range(16))
    row_sizes = np.bincount(uneven[:, 0] // 4)
    assert row_sizes.sum() == 10 and row_sizes.max() - row_sizes.min() <= 1
    with pytest.raises(ValueError, match="grid"):
        grid_labels(3, 3, (4, 1))


def test_projection_is_area_weighted_mean():
    segments = np.zeros((4, 4), dtype=np.int64)
    segments[:, 3] = 1            # last column is superpixel 1
    segments[3, :2] = 2           # bottom-left two pixels are superpixel 2
    coefs = np.array([1.0, 5.0, -3.0])
    projected = project_to_grid(coefs, segments, (2, 2))
    # cell (0,0): all seg 0 -> 1; cell (0,1): cols 2-3 rows 0-1 -> half 0, half 1 -> 3
    # cell (1,0): rows 2-3 cols 0-1 -> two seg 0, two seg 2 -> -1; cell (1,1): half 0, half 1 -> 3
    np.testing.assert_allclose(projected, [1.0, 3.0, -1.0, 3.0])
    matrix = grid_projection(segments, (2, 2))
    assert matrix.shape == (3, 4)
    np.testing.assert_allclose(matrix.sum(axis=0), 1.0)
    with pytest.raises(ValueError, match="segment_coefs"):
        project_to_grid(coefs[:2], segments, (2, 2))


def test_projection_of_the_same_grid_is_identity():
    segments = grid_labels(12, 9, (3, 3))
    np.testing.assert_allclose(grid_projection(segments, (3, 3)), np.eye(9))


def test_relabel_makes_consecutive_ids():
    labels = np.array([[5, 5, 9], [2, 9, 9]])
    np.testing.assert_array_equal(relabel(labels), [[1, 1, 2], [0, 2, 2]])


@pytest.mark.parametrize("segmentation", ["grid", "slic", "quickshift"])
def test_segment_images_shapes(segmentation):
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 20, 24))
    segments = segment_images(images, ExplainConfig(segmentation=segmentation, grid=(2, 2)))
    assert segments.shape == (2, 20, 24) and segments.dtype == np.int64
    for labels in segments:
        assert np.array_equal(np.unique(labels), np.arange(labels.max() + 1))


def test_slic_follows_image_content():
    image = np.zeros((1, 1, 16, 16))
    image[..., :, 8:] = 1.0   # two flat halves
    segments = segment_images(image, ExplainConfig(segmentation="slic", slic_segments=4))[0]
    # No superpixel straddles the edge between the halves.
    assert not set(np.unique(segments[:, :8])) & set(np.unique(segments[:, 8:]))


def test_default_grid():
    assert default_grid(28, 28) == (4, 4)
    assert default_grid(32, 32) == (4, 4)
    assert default_grid(450, 600) == (8, 8)
    assert default_grid(3, 40) == (3, 8)


def test_class_mean_coefficients():
    coefs = np.array([[1.0, 2.0], [3.0, 4.0], [10.0, 0.0]])
    means = class_mean_coefficients(coefs, np.array([0, 0, 2]), num_classes=4)
    np.testing.assert_allclose(means, [[2.0, 3.0], [0.0, 0.0], [10.0, 0.0], [0.0, 0.0]])
    assert class_mean_coefficients(coefs, np.array([1, 1, 1])).shape == (2, 2)
    with pytest.raises(ValueError, match="labels"):
        class_mean_coefficients(coefs, np.array([0, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        class_mean_coefficients(coefs, np.array([0, 1, 5]), num_classes=3)
    with pytest.raises(ValueError, match=">= 0"):
        class_mean_coefficients(coefs, np.array([0, -1, 1]))


@pytest.mark.parametrize("field, value", [
    ("num_samples", 1), ("batch_size", 0), ("kernel_width", 0.0), ("ridge_alpha", 0.0),
    ("seed", -1), ("seed", 2**32), ("seed", 1.0), ("grid", (0, 2)), ("grid", [2, 2]), ("slic_segments", 0),
    ("backend", "shap"), ("segmentation", "watershed"), ("segmentation", 3),
    # bools are not counts: True used to pass as batch_size 1, seed 1 and a 1-cell grid side
    ("batch_size", True), ("seed", True), ("slic_segments", True), ("grid", (True, 2)), ("num_samples", 2.0),
])
def test_config_rejects_bad_fields(field, value):
    with pytest.raises((ValueError, TypeError), match=field):
        ExplainConfig(**{field: value})


def test_config_stores_numpy_integers_as_python_ints():
    """NumPy integers (a sweep over np.arange) are accepted and stored as Python ints, so the config
    serialises to JSON and keys the cache exactly like the same Python ints."""
    numpy_config = ExplainConfig(num_samples=np.int64(60), grid=(np.int32(2), np.int64(3)),
                                 batch_size=np.int16(7), seed=np.uint32(5), slic_segments=np.int64(4))
    python_config = ExplainConfig(num_samples=60, grid=(2, 3), batch_size=7, seed=5, slic_segments=4)
    assert numpy_config == python_config
    for name in ("num_samples", "batch_size", "seed", "slic_segments"):
        assert type(getattr(numpy_config, name)) is int, name
    assert all(type(side) is int for side in numpy_config.grid)
    assert ExplainConfig(seed=2**32 - 1).seed == 2**32 - 1


def test_negative_segment_ids_are_refused():
    """-1 used to wrap onto the last superpixel's coefficient."""
    segments = np.zeros((4, 4), dtype=np.int64)
    segments[:, 2:] = -1
    segments[0, 0] = 1
    with pytest.raises(ValueError, match="segments must hold superpixel ids 0 .. F-1; got -1"):
        project_to_grid(np.array([1.0, 5.0]), segments, (2, 2))
    with pytest.raises(ValueError, match="integer label map"):
        grid_projection(segments.astype(float), (2, 2))


@pytest.mark.parametrize("field, value", [
    ("ridge_alpha", float("inf")), ("kernel_width", float("inf")), ("kernel_width", 1e-300),  # gave NaN coefficients
    ("kernel_width", "0.25"), ("ridge_alpha", True), ("slic_compactness", float("nan")),
])
def test_config_refuses_non_finite_or_non_numeric_widths(field, value):
    with pytest.raises(ValueError, match=f"ExplainConfig.{field} must be"):
        ExplainConfig(**{field: value})


@pytest.mark.parametrize("num_classes", [-1, 2.5, "4", True])
def test_class_means_check_num_classes(num_classes):
    with pytest.raises(ValueError, match="num_classes must be None or an int >= 1"):
        class_mean_coefficients(np.ones((2, 3)), np.array([0, 1]), num_classes=num_classes)
