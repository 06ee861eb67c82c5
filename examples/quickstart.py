"""Quickstart: the masimu PettingZoo environment with a random policy, one rendered frame and a GIF.

    python examples/quickstart.py [--dataset digits] [--out quickstart_frame.png]
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

import masimu_env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--root", default=None, help="dataset folder (default $MASIMU_DATA/<dataset>)")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="quickstart_frame.png")
    parser.add_argument("--gif", default=None, help="also write an episode GIF here")
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error(f"--episodes must be >= 1; got {args.episodes}.")

    env = masimu_env.parallel_env(args.dataset, root=args.root, render_mode="rgb_array")
    print(f"{env.config.n_agents} agents, {env.config.n_steps} steps, window {env.config.window}, "
          f"{env.dataset.num_classes} classes, {len(env.dataset)} images")
    print("observation space of agent_0:", env.observation_space("agent_0"))
    print("action space of agent_0:", env.action_space("agent_0"))

    returns = []
    for episode in range(args.episodes):
        observations, infos = env.reset(seed=args.seed + episode)
        while env.agents:
            actions = {agent: env.action_space(agent).sample() for agent in env.agents}
            observations, rewards, terminations, truncations, infos = env.step(actions)
            if all(terminations.values()):
                returns.append(np.mean(list(rewards.values())))
    frame = env.render()
    Image.fromarray(frame).save(args.out)
    print(f"mean episode reward of a random policy over {args.episodes} episodes: {np.mean(returns):.3f} "
          f"(best possible 0, -||p_bar - e_i||^2)")
    print(f"wrote the last frame ({frame.shape[1]}x{frame.shape[0]}) to {args.out}")
    if args.gif:
        path = masimu_env.save_episode_gif(env, args.gif, seed=args.seed)
        print(f"wrote {path}")
    env.close()


if __name__ == "__main__":
    main()
