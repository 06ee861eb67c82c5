"""Networks and batched episodes: shapes, log p_tau as a sum of logs, messages through the core."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents import AgentConfig, MultiAgentNet, run_episode
from agents.reinforce import advantage, reinforce_loss
from agents.rollout import eval_corners, sample_moves
from masimu_env.core import Simulator


def _setup(cfg: AgentConfig, n_classes: int = 10, channels: int = 1):
    torch.manual_seed(0)
    return MultiAgentNet(cfg, n_classes, channels), Simulator(cfg.sim_config, n_classes)


def _images(b: int, c: int = 1, side: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, c, side, side), generator=g, dtype=torch.uint8), torch.randint(0, 10, (b,), generator=g)


@pytest.mark.parametrize("belief", ["gru", "lstm"])
@pytest.mark.parametrize("mode", ["sample", "greedy", "random"])
def test_episode_shapes(tiny_config, belief, mode):
    cfg = tiny_config(belief=belief)
    net, sim = _setup(cfg)
    images, labels = _images(5)
    out = run_episode(net, sim, images, labels, torch.Generator().manual_seed(1), mode)
    n, t = cfg.n_agents, cfg.n_steps
    assert out["logits"].shape == (5, n, 10)
    assert out["probs"].shape == (5, n, 10)
    torch.testing.assert_close(out["probs"].sum(-1), torch.ones(5, n))
    assert out["reward"].shape == (5,)
    assert out["log_prob"].shape == (5,)
    assert out["entropy"].shape == (5,)
    assert out["moves"].shape == (5, t, n) and out["moves"].dtype == torch.long
    assert int(out["moves"].min()) >= 0 and int(out["moves"].max()) <= 3
    assert out["path"].shape == (5, t + 1, n, 2)
    assert bool((out["reward"] <= 0).all())


def test_high_res_rgb_shapes(tiny_config):
    cfg = tiny_config(window=12, n_agents=4, n_steps=4)
    net, sim = _setup(cfg, n_classes=7, channels=3)
    images, _ = _images(2, c=3, side=32)
    out = run_episode(net, sim, images, torch.tensor([0, 6]), torch.Generator().manual_seed(0))
    assert out["probs"].shape == (2, 4, 7)


def _replay_log_prob(net, sim, images, labels, corners, moves):
    """Recompute log p_tau step by step with the recorded moves, as a sum of per-move log pi."""
    state = sim.reset(images, labels, corners=corners)
    rnn = net.initial_state(images.shape[0], sim.config.n_agents, "cpu")
    total = torch.zeros(images.shape[0])
    for t in range(sim.config.n_steps):
        obs = sim.observe(state)
        out = net.step(obs.window, obs.position, obs.time, obs.inbox, rnn)
        rnn = out.state
        log_pi = torch.log_softmax(out.move_logits, -1)
        total = total + log_pi.gather(-1, moves[:, t, :, None]).squeeze(-1).sum(-1)
        state = sim.step(state, moves[:, t], out.message)
    return total


def test_log_prob_is_sum_of_agent_step_log_probs(tiny_config):
    cfg = tiny_config()
    net, sim = _setup(cfg)
    images, labels = _images(6)
    out = run_episode(net, sim, images, labels, torch.Generator().manual_seed(3), "sample")
    corners = out["path"][:, 0]
    expected = _replay_log_prob(net, sim, images, labels, corners, out["moves"])
    torch.testing.assert_close(out["log_prob"], expected)
    # a policy that is near-uniform at init gives log p_tau close to T * N * ln(1/4), and strictly below 0
    assert bool((out["log_prob"] < 0).all())
    uniform = cfg.n_steps * cfg.n_agents * math.log(0.25)
    torch.testing.assert_close(out["log_prob"], torch.full_like(out["log_prob"], uniform), atol=0.15 * abs(uniform),
                               rtol=0)


def test_log_prob_stays_finite_when_the_product_would_underflow(tiny_config):
    cfg = tiny_config(n_agents=6, n_steps=40, window=2)
    net, sim = _setup(cfg)
    with torch.no_grad():  # make pi put ~e^-60 on three moves: a product of probabilities underflows to 0
        net.policy.weight.zero_()
        net.policy.bias.copy_(torch.tensor([60.0, 0.0, 0.0, 0.0]))
    images, labels = _images(3)
    g = torch.Generator().manual_seed(0)
    state = sim.reset(images, labels, generator=g)
    out = run_episode(net, sim, images, labels, g, "random")
    assert torch.allclose(out["log_prob"], torch.full((3,), 40 * 6 * math.log(0.25)))
    moves = torch.randint(1, 4, (3, 40, 6), generator=g)  # only the unlikely moves
    expected_each = torch.log_softmax(torch.tensor([60.0, 0, 0, 0]), 0)[1]
    total = _replay_log_prob(net, sim, images, labels, state.corners, moves)
    assert torch.isfinite(total).all()
    torch.testing.assert_close(total, torch.full((3,), 240 * float(expected_each)))
    assert float(torch.exp(total.detach()).max()) == 0.0  # the product form would have lost it


def test_sample_moves_follows_pi():
    logits = torch.log(torch.tensor([0.1, 0.2, 0.3, 0.4])).expand(20000, 1, 4)
    moves, log_probs = sample_moves(logits, torch.Generator().manual_seed(0))
    freq = torch.bincount(moves.flatten(), minlength=4).float() / moves.numel()
    torch.testing.assert_close(freq, torch.tensor([0.1, 0.2, 0.3, 0.4]), atol=0.015, rtol=0)
    torch.testing.assert_close(log_probs.exp(), torch.tensor([0.1, 0.2, 0.3, 0.4])[moves])


def test_messages_reach_other_agents(tiny_config):
    """Agent 1's prediction depends on agent 0's window only through the routed messages (per-agent predictions:
    combine='probs'; with 'logits' every agent reports the shared mean)."""
    cfg = tiny_config(n_agents=2, n_steps=2, combine="probs")
    net, sim = _setup(cfg)
    images, labels = _images(1)
    corners = torch.tensor([[[0, 0], [4, 4]]])
    base = run_episode(net, sim, images, labels, torch.Generator().manual_seed(0), "greedy", corners=corners)
    changed = images.clone()
    changed[..., :4, :4] = 255 - changed[..., :4, :4]  # only agent 0's first window changes ...
    other = run_episode(net, sim, changed, labels, torch.Generator().manual_seed(0), "greedy", corners=corners)
    assert not torch.allclose(base["probs"][0, 1], other["probs"][0, 1])
    silent = tiny_config(n_agents=2, n_steps=2, graph="none", combine="probs")
    net2, sim2 = _setup(silent)
    a = run_episode(net2, sim2, images, labels, torch.Generator().manual_seed(0), "greedy", corners=corners)
    b = run_episode(net2, sim2, changed, labels, torch.Generator().manual_seed(0), "greedy", corners=corners)
    if bool((a["moves"] == b["moves"]).all()):  # ... so without a graph agent 1 cannot notice
        torch.testing.assert_close(a["probs"][0, 1], b["probs"][0, 1])


def test_reinforce_loss_terms(tiny_config):
    cfg = tiny_config(entropy_coef=0.0)
    reward = torch.tensor([-1.0, -0.5, -0.2, -0.3], requires_grad=True)
    log_prob = torch.tensor([-5.0, -4.0, -6.0, -3.0], requires_grad=True)
    probs = torch.full((4, 2, 10), 0.1)
    loss, stats = reinforce_loss(dict(reward=reward, log_prob=log_prob, entropy=torch.zeros(4), probs=probs),
                                 torch.zeros(4, dtype=torch.long), cfg)
    loss.backward()
    adv = advantage(reward, "mean", True)
    torch.testing.assert_close(log_prob.grad, -adv / 4)
    torch.testing.assert_close(reward.grad, torch.full((4,), -0.25))  # r^d carries no gradient
    assert abs(float(adv.mean())) < 1e-6
    raw = advantage(reward, "none", False)
    torch.testing.assert_close(raw, reward.detach())
    with pytest.raises(ValueError, match="baseline"):
        advantage(reward, "critic", False)


def test_reinforce_loss_entropy_and_cross_entropy_terms_by_hand(tiny_config):
    """The loss is minus the objective log p * adv + r + entropy_coef * H - ce_weight * CE(p_bar): every earlier loss
    test ran with entropy_coef=0 and no ce_weight, so a flipped sign in either term went unnoticed."""
    cfg = tiny_config(entropy_coef=0.1, ce_weight=0.5, baseline="none", normalize_advantage=False)
    reward = torch.tensor([-1.0, -0.5])
    log_prob = torch.tensor([-5.0, -4.0], requires_grad=True)
    entropy = torch.tensor([2.0, 3.0], requires_grad=True)
    probs = torch.tensor([[[0.7, 0.2, 0.1], [0.5, 0.3, 0.2]], [[0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]], requires_grad=True)
    labels = torch.tensor([0, 2])
    loss, _ = reinforce_loss(dict(reward=reward, log_prob=log_prob, entropy=entropy, probs=probs), labels, cfg)
    p_bar_true = torch.tensor([(0.7 + 0.5) / 2, (0.8 + 0.4) / 2])
    objective = ((log_prob.detach() * reward).mean() + reward.mean() + 0.1 * entropy.detach().mean()
                 - 0.5 * (-p_bar_true.log()).mean())
    torch.testing.assert_close(loss.detach(), -objective)
    loss.backward()
    torch.testing.assert_close(entropy.grad, torch.full((2,), -0.1 / 2))  # more entropy lowers the loss
    # d loss / d p_i[label] = -ce_weight * (1 / B) * (1 / N) / p_bar[label] < 0: a likelier true class lowers it
    expected = -0.5 / 2 / 2 / p_bar_true
    torch.testing.assert_close(probs.grad[torch.arange(2), 0, labels], expected)
    torch.testing.assert_close(probs.grad[torch.arange(2), 1, labels], expected)


def test_greedy_baseline_is_the_greedy_rollouts_reward(tiny_config):
    reward = torch.tensor([-1.0, -0.5, -0.2, -0.3])
    greedy = torch.tensor([-0.8, -0.5, -0.4, -0.1])
    torch.testing.assert_close(advantage(reward, "greedy", False, greedy), reward - greedy)
    scaled = advantage(reward, "greedy", True, greedy)
    torch.testing.assert_close(scaled, (reward - greedy) / ((reward - greedy).std() + 1e-8))
    with pytest.raises(ValueError, match="baseline_reward"):
        advantage(reward, "greedy", False)
    cfg = tiny_config(baseline="greedy", entropy_coef=0.0)
    log_prob = torch.tensor([-5.0, -4.0, -6.0, -3.0], requires_grad=True)
    episode = dict(reward=reward, log_prob=log_prob, entropy=torch.zeros(4), probs=torch.full((4, 2, 10), 0.1),
                   baseline_reward=greedy)
    loss, _ = reinforce_loss(episode, torch.zeros(4, dtype=torch.long), cfg)
    loss.backward()
    torch.testing.assert_close(log_prob.grad, -scaled / 4)
    with pytest.raises(ValueError, match="greedy"):
        reinforce_loss({k: v for k, v in episode.items() if k != "baseline_reward"}, torch.zeros(4, dtype=torch.long),
                       cfg)


def test_leave_one_out_baseline_by_hand(tiny_config):
    """baseline='loo': each episode minus the mean reward of its image's other K - 1 episodes (groups of K in a row)."""
    reward = torch.tensor([1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 6.0, 6.0])
    expected = torch.tensor([1 - 3, 2 - 8 / 3, 3 - 7 / 3, 4 - 2, 0 - 4, 0 - 4, 6 - 2, 6 - 2])
    torch.testing.assert_close(advantage(reward, "loo", False, group_size=4), expected)
    torch.testing.assert_close(advantage(reward, "loo", False, group_size=2),
                               torch.tensor([-1.0, 1.0, -1.0, 1.0, 0.0, 0.0, 0.0, 0.0]))
    torch.testing.assert_close(advantage(reward, "loo", True, group_size=4), expected / (expected.std() + 1e-8))
    for bad in (1, 3):  # one episode per group has no "others"; 3 does not divide 8 episodes
        with pytest.raises(ValueError, match="group_size"):
            advantage(reward, "loo", False, group_size=bad)
    cfg = tiny_config(baseline="loo", rollouts_per_image=4, normalize_advantage=False, entropy_coef=0.0)
    log_prob = torch.zeros(8, requires_grad=True)
    episode = dict(reward=reward, log_prob=log_prob, entropy=torch.zeros(8), probs=torch.full((8, 2, 10), 0.1))
    loss, _ = reinforce_loss(episode, torch.zeros(8, dtype=torch.long), cfg)
    loss.backward()
    torch.testing.assert_close(log_prob.grad, -expected / 8)


