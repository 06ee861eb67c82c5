"""PettingZoo's own conformance tests on the view, over a grid of datasets, agent counts, windows, modes and graphs."""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest
from pettingzoo.test import api_test, max_cycles_test, parallel_api_test, parallel_seed_test, render_test, state_test

import masimu_env

# Known, intended warnings of PettingZoo's checkers: messages/inbox are unbounded Boxes (-inf, inf) and
# the 'dict' action mode uses Dict spaces.
pytestmark = [pytest.mark.filterwarnings("ignore:.*infinity.*:UserWarning"),
              pytest.mark.filterwarnings("ignore:.*probably should be gymnasium.spaces.box.*:UserWarning")]

LINE_3 = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])

# (dataset fixture, env kwargs): 1, 3 and 16 agents; windows 1..12; both action modes; both obs modes;
# complete, sparse named and matrix graphs.
CASES = {
    "digits-3-dict": ("digits", dict()),
    "digits-1-window-equals-image": ("digits", dict(n_agents=1, window=8, action_mode="multidiscrete", graph="none")),
    "digits-3-stride2-ring-flat": ("digits", dict(window=2, stride=2, graph="ring", obs_mode="flat")),
    "digits-3-window1-star-ce": ("digits", dict(window=1, graph="star", reward_loss="ce")),
    "rgb32-16-ring": ("rgb32", dict(n_agents=16, n_steps=4, window=6, graph="ring")),
    "grey32-16-window12-multidiscrete": ("grey32", dict(n_agents=16, n_steps=3, window=12, action_mode="multidiscrete")),
    "folder-3-no-messages": ("folder", dict(window=5, message_dim=0, graph="line")),
    "folder-3-matrix-multidiscrete-flat": ("folder", dict(window=4, graph=LINE_3, action_mode="multidiscrete",
                                                          obs_mode="flat")),
}


def _factory(request, case: str):
    source, kwargs = CASES[case]
    if source == "folder":
        base = dict(dataset="folder", root=request.getfixturevalue("folder_root"), split="all")
    else:
        base = dict(dataset=request.getfixturevalue(source))

    def make(aec: bool = False, **overrides):
        factory = masimu_env.env if aec else masimu_env.parallel_env
        return factory(**{**base, **kwargs, **overrides})

    return make


@pytest.fixture(params=list(CASES), ids=list(CASES))
def make_env(request):
    """``make_env(aec=False, **overrides)`` builds the case's env."""
    return _factory(request, request.param)


def test_parallel_api(make_env):
    parallel_api_test(make_env(seed=0), num_cycles=50)


def test_parallel_seed(make_env):
    parallel_seed_test(lambda: make_env(seed=3), num_cycles=50)


def test_aec_api(make_env):
    api_test(make_env(aec=True, seed=0), num_cycles=50)


def test_state(make_env):
    state_test(make_env(aec=True, seed=0), make_env(seed=0))


# 'human' mode pauses 1/fps s per frame, so rendering runs on a few representative cases only.
@pytest.mark.parametrize("case", ["digits-3-dict", "rgb32-16-ring", "folder-3-matrix-multidiscrete-flat"])
def test_render(request, case):
    make_env = _factory(request, case)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-interactive.*")
        render_test(lambda render_mode=None: make_env(aec=True, seed=0, render_mode=render_mode))


def test_max_cycles(make_env):
    """PettingZoo's max_cycles_test: the episode lasts exactly max_cycles steps when n_steps = max_cycles."""
    module = types.SimpleNamespace(
        parallel_env=lambda max_cycles: make_env(n_steps=max_cycles, max_cycles=max_cycles, seed=0),
        env=lambda max_cycles: make_env(aec=True, n_steps=max_cycles, max_cycles=max_cycles, seed=0),
    )
    max_cycles_test(module)


def test_registry_make():
    import pettingzoo

    if not hasattr(pettingzoo, "make"):
        pytest.skip("this PettingZoo has no registry")
    par = pettingzoo.make("parallel", masimu_env.REGISTRY_ID, dataset="digits", seed=0)
    assert isinstance(par, masimu_env.MasimuParallelEnv)
    aec = pettingzoo.make("aec", masimu_env.REGISTRY_ID, dataset="digits", n_agents=2)
    aec.reset(seed=0)
    assert aec.possible_agents == ["agent_0", "agent_1"]
