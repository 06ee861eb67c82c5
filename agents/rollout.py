"""Batched episodes of B images x N agents on the core simulator (Algorithm 1, lines 7-32).

The transition rules (moves, windows, message routing, reward) all come from
:class:`masimu_env.core.Simulator`; this module only runs the shared networks between its calls.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from masimu_env.core import Simulator, row_corners

from .networks import N_MOVES, MultiAgentNet

eval_corners = row_corners
"""The evaluation episodes' start corners: :func:`masimu_env.core.row_corners` (kept here under its older name)."""

MoveMode = Literal["sample", "greedy", "random"]
MOVE_MODES = ("sample", "greedy", "random")


def sample_moves(logits: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Draw one move per agent from softmax(logits) by inverse-CDF with uniforms from a CPU generator.

    Drawing the uniforms on the CPU keeps CPU and CUDA runs on the same random stream.

    Args:
        logits: (B, N, 4) float.
        generator: CPU torch.Generator.

    Returns:
        moves: (B, N) long; log_probs: (B, N) float log pi(move), differentiable in ``logits``.
    """
    log_probs = torch.log_softmax(logits, dim=-1)
    uniform = torch.rand(logits.shape[:-1], generator=generator).to(logits.device)
    cdf = log_probs.detach().exp().cumsum(-1)
    # cdf[..., -1] can round to just below 1; the last bucket absorbs that remainder.
    moves = (cdf < uniform[..., None]).sum(-1).clamp_max(N_MOVES - 1)
    return moves, log_probs.gather(-1, moves[..., None]).squeeze(-1)


def uniform_log_prob(n_agents: int, n_steps: int) -> float:
    """log p_tau of any path under the uniform random walk: N * T * ln(1/4)."""
    return n_agents * n_steps * float(np.log(1 / N_MOVES))


def run_episode(net: MultiAgentNet, simulator: Simulator, images: Tensor, labels: Tensor,
                generator: torch.Generator, mode: MoveMode = "sample", corners: Tensor | None = None,
                step_rewards: bool = False) -> dict[str, Tensor]:
    """Play B episodes of T steps with N agents and score them.

    Args:
        net: the shared networks.
        simulator: the core; its config gives N, T and f.
        images: (B, C, H, W) uint8 or float in [0, 1].
        labels: (B,) long.
        generator: CPU torch.Generator for start corners (when ``corners`` is None) and moves.
        mode: 'sample' moves from pi (training), 'greedy' takes argmax pi, 'random' moves uniformly
            at random (the random-walk baseline; its log-probability is the constant T*N*ln(1/4) and carries no gradient).
        corners: optional (B, N, 2) long start corners.
        step_rewards: also score the prediction head after every earlier step (for ``step_reward_weight``).

    Returns:
        dict with
            ``logits`` (B, N, K) per-agent class logits, ``probs`` (B, N, K) their softmax (with the default
            ``AgentConfig.combine='logits'`` every agent's row is the agents' mean raw vector, so all N rows are equal
            and p_bar is their softmax; ``combine='probs'`` keeps each agent's own),
            ``reward`` (B,) r_tau = -L(p_bar - e_i) differentiable through p (Eq. 3),
            ``log_prob`` (B,) log p_tau = sum over agents and steps of log pi(a) (a sum of logs),
            ``entropy`` (B,) sum over agents and steps of the entropy of pi (the path's, like ``log_prob``),
            ``moves`` (B, T, N) long, ``path`` (B, T + 1, N, 2) long corners visited,
            and with ``step_rewards`` ``step_reward`` (B, T - 1): -L(p_bar_t - e_i) after steps 1 .. T-1.
    """
    if mode not in MOVE_MODES:
        raise ValueError(f"mode must be one of {MOVE_MODES}; got {mode!r}.")
    cfg = simulator.config
    state = simulator.reset(images, labels, generator=generator, corners=corners)
    b, n = state.batch_size, cfg.n_agents
    device = state.images.device
    rnn_state = net.initial_state(b, n, device)
    log_prob = torch.zeros(b, device=device)
    entropy = torch.zeros(b, device=device)
    moves_taken = []
    early_rewards = []
    for _ in range(cfg.n_steps):
        obs = simulator.observe(state)
        out = net.step(obs.window, obs.position, obs.time, obs.inbox, rnn_state)
        rnn_state = out.state
        if mode == "random":
            moves = torch.randint(0, N_MOVES, (b, n), generator=generator).to(device)
        else:
            log_pi = torch.log_softmax(out.move_logits, dim=-1)
            entropy = entropy - (log_pi.exp() * log_pi).sum(-1).sum(-1)
            if mode == "greedy":
                moves = out.move_logits.argmax(-1)
                step_log_prob = log_pi.gather(-1, moves[..., None]).squeeze(-1)
            else:
                moves, step_log_prob = sample_moves(out.move_logits, generator)
            log_prob = log_prob + step_log_prob.sum(-1)  # log p_tau: sum of logs, never a product
        moves_taken.append(moves)
        if step_rewards and len(moves_taken) < cfg.n_steps:
            early_rewards.append(simulator.reward(state, torch.softmax(net.predict_logits(rnn_state), dim=-1)))
        state = simulator.step(state, moves, out.message)
    logits = net.predict_logits(rnn_state)
    probs = torch.softmax(logits, dim=-1)
    if mode == "random":
        log_prob = torch.full((b,), uniform_log_prob(n, cfg.n_steps), device=device)
    out = dict(logits=logits, probs=probs, reward=simulator.reward(state, probs), log_prob=log_prob,
               entropy=entropy, moves=torch.stack(moves_taken, dim=1), path=state.path)
    if step_rewards:
        out["step_reward"] = torch.stack(early_rewards, dim=1) if early_rewards else torch.zeros(b, 0, device=device)
    return out


class EpisodeModule(nn.Module):
    """``forward`` = :func:`run_episode`, so DistributedDataParallel can wrap a whole episode."""

    def __init__(self, net: MultiAgentNet, simulator: Simulator) -> None:
        super().__init__()
        self.net = net
        self.simulator = simulator

    def forward(self, images: Tensor, labels: Tensor, generator: torch.Generator, mode: MoveMode = "sample",
                corners: Tensor | None = None, step_rewards: bool = False) -> dict[str, Tensor]:
        return run_episode(self.net, self.simulator, images, labels, generator, mode, corners, step_rewards)


