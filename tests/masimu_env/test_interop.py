"""Optional-extra smoke tests: the env driven by TorchRL and by Ray RLlib (skipped when they are not installed)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import masimu_env


@pytest.mark.parametrize("kwargs", [dict(action_mode="multidiscrete", obs_mode="flat"), dict()],
                         ids=["multidiscrete-flat", "dict-dict"])
def test_torchrl_pettingzoo_wrapper_rollout(kwargs):
    pytest.importorskip("torchrl")
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper
    from torchrl.envs.utils import check_env_specs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchRL warns it was tested with another PettingZoo version
        env = PettingZooWrapper(masimu_env.parallel_env("digits", seed=0, **kwargs), categorical_actions=True,
                                use_mask=False, seed=0)
        check_env_specs(env, seed=0)
    assert env.group_map == {"agent": ["agent_0", "agent_1", "agent_2"]}
    steps = 3 * 5  # three episodes of T = 5
    rollout = env.rollout(steps, break_when_any_done=False)
    reward = rollout["next", "agent", "reward"].squeeze(-1)  # (steps, N)
    done = rollout["next", "agent", "terminated"].squeeze(-1)
    assert reward.shape == (steps, 3)
    terminal = torch.zeros(steps, dtype=torch.bool)
    terminal[4::5] = True
    assert torch.equal(done.all(-1), terminal) and torch.equal(done.any(-1), terminal)
    assert bool((reward[~terminal] == 0).all()) and bool((reward[terminal] < 0).all())
    assert bool((reward[terminal] == reward[terminal][:, :1]).all())  # shared team reward


def test_torchrl_shared_policy_rollout():
    """A shared-parameter TorchRL policy (MultiAgentMLP) acting through the wrapper for a few episodes."""
    pytest.importorskip("torchrl")
    from tensordict.nn import TensorDictModule
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper
    from torchrl.modules import MultiAgentMLP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        env = PettingZooWrapper(masimu_env.parallel_env("digits", seed=1, action_mode="multidiscrete", obs_mode="flat"),
                                categorical_actions=True, use_mask=False, seed=1)
    n_obs = env.observation_spec["agent", "observation"].shape[-1]
    net = MultiAgentMLP(n_obs, 4 + 10, n_agents=3, centralized=False, share_params=True, depth=1, num_cells=16)

    class Greedy(torch.nn.Module):
        def forward(self, obs):
            logits = net(obs)
            return torch.stack([logits[..., :4].argmax(-1), logits[..., 4:].argmax(-1)], dim=-1)

    policy = TensorDictModule(Greedy(), in_keys=[("agent", "observation")], out_keys=[("agent", "action")])
    rollout = env.rollout(10, policy=policy, break_when_any_done=False)
    actions = rollout["agent", "action"]
    assert actions.shape == (10, 3, 2) and int(actions[..., 0].max()) < 4 and int(actions[..., 1].max()) < 10
    assert int(rollout["next", "agent", "terminated"].sum()) == 2 * 3


@pytest.mark.slow  # ~40 s (Ray start-up); passed with ray 2.60.0
def test_rllib_ppo_few_iterations():
    pytest.importorskip("ray.rllib")
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    def creator(_config):
        return ParallelPettingZooEnv(masimu_env.parallel_env("digits", action_mode="multidiscrete", obs_mode="flat",
                                                             seed=0))

    register_env("masimu_digits", creator)
    ray.init(num_cpus=1, include_dashboard=False, ignore_reinit_error=True)
    try:
        config = (PPOConfig().environment("masimu_digits").framework("torch")
                  .env_runners(num_env_runners=0)
                  .training(train_batch_size=100, minibatch_size=50, num_epochs=1)
                  .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent_id, *a, **k: "shared"))
        algo = config.build()
        results = [algo.train() for _ in range(2)]
        algo.stop()
    finally:
        ray.shutdown()
    episode_return = float(results[-1]["env_runners"]["episode_return_mean"])
    assert np.isfinite(episode_return) and episode_return <= 0.0  # sum of N terminal rewards -||p_bar - e||^2
