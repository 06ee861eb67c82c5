"""Semantics of the PettingZoo view: observations, rewards, infos, seeding, subsets and input checking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import masimu_env
from masimu_env import SimConfig, datasets
from masimu_env.core import Simulator, sample_episodes


def random_dict_actions(env, rng):
    k, m = env.n_classes, env.config.message_dim
    return {a: {"move": int(rng.integers(4)), "message": rng.normal(size=m).astype(np.float32),
                "prediction": rng.normal(size=k).astype(np.float32)} for a in env.agents}


def test_defaults_follow_the_paper_per_dataset(digits, rgb32):
    env = masimu_env.parallel_env("digits")
    assert (env.config.n_agents, env.config.n_steps, env.config.window) == (3, 5, 4)
    env = masimu_env.parallel_env(rgb32)  # 32 px: MNIST-like defaults
    assert (env.config.n_agents, env.config.n_steps, env.config.window) == (3, 5, 6)
    big = datasets.from_arrays(np.zeros((2, 64, 64, 3), dtype=np.uint8), [0, 1])
    env = masimu_env.parallel_env(big)
    assert (env.config.n_agents, env.config.n_steps, env.config.window) == (16, 16, 12)
    env = masimu_env.parallel_env("digits", config=SimConfig(n_agents=2, window=3), n_steps=7)
    assert (env.config.n_agents, env.config.n_steps, env.config.window) == (2, 7, 3)


def test_observations_are_the_windows_at_the_core_corners(digits):
    env = masimu_env.parallel_env(digits, n_agents=3, window=3, seed=5)
    obs, infos = env.reset()
    index = infos["agent_0"]["image_index"]
    image = digits[index][0].to(torch.float32).numpy() / 255.0
    assert infos["agent_1"] == {"label": int(digits.labels[index]), "image_index": index, "blocked": False}
    rng = np.random.default_rng(0)
    for t in range(env.config.n_steps + 1):
        corners = env._state.corners[0].numpy()
        for i, agent in enumerate(env.possible_agents):
            r, c = corners[i]
            assert obs[agent]["window"].dtype == np.float32
            np.testing.assert_array_equal(obs[agent]["window"], image[:, r:r + 3, c:c + 3])
            np.testing.assert_allclose(obs[agent]["position"], [r / 5, c / 5], rtol=1e-6)
            assert obs[agent]["time"][0] == pytest.approx(t / env.config.n_steps)
            assert env.observation_space(agent).contains(obs[agent])
        if t == env.config.n_steps:
            break
        obs, *_ = env.step(random_dict_actions(env, rng))


def test_moves_and_messages_follow_the_actions():
    images = np.zeros((1, 10, 10), dtype=np.uint8)
    env = masimu_env.parallel_env(datasets.from_arrays(images, [0], classes=["a", "b"]), n_agents=3, window=4,
                                  message_dim=2, graph=np.array([[0, 1, 1], [0, 0, 0], [0, 1, 0]]), seed=0)
    env.reset()
    before = env._state.corners[0].clone()
    actions = {
        "agent_0": {"move": 1, "message": np.array([1.0, 2.0]), "prediction": np.zeros(2)},
        "agent_1": {"move": 3, "message": np.array([10.0, 20.0]), "prediction": np.zeros(2)},
        "agent_2": {"move": 0, "message": np.array([3.0, 5.0]), "prediction": np.zeros(2)},
    }
    obs, rewards, *_ = env.step(actions)
    expected = before + torch.tensor([[1, 0], [0, 1], [-1, 0]])
    assert torch.equal(env._state.corners[0], expected.clamp(0, 6))
    np.testing.assert_allclose(obs["agent_0"]["inbox"], [0, 0])
    np.testing.assert_allclose(obs["agent_1"]["inbox"], [2.0, 3.5])
    np.testing.assert_allclose(obs["agent_2"]["inbox"], [1.0, 2.0])
    assert rewards == {a: 0.0 for a in env.possible_agents}


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_terminal_reward_hand_computed(loss):
    images = np.zeros((3, 6, 6), dtype=np.uint8)
    ds = datasets.from_arrays(images, [2, 2, 2], classes=["a", "b", "c"])
    env = masimu_env.parallel_env(ds, n_agents=2, n_steps=2, window=2, reward_loss=loss, seed=1)
    env.reset()
    zero = {a: {"move": 0, "message": np.zeros(8), "prediction": np.zeros(3)} for a in env.agents}
    _, rewards, terminations, truncations, _ = env.step(zero)
    assert rewards == {"agent_0": 0.0, "agent_1": 0.0} and not any(terminations.values())
    final = {
        "agent_0": {"move": 0, "message": np.zeros(8), "prediction": np.array([0.0, 0.0, np.log(2.0)])},  # [1/4, 1/4, 1/2]
        "agent_1": {"move": 0, "message": np.zeros(8), "prediction": np.array([0.0, 0.0, 0.0])},  # uniform
    }
    _, rewards, terminations, truncations, _ = env.step(final)
    p_bar = np.array([(1 / 4 + 1 / 3) / 2, (1 / 4 + 1 / 3) / 2, (1 / 2 + 1 / 3) / 2])
    expected = -np.sum((p_bar - np.array([0, 0, 1])) ** 2) if loss == "mse" else np.log(p_bar[2])
    assert rewards["agent_0"] == pytest.approx(expected, rel=1e-5) and rewards["agent_1"] == rewards["agent_0"]
    assert terminations == {"agent_0": True, "agent_1": True} and truncations == {"agent_0": False, "agent_1": False}
    assert env.agents == []


def test_multidiscrete_reward_from_votes():
    ds = datasets.from_arrays(np.zeros((2, 6, 6), dtype=np.uint8), [1, 1], classes=["a", "b", "c"])
    env = masimu_env.parallel_env(ds, n_agents=3, n_steps=1, window=2, action_mode="multidiscrete", seed=0)
    obs, _ = env.reset()
    assert "inbox" not in obs["agent_0"]
    _, rewards, *_ = env.step({"agent_0": np.array([0, 1]), "agent_1": [2, 1], "agent_2": (3, 0)})
    # p_bar = [1/3, 2/3, 0], label 1
    assert rewards["agent_2"] == pytest.approx(-((1 / 3) ** 2 + (1 / 3) ** 2))


def test_multi_step_determinism(digits):
    """Two envs with the same seed agree over several whole episodes (not only the first step)."""
    def run(seed):
        env = masimu_env.parallel_env(digits, n_agents=4, window=3, n_steps=6, seed=seed)
        rng = np.random.default_rng(123)
        trace = []
        for episode in range(3):
            obs, infos = env.reset(seed=seed if episode == 0 else None)
            trace.append((infos["agent_0"]["image_index"], env.state().copy()))
            while env.agents:
                obs, rewards, *_ = env.step(random_dict_actions(env, rng))
                trace.append((env._state.corners.clone(), env.state().copy(), dict(rewards)))
        return trace

    a, b, c = run(42), run(42), run(43)
    assert len(a) == len(b) == 3 * 7
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            if isinstance(u, torch.Tensor):
                assert torch.equal(u, v)
            elif isinstance(u, np.ndarray):
                np.testing.assert_array_equal(u, v)
            else:
                assert u == v
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, c))
    # reset() without a seed continues the stream: the three episodes are not all the same image
    assert len({a[0][0], a[7][0], a[14][0]}) > 1


def test_env_episode_equals_a_batched_core_episode(digits):
    """The view is a thin translation: its episode equals the core's at B=1 with the same generator."""
    env = masimu_env.parallel_env(digits, n_agents=3, window=3, seed=9)
    obs, infos = env.reset()
    cfg = env.config
    idx, corners = sample_episodes([torch.Generator().manual_seed(9)], len(digits), 3, 8, 8, 3)
    assert int(idx[0]) == infos["agent_0"]["image_index"]
    sim = Simulator(cfg, 10)
    images, labels = digits.get_batch(idx.numpy())
    state = sim.reset(images, labels, corners=corners)
    rng = np.random.default_rng(1)
    while env.agents:
        actions = random_dict_actions(env, rng)
        obs, rewards, *_ = env.step(actions)
        moves = torch.tensor([[actions[a]["move"] for a in env.possible_agents]])
        messages = torch.tensor(np.stack([actions[a]["message"] for a in env.possible_agents]))[None]
        logits = torch.tensor(np.stack([actions[a]["prediction"] for a in env.possible_agents]))[None]
        state = sim.step(state, moves, messages)
        core_obs = sim.observe(state)
        for i, a in enumerate(env.possible_agents):
            np.testing.assert_array_equal(obs[a]["window"], core_obs.window[0, i].numpy())
            np.testing.assert_array_equal(obs[a]["inbox"], core_obs.inbox[0, i].numpy())
            assert rewards[a] == pytest.approx(float(sim.agent_rewards(state, logits)[0, i]))


