"""Quickstart: the masimu PettingZoo environment with a random policy, one rendered frame and a GIF.

    python examples/quickstart.py [--dataset digits] [--out quickstart_frame.png]
    python examples/quickstart.py --dataset ham10000 --root ../shared/data/ham10000 --split test --only-available
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

import masimu_env
from masimu_env.argtypes import non_negative_int, positive_int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="digits (embedded), mnist, cifar10, resisc45, ham10000")
    parser.add_argument("--root", default=None, help="dataset folder (default $MASIMU_DATA/<dataset>)")
    parser.add_argument("--split", default="train", help="train (default), test or all")
    parser.add_argument("--image-size", type=positive_int, default=None,
                        help="resize images to this side (default: the dataset's own; HAM10000 64)")
    parser.add_argument("--only-available", action="store_true",
                        help="HAM10000: keep only the CSV rows whose image file exists (for partial copies)")
    parser.add_argument("--episodes", type=positive_int, default=20)
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seeds the episodes and the random policy")
    parser.add_argument("--out", default="quickstart_frame.png")
    parser.add_argument("--gif", default=None, help="also write an episode GIF here")
    args = parser.parse_args()

    options = {"missing": "skip"} if args.only_available else None
    try:
        env = masimu_env.parallel_env(args.dataset, root=args.root, split=args.split, image_size=args.image_size,
                                      dataset_options=options, render_mode="rgb_array")
    except (FileNotFoundError, ValueError, TypeError) as error:  # a missing file or a bad option: say which, no traceback
        parser.error(str(error))
    for number, agent in enumerate(env.possible_agents):  # the random policy follows --seed too
        env.action_space(agent).seed(args.seed + number)
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
