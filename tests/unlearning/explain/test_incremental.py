"""Incremental evaluation of a Sequential model's local prefix (``incremental.py``) against the black-box path.

The incremental path runs the model's local leading layers on 2**colours probe images and folds the affine modules
after them into per-group lookups; it must compute the same function as running every perturbed image through the
whole model (``ExplainConfig(incremental=False)``), so the coefficients agree to float rounding.
"""

from __future__ import annotations

import copy
import dataclasses
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import unlearning.explain.incremental as incremental
import unlearning.explain.lime_fast as lime_fast
from unlearning.explain import ExplainConfig, cache_key, explain
from unlearning.explain._inputs import to_float64
from unlearning.explain.incremental import IncrementalPlan, plan_for
from unlearning.explain.segmentation import grid_labels, relabel, segment_images

EXACT_RTOL = 3e-5
"""Allowed difference between the incremental path and the black-box path computed in float64 (the exact function),
relative to the largest |coefficient|. Observed: <= 9e-6 on these models (float32 rounding of the model itself)."""
RTOL = 1e-4
"""Allowed difference between the incremental path and the float32 black-box path. The float32 black-box path is
itself up to ~4e-5 away from the float64 computation on these models, so comparing two float32 results needs more
room than comparing with the exact one; a wrong plan moves coefficients by several percent."""


@pytest.fixture(autouse=True)
def _gather_any_prefix(monkeypatch, request):
    """The equality tests use small, cheap prefixes; without a fold the cost guard (``_MIN_GATHER_MACS``, tested by
    the ``test_cost_guard_*`` tests) would send them to the black-box path, so it is off here."""
    if not request.node.name.startswith("test_cost_guard"):
        monkeypatch.setattr(incremental, "_MIN_GATHER_MACS", 0)



# --------------------------------------------------------------------------------------------------------------
# helpers


def _seeded(model: nn.Module, seed: int = 0, scale: float = 2.0) -> nn.Module:
    """Deterministic weights a few times larger than the default init (so the softmax moves when superpixels are
    switched off), and batch norms with non-trivial running statistics and affine parameters; eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * scale / fan_in ** 0.5)
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.5)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                if module.affine:
                    module.weight.copy_(torch.rand(module.weight.shape, generator=generator) + 0.5)
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.3)
                if module.track_running_stats:
                    module.running_mean.copy_(torch.rand(module.running_mean.shape, generator=generator) - 0.3)
                    module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
            elif isinstance(module, nn.PReLU):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) * 0.5)
    return model.eval()


def _calibrated(model: nn.Module, channels: int, height: int, width: int, spread: float = 1.5) -> nn.Module:
    """Scale the last Linear's weight so that each logit varies by about ``spread`` (std) across images and their
    partly hidden copies, then shift the output bias so that every class's mean logit is 0: the explained
    probability moves visibly under LIME's perturbations without saturating, so coefficients are far above float
    rounding."""
    images = _images(16, channels, height, width, seed=99).to(torch.float32) / 255
    generator = torch.Generator().manual_seed(98)
    cells = torch.rand((16, 1, 4, 4), generator=generator) < 0.5
    hidden = torch.where(F.interpolate(cells.float(), size=(height, width)).bool(),
                         images.mean(dim=(2, 3), keepdim=True), images)
    inputs = torch.cat([images, hidden])
    last = [module for module in model.modules() if isinstance(module, nn.Linear)][-1]
    output = list(model.modules())[-1]  # the module producing the logits (the Linear, or a BatchNorm1d after it)
    with torch.no_grad():
        last.weight *= spread / model(inputs).std(dim=0).mean().item()
        output.bias -= model(inputs).mean(dim=0)
    return model


def _ready(model: nn.Module, channels: int, height: int, width: int, seed: int = 0, scale: float = 2.0) -> nn.Module:
    return _calibrated(_seeded(model, seed=seed, scale=scale), channels, height, width)


def _sequential(channels: int, height: int, width: int, *local: nn.Module, classes: int = 4,
                tail: tuple[nn.Module, ...] | None = None, seed: int = 0, scale: float = 2.0) -> nn.Sequential:
    """``local`` modules, then Flatten and a Linear to ``classes`` logits (or ``tail``), seeded and calibrated."""
    if tail is None:
        with torch.no_grad():
            size = nn.Sequential(*local)(torch.zeros(1, channels, height, width)).numel()
        tail = (nn.Flatten(), nn.Linear(size, classes))
    return _ready(nn.Sequential(*local, *tail), channels, height, width, seed=seed, scale=scale)


def _images(batch: int, channels: int, height: int, width: int, seed: int = 1) -> torch.Tensor:
    """uint8 images: smooth blobs plus some noise (so SLIC finds several superpixels and every cell matters)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand((batch, channels, 4, 4), generator=generator)
    smooth = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    noise = torch.rand((batch, channels, height, width), generator=generator)
    return ((0.7 * smooth + 0.3 * noise) * 255).round().to(torch.uint8)


def _spy(monkeypatch) -> dict[str, int]:
    """Count the calls of the two evaluation paths inside ``explain_fast``."""
    calls = {"incremental": 0, "black_box_images": 0}
    real_incremental, real_black_box = lime_fast.incremental_logits, lime_fast._black_box_targets

    def counted_incremental(*args, **kwargs):
        calls["incremental"] += 1
        return real_incremental(*args, **kwargs)

    def counted_black_box(model, images, fill, segments, z, labels, image_ids, *args, **kwargs):
        calls["black_box_images"] += len(image_ids)
        return real_black_box(model, images, fill, segments, z, labels, image_ids, *args, **kwargs)

    monkeypatch.setattr(lime_fast, "incremental_logits", counted_incremental)
    monkeypatch.setattr(lime_fast, "_black_box_targets", counted_black_box)
    return calls


