"""Interpretable weight I_w (Algorithm 3, lines 12-15) and gradient scaling (line 22)."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from unlearning.explain import (GradientScaler, cosine_similarity_matrix, interpretable_weight,
                                interpretable_weight_tensor, scale_gradients)

R2 = 1 / math.sqrt(2)


def test_cosine_matrix_by_hand():
    retain = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    forget = np.array([[3.0, 0.0], [1.0, 1.0]])
    expected = np.array([[1.0, R2], [0.0, R2], [0.0, 0.0]])
    np.testing.assert_allclose(cosine_similarity_matrix(retain, forget).numpy(), expected,
                               atol=1e-15)


def test_weight_skips_zero_entries_in_row_means():
    # sim = [[1, 1/sqrt2], [0, 1/sqrt2]]; row 2's zero is skipped, so rsim = [(1+r)/2, r].
    retain = np.array([[1.0, 0.0], [0.0, 1.0]])
    forget = np.array([[1.0, 0.0], [1.0, 1.0]])
    expected = ((1 + R2) / 2 + R2) / 2
    assert interpretable_weight(retain, forget) == pytest.approx(expected, abs=1e-15)


def test_zero_vectors_count_as_no_similarity():
    retain = np.array([[1.0, 0.0], [0.0, 0.0]])        # second retain vector all zero
    forget = np.array([[1.0, 0.0], [0.0, 0.0]])        # second forget vector all zero
    # sim = [[1, 0], [0, 0]] -> rsim = [1, 0] (empty row -> 0) -> crsim = 0.5
    assert interpretable_weight(retain, forget) == pytest.approx(0.5, abs=1e-15)
    everything_zero = interpretable_weight(np.zeros((3, 4)), np.zeros((2, 4)))
    assert everything_zero == 0.0 and not math.isnan(everything_zero)


def test_negative_similarities_kept_in_means_and_final_weight_clipped():
    retain = np.array([[1.0, 0.0], [0.0, 1.0]])
    forget = np.array([[1.0, 0.0], [-1.0, 1.0]])
    # sim = [[1, -r], [0, r]] -> rsim = [(1 - r)/2, r]
    expected = ((1 - R2) / 2 + R2) / 2
    assert interpretable_weight(retain, forget) == pytest.approx(expected, abs=1e-15)
    opposite = (np.array([[1.0, 0.0]]), np.array([[-2.0, 0.0], [0.0, 1.0]]))
    # sim = [[-1, 0]] -> rsim = [-1] -> crsim = -1: clipped to 0 unless asked for the raw value.
    assert interpretable_weight(*opposite) == 0.0
    assert interpretable_weight(*opposite, clip_negative=False) == pytest.approx(-1.0)


def test_identical_sets_give_one_and_scale_invariance():
    rng = np.random.default_rng(0)
    coefs = rng.normal(size=(5, 16))
    assert interpretable_weight(coefs[:1], coefs[:1]) == pytest.approx(1.0)
    a, b = rng.normal(size=(4, 16)), rng.normal(size=(6, 16))
    assert interpretable_weight(a * 3.0, b * 0.1) == pytest.approx(interpretable_weight(a, b))


def test_weight_against_a_loop_implementation():
    rng = np.random.default_rng(1)
    retain, forget = rng.normal(size=(7, 9)), rng.normal(size=(5, 9))
    retain[2] = 0.0
    rows = []
    for r in retain:
        sims = [0.0 if not (r.any() and f.any())
                else float(r @ f / np.linalg.norm(r) / np.linalg.norm(f)) for f in forget]
        nonzero = [s for s in sims if s != 0.0]
        rows.append(np.mean(nonzero) if nonzero else 0.0)
    expected = np.mean(rows)
    assert interpretable_weight(retain, forget, clip_negative=False) == pytest.approx(expected)


def test_zero_tolerance_skips_near_orthogonal_pairs():
    retain = np.array([[1.0, 0.0]])
    forget = np.array([[1.0, 0.0], [1e-9, 1.0]])
    assert interpretable_weight(retain, forget) == pytest.approx((1 + 1e-9) / 2)
    assert interpretable_weight(retain, forget, zero_tolerance=1e-6) == pytest.approx(1.0)


def test_tensor_version_matches_and_stays_on_device():
    rng = np.random.default_rng(2)
    retain, forget = rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
    weight = interpretable_weight_tensor(torch.from_numpy(retain).float(),
                                         torch.from_numpy(forget))
    assert weight.ndim == 0 and weight.dtype == torch.float64
    assert weight.item() == pytest.approx(interpretable_weight(retain, forget), rel=1e-6)


@pytest.mark.parametrize("retain, forget, error, match", [
    (np.zeros((2, 3)), np.zeros((2, 4)), ValueError, "same feature count"),
    (np.zeros(3), np.zeros((2, 3)), ValueError, "2-D"),
    (np.zeros((2, 3)), np.zeros((0, 3)), ValueError, "non-empty"),
    (np.array([[np.nan, 1.0]]), np.ones((1, 2)), ValueError, "NaN"),
    ([[1.0]], np.ones((1, 1)), TypeError, "numpy array or torch.Tensor"),
])
def test_weight_bad_inputs(retain, forget, error, match):
    with pytest.raises(error, match=match):
        interpretable_weight(retain, forget)


def _model_and_grads(seed: int = 0) -> tuple[nn.Module, list[torch.Tensor]]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    loss = nn.functional.cross_entropy(model(torch.randn(8, 5)), torch.randint(0, 3, (8,)))
    loss.backward()
    return model, [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("weight", [0.0, 0.37, 1.0, -0.5])
def test_scaled_gradient_is_one_minus_weight_times_unscaled(weight):
    model, unscaled = _model_and_grads()
    GradientScaler(model).apply(weight)
    for param, grad in zip(model.parameters(), unscaled):
        torch.testing.assert_close(param.grad, (1 - weight) * grad, rtol=0, atol=1e-7)
        torch.testing.assert_close(param.grad, grad - weight * grad, rtol=0, atol=1e-7)


def test_scaler_as_optimizer_pre_hook():
    model, grads = _model_and_grads()
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    scaler = GradientScaler(model, weight=0.25)
    handle = scaler.attach(optimizer)
    optimizer.step()
    for param, start, grad in zip(model.parameters(), before, grads):
        torch.testing.assert_close(param.detach(), start - 0.5 * 0.75 * grad)
    handle.remove()
    current = [p.detach().clone() for p in model.parameters()]
    optimizer.step()  # hook removed: plain SGD on the (already scaled) grads
    for param, start, grad in zip(model.parameters(), current, grads):
        torch.testing.assert_close(param.detach(), start - 0.5 * 0.75 * grad)


def test_scale_gradients_function_params_without_grad_and_tensor_weight():
    model, grads = _model_and_grads()
    frozen = nn.Parameter(torch.ones(2))  # no grad: skipped, not an error
    scale_gradients(list(model.parameters()) + [frozen], torch.tensor(0.5))
    assert frozen.grad is None
    for param, grad in zip(model.parameters(), grads):
        torch.testing.assert_close(param.grad, 0.5 * grad)


def test_scaler_rejects_bad_weights_and_params():
    model, _ = _model_and_grads()
    scaler = GradientScaler(model)
    for bad in (1.5, -1.1, float("nan")):
        with pytest.raises(ValueError, match="1 - weight >= 0"):
            scaler.apply(bad)
    with pytest.raises(ValueError, match="at least one parameter"):
        GradientScaler([])
    # one Parameter used to be iterated row by row: views without .grad, so nothing was scaled
    with pytest.raises(TypeError, match=r"got a single tensor: pass \[param\]"):
        scale_gradients(next(model.parameters()), 0.5)
    with pytest.raises(TypeError, match="Optimizer"):
        scaler.attach(object())


def test_cosine_of_huge_or_tiny_vectors_is_still_their_direction():
    """Norms of 1e200 overflow and of 1e-170 underflow in float64; such finite vectors used to count as all-zero
    (cosine 0 with themselves)."""
    direction = np.array([[3.0, -4.0, 0.0, 1.0]])
    for scale in (1e200, 1e-170, 1.0):
        sims = cosine_similarity_matrix(direction * scale, np.vstack([direction, -direction, 0 * direction]))
        assert sims.numpy() == pytest.approx(np.array([[1.0, -1.0, 0.0]]), abs=1e-12), scale
