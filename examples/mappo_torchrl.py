"""MAPPO on the masimu PettingZoo env with TorchRL: shared-parameter actor, centralised critic.

The masimu parallel env on ``digits`` (action_mode="multidiscrete": each agent's action is
MultiDiscrete([4, K]), a move and a class vote; obs_mode="flat": one float vector per agent) is wrapped
by TorchRL's ``PettingZooWrapper``, which stacks the N agents into one ``"agent"`` group. The actor is
one MLP shared by all agents that reads only the agent's own observation; the critic is a centralised
MLP that reads every agent's observation, i.e. the env's global ``state()`` (MAPPO, Yu et al. 2022).
Training uses TorchRL's ``Collector``, ``ClipPPOLoss`` and GAE.

Before and after training, the greedy policy plays every image of the held-out ``test`` split once
(plain PettingZoo loop, labels from ``infos``). Two accuracies are printed; a policy that ignores the
image scores 0.10 on both in expectation:

* mean-vote accuracy: p_bar[label], the share of agents whose final vote is the true class;
* majority-vote accuracy: 1 when the true class gets the most final votes (1/m when m classes tie).

Usage:
    python examples/mappo_torchrl.py                  # a few minutes on 2 CPU cores
    python examples/mappo_torchrl.py --quick          # seconds; CI smoke run
    python examples/mappo_torchrl.py --iterations 100 --seed 1

Needs the ``torchrl`` extra: ``pip install "masimu[torchrl]"``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from tensordict.nn import TensorDictModule
from torch import Tensor, nn
from torchrl.collectors import Collector
from torchrl.envs.libs.pettingzoo import PettingZooWrapper
from torchrl.modules import MultiAgentMLP, ProbabilisticActor
from torchrl.objectives import ClipPPOLoss, ValueEstimators

import masimu_env
from _vote_eval import evaluate_votes, positive_int, report

GROUP = "agent"  # TorchRL groups agents named "agent_<i>" under this key
N_MOVES = 4

# TorchRL warns that it was tested with PettingZoo 1.24.3; the parallel API it uses is unchanged since.
warnings.filterwarnings("ignore", message="PettingZoo in TorchRL is tested")


class MultiCategorical(torch.distributions.Distribution):
    """Independent categoricals over the sub-actions of a MultiDiscrete action (here: move, vote).

    Args:
        logits: (..., sum(nvec)) float, the sub-actions' logits laid end to end.
        nvec: number of choices of each sub-action, e.g. (4, K).
    """

    arg_constraints: dict = {}

    def __init__(self, logits: Tensor, nvec: tuple[int, ...]) -> None:
        self.nvec = tuple(int(n) for n in nvec)
        self.parts = [torch.distributions.Categorical(logits=chunk) for chunk in logits.split(self.nvec, dim=-1)]
        super().__init__(batch_shape=logits.shape[:-1], event_shape=torch.Size([len(self.nvec)]), validate_args=False)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        """(*sample_shape, ..., len(nvec)) long."""
        return torch.stack([part.sample(sample_shape) for part in self.parts], dim=-1)

    def log_prob(self, value: Tensor) -> Tensor:
        """(...) float, the sum of the sub-actions' log-probabilities."""
        return sum(part.log_prob(value[..., i]) for i, part in enumerate(self.parts))

    def entropy(self) -> Tensor:
        return sum(part.entropy() for part in self.parts)

    @property
    def mode(self) -> Tensor:
        return torch.stack([part.logits.argmax(-1) for part in self.parts], dim=-1)

    @property
    def deterministic_sample(self) -> Tensor:
        return self.mode


def make_env(split: str, seed: int, window: int, n_steps: int) -> masimu_env.MasimuParallelEnv:
    """The masimu digits env in the modes TorchRL's default modules handle: discrete actions, flat obs."""
    return masimu_env.parallel_env("digits", split=split, action_mode="multidiscrete", obs_mode="flat",
                                   window=window, n_steps=n_steps, seed=seed)