def test_flat_obs_and_state_are_the_dict_obs_concatenated(digits):
    kwargs = dict(n_agents=3, window=3, seed=4)
    d_env = masimu_env.parallel_env(digits, **kwargs)
    f_env = masimu_env.parallel_env(digits, obs_mode="flat", **kwargs)
    d_obs, _ = d_env.reset()
    f_obs, _ = f_env.reset()
    rows = []
    for a in d_env.possible_agents:
        o = d_obs[a]
        row = np.concatenate([o["window"].ravel(), o["position"], o["inbox"], o["time"]])
        np.testing.assert_array_equal(f_obs[a], row)
        assert f_env.observation_space(a).contains(f_obs[a])
        rows.append(row)
    np.testing.assert_array_equal(d_env.state(), np.concatenate(rows))
    assert d_env.state_space.contains(d_env.state())


def test_indices_restrict_episodes(digits):
    subset = np.array([5, 17, 400])
    env = masimu_env.parallel_env(digits, indices=subset, seed=0)
    seen = {env.reset()[1]["agent_0"]["image_index"] for _ in range(40)}
    assert seen == set(subset.tolist())
    obs, infos = env.reset(options={"image_index": 3})
    assert infos["agent_0"]["image_index"] == 3
    obs, infos = env.reset(options={"image_index": np.int64(4)})
    assert type(infos["agent_0"]["image_index"]) is int and infos["agent_0"]["image_index"] == 4


