"""Tiny shared fixtures: a digits subset, a briefly trained CNN and tiny multi-agent learners."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from masimu_env import datasets


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """These tiny models gain nothing from intra-op threads, and a busy 2-core machine slows 2 threads ~10x."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def digits_small():
    """(train subset of 300 digits, test subset of 120, split with 30 forget images)."""
    train = datasets.load("digits", split="train").subset(np.arange(300))
    test = datasets.load("digits", split="test").subset(np.arange(120))
    split = datasets.retain_forget_split(train, forget_fraction=0.1, seed=0)
    return train, test, split


@pytest.fixture(scope="session")
def trained_cnn(digits_small):
    from unlearning.methods.retrain import TRAIN_RECIPE
    from unlearning.models import make_classifier
    from unlearning.config import UnlearningConfig
    from unlearning.data import UnlearningData
    from unlearning.methods.common import make_optimizer, supervised_epoch

    train, _, _ = digits_small
    torch.manual_seed(0)
    model = make_classifier(train.image_shape, train.num_classes, seed=0)
    config = UnlearningConfig(**{k: v for k, v in TRAIN_RECIPE.items()})
    data = UnlearningData(train, np.arange(1, len(train)), np.array([0]))
    optimizer = make_optimizer(model.parameters(), config)
    for epoch in range(1, 4):
        supervised_epoch(model, optimizer, data, np.arange(len(train)), config, epoch)
    return model.eval()


def _tiny_learner(train, belief):
    from agents import AgentConfig, MAReinforce

    config = AgentConfig.for_dataset("digits", belief=belief, hidden_size=16, feature_dim=16, conv_channels=8,
                                     position_dim=4, raw_message_dim=4, message_dim=4, epochs=1, batch_size=64)
    learner = MAReinforce(config, train.num_classes, train.image_shape)
    learner.fit(train, epochs=1, progress=False)
    return learner


@pytest.fixture(scope="session")
def tiny_gru(digits_small):
    return _tiny_learner(digits_small[0], "gru")


@pytest.fixture(scope="session")
def tiny_lstm(digits_small):
    return _tiny_learner(digits_small[0], "lstm")


TINY = dict(epochs=1, retrain_epochs=1, lime_num_samples=16, lime_retain_per_class=2, batch_size=64)


def tiny(method: str, model=None) -> dict:
    """The TINY settings that ``method`` uses (unlearn refuses the others), for ``model``'s kind (default: the
    method's own)."""
    from unlearning.methods import get_method
    from unlearning.methods.common import COMMON_SETTINGS
    from unlearning.models import is_multi_agent

    runner = get_method(method)
    multi_agent = runner.model_kind == "ma" if model is None else is_multi_agent(model)
    used = runner.settings_used(multi_agent) | COMMON_SETTINGS
    return {k: v for k, v in TINY.items() if k in used}