class _Float64(nn.Module):
    """A float64 copy of a model (not a Sequential: always the black-box path); float32 inputs are widened."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).double()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images.double())


def _both_paths(model, images, config, labels=None):
    fast = explain(model, images, labels, dataclasses.replace(config, incremental=True))
    black_box = explain(model, images, labels, dataclasses.replace(config, incremental=False))
    return fast, black_box


class PathsDiffer(AssertionError):
    """The two results differ by more than float rounding."""


def _assert_close(fast, reference, rtol: float) -> None:
    scale = np.abs(reference.segment_coefs).max()
    assert scale > 1e-2, f"coefficients are ~0 ({scale:.3g}): the model's output does not vary; the test proves nothing"
    np.testing.assert_array_equal(fast.num_segments, reference.num_segments)
    differences = {
        "labels": np.abs(fast.labels - reference.labels).max() > 0,
        "segment_coefs": np.abs(fast.segment_coefs - reference.segment_coefs).max() > rtol * scale + 1e-12,
        "coefs": np.abs(fast.coefs - reference.coefs).max() > rtol * np.abs(reference.coefs).max() + 1e-12,
        "intercepts": (np.abs(fast.intercepts - reference.intercepts).max()
                       > rtol * np.abs(reference.intercepts).max() + 1e-12),
    }
    if any(differences.values()):
        worst = np.abs(fast.segment_coefs - reference.segment_coefs).max() / scale
        raise PathsDiffer(f"{[name for name, differ in differences.items() if differ]} differ; largest segment "
                          f"coefficient difference {worst:.3g} of the largest |coefficient| (allowed {rtol:g})")


def _assert_same(fast, black_box, rtol: float = RTOL) -> None:
    """The two paths agree to float rounding: coefficients, grid coefficients, intercepts and labels."""
    _assert_close(fast, black_box, rtol)


def _assert_exact(fast, model, images, config, labels=None) -> None:
    """The incremental path is within float32 rounding of the float64 computation of every perturbation."""
    exact = explain(_Float64(model), images, labels, dataclasses.replace(config, incremental=False))
    _assert_close(fast, exact, EXACT_RTOL)


def _names(modules) -> list[str] | None:
    return None if modules is None else [type(module).__name__ for module in modules]


def _grid_plan(model, height, width, grid, num_samples):
    return plan_for(model, grid_labels(height, width, grid), num_samples)


# --------------------------------------------------------------------------------------------------------------
# 1. the incremental path equals the black-box path


# name -> (builder(channels, height, width), (height, width), grid, num_samples, prefix module names, folded names)
ARCHITECTURES = {
    "strided_padded_convs": (
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 6, 3, stride=2, padding=1), nn.ReLU(),
                                    nn.Conv2d(6, 5, (3, 5), stride=(1, 2), padding=(1, 2)), nn.ReLU()),
        (20, 20), (2, 2), 100, ["Conv2d", "ReLU", "Conv2d", "ReLU"], ["Flatten", "Linear"]),
    "dilation": (
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 3, dilation=2, padding=2), nn.Tanh(),
                                    nn.Conv2d(4, 4, 3, dilation=(1, 2), padding=(1, 2)), nn.ELU()),
        (24, 24), (3, 3), 100, ["Conv2d", "Tanh", "Conv2d", "ELU"], ["Flatten", "Linear"]),
    "kernel5_padding2_leaky": (
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 5, padding=2), nn.LeakyReLU(0.1)),
        (20, 20), (4, 4), 100, ["Conv2d", "LeakyReLU"], ["Flatten", "Linear"]),
    "padding_wider_than_kernel_gelu": (  # border positions see padding only (no superpixel at all)
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=3), nn.GELU()),
        (20, 20), (4, 4), 100, ["Conv2d", "GELU"], ["Flatten", "Linear"]),
    "maxpool_ceil_mode_odd_size": (
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 3), nn.ReLU(),
                                    nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
                                    nn.MaxPool2d(2, ceil_mode=True)),
        (21, 19), (2, 2), 100, ["Conv2d", "ReLU", "MaxPool2d", "MaxPool2d"], ["Flatten", "Linear"]),
    "maxpool_dilated": (
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.ReLU6(),
                                    nn.MaxPool2d(2, stride=1, dilation=2)),
        (20, 20), (4, 4), 100, ["Conv2d", "ReLU6", "MaxPool2d"], ["Flatten", "Linear"]),
    "avgpool": (
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.SiLU(),
                                    nn.AvgPool2d(2, ceil_mode=True, padding=1, count_include_pad=False),
                                    nn.AvgPool2d(3, stride=1)),
        (21, 21), (3, 3), 100, ["Conv2d", "SiLU", "AvgPool2d", "AvgPool2d"], ["Flatten", "Linear"]),
    "batchnorm_eval_running_stats": (
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                                    nn.Conv2d(4, 3, 1, bias=False), nn.BatchNorm2d(3), nn.Softplus()),
        (20, 20), (4, 4), 100, ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "Softplus"],
        ["Flatten", "Linear"]),
    "nested_sequential": (
        lambda c, h, w: _ready(nn.Sequential(
            nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.ReLU()),
            nn.Sequential(nn.MaxPool2d(2), nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.Mish())),
            nn.Sequential(nn.Flatten(), nn.Linear(4 * (h // 2) * (w // 2), 4))), c, h, w),
        (20, 20), (2, 2), 100, ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "Mish"], ["Flatten", "Linear"]),
    "pool_first_then_grouped_conv_without_bias": (
        lambda c, h, w: _sequential(c, h, w, nn.MaxPool2d(2), nn.Conv2d(c, 3 * c, 3, padding=1, groups=c, bias=False),
                                    nn.PReLU(3 * c)),
        (20, 20), (4, 4), 100, ["MaxPool2d", "Conv2d", "PReLU"], ["Flatten", "Linear"]),
    "pointwise_first": (
        lambda c, h, w: _sequential(c, h, w, nn.Sigmoid(), nn.Identity(), nn.Conv2d(c, 4, 3, padding=1),
                                    nn.Hardswish(), nn.Dropout2d(0.3)),
        (16, 16), (4, 4), 100, ["Sigmoid", "Identity", "Conv2d", "Hardswish", "Dropout2d"], ["Flatten", "Linear"]),
    "fold_then_mlp_head": (
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), tail=(
            nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Linear(16, 4)), scale=4.0),
        (20, 20), (4, 4), 100, ["Conv2d", "ReLU"], ["AdaptiveAvgPool2d", "Flatten", "Linear"]),
    "fold_with_batchnorms_and_dropout": (
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), tail=(
            nn.AdaptiveAvgPool2d(4), nn.BatchNorm2d(4), nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 4),
            nn.BatchNorm1d(4))),
        (20, 20), (4, 4), 100, ["Conv2d", "ReLU"],
        ["AdaptiveAvgPool2d", "BatchNorm2d", "Flatten", "Dropout", "Linear", "BatchNorm1d"]),
    "linear_on_last_axis_without_flatten": (
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 2, 3, padding=1), nn.Tanh(), tail=(
            nn.Linear(w, 3), nn.Flatten(), nn.Linear(2 * h * 3, 4))),
        (20, 20), (4, 4), 100, ["Conv2d", "Tanh"], ["Linear", "Flatten", "Linear"]),
    "gather_adaptive_max_pool": (  # the prefix is followed by a non-affine module: no fold
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), tail=(
            nn.AdaptiveMaxPool2d(3), nn.Flatten(), nn.Linear(36, 4))),
        (20, 20), (4, 4), 100, ["Conv2d", "ReLU"], None),
    "gather_prefix_cut_by_colour_budget": (  # the 9x9 conv would need > 5 colours: it runs in the head
        lambda c, h, w: _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(4, 4, 9, padding=4), nn.ReLU()),
        (20, 20), (4, 4), 100, ["Conv2d", "ReLU"], None),
}


@pytest.mark.parametrize("channels", [1, 3], ids=["grey", "colour"])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_incremental_equals_black_box(monkeypatch, name, channels):
    build, (height, width), grid, num_samples, prefix, folded = ARCHITECTURES[name]
    model = build(channels, height, width)
    plan = _grid_plan(model, height, width, grid, num_samples)
    assert isinstance(plan, IncrementalPlan), plan
    assert _names(plan.prefix) == prefix
    assert _names(plan.folded) == folded
    images = _images(3, channels, height, width)
    config = ExplainConfig(num_samples=num_samples, grid=grid, batch_size=64)
    calls = _spy(monkeypatch)
    fast = explain(model, images, config=config)
    assert calls == {"incremental": 1, "black_box_images": 0}  # one shared grid plan, no image left over
    black_box = explain(model, images, config=dataclasses.replace(config, incremental=False))
    assert calls == {"incremental": 1, "black_box_images": 3}
    _assert_same(fast, black_box)
    _assert_exact(fast, model, images, config)


def _conv_model(channels: int, height: int, width: int) -> nn.Sequential:
    return _sequential(channels, height, width, nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                       tail=(nn.Flatten(), nn.Linear(4 * (height // 2) * (width // 2), 4)))


@pytest.mark.parametrize("channels, compactness", [(1, 10.0), (3, 30.0)], ids=["grey", "colour"])
def test_slic_label_maps_per_image(monkeypatch, channels, compactness):
    """Different label maps per image: one plan per map, each with its own colouring and zero-padded z columns."""
    height, width = 24, 28
    images = _images(3, channels, height, width)
    config = ExplainConfig(num_samples=150, grid=(4, 4), segmentation="slic", slic_segments=9,
                           slic_compactness=compactness)
    segments = segment_images(to_float64(images).numpy(), config)
    counts = segments.reshape(3, -1).max(axis=1) + 1
    assert len({segment.tobytes() for segment in segments}) == 3 and counts.min() >= 3
    model = _conv_model(channels, height, width)
    assert all(isinstance(plan_for(model, segment, 150), IncrementalPlan) for segment in segments)
    calls = _spy(monkeypatch)
    fast, black_box = _both_paths(model, images, config)
    assert calls == {"incremental": 3, "black_box_images": 3}
    _assert_same(fast, black_box)
    _assert_exact(fast, model, images, config)


@pytest.mark.parametrize("labels", [None, np.array([3, 0, 2])], ids=["predicted", "explicit"])
@pytest.mark.parametrize("channels", [1, 3], ids=["grey", "colour"])
def test_non_square_images_and_labels(channels, labels):
    height, width = 18, 30
    model = _sequential(channels, height, width, nn.Conv2d(channels, 4, (3, 5), padding=(1, 2)), nn.ReLU(),
                        nn.MaxPool2d((2, 3)))
    images = _images(3, channels, height, width, seed=4)
    config = ExplainConfig(num_samples=120, grid=(3, 5), batch_size=50)
    fast, black_box = _both_paths(model, images, config, labels)
    if labels is not None:
        np.testing.assert_array_equal(fast.labels, labels)
    _assert_same(fast, black_box)
    _assert_exact(fast, model, images, config, labels)


def test_more_than_63_superpixels_span_several_bitmask_words():
    """Footprints are int64 bitmasks of 63 superpixels each: a 9x9 grid needs two words."""
    model = _sequential(3, 36, 36, nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    plan = _grid_plan(model, 36, 36, (9, 9), 120)
    assert isinstance(plan, IncrementalPlan) and plan.num_probes == 16
    fast, black_box = _both_paths(model, _images(2, 3, 36, 36), ExplainConfig(num_samples=120, grid=(9, 9)))
    _assert_same(fast, black_box)


@pytest.mark.parametrize("name", ["fold_then_mlp_head", "gather_adaptive_max_pool"])
def test_small_batches_and_one_image_per_chunk(monkeypatch, name):
    build, (height, width), grid, num_samples, _, _ = ARCHITECTURES[name]
    model = build(3, height, width)
    images = _images(3, 3, height, width, seed=7)
    config = ExplainConfig(num_samples=num_samples, grid=grid, batch_size=256)
    reference = explain(model, images, config=dataclasses.replace(config, incremental=False))
    monkeypatch.setattr(incremental, "_MAX_CHUNK_ELEMENTS", 1)  # one image per chunk
    chunked = explain(model, images, config=dataclasses.replace(config, batch_size=7))
    _assert_same(chunked, reference)


def test_fold_too_large_runs_the_affine_modules_on_gathered_maps(monkeypatch):
    """A Jacobian over the size limit: the folded modules run on the gathered activation maps instead."""
    build, (height, width), grid, num_samples, _, folded = ARCHITECTURES["fold_then_mlp_head"]
    model = build(3, height, width)
    images = _images(3, 3, height, width)
    config = ExplainConfig(num_samples=num_samples, grid=grid)
    reference = explain(model, images, config=dataclasses.replace(config, incremental=False))
    folds = []
    real_fold = incremental._fold
    monkeypatch.setattr(incremental, "_fold", lambda *args: folds.append(real_fold(*args)) or folds[-1])
    monkeypatch.setattr(incremental, "_MAX_JACOBIAN", 1)
    unfolded = explain(model, images, config=config)
    assert folds == [None]
    _assert_same(unfolded, reference)


# --------------------------------------------------------------------------------------------------------------
# 2. models the plan refuses: the black-box path runs, with a reason


class ForwardOverride(nn.Sequential):
    """A Sequential whose forward is not the plain chain of its modules (it inverts the image first)."""

    def forward(self, images):
        return super().forward(1 - images)


class NotSequential(nn.Module):
    def __init__(self, channels: int, height: int, width: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3, padding=1)
        self.head = nn.Linear(4 * height * width, 4)

    def forward(self, images):
        return self.head(torch.relu(self.conv(images)).flatten(1))


def _refused_cases():
    c, h, w = 3, 16, 16

    def ready(*modules, cls=nn.Sequential, scale=2.0):
        return _ready(cls(*modules), c, h, w, scale=scale)

    def conv(**kwargs):
        return nn.Conv2d(c, 4, 3, **kwargs)

    def head():
        return nn.Flatten(), nn.Linear(4 * h * w, 4)

    plain = "is not a plain nn.Sequential"
    not_local = "does not start with local layers"
    return {
        "not_sequential": (lambda: _ready(NotSequential(c, h, w), c, h, w), 200, plain),
        "sequential_subclass_with_forward": (
            lambda: ready(conv(padding=1), nn.ReLU(), *head(), cls=ForwardOverride), 200, plain),
        "nested_subclass_with_forward": (
            lambda: ready(ForwardOverride(conv(padding=1), nn.ReLU()), *head()), 200, plain),
        "reflect_padding_first": (
            lambda: ready(conv(padding=1, padding_mode="reflect"), nn.ReLU(), *head()), 200, not_local),
        "batchnorm_without_running_stats_first": (
            lambda: ready(nn.BatchNorm2d(c, track_running_stats=False), conv(padding=1), nn.ReLU(), *head()), 200,
            not_local),
        "pointwise_only_then_mlp": (lambda: ready(nn.ReLU(), nn.Flatten(), nn.Linear(c * h * w, 4)), 200, not_local),
        "too_many_colours": (  # a 15x15 field over 4x4-px cells: a centre position sees all 16 cells
            lambda: ready(nn.Conv2d(c, 4, 15, padding=7), nn.ReLU(), *head(), scale=1.0), 60,
            r"need 16 colours .* 60 samples allow at most 4"),
    }


@pytest.mark.parametrize("name", list(_refused_cases()))
def test_refused_models_use_the_black_box_path(monkeypatch, name):
    build, num_samples, reason = _refused_cases()[name]
    model = build()
    plan = _grid_plan(model, 16, 16, (4, 4), num_samples)
    assert isinstance(plan, str)
    assert re.search(reason, plan), plan
    if name == "too_many_colours":
        assert "colours" in plan
    images = _images(2, 3, 16, 16)
    config = ExplainConfig(num_samples=num_samples, grid=(4, 4))
    calls = _spy(monkeypatch)
    fast, black_box = _both_paths(model, images, config)
    assert calls == {"incremental": 0, "black_box_images": 4}
    np.testing.assert_array_equal(fast.segment_coefs, black_box.segment_coefs)
    np.testing.assert_array_equal(fast.intercepts, black_box.intercepts)
    assert np.abs(black_box.segment_coefs).max() > 1e-3


@pytest.mark.parametrize("stopper", ["batchnorm_without_running_stats", "reflect_padding"])
def test_a_non_local_module_stops_the_prefix(stopper):
    """BatchNorm with batch statistics (no running stats) and a reflect-padded conv are not local: the prefix ends
    before them and they run in the head, on the gathered maps."""
    c, h, w = 3, 16, 16
    stop = (nn.BatchNorm2d(4, track_running_stats=False) if stopper == "batchnorm_without_running_stats"
            else nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect"))
    model = _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), stop, nn.Tanh())
    plan = _grid_plan(model, h, w, (4, 4), 100)
    assert isinstance(plan, IncrementalPlan)
    assert _names(plan.prefix) == ["Conv2d", "ReLU"] and plan.folded is None
    assert _names(plan.head)[:2] == [type(stop).__name__, "Tanh"]
    # one image and one batch per path: a batch-statistics BatchNorm then sees the same samples in both
    config = ExplainConfig(num_samples=100, grid=(4, 4), batch_size=100)
    fast, black_box = _both_paths(model, _images(1, c, h, w), config)
    _assert_same(fast, black_box)


# --------------------------------------------------------------------------------------------------------------
# 3. the incremental path against the reference lime package


@pytest.mark.parametrize("segmentation", ["grid", "slic"])
def test_incremental_agrees_with_lime_reference(monkeypatch, segmentation):
    height, width = 16, 16
    model = _sequential(3, height, width, nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
    images = _images(2, 3, height, width, seed=3)
    config = ExplainConfig(num_samples=100, grid=(4, 4), segmentation=segmentation, slic_segments=9,
                           slic_compactness=30.0)
    calls = _spy(monkeypatch)
    fast = explain(model, images, np.array([1, 2]), config=config)
    assert calls["incremental"] >= 1 and calls["black_box_images"] == 0
    reference = explain(model, images, np.array([1, 2]), config=dataclasses.replace(config, backend="lime"))
    scale = np.abs(reference.segment_coefs).max()
    assert scale > 1e-3
    assert np.abs(fast.segment_coefs - reference.segment_coefs).max() <= 1e-4 * scale
    assert np.abs(fast.coefs - reference.coefs).max() <= 1e-4 * np.abs(reference.coefs).max()
    assert np.abs(fast.intercepts - reference.intercepts).max() <= 1e-4 * np.abs(reference.intercepts).max()


# --------------------------------------------------------------------------------------------------------------
# 4. the plan


def test_plan_for_cells_as_wide_as_the_receptive_field():
    """8-px cells, an 8-px receptive field: a position touches at most 2x2 cells, so 4 colours and 16 probes."""
    model = _seeded(nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4)))
    plan = _grid_plan(model, 32, 32, (4, 4), 100)
    assert isinstance(plan, IncrementalPlan)
    assert plan.num_probes == 16 and int(plan.colours.max()) + 1 == 4 and len(plan.colours) == 16
    assert _names(plan.prefix) == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU"]
    assert _names(plan.folded) == ["AdaptiveAvgPool2d", "Flatten", "Linear"]
    assert _names(plan.head) == ["ReLU", "Linear"]
    assert all(module is original for module, original in zip([*plan.prefix, *plan.folded, *plan.head], model))
    assert plan.groups.shape == (16 * 16,)  # one group per prefix output position
    description = plan.describe()
    assert "16 probe images" in description and "4 colours for 16 superpixel ids" in description
    assert "AdaptiveAvgPool2d, Flatten, Linear folded" in description
    # cells two apart never share a receptive field: each colour is reused by 4 cells
    assert np.bincount(plan.colours).tolist() == [4, 4, 4, 4]
    # 4-px cells: the whole prefix's 8-px field (at stride 2) touches 3x3 cells, 9 colours, 2**9 probes; 1000 samples
    # allow only log2(1000 // 2) -> 8 colours, so the plan keeps the longest prefix that fits (up to the max pool:
    # 2x2 cells, 4 colours) and the rest, not affine, runs as the head
    fine = _grid_plan(model, 32, 32, (8, 8), 1024 + 24)
    assert fine.num_probes == 2 ** 9 and len(fine.prefix) == 5 and _names(fine.folded) == _names(plan.folded)
    cut = _grid_plan(model, 32, 32, (8, 8), 1000)
    assert _names(cut.prefix) == ["Conv2d", "ReLU", "MaxPool2d"] and cut.num_probes == 16
    assert cut.folded is None and _names(cut.head) == ["Conv2d", "ReLU", "AdaptiveAvgPool2d", "Flatten", "Linear",
                                                      "ReLU", "Linear"]
    assert re.search(r"need 4 colours .* 15 samples allow at most 2", _grid_plan(model, 32, 32, (8, 8), 15))


def _voronoi(height: int, width: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.uniform((0, 0), (height, width), size=(count, 2))
    rows, cols = np.mgrid[0:height, 0:width]
    distance = (rows[..., None] - centres[:, 0]) ** 2 + (cols[..., None] - centres[:, 1]) ** 2
    return relabel(distance.argmin(axis=-1))


def _positive_prefix() -> nn.Sequential:
    """Local layers with all-positive weights and biases (float64): raising any input pixel strictly raises every
    output that pixel reaches, through ReLU, max pooling and average pooling alike."""
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.Conv2d(2, 2, 3, dilation=2, padding=2), nn.LeakyReLU(),
        nn.AvgPool2d(2, stride=1, padding=1, ceil_mode=True),
        nn.Conv2d(2, 2, (1, 3), stride=(2, 1), padding=(0, 1)),
        nn.Flatten(), nn.Linear(1, 1))  # Linear's size is irrelevant: plan_for never runs the model
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for module in model:
            if isinstance(module, nn.Conv2d):
                module.weight.copy_(torch.rand(module.weight.shape, generator=generator) * 0.5 + 0.5)
                module.bias.copy_(torch.rand(module.bias.shape, generator=generator) + 0.5)
    return model.double().eval()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_colouring_separates_superpixels_sharing_a_receptive_field(seed):
    """Receptive fields measured by perturbation: raise one superpixel at a time and see which prefix outputs move.
    The plan's footprints must equal them, and superpixels seen by one position must have distinct colours."""
    height, width = 35, 41
    segments = _voronoi(height, width, 20, seed)
    model = _positive_prefix()
    plan = plan_for(model, segments, 2 ** 62)  # plan_for only: enough samples for any colouring
    assert isinstance(plan, IncrementalPlan)
    assert len(plan.prefix) == 7  # every local module
    num_segments = int(segments.max()) + 1
    assert num_segments == 20 and int(plan.colours.max()) + 1 < num_segments  # some superpixels share a colour
    base = torch.ones((1, 1, height, width), dtype=torch.float64)
    raised = base.repeat(num_segments, 1, 1, 1)
    raised[torch.from_numpy(segments)[None, None] == torch.arange(num_segments)[:, None, None, None]] = 1e4
    with torch.no_grad():
        moved = (plan.prefix(raised) != plan.prefix(base)).any(dim=1).reshape(num_segments, -1)  # (F, P)
    assert moved.shape[1] == len(plan.groups)
    assert moved.any(dim=0).all()  # every position sees some superpixel (no all-padding position here)
    footprints = (plan.codes > 0)[:, plan.groups]  # (F, P) what the plan thinks each position sees
    assert torch.equal(footprints, moved)
    colours = torch.from_numpy(plan.colours)
    for position in range(moved.shape[1]):
        seen = colours[moved[:, position]]
        assert len(torch.unique(seen)) == len(seen), f"position {position} sees two superpixels of one colour"
    assert plan.num_probes == 2 ** (int(plan.colours.max()) + 1)


