"""PPO on the masimu PettingZoo env with Ray RLlib: one policy shared by all agents.

The masimu parallel env on ``digits`` (action_mode="multidiscrete": MultiDiscrete([4, K]) move + class
vote per agent; obs_mode="flat": one float vector per agent) is wrapped by RLlib's
``ParallelPettingZooEnv`` and trained with RLlib's PPO on its new API stack (RLModule + Learner).
Every agent maps to the single policy "shared" (parameter sharing); RLlib's default MLP module
handles the flat Box observation and the MultiDiscrete action (independent categorical heads).

Before and after training, the greedy policy plays every image of the held-out ``test`` split once
(plain PettingZoo loop, labels from ``infos``). Two accuracies are printed; a policy that ignores the
image scores 0.10 on both in expectation:

* mean-vote accuracy: p_bar[label], the share of agents whose final vote is the true class;
* majority-vote accuracy: 1 when the true class gets the most final votes (1/m when m classes tie).

Scaling out: by default the script starts a private local Ray instance and samples in the driver
process. To use a Ray cluster, start it (``ray start --head`` on the head node, ``ray start
--address=HEAD:6379`` on the others) and pass its address, plus remote env runners to spread sampling::

    python examples/ppo_rllib.py --address auto --env-runners 8             # on a cluster node
    python examples/ppo_rllib.py --address ray://HEAD:10001 --env-runners 8  # from outside (Ray Client)

which calls ``ray.init(address=...)`` before the algorithm is built. Every node needs this package
installed (``pip install "masimu[rllib]"``) so that remote env runners can build the env.

Usage:
    python examples/ppo_rllib.py                  # a few minutes on 2 CPU cores
    python examples/ppo_rllib.py --quick          # CI smoke run
    python examples/ppo_rllib.py --iterations 60 --seed 1

Needs the ``rllib`` extra. ``ray[rllib]`` pins gymnasium 1.2.2, so install it in its own virtual
environment if your main one needs a newer gymnasium.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

import masimu_env
from _vote_eval import evaluate_votes, positive_int, report
from masimu_env.argtypes import non_negative_int

ENV_NAME = "masimu_digits_multidiscrete"
POLICY = "shared"


def make_env(split: str, seed: int, window: int, n_steps: int) -> masimu_env.MasimuParallelEnv:
    """The masimu digits env in the modes RLlib's default modules handle: discrete actions, flat obs."""
    return masimu_env.parallel_env("digits", split=split, action_mode="multidiscrete", obs_mode="flat",
                                   window=window, n_steps=n_steps, seed=seed)


def make_rllib_env(env_config: dict[str, Any]):
    """Env creator registered with Ray; runs in every env runner process, each with its own seed."""
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    torch.set_num_threads(1)  # the env runner's per-step tensors are tiny; extra threads only contend
    seed = env_config["seed"] + 1000 * getattr(env_config, "worker_index", 0) + getattr(env_config, "vector_index", 0)
    return ParallelPettingZooEnv(make_env("train", seed, env_config["window"], env_config["n_steps"]))