def build_modules(env: PettingZooWrapper, nvec: tuple[int, ...], hidden: int
                  ) -> tuple[ProbabilisticActor, TensorDictModule, MultiAgentMLP]:
    """Shared-parameter decentralised actor, centralised critic, and the actor's bare logits network."""
    n_agents = len(env.group_map[GROUP])
    n_features = env.observation_spec[GROUP, "observation"].shape[-1]
    actor_net = MultiAgentMLP(n_features, sum(nvec), n_agents, centralized=False, share_params=True,
                              depth=2, num_cells=hidden, activation_class=nn.Tanh)
    actor = ProbabilisticActor(
        TensorDictModule(actor_net, in_keys=[(GROUP, "observation")], out_keys=[(GROUP, "logits")]),
        in_keys={"logits": (GROUP, "logits")},
        out_keys=[(GROUP, "action")],
        spec=env.full_action_spec,
        distribution_class=MultiCategorical,
        distribution_kwargs={"nvec": nvec},
        return_log_prob=True,
        log_prob_key=(GROUP, "sample_log_prob"),
    )
    # centralized=True: every agent's value head sees all N observations (= the env's state()).
    critic_net = MultiAgentMLP(n_features, 1, n_agents, centralized=True, share_params=True,
                               depth=2, num_cells=hidden, activation_class=nn.Tanh)
    critic = TensorDictModule(critic_net, in_keys=[(GROUP, "observation")], out_keys=[(GROUP, "state_value")])
    return actor, critic, actor_net


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=positive_int, default=30, help="collect/update iterations (default 30)")
    parser.add_argument("--frames-per-batch", type=positive_int, default=1000, help="env steps per iteration (default 1000)")
    parser.add_argument("--epochs", type=positive_int, default=4, help="PPO epochs per iteration")
    parser.add_argument("--minibatch", type=positive_int, default=250, help="env steps per PPO minibatch")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=positive_int, default=128)
    parser.add_argument("--entropy", type=float, default=0.01, help="entropy bonus coefficient")
    parser.add_argument("--window", type=positive_int, default=6,
                        help="side of each agent's view in pixels (default 6 of the 8x8 digit; the paper's "
                             "digits default 4 learns much more slowly)")
    parser.add_argument("--n-steps", type=positive_int, default=3, help="moves per episode, T (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="torch intra-op threads; 1 is fastest for these tiny per-step tensors (default 1)")
    parser.add_argument("--eval-images", type=positive_int, default=None, help="test images per evaluation (default all)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny run for CI: 2 iterations of 50 steps, 20 test images (flags given explicitly win)")
    args = parser.parse_args(argv)
    if args.quick:  # tiny defaults; flags given explicitly still win
        parser.set_defaults(iterations=2, frames_per_batch=50, minibatch=25, eval_images=20)
        args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    train_env = make_env("train", args.seed, args.window, args.n_steps)
    eval_env = make_env("test", args.seed + 1, args.window, args.n_steps)
    env = PettingZooWrapper(train_env, categorical_actions=True, seed=args.seed)
    nvec = tuple(int(n) for n in train_env.action_space(train_env.possible_agents[0]).nvec)  # (4, K)
    actor, critic, actor_net = build_modules(env, nvec, args.hidden)
    print(f"TorchRL MAPPO on masimu digits: agents {env.group_map[GROUP]}, action MultiDiscrete{list(nvec)} "
          f"(move, vote), flat obs of {env.observation_spec[GROUP, 'observation'].shape[-1]} floats", flush=True)
    results = {"before": evaluate_votes(actor_net, eval_env, args.seed, args.eval_images)}
    report("before training", results["before"])

    # --- PPO machinery ---
    loss_module = ClipPPOLoss(actor, critic, clip_epsilon=0.2, entropy_coeff=args.entropy, normalize_advantage=True,
                              normalize_advantage_exclude_dims=(-2,))  # normalise per agent, not across agents
    loss_module.set_keys(reward=(GROUP, "reward"), action=(GROUP, "action"), value=(GROUP, "state_value"),
                         sample_log_prob=(GROUP, "sample_log_prob"), done=(GROUP, "done"),
                         terminated=(GROUP, "terminated"))
    loss_module.make_value_estimator(ValueEstimators.GAE, gamma=1.0, lmbda=0.95)
    optimizer = torch.optim.Adam(loss_module.parameters(), lr=args.lr)
    collector = Collector(env, actor, frames_per_batch=args.frames_per_batch,
                          total_frames=args.frames_per_batch * args.iterations, auto_register_policy_transforms=False)

    start = time.perf_counter()
    for iteration, batch in enumerate(collector):
        # --- advantages ---
        with torch.no_grad():
            loss_module.value_estimator(batch, params=loss_module.critic_network_params,
                                        target_params=loss_module.target_critic_network_params)
        data = batch.reshape(-1)
        # --- update ---
        for _ in range(args.epochs):
            for idx in torch.randperm(data.numel()).split(args.minibatch):
                losses = loss_module(data[idx])
                loss = losses["loss_objective"] + losses["loss_critic"] + losses["loss_entropy"]
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(loss_module.parameters(), 1.0)
                optimizer.step()
        collector.update_policy_weights_()
        if iteration % 10 == 0 or iteration == args.iterations - 1:
            final_rewards = batch["next", GROUP, "reward"][batch["next", GROUP, "done"]]
            print(f"iter {iteration:4d}  env steps {(iteration + 1) * args.frames_per_batch:7d}  "
                  f"train episode reward {final_rewards.mean():.3f}  ({time.perf_counter() - start:.0f}s)", flush=True)
    collector.shutdown()

    results["after"] = evaluate_votes(actor_net, eval_env, args.seed, args.eval_images)
    report("after training", results["after"])
    return results


if __name__ == "__main__":
    main()