def test_leave_one_out_needs_several_rollouts_per_image():
    with pytest.raises(ValueError, match="rollouts_per_image >= 2"):
        AgentConfig(baseline="loo")
    with pytest.raises(ValueError, match="AgentConfig.rollouts_per_image"):
        AgentConfig(rollouts_per_image=0)
    cfg = AgentConfig(baseline="loo", rollouts_per_image=3)
    assert AgentConfig.from_dict(cfg.to_dict()) == cfg


def test_eval_corners_fit_and_do_not_depend_on_batching():
    rows = np.arange(100)
    all_rows = eval_corners(rows, 3, 28, 28, 6, seed=7)
    assert all_rows.shape == (100, 3, 2)
    assert int(all_rows.min()) >= 0 and int(all_rows.max()) <= 22
    torch.testing.assert_close(eval_corners(rows[[5, 50, 99]], 3, 28, 28, 6, seed=7), all_rows[[5, 50, 99]])
    assert not torch.equal(eval_corners(rows, 3, 28, 28, 6, seed=8), all_rows)
    assert len({tuple(c) for c in all_rows[:, 0].tolist()}) > 50  # spread over the image


def test_config_validation():
    with pytest.raises(ValueError, match="AgentConfig.belief"):
        AgentConfig(belief="rnn")
    with pytest.raises(ValueError, match="AgentConfig.n_agents"):
        AgentConfig(n_agents=0)
    with pytest.raises(ValueError, match="Unknown AgentConfig field"):
        AgentConfig.from_dict({"hidden": 3})
    cfg = AgentConfig.for_dataset("mnist", belief="lstm")
    assert (cfg.n_agents, cfg.n_steps, cfg.window, cfg.belief) == (3, 5, 6, "lstm")
    assert AgentConfig.from_dict(cfg.to_dict()) == cfg
    assert AgentConfig.for_dataset("ham10000").n_agents == 16