# --------------------------------------------------------------------------------------------------------------
# 5. side effects, config and cache


def test_model_is_left_as_it_was():
    build = ARCHITECTURES["fold_with_batchnorms_and_dropout"][0]
    model = build(3, 20, 20)
    model.train()
    before = copy.deepcopy(model.state_dict())
    explain(model, _images(2, 3, 20, 20), config=ExplainConfig(num_samples=100, grid=(4, 4)))
    assert model.training and all(module.training for module in model.modules())
    after = model.state_dict()
    assert before.keys() == after.keys()
    for key in before:  # running statistics untouched (eval mode throughout), weights unchanged
        assert torch.equal(before[key], after[key]), key
    assert all(parameter.grad is None for parameter in model.parameters())
    model.eval()
    explain(model, _images(1, 3, 20, 20), config=ExplainConfig(num_samples=20, grid=(4, 4)))
    assert not any(module.training for module in model.modules())


@pytest.mark.parametrize("value", ["yes", 1, 0, None, 1.0])
def test_incremental_must_be_a_bool(value):
    with pytest.raises(TypeError, match="incremental"):
        ExplainConfig(incremental=value)


def test_incremental_accepts_numpy_bools():
    config = ExplainConfig(incremental=np.bool_(False))
    assert config.incremental is False
    assert ExplainConfig().incremental is True


