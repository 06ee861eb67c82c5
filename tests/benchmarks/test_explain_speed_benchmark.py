"""benchmarks/explain_speed.py: one comparison row end to end at a tiny size, and its float64 logit check."""

from __future__ import annotations

import re

import pytest
import torch

from unlearning.explain import ExplainConfig


@pytest.fixture(scope="module")
def explain_speed(load_benchmark):
    return load_benchmark("explain_speed")


def test_compare_prints_both_paths_and_the_plan(explain_speed, capsys):
    pytest.importorskip("lime")
    config = ExplainConfig(num_samples=64, batch_size=64, grid=(4, 4))
    explain_speed.compare("16x16 grey", 1, 16, 16, n_fast=2, n_reference=1, config=config, lime_default_batch=False)
    out = capsys.readouterr().out
    assert "incremental: prefix [Conv2d, ReLU, Conv2d, ReLU] on 16 probe images" in out
    ratios = [float(r) for r in re.findall(r"ratio\s+([\d.]+)x", out)]
    assert len(ratios) == 2 and all(r > 0 for r in ratios)  # incremental and black-box, each against lime
    relative = [float(r) for r in re.findall(r"rel ([\d.e+-]+)\)", out)]
    assert len(relative) == 2 and max(relative) < 1e-4


def test_logit_errors_are_float_rounding(explain_speed):
    torch.manual_seed(0)
    model = explain_speed.small_cnn(3).eval()
    images = explain_speed.smooth_images(1, 3, 24, 24, seed=3)
    incremental, black_box = explain_speed.logit_errors(model, images, ExplainConfig(num_samples=50, grid=(4, 4)))
    assert 0 <= incremental < 1e-5 and 0 < black_box < 1e-5
