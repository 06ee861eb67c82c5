"""benchmarks/iw_agreement.py: the I_w agreement table on a tiny digits split with tiny originals."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from masimu_env import datasets
from unlearning.data import UnlearningData
from unlearning.experiment import train_cnn

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "iw_agreement.py"


@pytest.fixture(scope="module")
def iw_agreement():
    spec = importlib.util.spec_from_file_location("iw_agreement_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the script is executed
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


@pytest.fixture(scope="module")
def tiny():
    """(split of 300 digits with 30 forget images, CNN trained 2 epochs, GRU learner trained 1 epoch)."""
    from agents import AgentConfig, MAReinforce

    torch.set_num_threads(1)
    train = datasets.load("digits", split="train").subset(np.arange(300))
    split = datasets.retain_forget_split(train, forget_fraction=0.1, mode="random", seed=0)
    data = UnlearningData.from_split(train, split)
    cnn = train_cnn(train, epochs=2, seed=0)
    config = AgentConfig.for_dataset("digits", belief="gru", hidden_size=16, feature_dim=16, conv_channels=8,
                                     position_dim=4, raw_message_dim=4, message_dim=4, epochs=1, batch_size=64)
    ma = MAReinforce(config, train.num_classes, train.image_shape)
    ma.fit(train, epochs=1, progress=False)
    return data, cnn, ma


def test_literal_row_is_its_own_reference_and_weights_lie_in_0_1(iw_agreement, tiny):
    data, cnn, ma = tiny
    settings = [iw_agreement.TableSetting("literal", 0, 0, 8), iw_agreement.TableSetting("2 + 2", 2, 2, 8)]
    results = iw_agreement.measure_agreement(data, settings, cnn=cnn, ma=ma, seed=0, log=lambda line: None)
    n_batches = math.ceil(len(data.retain) / 64)  # IMU's and MASIMU's default batch size
    for result in results:
        for row in (result.cnn, result.ma):
            assert len(row.batch_weights) == n_batches
            assert all(0.0 <= w <= 1.0 for w in row.batch_weights)
            assert row.mean == pytest.approx(np.mean(row.batch_weights))
            assert row.mean_abs_delta >= 0.0
    assert results[0].cnn.mean_abs_delta == 0.0 and results[0].ma.mean_abs_delta == 0.0
    assert results[0].cnn.queries == len(data.train) * 8  # every retain and forget image, 8 samples each
    table = iw_agreement.to_markdown(results)
    assert table.count("\n") == 1 + len(settings) and "| literal | " in table


def test_ma_batches_are_one_pass_over_the_retain_set(iw_agreement, tiny):
    data, _, ma = tiny
    config = iw_agreement.method_config("masimu", ma, data, 0, "cpu")
    batches = iw_agreement.ma_batches(ma, data, config)
    assert [len(b) for b in batches[:-1]] == [config.batch_size] * (len(batches) - 1)
    np.testing.assert_array_equal(np.sort(np.concatenate(batches)), data.retain)
    assert ma.epochs_done == 1  # the recording epoch trained a copy, not the original


def test_rows_over_the_rollout_limit_are_estimated_not_run(iw_agreement, tiny):
    data, _, ma = tiny
    settings = [iw_agreement.TableSetting("literal", 0, 0, 8), iw_agreement.TableSetting("2 + 2", 2, 2, 8)]
    results = iw_agreement.measure_agreement(data, settings, ma=ma, seed=0, ma_max_rollouts=1000,
                                             log=lambda line: None)
    literal, sampled = results[0].ma, results[1].ma
    assert results[0].cnn is None and not literal.batch_weights
    assert literal.note.startswith("not run: 2,400 rollouts") and "est. " in literal.note
    assert sampled.batch_weights and math.isnan(sampled.mean_abs_delta)  # no literal row to compare with
    assert "(not run: 2,400 rollouts" in iw_agreement.to_markdown(results)


def test_two_literal_rows_are_refused(iw_agreement, tiny):
    data, cnn, _ = tiny
    literal = iw_agreement.TableSetting("literal", 0, 0, 8)
    with pytest.raises(ValueError, match="2 literal rows"):
        iw_agreement.measure_agreement(data, [literal, literal], cnn=cnn, log=lambda line: None)