def test_cache_key_ignores_incremental(tmp_path):
    model = _conv_model(3, 16, 16)
    images = _images(2, 3, 16, 16)
    config = ExplainConfig(num_samples=100, grid=(4, 4))
    off = dataclasses.replace(config, incremental=False)
    assert cache_key(model, images, None, config) == cache_key(model, images, None, off)
    assert cache_key(model, images, None, config) != cache_key(model, images, None,
                                                               dataclasses.replace(off, num_samples=101))
    first = explain(model, images, config=off, cache_dir=tmp_path)
    second = explain(model, images, config=config, cache_dir=tmp_path)
    assert not first.from_cache and second.from_cache
    np.testing.assert_array_equal(second.segment_coefs, first.segment_coefs)


# --------------------------------------------------------------------------------------------------------------
# 6. the equality tests are sensitive to a wrong colouring


@pytest.mark.parametrize("name", ["fold_then_mlp_head", "gather_adaptive_max_pool", "maxpool_ceil_mode_odd_size"])
def test_a_colouring_with_conflicts_changes_the_result(monkeypatch, name):
    """Colours 0 and 1 merged: superpixels that share a receptive field now share a colour, so some positions read
    the probe of the wrong on/off pattern. (All superpixels on colour 0 would make the probe numbers, sums of
    2**colour, run past the 2 probes: an IndexError rather than a wrong result; merging two colours keeps every sum
    below the unchanged probe count.)"""
    build, (height, width), grid, num_samples, _, _ = ARCHITECTURES[name]
    model = build(3, height, width)
    images = _images(3, 3, height, width)
    config = ExplainConfig(num_samples=num_samples, grid=grid)
    black_box = explain(model, images, config=dataclasses.replace(config, incremental=False))
    _assert_same(explain(model, images, config=config), black_box)  # the plan as computed: equal

    real_plan_for = lime_fast.plan_for
    broken = []

    def merged_colours(model, segments, samples):
        plan = real_plan_for(model, segments, samples)
        assert isinstance(plan, IncrementalPlan) and plan.num_probes == 16
        colours = np.where(plan.colours == 1, 0, plan.colours)
        sees = plan.codes > 0
        broken.append(dataclasses.replace(plan, colours=colours, _configurations=None,
                                          codes=sees.to(torch.int64) << torch.from_numpy(colours)[:, None]))
        # the colouring is invalid: some position group sees two superpixels of colour 0
        assert (sees[torch.from_numpy(colours == 0)].sum(dim=0) > 1).any()
        return broken[-1]

    monkeypatch.setattr(lime_fast, "plan_for", merged_colours)
    wrong = explain(model, images, config=config)
    assert len(broken) == 1 and broken[0].num_probes == 16
    scale = np.abs(black_box.segment_coefs).max()
    assert np.abs(wrong.segment_coefs - black_box.segment_coefs).max() > 0.05 * scale


