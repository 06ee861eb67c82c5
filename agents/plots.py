"""The learning curves of a training run as one PNG (``masimu train`` writes ``--out/curves.png``)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from .serialization import save_figure_atomically


def plot_history(history: Sequence[dict[str, Any]], path: str | os.PathLike[str], title: str = "",
                 uniform_log_prob: float | None = None, policy: str = "learned", eval_policy: str = "greedy") -> None:
    """Accuracy (training episodes, and validation where recorded), reward, and the path log-probability
    log p_tau per epoch, side by side.

    Args:
        history: :attr:`agents.MAReinforce.history`, one record per epoch.
        path: the PNG to write.
        title: prefix of the panel titles (e.g. the dataset).
        uniform_log_prob: N*T*ln(1/4), drawn as the random walk's level in the log p_tau panel.
        policy, eval_policy: ``AgentConfig.policy`` / ``eval_policy``, so the legend says how the training and the
            validation episodes moved.

    Raises:
        ValueError: when ``history`` is empty.
    """
    if not history:
        raise ValueError("plot_history: the history is empty (no epoch trained yet).")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]

    def series(key: str) -> list[float]:
        return [float(h.get(key, math.nan)) for h in history]

    fig, (ax_acc, ax_reward, ax_logp) = plt.subplots(1, 3, figsize=(14, 4))
    train_moves = "uniformly random moves" if policy == "random" else "sampled moves"
    eval_moves = {"greedy": "greedy moves", "sample": "sampled moves", "random": "uniformly random moves"}.get(
        eval_policy, f"{eval_policy} moves")
    ax_acc.plot(epochs, series("train_accuracy"), label=f"training episodes ({train_moves})")
    if any("val_accuracy" in h for h in history):
        ax_acc.plot(epochs, series("val_accuracy"), label=f"validation ({eval_moves})")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=f"{title} accuracy".strip())
    ax_acc.legend(fontsize=8)
    ax_reward.plot(epochs, series("train_reward"))
    ax_reward.set(xlabel="epoch", ylabel="mean reward r_tau", title=f"{title} reward".strip())
    ax_logp.plot(epochs, series("log_prob"), label="training paths")
    if uniform_log_prob is not None:
        ax_logp.axhline(uniform_log_prob, color="grey", linestyle="--", label="uniform (random walk)")
        ax_logp.legend(fontsize=8)
    ax_logp.set(xlabel="epoch", ylabel="log p_tau", title=f"{title} path log-probability".strip())
    for ax in (ax_acc, ax_reward, ax_logp):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure_atomically(fig, path)
    plt.close(fig)


__all__ = ["plot_history"]
