"""Tiny configs and data for the agents tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents import AgentConfig
from masimu_env import datasets

TINY = dict(n_agents=2, n_steps=3, window=4, conv_channels=8, feature_dim=16, position_dim=4, raw_message_dim=4,
            message_dim=4, hidden_size=16, batch_size=16, epochs=1, lr=3e-3)


@pytest.fixture(autouse=True)
def _few_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits_train():
    return datasets.load("digits", split="train")


@pytest.fixture(scope="session")
def digits_test():
    return datasets.load("digits", split="test")


@pytest.fixture
def tiny_config():
    def make(**overrides):
        return AgentConfig(**{**TINY, **overrides})
    return make


@pytest.fixture
def few_rows():
    return np.arange(0, 1500, 23)[:64]
