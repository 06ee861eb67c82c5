"""Greedy evaluation shared by the plug-in examples (MultiDiscrete([4, K]) move + class vote, flat observations)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

import masimu_env
from masimu_env.argtypes import positive_int  # noqa: F401 (the examples' flag type, imported from here)


@torch.no_grad()
def evaluate_votes(action_logits: Callable[[torch.Tensor], torch.Tensor], env: masimu_env.MasimuParallelEnv,
                   seed: int, max_images: int | None = None) -> dict[str, float]:
    """Greedy policy on each image of ``env``'s dataset once (the first ``max_images``, default all).

    Args:
        action_logits: maps the live agents' flat observations (N, D) to (N, 4 + K) move and vote logits.

    Returns:
        mean-vote and majority-vote accuracies of the final votes, mean episode reward, episode count.
    """
    nvec = tuple(int(n) for n in env.action_space(env.possible_agents[0]).nvec)  # (4, K)
    mean_vote, majority, rewards = [], [], []
    if max_images is not None and max_images < 1:
        raise ValueError(f"max_images must be None (every image) or >= 1; got {max_images}.")
    for image_index in range(len(env.dataset) if max_images is None else min(len(env.dataset), max_images)):
        observations, infos = env.reset(seed=seed + image_index, options={"image_index": image_index})
        while env.agents:
            agents = list(env.agents)
            obs = torch.as_tensor(np.stack([observations[a] for a in agents]))  # (N, D)
            move_logits, vote_logits = action_logits(obs).split(nvec, dim=-1)
            votes = vote_logits.argmax(-1)  # (N,)
            actions = {a: np.array([int(m), int(v)]) for a, m, v in zip(agents, move_logits.argmax(-1), votes)}
            observations, reward, _, _, infos = env.step(actions)
        label = infos[agents[0]]["label"]
        counts = torch.bincount(votes, minlength=nvec[1])
        mean_vote.append(float(counts[label]) / len(agents))
        top = counts.max()
        majority.append(1.0 / int((counts == top).sum()) if counts[label] == top else 0.0)
        rewards.append(reward[agents[0]])
    return {"mean_vote_acc": float(np.mean(mean_vote)), "majority_acc": float(np.mean(majority)),
            "reward": float(np.mean(rewards)), "episodes": len(rewards)}


def report(stage: str, scores: dict[str, float]) -> None:
    print(f"{stage}: mean-vote acc {scores['mean_vote_acc']:.3f}, majority-vote acc {scores['majority_acc']:.3f}, "
          f"mean reward {scores['reward']:.3f} over {scores['episodes']} test images  (chance acc 0.100)", flush=True)