# --------------------------------------------------------------------------------------------------------------
# library bugs found while writing these tests (each failed before its fix): module subclasses with their own
# forward, hooks and an in-place first module


class StdConv2d(nn.Conv2d):
    """Weight-standardised convolution (as timm's StdConv2d / BiT): an nn.Conv2d subclass with its own forward."""

    def forward(self, images):
        weight = self.weight
        weight = (weight - weight.mean(dim=(1, 2, 3), keepdim=True)) / (weight.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(images, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class PadThenConv2d(nn.Conv2d):
    """'Same' padding done in forward (as timm's Conv2dSame): the module's padding attribute says 0."""

    def forward(self, images):
        return super().forward(F.pad(images, (1, 1, 1, 1)))


def test_conv2d_subclass_with_own_forward_first():
    model = _sequential(3, 16, 16, StdConv2d(3, 4, 3, padding=1), nn.ReLU(), scale=1.0)
    fast, black_box = _both_paths(model, _images(2, 3, 16, 16), ExplainConfig(num_samples=100, grid=(4, 4)))
    _assert_same(fast, black_box)


def test_conv2d_subclass_that_pads_in_forward():
    model = _sequential(3, 16, 16, PadThenConv2d(3, 4, 3), nn.ReLU())
    fast, black_box = _both_paths(model, _images(2, 3, 16, 16), ExplainConfig(num_samples=100, grid=(4, 4)))
    _assert_same(fast, black_box)


def _input_scaling_hook(module, inputs):
    return ((inputs[0] - 0.5) / 0.25,)


@pytest.mark.parametrize("where", ["model_pre_hook", "nested_sequential_pre_hook", "first_conv_pre_hook",
                                   "model_forward_hook"])
def test_forward_hooks_are_kept(where):
    inner = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    model = _ready(nn.Sequential(inner, nn.Flatten(), nn.Linear(4 * 16 * 16, 4)), 3, 16, 16)
    if where == "model_pre_hook":
        model.register_forward_pre_hook(_input_scaling_hook)
    elif where == "nested_sequential_pre_hook":
        inner.register_forward_pre_hook(_input_scaling_hook)
    elif where == "first_conv_pre_hook":
        inner[0].register_forward_pre_hook(_input_scaling_hook)
    else:
        model.register_forward_hook(lambda module, inputs, output: 3 * output)
    fast, black_box = _both_paths(model, _images(2, 3, 16, 16), ExplainConfig(num_samples=100, grid=(4, 4)))
    _assert_same(fast, black_box)


def test_in_place_first_module():
    model = _sequential(3, 16, 16, nn.SELU(inplace=True), nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), scale=1.0)
    fast, black_box = _both_paths(model, _images(2, 3, 16, 16), ExplainConfig(num_samples=100, grid=(4, 4)))
    _assert_same(fast, black_box)


def test_cost_guard_refuses_a_cheap_prefix_without_a_fold():
    """One 3x3 convolution over 3 channels (27 multiply-adds per output) followed by a non-affine module: gathering
    each perturbation's maps would cost more than the convolution it saves."""
    c, h, w = 3, 16, 16
    cheap = _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.GroupNorm(2, 4), nn.ReLU())
    reason = _grid_plan(cheap, h, w, (4, 4), 100)
    assert isinstance(reason, str) and "multiply-adds per output element" in reason


