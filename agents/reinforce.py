"""The MA-REINFORCE loss (paper Eq. 5-6): policy gradient on log p_tau with a baseline, plus the differentiable reward."""

from __future__ import annotations

import torch
from torch import Tensor

from .config import AgentConfig


def advantage(reward: Tensor, baseline: str, normalize: bool, baseline_reward: Tensor | None = None,
              group_size: int = 1) -> Tensor:
    """r^d - baseline, detached.

    Args:
        reward: (B,) float r_tau.
        baseline: 'mean' subtracts the batch mean, 'greedy' subtracts ``baseline_reward`` (the reward of the
            greedy rollout of the same episode: self-critical), 'loo' subtracts the mean reward of the other
            episodes in the episode's group (leave-one-out, as in RLOO), 'none' keeps r^d as in plain Eq. 6.
        normalize: divide by the batch standard deviation (when B > 1).
        baseline_reward: (B,) float, required by 'greedy'.
        group_size: K for 'loo': ``reward`` holds B / K consecutive groups of K episodes of one image each.

    Returns:
        (B,) float, no gradient.
    """
    adv = reward.detach()
    if baseline == "mean":
        adv = adv - adv.mean()
    elif baseline == "loo":
        if group_size < 2 or adv.numel() % group_size:
            raise ValueError(f"baseline='loo' needs groups of group_size >= 2 episodes that divide the batch; got "
                             f"group_size={group_size} for {adv.numel()} episodes.")
        groups = adv.view(-1, group_size)
        adv = (groups - (groups.sum(1, keepdim=True) - groups) / (group_size - 1)).reshape(-1)
    elif baseline == "greedy":
        if baseline_reward is None or baseline_reward.shape != reward.shape:
            raise ValueError("baseline='greedy' needs baseline_reward, the (B,) rewards of the greedy rollouts; got "
                             f"{None if baseline_reward is None else tuple(baseline_reward.shape)}.")
        adv = adv - baseline_reward.detach()
    elif baseline != "none":
        raise ValueError(f"baseline must be 'mean', 'greedy', 'loo' or 'none'; got {baseline!r}.")
    if normalize and adv.numel() > 1:
        adv = adv / (adv.std() + 1e-8)
    return adv


def reinforce_loss(episode: dict[str, Tensor], labels: Tensor, config: AgentConfig) -> tuple[Tensor, dict[str, float]]:
    """Negative of the Eq. 6 objective, averaged over the B sampled episodes.

    objective = mean_b[ log p_tau * (r^d_tau - baseline) + r_tau ] + entropy_coef * H(pi) - ce_weight * CE(p_bar)
                + step_reward_weight * mean_{b, t<T} r_t

    Args:
        episode: output of :func:`agents.rollout.run_episode` (``log_prob``, ``reward``, ``entropy``, ``probs``),
            plus ``baseline_reward`` for ``baseline='greedy'``.
        labels: (B,) long true classes. With ``config.rollouts_per_image`` K > 1 the B episodes are B / K images
            times K consecutive episodes each (``labels`` repeated accordingly).
        config: ``baseline``, ``normalize_advantage``, ``entropy_coef``, ``ce_weight``.

    Returns:
        loss: scalar to minimise; stats: floats for logging (``reward``, ``log_prob``, ``entropy``, ``accuracy``).
    """
    reward = episode["reward"]
    log_prob = episode["log_prob"]
    if config.policy == "random":  # a random walk's log p_tau is a constant: no policy term, whatever the baseline
        objective = reward.mean()
    else:
        adv = advantage(reward, config.baseline, config.normalize_advantage, episode.get("baseline_reward"),
                        config.rollouts_per_image)
        objective = (log_prob * adv).mean() + reward.mean()
    if config.step_reward_weight and episode["step_reward"].numel():
        objective = objective + config.step_reward_weight * episode["step_reward"].mean()
    if config.entropy_coef:
        objective = objective + config.entropy_coef * episode["entropy"].mean()
    p_bar = episode["probs"].mean(dim=1)
    if config.ce_weight:
        nll = -torch.log(p_bar.gather(1, labels[:, None]).clamp_min(1e-12)).mean()
        objective = objective - config.ce_weight * nll
    loss = -objective
    with torch.no_grad():
        stats = dict(loss=float(loss), reward=float(reward.mean()), log_prob=float(log_prob.mean()),
                     entropy=float(episode["entropy"].mean()),
                     accuracy=float((p_bar.argmax(-1) == labels).float().mean()))
    return loss, stats
