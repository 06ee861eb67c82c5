"""Gymnasium spaces of the PettingZoo view, built once from a SimConfig and the dataset's image shape.

Observation per agent ('dict' obs mode)::

    Dict(window=Box(0, 1, (C, f, f)), position=Box(0, 1, (2,)), inbox=Box(-inf, inf, (M,)), time=Box(0, 1, (1,)))

``inbox`` is present only when agents exchange messages ('dict' action mode and ``message_dim > 0``).
The 'flat' obs mode concatenates the same entries, in the order window, position, inbox, time, into
one float32 Box (what :func:`masimu_env.core.flatten_observation` computes).

Action per agent:

* 'dict' mode: ``Dict(move=Discrete(4), message=Box(-inf, inf, (M,)), prediction=Box(-inf, inf, (K,)))``;
  ``prediction`` holds class logits; ``message`` is absent when ``message_dim == 0``.
* 'multidiscrete' mode: ``MultiDiscrete([4, K])``: (move, class vote).
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

from ..config import SimConfig

#: Order of the entries in flat observations and in the global state.
OBS_KEYS = ("window", "position", "inbox", "time")
OBS_MODES = ("dict", "flat")


def has_messages(config: SimConfig) -> bool:
    """Whether agents send messages (and therefore observe an inbox)."""
    return config.action_mode == "dict" and config.message_dim > 0


def observation_entries(config: SimConfig, channels: int) -> dict[str, spaces.Box]:
    """The Box of each observation entry, in :data:`OBS_KEYS` order (inbox only with messages)."""
    f = config.window
    entries = {
        "window": spaces.Box(0.0, 1.0, (channels, f, f), np.float32),
        "position": spaces.Box(0.0, 1.0, (2,), np.float32),
    }
    if has_messages(config):
        entries["inbox"] = spaces.Box(-np.inf, np.inf, (config.message_dim,), np.float32)
    entries["time"] = spaces.Box(0.0, 1.0, (1,), np.float32)
    return entries


def _concat_boxes(boxes: list[spaces.Box]) -> spaces.Box:
    low = np.concatenate([box.low.reshape(-1) for box in boxes]).astype(np.float32)
    high = np.concatenate([box.high.reshape(-1) for box in boxes]).astype(np.float32)
    return spaces.Box(low, high, dtype=np.float32)


def observation_space(config: SimConfig, channels: int, obs_mode: str = "dict") -> gymnasium.Space:
    """One agent's observation space (a fresh object per call: build it once per agent)."""
    if obs_mode not in OBS_MODES:
        raise ValueError(f"obs_mode must be one of {OBS_MODES}; got {obs_mode!r}.")
    entries = observation_entries(config, channels)
    if obs_mode == "dict":
        return spaces.Dict(entries)
    return _concat_boxes(list(entries.values()))


def flat_observation_size(config: SimConfig, channels: int) -> int:
    """D, the length of one agent's flattened observation."""
    return int(sum(int(np.prod(box.shape)) for box in observation_entries(config, channels).values()))


def state_space(config: SimConfig, channels: int) -> spaces.Box:
    """Global state for centralized critics: the N agents' flat observations laid end to end, (N * D,)."""
    flat = _concat_boxes(list(observation_entries(config, channels).values()))
    return spaces.Box(np.tile(flat.low, config.n_agents), np.tile(flat.high, config.n_agents), dtype=np.float32)


def action_space(config: SimConfig, n_classes: int) -> gymnasium.Space:
    """One agent's action space (a fresh object per call: build it once per agent)."""
    if config.action_mode == "multidiscrete":
        return spaces.MultiDiscrete([4, n_classes])
    entries: dict[str, gymnasium.Space] = {"move": spaces.Discrete(4)}
    if config.message_dim > 0:
        entries["message"] = spaces.Box(-np.inf, np.inf, (config.message_dim,), np.float32)
    entries["prediction"] = spaces.Box(-np.inf, np.inf, (n_classes,), np.float32)
    return spaces.Dict(entries)