@pytest.mark.parametrize("detach", [True, False])
def test_policy_gradient_reaches_shared_trunk_only_without_detach(tiny_config, detach):
    cfg = tiny_config(detach_policy_input=detach)
    net, sim = _setup(cfg)
    images, labels = _images(8)
    out = run_episode(net, sim, images, labels, torch.Generator().manual_seed(0), "sample")
    (out["log_prob"] * advantage(out["reward"], "mean", True)).mean().backward()
    assert net.policy.weight.grad.abs().sum() > 0 and net.decision_rnn.weight_ih.grad.abs().sum() > 0
    trunk = net.features.linear.weight.grad
    assert (trunk is None or float(trunk.abs().sum()) == 0.0) == detach


def test_step_rewards_score_earlier_steps(tiny_config):
    cfg = tiny_config(step_reward_weight=0.5)
    net, sim = _setup(cfg)
    images, labels = _images(4)
    out = run_episode(net, sim, images, labels, torch.Generator().manual_seed(0), "greedy", step_rewards=True)
    assert out["step_reward"].shape == (4, cfg.n_steps - 1)
    assert bool((out["step_reward"] <= 0).all())
    plain, _ = reinforce_loss({**out, "step_reward": torch.zeros(4, cfg.n_steps - 1)}, labels, cfg)
    with_steps, _ = reinforce_loss(out, labels, cfg)
    torch.testing.assert_close(with_steps - plain, -0.5 * out["step_reward"].mean())