@pytest.mark.parametrize("bad", ["past the end", -1, True, 2.0, "3"])
def test_bad_image_index_is_refused_and_the_episode_kept(digits, bad):
    """reset(options={'image_index': ...}) takes a dataset row; anything else is refused with the valid range,
    and the episode in progress is left as it was."""
    if bad == "past the end":
        bad = len(digits)
    env = masimu_env.parallel_env(digits, seed=0)
    env.reset(options={"image_index": 7})
    state, agents = env.state().copy(), list(env.agents)
    with pytest.raises(ValueError, match=rf"reset\(options=\{{'image_index': \.\.\.\}}\) must be an int in "
                                         rf"\[0, {len(digits)}\); got {bad!r}"):
        env.reset(options={"image_index": bad})
    np.testing.assert_array_equal(env.state(), state)
    assert env.agents == agents


@pytest.mark.parametrize("indices,match", [([], "non-empty"), ([0, 10_000], r"\[0, "), ([-1], r"\[0, "),
                                           ([0.5], "integers"), ([[1, 2]], "1-D")])
def test_bad_indices(digits, indices, match):
    with pytest.raises(ValueError, match=match):
        masimu_env.parallel_env(digits, indices=indices)


def test_bad_construction(digits):
    with pytest.raises(ValueError, match="window=9"):
        masimu_env.parallel_env(digits, window=9)
    with pytest.raises(ValueError, match="n_agents"):
        masimu_env.parallel_env(digits, n_agents=0)
    with pytest.raises(ValueError, match="n_steps"):
        masimu_env.parallel_env(digits, n_steps=0)
    with pytest.raises(TypeError, match="n_agent"):
        masimu_env.parallel_env(digits, n_agent=3)
    with pytest.raises(ValueError, match="obs_mode"):
        masimu_env.parallel_env(digits, obs_mode="pixels")
    with pytest.raises(ValueError, match="root="):
        masimu_env.parallel_env(digits, image_size=16)