def test_cost_guard_keeps_a_costly_prefix_and_any_folded_one():
    c, h, w = 3, 16, 16
    costly = _sequential(c, h, w, nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1),
                         nn.GroupNorm(2, 16), nn.ReLU())  # (27 + 144) * 16 / 16 = 171 multiply-adds per output
    plan = _grid_plan(costly, h, w, (4, 4), 100)
    assert isinstance(plan, IncrementalPlan) and plan.folded is None
    folded = _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.ReLU())  # cheap, but its Linear head folds
    plan = _grid_plan(folded, h, w, (4, 4), 100)
    assert isinstance(plan, IncrementalPlan) and plan.folded is not None


# review findings (each failed before its fix)


def test_inference_mode_and_autograd_free_jacobian():
    """Under torch.inference_mode autograd cannot run; the fold's Jacobian still comes out (by a pass in normal
    mode), so explanations equal the black-box path's."""
    c, h, w = 3, 16, 16
    model = _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.ReLU())
    images = _images(2, c, h, w)
    config = ExplainConfig(num_samples=100, grid=(4, 4))
    with torch.inference_mode():
        fast = explain(model, images, config=config)
        black_box = explain(model, images, config=dataclasses.replace(config, incremental=False))
    _assert_same(fast, black_box)


def test_autocast_keeps_probe_numbers_exact():
    """Under bf16 autocast the probe-number matmul ran in bf16 and rounded row numbers above 256 (an index error or
    the wrong rows); they are computed in full precision now, so the result stays near the float32 one."""
    c, h, w = 3, 32, 32
    model = _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.ReLU())
    images = _images(2, c, h, w)
    config = ExplainConfig(num_samples=200, grid=(8, 8))
    exact = explain(model, images, config=config).segment_coefs
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reduced = explain(model, images, config=config).segment_coefs
    assert np.abs(reduced - exact).max() < 0.1 * np.abs(exact).max()