def test_clip_gradients_clips_policy_and_classifier_groups_separately(tiny_config):
    """A huge policy gradient is clipped to max_norm without shrinking a small classifier gradient."""
    net = MultiAgentNet(tiny_config(), 10, 1)
    groups = net.parameter_groups()
    for p in groups["policy"]:
        p.grad = torch.full_like(p, 100.0)
    for p in groups["classifier"]:
        p.grad = torch.full_like(p, 1e-4)
    classifier_before = [p.grad.clone() for p in groups["classifier"]]
    net.clip_gradients(1.0)
    norm = torch.linalg.vector_norm(torch.cat([p.grad.reshape(-1) for p in groups["policy"]]))
    assert norm.item() == pytest.approx(1.0, rel=1e-4)
    assert all(torch.equal(p.grad, before) for p, before in zip(groups["classifier"], classifier_before))


def test_lstm_head_reads_the_cell_state_as_appendix_a4_writes(tiny_config):
    """p_i = p(c_i(T)) for the LSTM (paper A.4, and the public reimplementation's predict); 'hidden' reads h."""
    h, c = torch.randn(2, 2, 16), torch.randn(2, 2, 16)
    state_lstm = MultiAgentNet(tiny_config(belief="lstm"), 10, 1).initial_state(2, 2, "cpu")
    for head, read in (("cell", c), ("hidden", h)):
        torch.manual_seed(0)
        net = MultiAgentNet(tiny_config(belief="lstm", lstm_head=head, combine="probs"), 10, 1)
        state = type(state_lstm)(h, torch.zeros_like(h), c, torch.zeros_like(c))
        torch.testing.assert_close(net.predict_logits(state), net.prediction(read))
    gru = MultiAgentNet(tiny_config(belief="gru", combine="probs"), 10, 1)
    torch.testing.assert_close(gru.predict_logits(type(state_lstm)(h, h)), gru.prediction(h))
    with pytest.raises(ValueError, match="lstm_head='hidden' applies only to belief='lstm'"):
        tiny_config(belief="gru", lstm_head="hidden")
    with pytest.raises(ValueError, match="lstm_head must be one of"):
        tiny_config(belief="lstm", lstm_head="c")