def _good(env):
    return {a: {"move": 0, "message": np.zeros(env.config.message_dim, np.float32),
                "prediction": np.zeros(env.n_classes, np.float32)} for a in env.agents}


@pytest.mark.parametrize("agent,field,value,match", [
    ("agent_1", "move", 4, r"agent_1.*'move'.*0\.\.3"),
    ("agent_1", "move", -1, r"agent_1.*'move'.*0\.\.3"),
    ("agent_0", "move", 1.0, r"agent_0.*'move'.*integer"),
    ("agent_0", "move", True, r"agent_0.*'move'.*integer"),
    ("agent_0", "move", np.array([[1]]), r"agent_0.*'move'.*one integer"),
    ("agent_2", "message", np.zeros(7), r"agent_2.*'message'.*shape \(8,\)"),
    ("agent_2", "message", np.array([np.nan] + [0.0] * 7), r"agent_2.*'message'.*NaN or inf"),
    ("agent_0", "prediction", np.zeros(11), r"agent_0.*'prediction'.*shape \(10,\)"),
    ("agent_0", "prediction", np.array([np.inf] + [0.0] * 9), r"agent_0.*'prediction'.*NaN or inf"),
    ("agent_0", "prediction", ["a"] * 10, r"agent_0.*'prediction'.*float"),
])
def test_invalid_dict_actions_name_agent_and_field(digits, agent, field, value, match):
    env = masimu_env.parallel_env(digits, seed=0)
    env.reset()
    actions = _good(env)
    actions[agent][field] = value
    state_before = env._state
    with pytest.raises(ValueError, match=match):
        env.step(actions)
    assert env._state is state_before  # nothing moved


def test_invalid_action_structure(digits):
    env = masimu_env.parallel_env(digits, seed=0)
    env.reset()
    actions = _good(env)
    actions["agent_1"]["shout"] = 1
    with pytest.raises(ValueError, match=r"agent_1.*unknown action key.*shout"):
        env.step(actions)
    actions = _good(env)
    del actions["agent_2"]["prediction"]
    with pytest.raises(ValueError, match=r"agent_2.*missing key.*prediction"):
        env.step(actions)
    actions = _good(env)
    del actions["agent_0"]
    with pytest.raises(ValueError, match=r"missing for live agents \['agent_0'\]"):
        env.step(actions)
    actions = _good(env)
    actions["agent_7"] = actions["agent_0"]
    with pytest.raises(ValueError, match=r"not alive.*agent_7"):
        env.step(actions)
    actions = _good(env)
    actions["agent_0"] = 3
    with pytest.raises(ValueError, match=r"agent_0.*must be a dict"):
        env.step(actions)
    no_messages = masimu_env.parallel_env(digits, message_dim=0, seed=0)
    no_messages.reset()
    with pytest.raises(ValueError, match=r"agent_0.*unknown action key.*message.*message_dim=0"):
        no_messages.step({a: {"move": 0, "message": np.zeros(1), "prediction": np.zeros(10)} for a in no_messages.agents})


@pytest.mark.parametrize("action,match", [
    (np.array([4, 0]), r"agent_1.*'move'"),
    (np.array([0, 10]), r"agent_1.*'vote'.*0\.\.9"),
    (np.array([0, -1]), r"agent_1.*'vote'"),
    (np.array([0.0, 1.0]), r"agent_1.*2 integers"),
    (np.array([0, 1, 2]), r"agent_1.*shape \(3,\)"),
])
def test_invalid_multidiscrete_actions(digits, action, match):
    env = masimu_env.parallel_env(digits, action_mode="multidiscrete", seed=0)
    env.reset()
    actions = {a: np.array([0, 0]) for a in env.agents}
    actions["agent_1"] = action
    with pytest.raises(ValueError, match=match):
        env.step(actions)