@pytest.mark.parametrize("folds", [True, False], ids=["folded", "gathered"])
def test_a_model_without_2d_logits_is_refused(folds):
    c, h, w = 3, 16, 16
    tail = (nn.AdaptiveAvgPool2d(1),) if folds else (nn.AdaptiveMaxPool2d(1),)
    model = _seeded(nn.Sequential(nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 5, 3, padding=1), *tail))
    plan = _grid_plan(model, h, w, (4, 4), 100)
    assert isinstance(plan, IncrementalPlan) and (plan.folded is not None) == folds
    with pytest.raises(ValueError, match=r"to \(\d+, num_classes\) logits; got \(\d+, 5, 1, 1\)"):
        explain(model, _images(2, c, h, w), labels=[0, 1], config=ExplainConfig(num_samples=100, grid=(4, 4)))


def test_wide_fold_by_basis_and_computed_once_per_explanation(monkeypatch):
    """A folded Linear with more outputs than inputs takes its Jacobian from the basis vectors (one batched pass, not
    one backward per output), once per explanation even when every image has its own SLIC plan."""
    c, h, w = 3, 16, 16
    model = _sequential(c, h, w, nn.Conv2d(c, 2, 3, stride=2, padding=1), nn.ReLU(),
                        tail=(nn.Flatten(), nn.Linear(128, 512), nn.Tanh(), nn.Linear(512, 4)))
    calls = []
    real_fold = incremental._fold
    monkeypatch.setattr(incremental, "_fold", lambda *args: calls.append(1) or real_fold(*args))
    monkeypatch.setattr(torch.autograd, "grad", None)  # the basis route must not need autograd
    images = _images(3, c, h, w)
    config = ExplainConfig(num_samples=100, segmentation="slic", grid=(4, 4))
    fast = explain(model, images, config=config)
    assert len(calls) == 1
    _assert_same(fast, explain(model, images, config=dataclasses.replace(config, incremental=False)))


