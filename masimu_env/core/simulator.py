"""Simulator: reset/step of B episodes x N agents as batched tensors; the PettingZoo view and the learner both use it.

Must never import gymnasium, pettingzoo or anything from ``masimu_env.api``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..config import SimConfig, check_device, check_fits
from . import dynamics


@dataclass(frozen=True)
class SimState:
    """State of B running episodes; every tensor has a leading batch dim B.

    Attributes:
        images: (B, C, H, W) float32 in [0, 1].
        labels: (B,) long true classes.
        corners: (B, N, 2) long window top-left corners.
        inbox: (B, N, M) float aggregated incoming messages (zeros at t = 0).
        t: steps taken so far (same for every episode of the batch).
        path: (B, t + 1, N, 2) long corners visited, for rendering ((B, 1, N, 2), the current
            corners, when the simulator was built with ``track_path=False``).
    """

    images: Tensor
    labels: Tensor
    corners: Tensor
    inbox: Tensor
    t: int
    path: Tensor

    @property
    def batch_size(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class Observation:
    """What each agent sees at one step.

    Attributes:
        window: (B, N, C, f, f) float32 in [0, 1].
        position: (B, N, 2) float32 normalized corner in [0, 1].
        inbox: (B, N, M) float aggregated incoming message.
        time: (B, N, 1) float32 t / T.
    """

    window: Tensor
    position: Tensor
    inbox: Tensor
    time: Tensor


def flatten_observation(obs: Observation, include_inbox: bool = True) -> Tensor:
    """Each agent's observation as one vector: [window (C*f*f), position (2), inbox (M), time (1)].

    Args:
        obs: an :class:`Observation` of B episodes.
        include_inbox: leave the inbox out when no messages are exchanged (e.g. 'multidiscrete' mode).

    Returns:
        (B, N, D) float32, D = C*f*f + 2 (+ M) + 1.
    """
    parts = [obs.window.flatten(2), obs.position]
    if include_inbox:
        parts.append(obs.inbox.to(torch.float32))
    parts.append(obs.time)
    return torch.cat(parts, dim=-1)


def global_state(obs: Observation, include_inbox: bool = True) -> Tensor:
    """Global state for a centralized critic (e.g. MAPPO): every agent's flattened observation, agent 0 first.

    Returns:
        (B, N * D) float32, D as in :func:`flatten_observation`.
    """
    flat = flatten_observation(obs, include_inbox)
    return flat.reshape(flat.shape[0], -1)


def to_float_images(images: Tensor) -> Tensor:
    """uint8 (B, C, H, W) -> float32 in [0, 1]; float input is checked to lie in [0, 1]."""
    if images.dtype == torch.uint8:
        # In place (one float buffer, not two). The divisor is a tensor on the images' device, not a Python
        # float: CUDA divides by a CPU scalar as a multiplication by its reciprocal, which is off by one ulp
        # for some bytes, so CPU and CUDA episodes would see different windows.
        return images.to(torch.float32).div_(torch.tensor(255.0, device=images.device))
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 or float in [0, 1]; got {images.dtype}.")
    if images.numel() and (not bool(torch.isfinite(images).all()) or images.min() < 0 or images.max() > 1):
        raise ValueError("float images must be finite and lie in [0, 1].")
    return images.to(torch.float32)


class Simulator:
    """The batched core of the environment.

    Example:
        >>> sim = Simulator(SimConfig(n_agents=3, n_steps=5, window=6), n_classes=10)
        >>> state = sim.reset(images, labels, generator=torch.Generator().manual_seed(0))
        >>> obs = sim.observe(state)
        >>> state = sim.step(state, moves, messages)           # T times
        >>> reward = sim.reward(state, probs)                   # (B,), differentiable in probs
    """

    def __init__(self, config: SimConfig, n_classes: int, track_path: bool = True) -> None:
        """
        Args:
            config: the environment configuration.
            n_classes: K, length of the class distributions.
            track_path: keep every visited corner in ``SimState.path`` (for rendering); a learner
                that never renders can pass False to skip the per-step copy (``path`` then holds
                only the current corners).
        """
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1; got {n_classes}.")
        # the config may name a device of the machine it was written on; the simulator needs it here
        check_device(config.device, "SimConfig.device")
        self.config = config
        self.n_classes = n_classes
        self.track_path = track_path
        self.device = torch.device(config.device)
        self.adjacency = config.adjacency().to(self.device)

    # --- episode ---
    def reset(self, images: Tensor, labels: Tensor, generator: torch.Generator | None = None,
              corners: Tensor | None = None, message_dim: int | None = None) -> SimState:
        """Start B episodes.

        Args:
            images: (B, C, H, W) uint8, or float in [0, 1].
            labels: (B,) integer class ids in [0, K).
            generator: CPU torch.Generator for the start positions.
            corners: optional (B, N, 2) integer start corners instead of random ones, each in
                [0, H - f] x [0, W - f]; anything else raises ValueError.
            message_dim: width of the inbox (default ``config.message_dim``; the learner routes
                decoded messages whose width may differ).
        """
        cfg = self.config
        if images.ndim != 4:
            raise ValueError(f"images must be (B, C, H, W); got shape {tuple(images.shape)}.")
        check_fits(cfg, images.shape[1:])
        b, _, h, w = images.shape
        if labels.shape != (b,):
            raise ValueError(f"labels must have shape ({b},); got {tuple(labels.shape)}.")
        dynamics.check_labels(labels, self.n_classes)
        if corners is None:
            corners = dynamics.sample_corners(b, cfg.n_agents, h, w, cfg.window, generator, self.device)
        else:
            if corners.shape != (b, cfg.n_agents, 2):
                raise ValueError(f"corners must have shape ({b}, {cfg.n_agents}, 2); got {tuple(corners.shape)}.")
            dynamics.check_corners(corners, h, w, cfg.window)
        m = cfg.message_dim if message_dim is None else message_dim
        images = to_float_images(images.to(self.device))
        corners = corners.to(self.device, torch.long)  # narrow integer corners overflowed when cropping
        return SimState(images=images, labels=labels.to(self.device, torch.long), corners=corners,
                        inbox=torch.zeros(b, cfg.n_agents, m, dtype=torch.float32, device=self.device), t=0,
                        path=corners[:, None])

    def observe(self, state: SimState) -> Observation:
        """Every agent's window, normalized position, inbox and normalized time."""
        cfg = self.config
        _, _, h, w = state.images.shape
        b = state.batch_size
        return Observation(
            window=dynamics.crop_glimpses(state.images, state.corners, cfg.window),
            position=dynamics.normalized_positions(state.corners, h, w, cfg.window),
            inbox=state.inbox,
            time=torch.full((b, cfg.n_agents, 1), state.t / cfg.n_steps, dtype=torch.float32, device=self.device),
        )

    def step(self, state: SimState, moves: Tensor, messages: Tensor | None = None) -> SimState:
        """Move every agent and deliver the messages sent this step (they arrive in the next observation).

        Args:
            moves: (B, N) long in {0: up, 1: down, 2: left, 3: right}.
            messages: (B, N, M) float sent by each agent, or None for no communication.
        """
        cfg = self.config
        b, n = state.batch_size, cfg.n_agents
        if state.t >= cfg.n_steps:
            raise RuntimeError(f"episode already finished after n_steps={cfg.n_steps}; call reset().")
        if moves.shape != (b, n):
            raise ValueError(f"moves must have shape ({b}, {n}); got {tuple(moves.shape)}.")
        dynamics.check_moves(moves)
        _, _, h, w = state.images.shape
        # long: a uint8 tensor would index the move table as a True/False mask
        corners = dynamics.move_windows(state.corners, moves.to(self.device, torch.long), cfg.stride, h, w, cfg.window)
        if messages is None:
            inbox = torch.zeros_like(state.inbox)
        else:
            m = state.inbox.shape[2]
            if messages.shape != (b, n, m):
                raise ValueError(f"messages must have shape ({b}, {n}, {m}) (the inbox width set at reset); got "
                                 f"{tuple(messages.shape)}.")
            if not messages.is_floating_point():
                raise ValueError(f"messages must be a float tensor; got dtype {messages.dtype}.")
            inbox = dynamics.route_messages(messages.to(self.device), self.adjacency)
        path = torch.cat([state.path, corners[:, None]], dim=1) if self.track_path else corners[:, None]
        return replace(state, corners=corners, inbox=inbox, t=state.t + 1, path=path)

    def done(self, state: SimState) -> bool:
        return state.t >= self.config.n_steps

    def reward(self, state: SimState, probs: Tensor) -> Tensor:
        """r_tau = -L(p_bar - e_i) per episode, (B,), differentiable in ``probs`` (B, N, K) class distributions
        (the learner's softmax; :meth:`probs` makes them from logits or votes). The shape is checked (a K=5 tensor on
        a 3-class core used to score silently); the values are not, to keep the hot path free of device syncs."""
        wanted = (state.batch_size, self.config.n_agents, self.n_classes)
        if tuple(probs.shape) != wanted:
            raise ValueError(f"probs must be (B, N, K) = {wanted} class distributions; got shape {tuple(probs.shape)}.")
        return dynamics.episode_reward(probs, state.labels, self.config.reward_loss)

    def probs(self, predictions: Tensor) -> Tensor:
        """(B, N, K) class distributions from (B, N, K) float logits or (B, N) long votes."""
        return dynamics.prediction_probs(predictions.to(self.device), self.n_classes)

    def agent_rewards(self, state: SimState, predictions: Tensor) -> Tensor:
        """(B, N) float reward of the step that led to ``state``, given the agents' predictions at that step.

        0 before the T-th step; at the T-th step every agent gets its episode's r_tau = -L(p_bar - e_i),
        p_bar the mean of the softmaxed logits (or one-hot votes) over agents (paper Eq. 3).
        """
        expected = (state.batch_size, self.config.n_agents)
        wanted = expected + (self.n_classes,) if predictions.is_floating_point() else expected
        if tuple(predictions.shape) != wanted:
            raise ValueError(f"predictions must have shape {expected} (integer votes) or {expected + (self.n_classes,)} "
                             f"(float logits); got {predictions.dtype} of shape {tuple(predictions.shape)}.")
        return dynamics.agent_rewards(self.probs(predictions), state.labels, self.config.reward_loss, self.done(state))