def test_step_after_the_end_or_before_reset(digits):
    env = masimu_env.parallel_env(digits, n_steps=1, seed=0)
    with pytest.raises(ValueError, match="reset"):
        env.step({})
    env.reset()
    env.step(_good(env))
    assert env.agents == []
    with pytest.raises(ValueError, match="ended"):
        env.step({"agent_0": {"move": 0}})
    with pytest.raises(ValueError, match="reset"):
        masimu_env.parallel_env(digits).state()


def test_accepts_library_action_types(digits):
    """Actions as sampled by gymnasium, torch tensors and plain lists are all accepted."""
    env = masimu_env.parallel_env(digits, seed=0)
    env.reset()
    actions = {"agent_0": env.action_space("agent_0").sample(),
               "agent_1": {"move": torch.tensor(2), "message": torch.zeros(8), "prediction": torch.zeros(10)},
               "agent_2": {"move": np.int32(3), "message": [0.0] * 8, "prediction": [1] * 10}}
    before = env._state.corners[0].clone()
    _, _, _, _, infos = env.step(actions)
    # each move read as the number it is (2: left, 3: right: the column changes by -1, +1), not as 0 or a mask
    for index, (agent, step) in enumerate((("agent_1", [0, -1]), ("agent_2", [0, 1])), start=1):
        expected = before[index] if infos[agent]["blocked"] else before[index] + torch.tensor(step)
        assert torch.equal(env._state.corners[0, index], expected), agent


@pytest.mark.realdata
def test_ham10000_by_name_with_default_image_size(monkeypatch):
    """``parallel_env("ham10000")`` reads $MASIMU_DATA (here: the sample under MASIMU_REAL_DATA)."""
    import os

    root = os.environ.get("MASIMU_REAL_DATA")
    if not root or not os.path.isdir(os.path.join(root, "ham10000")):
        pytest.skip("set MASIMU_REAL_DATA to the folder holding ham10000/")
    monkeypatch.setenv("MASIMU_DATA", root)
    env = masimu_env.parallel_env("ham10000", split="all", dataset_options={"missing": "skip"}, seed=0)
    assert env.image_shape == (3, 64, 64)
    assert (env.config.n_agents, env.config.n_steps, env.config.window) == (16, 16, 12)
    obs, infos = env.reset()
    assert obs["agent_15"]["window"].shape == (3, 12, 12)
    while env.agents:
        env.step({a: env.action_space(a).sample() for a in env.agents})


def test_bad_seeds_options_and_split_raise_naming_them(digits):
    for seed in ("a", 1.5, -1, 2**70, True):
        with pytest.raises(ValueError, match="SimConfig.seed"):
            SimConfig(seed=seed)
    env = masimu_env.parallel_env(digits, seed=0)
    with pytest.raises(ValueError, match=r"reset\(seed=\)"):
        env.reset(seed=2**64)
    with pytest.warns(UserWarning, match=r"ignored unknown key\(s\) \['image_idx'\]"):
        env.reset(options={"image_idx": 3})
    with pytest.raises(ValueError, match=r"reset\(options=\) must be a dict"):
        env.reset(options=[1])
    _, infos = env.reset(options={"image_index": 3})
    assert infos["agent_0"]["image_index"] == 3
    with pytest.raises(ValueError, match="split="):
        masimu_env.parallel_env(digits, split="test")


def test_space_dicts_and_config_type_errors(digits):
    env = masimu_env.parallel_env(digits, seed=0)
    assert env.observation_spaces["agent_0"] is env.observation_space("agent_0")
    assert env.action_spaces["agent_1"] is env.action_space("agent_1")
    with pytest.raises(ValueError, match="SimConfig.device must be a str"):
        SimConfig(device=123)
    with pytest.raises(ValueError, match="SimConfig.graph must be one of"):
        SimConfig(n_agents=2, graph=[["a", "b"], ["c", "d"]])