@pytest.mark.parametrize("padding, kernel, dilation", [("same", 3, 1), ("same", 4, 1), ("same", 2, 3), ("valid", 3, 1)])
@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_string_padding_is_planned(padding, kernel, dilation):
    """padding="same" (PyTorch puts the odd pixel of an even kernel after) and "valid" are zero padding too."""
    c, h, w = 3, 16, 16
    model = _sequential(c, h, w, nn.Conv2d(c, 4, kernel, padding=padding, dilation=dilation), nn.ReLU(), scale=1.0)
    plan = _grid_plan(model, h, w, (4, 4), 200)
    assert isinstance(plan, IncrementalPlan), plan
    config = ExplainConfig(num_samples=200, grid=(4, 4))
    fast, black_box = _both_paths(model, _images(2, c, h, w), config)
    _assert_same(fast, black_box)


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "gathered"])
def test_channels_last_model(fold):
    """A channels_last model's convolutions return channels_last maps; the first layer's responses were .view()ed."""
    c, h, w = 3, 16, 16
    tail = () if fold else (nn.AdaptiveMaxPool2d(4), nn.Flatten(), nn.Linear(4 * 16, 4))
    model = _sequential(c, h, w, nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), *(() if fold else ()), tail=tail or None)
    model = model.to(memory_format=torch.channels_last)
    plan = _grid_plan(model, h, w, (4, 4), 100)
    assert isinstance(plan, IncrementalPlan) and (plan.folded is not None) == fold
    config = ExplainConfig(num_samples=100, grid=(4, 4))
    fast, black_box = _both_paths(model, _images(2, c, h, w), config)
    _assert_same(fast, black_box)


def test_plan_for_checks_its_label_map():
    model = _sequential(3, 8, 8, nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    with pytest.raises(ValueError, match="ids 0 .. F-1; got -1"):
        plan_for(model, np.arange(64).reshape(8, 8) - 1, 100)
    with pytest.raises(ValueError, match=r"\(H, W\) integer label map"):
        plan_for(model, np.zeros((1, 8, 8), dtype=np.int64), 100)


def test_a_refused_first_module_is_named():
    reason = plan_for(_sequential(3, 8, 8, nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), nn.ReLU()),
                      np.zeros((8, 8), dtype=np.int64), 100)
    assert "padding_mode=reflect" in reason
