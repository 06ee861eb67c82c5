"""The same policy driven through the PettingZoo view and through the batched core gives the same episode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import masimu_env
from agents import MAReinforce, run_episode
from agents.pettingzoo_policy import PettingZooPolicy

if not hasattr(masimu_env, "parallel_env"):
    pytest.skip("masimu_env.parallel_env (the PettingZoo view) is not available yet", allow_module_level=True)


def _corners_from_obs(obs, agents, image_shape, window):
    _, h, w = image_shape
    span = np.array([max(h - window, 1), max(w - window, 1)])
    return torch.tensor(np.stack([np.rint(obs[a]["position"] * span) for a in agents]), dtype=torch.long)[None]


@pytest.mark.parametrize("belief, combine", [("gru", "probs"), ("lstm", "probs"), ("gru", "logits")])
@pytest.mark.parametrize("mode", ["greedy", "sample", "random"])
def test_pettingzoo_and_batched_paths_agree(tiny_config, digits_train, digits_test, few_rows, belief, combine, mode):
    model = MAReinforce(tiny_config(belief=belief, combine=combine, n_agents=3, n_steps=4), 10,
                        digits_train.image_shape)
    model.fit(digits_train, epochs=1, indices=few_rows[:32], progress=False)
    env = masimu_env.parallel_env(digits_test, config=model.config.sim_config)
    for image_index in (0, 17, 101):
        obs, infos = env.reset(seed=image_index, options={"image_index": image_index})
        agents = list(env.agents)
        corners = _corners_from_obs(obs, agents, digits_test.image_shape, model.config.window)
        policy = PettingZooPolicy(model.net, mode=mode, generator=torch.Generator().manual_seed(5))
        policy.reset(agents=agents)
        moves, rewards = [], None
        while env.agents:
            actions = policy.act(obs)
            moves.append([actions[a]["move"] for a in agents])
            obs, rewards, terminations, truncations, infos = env.step(actions)
        last_logits = np.stack([actions[a]["prediction"] for a in agents])

        images, labels = digits_test.get_batch([image_index])
        with torch.no_grad():
            batched = run_episode(model.net, model.simulator, images, labels, torch.Generator().manual_seed(5), mode,
                                  corners=corners)
        assert batched["moves"][0].tolist() == moves
        np.testing.assert_allclose(last_logits, batched["logits"][0].numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose([rewards[a] for a in agents], float(batched["reward"][0]), rtol=1e-5, atol=1e-6)


def test_policy_follows_agent_numbers_and_restarts_at_time_zero(tiny_config, digits_train, digits_test, few_rows):
    """A permuted agent list drew other 'sample' moves than the batched rollout, and a second episode without
    reset() started from the first one's recurrent state."""
    model = MAReinforce(tiny_config(n_agents=3, n_steps=4), 10, digits_train.image_shape)
    model.fit(digits_train, epochs=1, indices=few_rows[:32], progress=False)
    env = masimu_env.parallel_env(digits_test, config=model.config.sim_config)

    def play(policy, agents_order, image_index, reset=True):
        obs, _ = env.reset(seed=image_index, options={"image_index": image_index})
        if reset:
            policy.reset(agents=agents_order)
        moves = []
        while env.agents:
            actions = policy.act(obs)
            moves.append([actions[a]["move"] for a in env.agents])
            obs, *_ = env.step(actions)
        return moves

    ordered = play(PettingZooPolicy(model.net, "sample", torch.Generator().manual_seed(5)),
                   ["agent_0", "agent_1", "agent_2"], 17)
    permuted = play(PettingZooPolicy(model.net, "sample", torch.Generator().manual_seed(5)),
                    ["agent_2", "agent_0", "agent_1"], 17)
    assert permuted == ordered
    greedy = PettingZooPolicy(model.net, "greedy")
    play(greedy, ["agent_0", "agent_1", "agent_2"], 0)
    again = play(greedy, None, 101, reset=False)  # no reset between episodes
    assert again == play(PettingZooPolicy(model.net, "greedy"), ["agent_0", "agent_1", "agent_2"], 101)


@pytest.mark.parametrize("belief", ["gru", "lstm"])
def test_env_plays_the_episodes_evaluate_scores(tiny_config, digits_train, digits_test, few_rows, belief):
    """The learner scores row r on the start corners masimu_env.core.row_corners gives it under eval_seed; the env
    plays that very episode when reset with those corners, and the greedy policy then predicts, row for row, what
    MAReinforce.predict and per_example_loss say. (Before, the env could only draw its own corners, and on 56 of 270
    test images its predictions differed from predict's.)"""
    from masimu_env.core import row_corners

    model = MAReinforce(tiny_config(belief=belief, n_agents=3, n_steps=4), 10, digits_train.image_shape)
    model.fit(digits_train, epochs=1, indices=few_rows[:32], progress=False)
    rows = np.arange(0, len(digits_test), 9)
    expected = model.predict(digits_test, rows)
    losses = model.per_example_loss(digits_test, rows)["loss"]
    _, h, w = digits_test.image_shape
    cfg = model.config
    corners = row_corners(rows, cfg.n_agents, h, w, cfg.window, cfg.eval_seed)
    env = masimu_env.parallel_env(digits_test, config=cfg.sim_config)
    policy = PettingZooPolicy(model.net, mode="greedy")
    for row, start, label, loss in zip(rows, corners, expected, losses):
        obs, _ = env.reset(options={"image_index": int(row), "corners": start})
        policy.reset(agents=list(env.agents))
        while env.agents:
            actions = policy.act(obs)
            obs, rewards, *_ = env.step(actions)
        p_bar = torch.softmax(torch.as_tensor(np.stack([a["prediction"] for a in actions.values()])), -1).mean(0)
        assert int(p_bar.argmax()) == label, row
        np.testing.assert_allclose(-rewards["agent_0"], loss, rtol=1e-5, atol=1e-6)


def test_reset_corners_option_is_checked_and_named(digits_test):
    env = masimu_env.parallel_env(digits_test, seed=0)
    obs, _ = env.reset(options={"image_index": 3, "corners": [[0, 0], [4, 4], [2, 1]]})
    assert env._state.corners[0].tolist() == [[0, 0], [4, 4], [2, 1]] and env._image_index == 3
    for bad, match in (([[0, 0], [4, 4]], r"must be \(3, 2\) \(row, col\) corners, one per agent; got shape \(2, 2\)"),
                       ([[0, 0], [5, 0], [0, 0]], r"corners must lie in rows 0\.\.4 and cols 0\.\.4"),
                       ([[0.5, 0], [0, 0], [0, 0]], "must be an integer tensor")):
        with pytest.raises(ValueError, match=r"reset\(options=\{'corners': \.\.\.\}\)"):
            env.reset(options={"corners": bad})
        with pytest.raises(ValueError, match=match):
            env.reset(options={"corners": bad})
    assert env._state.corners[0].tolist() == [[0, 0], [4, 4], [2, 1]]  # a refused reset leaves the episode as it was
    buffer = np.array([[1, 1], [2, 2], [3, 3]], dtype=np.uint32)  # unsigned: torch has no min/max for uint32
    env.reset(options={"corners": buffer})
    buffer[:] = 0  # the caller reuses its buffer: the episode keeps its own copy
    assert env._state.corners[0].tolist() == [[1, 1], [2, 2], [3, 3]]
    with pytest.raises(ValueError, match=r"reset\(options=\{'corners': \.\.\.\}\) must be \(3, 2\) integer"):
        env.reset(options={"corners": [[None, 0]] * 3})
