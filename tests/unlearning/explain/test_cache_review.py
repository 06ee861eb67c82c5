"""LIME cache and I_w table checks found by a review (each reproduced first)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from unlearning.explain import ExplainConfig, explain
from unlearning.explain.cache import _callable_identity, cache_key


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 3)).eval()


def test_a_truncated_or_corrupted_entry_is_recomputed_with_a_warning(tmp_path):
    """An .npz entry is a zip file: truncated or bit-flipped ones raised zipfile.BadZipFile and stopped the run."""
    images = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    config = ExplainConfig(num_samples=20, grid=(2, 2))
    first = explain(_model(), images, config=config, cache_dir=tmp_path)
    (entry,) = tmp_path.glob("*.npz")
    data = entry.read_bytes()
    for damaged in (data[: len(data) // 2], data[:-40] + bytes(40)):
        entry.write_bytes(damaged)
        with pytest.warns(UserWarning, match="Ignoring unreadable LIME cache entry"):
            again = explain(_model(), images, config=config, cache_dir=tmp_path)
        np.testing.assert_array_equal(again.segment_coefs, first.segment_coefs)


def test_the_multi_agent_adapter_keys_the_cache_by_the_learner_settings_too():
    """Equal weights, other settings (steps, eval policy): the adapter's outputs differ, so must its cache key."""
    from agents import AgentConfig, MAReinforce
    from unlearning.interpretable import MultiAgentLogits

    small = dict(n_agents=2, window=4, hidden_size=8, feature_dim=8, conv_channels=4, position_dim=4,
                 raw_message_dim=4, message_dim=4)
    five, one = (MAReinforce(AgentConfig(**small, n_steps=steps), 3, (1, 8, 8)) for steps in (5, 1))
    assert all(torch.equal(a, b) for a, b in zip(five.net.state_dict().values(), one.net.state_dict().values()))
    images = torch.rand(2, 1, 8, 8)
    config = ExplainConfig(num_samples=20, grid=(2, 2))
    assert cache_key(MultiAgentLogits(five), images, None, config) != cache_key(MultiAgentLogits(one), images, None,
                                                                                  config)
    assert cache_key(MultiAgentLogits(five), images, None, config) == cache_key(MultiAgentLogits(five), images, None,
                                                                                  config)


def test_keyword_only_defaults_key_a_segmentation_callable():
    def grid_a(image, *, size=2):
        return np.zeros(image.shape[:2], dtype=np.int64)

    def grid_b(image, *, size=4):
        return np.zeros(image.shape[:2], dtype=np.int64)

    grid_b.__qualname__ = grid_a.__qualname__
    assert _callable_identity(grid_a) != _callable_identity(grid_b)


def test_forget_weights_and_kernel_width_are_checked():
    from unlearning.interpretable import InterpretableWeights

    with pytest.raises(ValueError, match="forget_weights must be 2 finite positive numbers"):
        InterpretableWeights([0], np.ones((1, 2)), np.ones((2, 2)), forget_weights=np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="ExplainConfig.kernel_width must be > 0"):
        ExplainConfig(kernel_width=-0.25)