def greedy_logits(module: Any):
    """(N, D) observations -> (N, 4 + K) action logits of the trained RLlib ``RLModule`` of the shared policy."""
    return lambda obs: module.forward_inference({"obs": obs})["action_dist_inputs"]


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=positive_int, default=30, help="algo.train() calls (default 30)")
    parser.add_argument("--batch", type=positive_int, default=1000, help="env steps per training batch (default 1000)")
    parser.add_argument("--epochs", type=positive_int, default=4, help="PPO epochs per batch")
    parser.add_argument("--minibatch", type=positive_int, default=250, help="agent steps per PPO minibatch")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=positive_int, default=128)
    parser.add_argument("--entropy", type=float, default=0.01, help="entropy bonus coefficient")
    parser.add_argument("--window", type=positive_int, default=6,
                        help="side of each agent's view in pixels (default 6 of the 8x8 digit; the paper's "
                             "digits default 4 learns much more slowly)")
    parser.add_argument("--n-steps", type=positive_int, default=3, help="moves per episode, T (default 3)")
    parser.add_argument("--threads", type=positive_int, default=1,
                        help="torch intra-op threads of the driver (learner); 1 is fastest for these small batches")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join: 'auto' on a cluster node, 'ray://HEAD:10001' via Ray Client; "
                             "default: start a private local Ray instance")
    parser.add_argument("--env-runners", type=non_negative_int, default=0,
                        help="remote env runner actors that sample in parallel (0: sample in the driver; "
                             "raise it on a cluster)")
    parser.add_argument("--num-cpus", type=positive_int, default=2, help="CPUs of the private local Ray instance")
    parser.add_argument("--eval-images", type=positive_int, default=None, help="test images per evaluation (default all)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny run for CI: 2 iterations of 100 steps, 20 test images (flags given explicitly win)")
    args = parser.parse_args(argv)
    if args.quick:  # tiny defaults; flags given explicitly still win
        parser.set_defaults(iterations=2, batch=100, minibatch=50, eval_images=20)
        args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)

    try:
        import ray
    except ModuleNotFoundError:
        parser.error("needs Ray RLlib: pip install -e '.[rllib]' (in its own virtual environment; see the docstring).")
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec
    from ray.tune.registry import register_env

    # --- Ray: a cluster when --address is given, else a private local instance ---
    if args.address is not None:
        ray.init(address=args.address)  # "auto" or "ray://HEAD:10001"
    else:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    register_env(ENV_NAME, make_rllib_env)

    # --- PPO with one shared policy ---
    probe = make_env("train", args.seed, args.window, args.n_steps)
    agents = probe.possible_agents
    config = (
        PPOConfig()
        .environment(ENV_NAME, env_config={"seed": args.seed, "window": args.window, "n_steps": args.n_steps})
        .framework("torch")
        # episodes_to_numpy=False: RLlib 2.60 re-converts every finished episode of a sample() call at each
        # env step, which is quadratic in the episode count for short episodes like these (T = 3 steps).
        .env_runners(num_env_runners=args.env_runners, num_envs_per_env_runner=1, rollout_fragment_length="auto",
                     episodes_to_numpy=False)
        .multi_agent(policies={POLICY}, policy_mapping_fn=lambda agent_id, episode, **kwargs: POLICY)
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={POLICY: RLModuleSpec(
            model_config=DefaultModelConfig(fcnet_hiddens=[args.hidden, args.hidden], fcnet_activation="tanh",
                                            vf_share_layers=False))}))
        .training(train_batch_size_per_learner=args.batch, minibatch_size=args.minibatch, num_epochs=args.epochs,
                  lr=args.lr, gamma=1.0, lambda_=0.95, entropy_coeff=args.entropy, clip_param=0.2, grad_clip=1.0)
        .debugging(seed=args.seed, log_level="ERROR")
    )
    algo = config.build_algo()
    module = algo.get_module(POLICY)
    print(f"RLlib PPO on masimu digits: agents {agents} -> policy {POLICY!r}, action "
          f"{probe.action_space(agents[0])} (move, vote), flat obs {probe.observation_space(agents[0]).shape}, "
          f"Ray {ray.__version__}, {args.env_runners} remote env runners", flush=True)

    eval_env = make_env("test", args.seed + 1, args.window, args.n_steps)
    results = {"before": evaluate_votes(greedy_logits(module), eval_env, args.seed, args.eval_images)}
    report("before training", results["before"])

    start = time.perf_counter()
    for iteration in range(args.iterations):
        result = algo.train()
        if iteration % 5 == 0 or iteration == args.iterations - 1:
            runner = result.get("env_runners", {})
            steps = result.get("num_env_steps_sampled_lifetime", runner.get("num_env_steps_sampled_lifetime", 0))
            print(f"iter {iteration:4d}  env steps {int(steps):7d}  train episode reward "
                  f"{runner.get('episode_return_mean', float('nan')) / len(agents):.3f}  "
                  f"({time.perf_counter() - start:.0f}s)", flush=True)

    module = algo.get_module(POLICY)
    results["after"] = evaluate_votes(greedy_logits(module), eval_env, args.seed, args.eval_images)
    report("after training", results["after"])
    algo.stop()
    ray.shutdown()
    return results


if __name__ == "__main__":
    main()
