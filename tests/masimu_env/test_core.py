"""The batched core: crops, moves, routing, rewards and batch equivalence, checked against naive code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from masimu_env.config import SimConfig
from masimu_env.core import (Simulator, agent_rewards, check_moves, crop_glimpses, episode_reward,
                             flatten_observation, global_state, move_windows, normalized_positions,
                             prediction_probs, route_messages, sample_corners, sample_episodes)


def naive_crop(images: torch.Tensor, corners: torch.Tensor, f: int) -> torch.Tensor:
    b, n = corners.shape[:2]
    out = torch.empty(b, n, images.shape[1], f, f, dtype=images.dtype)
    for i in range(b):
        for j in range(n):
            r, c = corners[i, j].tolist()
            out[i, j] = images[i, :, r:r + f, c:c + f]
    return out


@pytest.mark.parametrize("b,n,c,h,w,f", [(1, 1, 1, 8, 8, 8), (3, 4, 3, 9, 13, 4), (2, 16, 1, 32, 32, 12), (2, 2, 2, 5, 7, 1)])
def test_crop_matches_naive_slicing(b, n, c, h, w, f):
    g = torch.Generator().manual_seed(b * 100 + n)
    images = torch.rand(b, c, h, w, generator=g)
    corners = sample_corners(b, n, h, w, f, g)
    # include the last row and column explicitly
    corners[0, 0] = torch.tensor([h - f, w - f])
    if n > 1:
        corners[-1, 1] = torch.tensor([0, w - f])
    got = crop_glimpses(images, corners, f)
    assert got.shape == (b, n, c, f, f)
    assert torch.equal(got, naive_crop(images, corners, f))
    u8 = (images * 255).to(torch.uint8)
    assert torch.equal(crop_glimpses(u8, corners, f), naive_crop(u8, corners, f))


def test_sample_corners_fit_and_cover_the_last_row_and_column():
    g = torch.Generator().manual_seed(0)
    corners = sample_corners(2000, 2, 7, 9, 3, g)
    assert corners.dtype == torch.long and corners.shape == (2000, 2, 2)
    assert int(corners[..., 0].min()) == 0 and int(corners[..., 0].max()) == 7 - 3
    assert int(corners[..., 1].min()) == 0 and int(corners[..., 1].max()) == 9 - 3


def test_moves_stop_at_every_border_including_last_row_and_column():
    h, w, f = 10, 12, 4
    corners = torch.tensor([[[0, 0], [0, 0], [h - f, w - f], [h - f, w - f], [3, 5], [3, 5], [3, 5], [3, 5]]])
    moves = torch.tensor([[0, 2, 1, 3, 0, 1, 2, 3]])  # up, left at top-left; down, right at bottom-right; all from middle
    got = move_windows(corners, moves, 1, h, w, f)
    expected = torch.tensor([[[0, 0], [0, 0], [h - f, w - f], [h - f, w - f], [2, 5], [4, 5], [3, 4], [3, 6]]])
    assert torch.equal(got, expected)
    # stride 3 from one pixel away from the last row / column stops exactly on it
    near = torch.tensor([[[h - f - 1, w - f - 1], [1, 1]]])
    got = move_windows(near, torch.tensor([[1, 0]]), 3, h, w, f)
    assert torch.equal(got, torch.tensor([[[h - f, w - f - 1], [0, 1]]]))
    got = move_windows(near, torch.tensor([[3, 2]]), 3, h, w, f)
    assert torch.equal(got, torch.tensor([[[h - f - 1, w - f], [1, 0]]]))


def test_window_as_large_as_the_image_never_moves():
    corners = torch.zeros(1, 4, 2, dtype=torch.long)
    got = move_windows(corners, torch.tensor([[0, 1, 2, 3]]), 1, 6, 6, 6)
    assert torch.equal(got, corners)
    assert torch.equal(normalized_positions(got, 6, 6, 6), torch.zeros(1, 4, 2))


def test_normalized_positions_hand_computed():
    corners = torch.tensor([[[0, 0], [4, 8], [2, 6]]])
    got = normalized_positions(corners, 8, 12, 4)  # spans 4 rows, 8 columns
    assert torch.allclose(got, torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.5, 0.75]]]))


@pytest.mark.parametrize("bad", [torch.tensor([[0, -1]]), torch.tensor([[4, 0]]), torch.tensor([[0.0, 1.0]])])
def test_invalid_moves_are_rejected_not_wrapped(bad):
    with pytest.raises(ValueError, match="moves"):
        check_moves(bad)
    sim = Simulator(SimConfig(n_agents=2, n_steps=3, window=2), n_classes=3)
    state = sim.reset(torch.zeros(1, 1, 5, 5), torch.tensor([0]), corners=torch.ones(1, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="moves"):
        sim.step(state, bad)


def test_routing_hand_computed_adjacency():
    # 0 -> 1, 0 -> 2, 2 -> 1; agent 0 has no in-neighbour
    adjacency = torch.tensor([[0, 1, 1], [0, 0, 0], [0, 1, 0]], dtype=torch.float32)
    messages = torch.tensor([[[1.0, 2.0], [10.0, 20.0], [3.0, 5.0]]])
    got = route_messages(messages, adjacency)
    expected = torch.tensor([[[0.0, 0.0], [2.0, 3.5], [1.0, 2.0]]])
    assert torch.allclose(got, expected)


def test_inbox_of_huge_finite_messages_stays_finite():
    """Summing before dividing overflowed float32: three senders of 3e38 gave an infinite inbox."""
    messages = torch.full((1, 4, 2), 3e38)
    messages[0, 1, 1] = -3e38
    for graph in ("complete", "ring"):
        adjacency = SimConfig(n_agents=4, graph=graph).adjacency()
        got = route_messages(messages, adjacency)
        expected = (adjacency.double().T @ messages[0].double()) / adjacency.double().sum(0).clamp_min(1)[:, None]
        assert torch.isfinite(got).all()
        assert torch.allclose(got[0].double(), expected, rtol=1e-6, atol=0)


def test_inbox_is_bit_identical_to_sum_then_divide_for_power_of_two_in_degrees():
    """3 agents on the complete graph (in-degree 2), the learner's default: figures made before the
    1/in-degree weighting reproduce to the bit."""
    g = torch.Generator().manual_seed(0)
    messages = torch.randn(64, 3, 16, generator=g)
    adjacency = SimConfig(n_agents=3).adjacency()
    assert torch.equal(route_messages(messages, adjacency),
                       torch.einsum("ij,bim->bjm", adjacency, messages) / 2)


def test_named_graphs_route_like_their_matrices():
    messages = torch.arange(12, dtype=torch.float32).reshape(1, 4, 3)
    ring = SimConfig(n_agents=4, graph="ring").adjacency()
    got = route_messages(messages, ring)
    # agent j hears j-1 and j+1 (mod 4)
    for j in range(4):
        assert torch.allclose(got[0, j], (messages[0, (j - 1) % 4] + messages[0, (j + 1) % 4]) / 2)
    complete = route_messages(messages, SimConfig(n_agents=4).adjacency())
    for j in range(4):
        others = [i for i in range(4) if i != j]
        assert torch.allclose(complete[0, j], messages[0, others].mean(0))
    assert torch.equal(route_messages(messages, SimConfig(n_agents=4, graph="none").adjacency()), torch.zeros(1, 4, 3))


def test_reward_hand_computed():
    probs = torch.tensor([[[0.5, 0.5, 0.0], [0.1, 0.7, 0.2]]])  # p_bar = [0.3, 0.6, 0.1]
    labels = torch.tensor([1])
    mse = episode_reward(probs, labels, "mse")
    assert mse.item() == pytest.approx(-(0.3**2 + 0.4**2 + 0.1**2))
    ce = episode_reward(probs, labels, "ce")
    assert ce.item() == pytest.approx(math.log(0.6))
    per_agent = agent_rewards(probs, labels, "mse", done=True)
    assert per_agent.shape == (1, 2) and torch.allclose(per_agent, mse[:, None].expand(1, 2))
    assert torch.equal(agent_rewards(probs, labels, "mse", done=False), torch.zeros(1, 2))


def test_prediction_probs_softmax_and_votes():
    logits = torch.tensor([[[0.0, math.log(3.0)], [2.0, 2.0]]])
    assert torch.allclose(prediction_probs(logits, 2), torch.tensor([[[0.25, 0.75], [0.5, 0.5]]]))
    votes = torch.tensor([[2, 0, 2]])
    probs = prediction_probs(votes, 3)
    assert torch.equal(probs, torch.tensor([[[0.0, 0, 1], [1, 0, 0], [0, 0, 1]]]))
    reward = episode_reward(probs, torch.tensor([2]), "mse")
    assert reward.item() == pytest.approx(-((1 / 3) ** 2 + 0 + (1 / 3) ** 2))


def test_observation_flattening_and_global_state():
    cfg = SimConfig(n_agents=2, n_steps=4, window=2, message_dim=3)
    sim = Simulator(cfg, n_classes=2)
    images = torch.rand(1, 1, 4, 4)
    state = sim.reset(images, torch.tensor([1]), corners=torch.tensor([[[0, 0], [2, 1]]]))
    state = sim.step(state, torch.tensor([[1, 3]]), torch.tensor([[[1.0, 2, 3], [4, 5, 6]]]))
    obs = sim.observe(state)
    flat = flatten_observation(obs)
    assert flat.shape == (1, 2, 4 + 2 + 3 + 1)
    expected_0 = torch.cat([images[0, 0, 1:3, 0:2].reshape(-1), torch.tensor([0.5, 0.0]), torch.tensor([4.0, 5, 6]),
                            torch.tensor([0.25])])
    assert torch.allclose(flat[0, 0], expected_0)
    assert flatten_observation(obs, include_inbox=False).shape == (1, 2, 7)
    assert torch.equal(global_state(obs), flat.reshape(1, -1))


def test_simulator_path_and_done():
    cfg = SimConfig(n_agents=2, n_steps=2, window=2)
    for track in (True, False):
        sim = Simulator(cfg, n_classes=2, track_path=track)
        state = sim.reset(torch.rand(2, 1, 5, 5), torch.tensor([0, 1]), generator=torch.Generator().manual_seed(1))
        for _ in range(2):
            assert not sim.done(state)
            state = sim.step(state, torch.zeros(2, 2, dtype=torch.long))
        assert sim.done(state)
        assert state.path.shape == ((2, 3, 2, 2) if track else (2, 1, 2, 2))
        assert torch.equal(state.path[:, -1], state.corners)
        with pytest.raises(RuntimeError, match="reset"):
            sim.step(state, torch.zeros(2, 2, dtype=torch.long))


def test_batched_core_matches_independent_single_runs_step_for_step():
    """One B=4 run equals four B=1 runs given per-episode generators (same images, corners, moves, messages)."""
    cfg = SimConfig(n_agents=3, n_steps=6, window=3, message_dim=4, graph="ring")
    b, k = 4, 5
    pool = torch.randint(0, 256, (10, 2, 11, 9), generator=torch.Generator().manual_seed(7), dtype=torch.uint8)
    pool_labels = torch.arange(10) % k
    seeds = [11, 12, 13, 14]
    sim = Simulator(cfg, n_classes=k)
    idx, corners = sample_episodes([torch.Generator().manual_seed(s) for s in seeds], 10, 3, 11, 9, 3)
    batched = sim.reset(pool[idx], pool_labels[idx], corners=corners)
    singles = []
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        i1, c1 = sample_episodes([g], 10, 3, 11, 9, 3)
        singles.append(sim.reset(pool[i1], pool_labels[i1], corners=c1))
    action_gen = torch.Generator().manual_seed(3)
    for _ in range(cfg.n_steps):
        moves = torch.randint(0, 4, (b, 3), generator=action_gen)
        messages = torch.randn(b, 3, 4, generator=action_gen)
        logits = torch.randn(b, 3, k, generator=action_gen)
        batched = sim.step(batched, moves, messages)
        obs_b = sim.observe(batched)
        rew_b = sim.agent_rewards(batched, logits)
        for e in range(b):
            singles[e] = sim.step(singles[e], moves[e:e + 1], messages[e:e + 1])
            obs_1 = sim.observe(singles[e])
            for field in ("window", "position", "inbox", "time"):
                assert torch.equal(getattr(obs_b, field)[e:e + 1], getattr(obs_1, field)), field
            assert torch.equal(batched.corners[e:e + 1], singles[e].corners)
            assert torch.allclose(rew_b[e:e + 1], sim.agent_rewards(singles[e], logits[e:e + 1]))
    assert sim.done(batched) and bool((rew_b != 0).all())


def test_sample_episodes_draws_image_then_corners_per_generator():
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    idx, corners = sample_episodes(gens, 50, 3, 10, 10, 4)
    g = torch.Generator().manual_seed(1)
    expected_index = torch.randint(0, 50, (1,), generator=g)
    expected_corners = sample_corners(1, 3, 10, 10, 4, g)
    assert idx[1] == expected_index[0] and torch.equal(corners[1:], expected_corners)
    assert ((corners >= 0) & (corners <= 6)).all()


def test_window_larger_than_image_is_rejected():
    sim = Simulator(SimConfig(n_agents=1, window=9), n_classes=2)
    with pytest.raises(ValueError, match="window=9"):
        sim.reset(torch.zeros(1, 1, 8, 12), torch.tensor([0]))


@pytest.mark.parametrize("field", ["n_agents", "n_steps", "window"])
def test_config_rejects_non_positive_sizes(field):
    with pytest.raises(ValueError, match=field):
        SimConfig(**{field: 0})


def test_gradients_flow_through_reward_and_routing():
    probs = torch.softmax(torch.randn(2, 3, 4, requires_grad=True), -1)
    probs.retain_grad()
    episode_reward(probs, torch.tensor([0, 3])).sum().backward()
    assert probs.grad is not None and torch.isfinite(probs.grad).all()
    messages = torch.randn(1, 3, 2, requires_grad=True)
    route_messages(messages, SimConfig(n_agents=3).adjacency()).sum().backward()
    assert np.allclose(messages.grad.numpy(), 1.0)  # each message reaches two receivers, each averaging two senders


@pytest.mark.gpu
def test_cuda_core_matches_cpu_core():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cfg = SimConfig(n_agents=5, n_steps=4, window=4, message_dim=3, graph="ring")
    images = torch.randint(0, 256, (6, 3, 17, 19), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(6) % 4
    corners = sample_corners(6, 5, 17, 19, 4, torch.Generator().manual_seed(1))
    cpu, gpu = Simulator(cfg, 4), Simulator(cfg.replace(device="cuda"), 4)
    s_cpu, s_gpu = cpu.reset(images, labels, corners=corners), gpu.reset(images, labels, corners=corners)
    g = torch.Generator().manual_seed(2)
    for _ in range(cfg.n_steps):
        moves, messages = torch.randint(0, 4, (6, 5), generator=g), torch.randn(6, 5, 3, generator=g)
        s_cpu, s_gpu = cpu.step(s_cpu, moves, messages), gpu.step(s_gpu, moves.cuda(), messages.cuda())
        o_cpu, o_gpu = cpu.observe(s_cpu), gpu.observe(s_gpu)
        assert torch.equal(o_cpu.window, o_gpu.window.cpu())
        assert torch.allclose(o_cpu.inbox, o_gpu.inbox.cpu(), atol=1e-6)
    logits = torch.randn(6, 5, 4, generator=g)
    assert torch.allclose(cpu.agent_rewards(s_cpu, logits), gpu.agent_rewards(s_gpu, logits.cuda()).cpu(), atol=1e-6)


def test_prediction_probs_match_torch_softmax_for_large_logits():
    logits = torch.randn(8, 5, 45, generator=torch.Generator().manual_seed(0)) * 50
    logits[0, 0, 0] = 1e4  # saturating logit: no overflow
    probs = prediction_probs(logits, 45)
    assert torch.isfinite(probs).all()
    assert torch.allclose(probs, torch.softmax(logits, -1), atol=1e-6)
    assert torch.allclose(probs.sum(-1), torch.ones(8, 5))


def test_reset_rejects_corners_labels_and_predictions_it_cannot_use():
    """Bad input to the core raises a ValueError naming it: a corner off the image would crop a window that wraps
    into the next pixel row; a label >= K or a vote out of range would fail only at reward time; logits for the
    wrong number of agents would average p_bar over the wrong agents."""
    sim = Simulator(SimConfig(n_agents=2, n_steps=2, window=4, message_dim=3), n_classes=10)
    image = torch.arange(64, dtype=torch.uint8).reshape(1, 1, 8, 8)
    label = torch.tensor([3])
    ok = sim.reset(image, label, corners=torch.tensor([[[4, 4], [0, 0]]]))  # the last valid corner
    assert torch.equal(sim.observe(ok).window[0, 0, 0, 0] * 255, torch.tensor([36.0, 37, 38, 39]))
    for corners, match in ((torch.tensor([[[0, 6], [0, 0]]]), r"cols 0\.\.4.*cols 0\.\.6"),
                           (torch.tensor([[[-1, 0], [0, 0]]]), r"rows 0\.\.4.*rows -1\.\.0"),
                           (torch.tensor([[[5, 0], [0, 0]]]), r"rows 0\.\.4.*rows 0\.\.5"),
                           (torch.tensor([[[0.0, 1.0], [0.0, 0.0]]]), "corners must be an integer tensor")):
        with pytest.raises(ValueError, match=match):
            sim.reset(image, label, corners=corners)
    for labels, match in ((torch.tensor([10]), r"labels must lie in 0\.\.9.*\[10, 10\]"),
                          (torch.tensor([-1]), r"labels must lie in 0\.\.9"),
                          (torch.tensor([3.7]), "labels must be an integer tensor")):
        with pytest.raises(ValueError, match=match):
            sim.reset(image, labels)
    state = sim.step(sim.step(ok, torch.tensor([[0, 0]])), torch.tensor([[0, 0]]))
    for predictions, match in ((torch.zeros(1, 3, 10), r"predictions must have shape \(1, 2\)"),
                               (torch.tensor([[10, 0]]), r"votes must lie in 0\.\.9"),
                               (torch.tensor([[True, False]]), "votes must be integer class ids"),
                               (torch.full((1, 2, 10), float("nan")), "logits must be finite")):
        with pytest.raises(ValueError, match=match):
            sim.agent_rewards(state, predictions)
    assert sim.agent_rewards(state, torch.tensor([[3, 3]])).tolist() == [[0.0, 0.0]]


def test_configs_store_numpy_integers_as_python_ints():
    """A sweep over np.arange hands the configs NumPy integers: they are accepted, stored as Python ints, and so
    serialise to JSON and hash like the same Python ints (AgentConfig.fingerprint used to raise TypeError)."""
    from agents import AgentConfig
    from unlearning import UnlearningConfig

    sim = SimConfig(n_agents=np.int64(4), max_cycles=np.int32(7), seed=np.uint8(3))
    assert (type(sim.n_agents), type(sim.max_cycles), type(sim.seed)) == (int, int, int)
    agent = AgentConfig(n_agents=np.int64(3), hidden_size=np.int16(64), seed=np.int64(0))
    assert type(agent.hidden_size) is int and type(agent.seed) is int
    assert agent.fingerprint() == AgentConfig(n_agents=3, hidden_size=64, seed=0).fingerprint()
    # float fields take NumPy floats (they were refused) and refuse bools (True was taken as 1.0)
    swept = AgentConfig(lr=np.float32(0.5), entropy_coef=np.int64(0), grad_clip=np.float64(2))
    assert (type(swept.lr), type(swept.entropy_coef), type(swept.grad_clip)) == (float, float, float)
    assert swept.fingerprint() == AgentConfig(lr=0.5, entropy_coef=0.0, grad_clip=2.0).fingerprint()
    for name in ("lr", "weight_decay", "ce_weight", "grad_clip"):
        with pytest.raises(ValueError, match=f"AgentConfig.{name} must be a finite float"):
            AgentConfig(**{name: True})
    unlearning = UnlearningConfig(epochs=np.int64(2), batch_size=np.int32(8))
    assert (type(unlearning.epochs), type(unlearning.batch_size)) == (int, int)
    for bad, match in ((lambda: SimConfig(n_agents=True), "SimConfig.n_agents must be an int >= 1"),
                       (lambda: SimConfig(max_cycles=0), r"SimConfig.max_cycles must be None or an int >= 1"),
                       (lambda: AgentConfig(seed=-1), r"AgentConfig.seed must be an int in \[0, 2\*\*63\)"),
                       (lambda: UnlearningConfig(epochs=1.0), "UnlearningConfig.epochs must be None or an int >= 0"),
                       # torch.manual_seed overflows past 2**64; the config says so up front
                       (lambda: UnlearningConfig(seed=2**64), r"UnlearningConfig.seed must be an int in \[0, 2\*\*63\)")):
        with pytest.raises(ValueError, match=match):
            bad()


def test_core_reads_narrow_integer_moves_and_corners_as_ids():
    """uint8 moves used to index the move table as a True/False mask (every agent took the same move), and uint8
    or int16 corners overflowed when cropping a large image; both now act exactly like int64."""
    sim = Simulator(SimConfig(n_agents=2, n_steps=2, window=4), n_classes=3)
    images = torch.rand(4, 1, 256, 256)
    labels = torch.zeros(4, dtype=torch.long)
    corners = torch.tensor([[[200, 100], [10, 10]]] * 4)
    moves = torch.tensor([[1, 0], [0, 0], [0, 0], [0, 1]])
    reference = sim.step(sim.reset(images, labels, corners=corners), moves)
    for corner_dtype, move_dtype in ((torch.uint8, torch.uint8), (torch.int16, torch.int16), (torch.int32, torch.int8)):
        state = sim.reset(images, labels, corners=corners.to(corner_dtype))
        assert state.corners.dtype == torch.long
        stepped = sim.step(state, moves.to(move_dtype))
        torch.testing.assert_close(stepped.corners, reference.corners)
        torch.testing.assert_close(sim.observe(stepped).window, sim.observe(reference).window)


def test_core_step_and_rewards_check_messages_and_predictions():
    """The env checked these itself; the core now refuses them too instead of returning a wrong-width inbox, or zeros
    before step T and an unrelated error at step T."""
    sim = Simulator(SimConfig(n_agents=2, n_steps=1, window=4, message_dim=8), n_classes=3)
    state = sim.reset(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))
    moves = torch.zeros(2, 2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"messages must have shape \(2, 2, 8\) \(the inbox width set at reset\)"):
        sim.step(state, moves, torch.zeros(2, 2, 5))
    with pytest.raises(ValueError, match="messages must be a float tensor"):
        sim.step(state, moves, torch.zeros(2, 2, 8, dtype=torch.long))
    for bad in (torch.zeros(2, 2, 3, dtype=torch.long), torch.zeros(2, 2, 1, 3), torch.zeros(2, 2)):
        with pytest.raises(ValueError, match="predictions must have shape"):
            sim.agent_rewards(state, bad)
    assert sim.agent_rewards(state, torch.zeros(2, 2, dtype=torch.long)).shape == (2, 2)


def test_graph_matrices_are_stored_immutably_and_compare_by_value():
    """A NumPy or list adjacency kept as given made the frozen config unhashable, == ambiguous, and editable after
    validation; strings passed as entries were read as numbers."""
    matrix = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    from_array, from_list = SimConfig(n_agents=3, graph=matrix), SimConfig(n_agents=3, graph=matrix.tolist())
    assert from_array == from_list and hash(from_array) == hash(from_list)
    assert from_array.graph == ((0, 1, 0), (1, 0, 1), (0, 1, 0))
    matrix[0, 1] = 0
    assert from_array.adjacency()[0, 1] == 1
    assert SimConfig(n_agents=3, graph=matrix.astype(bool)).graph == ((0, 0, 0), (1, 0, 1), (0, 1, 0))
    with pytest.raises(ValueError, match="matrix of 0/1 numbers"):
        SimConfig(n_agents=2, graph=[["0", "1"], ["1", "0"]])


def test_unavailable_devices_are_refused_by_name():
    import masimu_env

    with pytest.raises(ValueError, match="SimConfig.device 'meta': use cpu or cuda"):
        masimu_env.parallel_env("digits", device="meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="SimConfig.device 'cuda': CUDA is not available"):
            masimu_env.parallel_env("digits", device="cuda")


def test_config_fields_are_documented_in_help():
    """Attribute docstrings are discarded by Python, so help(SimConfig) showed one line; every config class now
    carries an Attributes section listing each of its fields with the text written under it."""
    import dataclasses
    import pydoc

    from agents import AgentConfig
    from unlearning import UnlearningConfig
    from unlearning.explain import ExplainConfig

    for cls in (SimConfig, AgentConfig, UnlearningConfig, ExplainConfig):
        text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
        assert text.count("Attributes:") == 1, cls.__name__
        for field in dataclasses.fields(cls):
            assert f"    {field.name}: " in cls.__doc__, (cls.__name__, field.name)
    assert "max_cycles: Upper bound on env steps (PettingZoo convention). Below n_steps" in SimConfig.__doc__


def test_unknown_settings_raise_one_type_everywhere():
    """A typo in a keyword was a TypeError in datasets.load and parallel_env but a ValueError in unlearn and
    AgentConfig.from_dict; the configs now raise UnknownSettingError, which is both."""
    import unlearning
    from agents import AgentConfig
    from masimu_env.config import UnknownSettingError

    with pytest.raises(TypeError, match=r"Unknown AgentConfig field\(s\) \['hiden_size'\]"):
        AgentConfig.from_dict({"hiden_size": 8})
    with pytest.raises(UnknownSettingError, match="Unknown unlearning setting"):
        unlearning.UnlearningConfig.from_settings(lerning_rate=0.1)
    assert issubclass(UnknownSettingError, ValueError)  # what they raised before still catches it