def test_a_refused_reset_leaves_the_next_episode_unchanged(digits):
    """A reset refused for a bad option or seed used to reseed or draw first, so the next episode differed from the
    one an identical env plays."""
    twin, env = masimu_env.parallel_env(digits, seed=5), masimu_env.parallel_env(digits, seed=5)
    twin.reset(), env.reset()
    for bad, match in (({"options": {"image_index": -1}}, "image_index"), ({"seed": 99, "options": [1]}, "options"),
                       ({"seed": -3}, "seed")):
        with pytest.raises(ValueError, match=match):
            env.reset(**bad)
    for _ in range(2):
        _, twin_infos = twin.reset()
        _, infos = env.reset()
        assert infos == twin_infos
        np.testing.assert_array_equal(env.state(), twin.state())


@pytest.mark.parametrize("obs_mode", ["dict", "flat"])
def test_observations_and_state_are_copies(digits, obs_mode):
    """Editing a returned observation (or state()) in place used to edit the episode: state() changed and left
    state_space."""
    env = masimu_env.parallel_env(digits, seed=1, obs_mode=obs_mode)
    observations, _ = env.reset(seed=1)
    before = env.state().copy()
    first = observations["agent_0"]
    for array in (first.values() if isinstance(first, dict) else [first]):
        array[...] = 7
    env.state()[...] = 7
    np.testing.assert_array_equal(env.state(), before)
    assert env.state_space.contains(env.state())


def test_bfloat16_tensors_are_read_as_floats(digits):
    """torch bfloat16 has no NumPy dtype; a bfloat16 message used to fail with torch's raw TypeError."""
    env = masimu_env.parallel_env(digits, seed=0)
    env.reset(seed=0)
    k = env.action_space("agent_0")["prediction"].shape[0]
    actions = {a: {"move": 0, "message": torch.ones(env.config.message_dim, dtype=torch.bfloat16),
                   "prediction": torch.zeros(k, dtype=torch.bfloat16)} for a in env.agents}
    env.step(actions)
    nan_message = {a: dict(actions[a], message=torch.full((env.config.message_dim,), float("nan"),
                                                         dtype=torch.bfloat16)) for a in env.agents}
    with pytest.raises(ValueError, match="agent_0"):
        env.step(nan_message)


def test_infos_say_when_the_border_stopped_a_move(digits):
    """A move into the border stops there (the paper's rule); infos['blocked'] says so instead of nothing."""
    env = masimu_env.parallel_env(digits, seed=0, n_agents=2, window=4)
    env.reset(seed=0)
    env._state = env._state.__class__(**{**env._state.__dict__,
                                        "corners": torch.tensor([[[0, 2], [2, 2]]], dtype=torch.long)})
    k = env.action_space("agent_0")["prediction"].shape[0]
    m = env.config.message_dim
    actions = {a: {"move": 0, "message": np.zeros(m, np.float32), "prediction": np.zeros(k, np.float32)}
               for a in env.agents}  # move 0 = up: agent_0 is at row 0
    _, _, _, _, infos = env.step(actions)
    assert infos["agent_0"]["blocked"] is True and infos["agent_1"]["blocked"] is False


def test_blocked_also_flags_a_move_the_border_shortened(digits):
    """With stride 3 a move up from row 2 ends at row 0: the border cut it short, which 'corner unchanged' missed."""
    env = masimu_env.parallel_env(digits, seed=0, n_agents=3, window=4, stride=3)
    env.reset(options={"corners": [[2, 0], [4, 4], [1, 1]]})
    k, m = env.action_space("agent_0")["prediction"].shape[0], env.config.message_dim
    moves = {"agent_0": 0, "agent_1": 1, "agent_2": 3}  # up from row 2, down from the last row, right by 3: fits
    actions = {a: {"move": moves[a], "message": np.zeros(m, np.float32), "prediction": np.zeros(k, np.float32)}
               for a in env.agents}
    _, _, _, _, infos = env.step(actions)
    assert env._state.corners[0].tolist() == [[0, 0], [4, 4], [1, 4]]
    assert [infos[a]["blocked"] for a in ("agent_0", "agent_1", "agent_2")] == [True, True, False]