def test_combine_logits_is_a_product_of_experts(tiny_config):
    """combine='logits': every agent reports the mean raw vector, so p_bar = softmax(mean_i p_i), not the mean of
    the agents' softmaxes; the reward is scored on that p_bar."""
    torch.manual_seed(0)
    per_agent = MultiAgentNet(tiny_config(combine="probs"), 10, 1)
    pooled = MultiAgentNet(tiny_config(), 10, 1)
    assert pooled.config.combine == "logits"  # the default
    pooled.load_state_dict(per_agent.state_dict())
    state = per_agent.initial_state(3, 2, "cpu")
    state = type(state)(torch.randn(3, 2, 16), state.decision_h)
    raw = per_agent.predict_logits(state)
    torch.testing.assert_close(pooled.predict_logits(state), raw.mean(1, keepdim=True).expand(3, 2, 10))
    sim = Simulator(tiny_config(combine="logits").sim_config, 10)
    images, labels = _images(4)
    out = run_episode(pooled, sim, images, labels, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out["probs"][:, 0], out["probs"][:, 1])
    p_bar = torch.softmax(out["logits"].mean(1), -1)
    torch.testing.assert_close(out["reward"], -((p_bar - torch.eye(10)[labels]) ** 2).sum(-1))
    with pytest.raises(ValueError, match="combine must be one of"):
        tiny_config(combine="mean")
