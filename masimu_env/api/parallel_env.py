"""The PettingZoo view: one episode (B = 1) of the batched core as a ``pettingzoo.ParallelEnv``.

This module only translates: per-agent action dicts are checked and packed into ``(1, N)`` tensors,
:class:`masimu_env.core.Simulator` moves the windows, routes the messages and computes the rewards,
and its tensors are unpacked into per-agent numpy observations. No rule of the game lives here.

Which modes to use:

* ``action_mode="dict"`` (default) is the paper's agent: move + message vector + class logits.
  Use it with your own learner or with libraries that accept Dict action spaces.
* ``action_mode="multidiscrete"`` gives ``MultiDiscrete([4, K])`` (move, class vote) and no messages;
  use it with off-the-shelf MARL code whose policies only emit discrete actions (TorchRL MAPPO with
  categorical heads, RLlib PPO). p_bar is then the share of agents voting for each class.
* ``obs_mode="dict"`` (default) keeps the window as a (C, f, f) image, for CNN encoders;
  ``obs_mode="flat"`` returns one float32 Box vector per agent (window, position, inbox, time),
  which is what MLP policies and most library default models (RLlib, TorchRL) handle best.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import logger
from pettingzoo import AECEnv, ParallelEnv

from .. import datasets as datasets_module
from ..config import SimConfig, check_fits, check_indices, check_int, is_seed
from ..core import Simulator, SimState, flatten_observation, global_state, sample_episodes
from ..core.dynamics import MOVE_NAMES, blocked_moves, check_corners
from ..datasets import ImageDataset
from . import spaces as env_spaces
from .render import HumanViewer, render_frame

#: Image size the env asks the reader for when ``image_size=None``. HAM10000's 450x600 photos are
#: reduced to 64x64 so that 16 agents with 12-pixel windows moving 16 one-pixel steps can cover a
#: useful part of the lesion (and decoding stays fast); other datasets keep their native size.
DEFAULT_IMAGE_SIZE: dict[str, int | tuple[int, int]] = {"ham10000": 64}


def agent_ids(n_agents: int) -> list[str]:
    """``["agent_0", ..., "agent_{N-1}"]``."""
    return [f"agent_{i}" for i in range(n_agents)]


def _random_seed() -> int:
    return int(np.random.SeedSequence().entropy % (2**63))


class MasimuParallelEnv(ParallelEnv):
    """N agents classify one image per episode by moving small windows over it (paper §4, Algorithm 1).

    Build it with :func:`parallel_env`. Each ``reset`` draws one image (uniformly among ``indices``)
    and random start corners where every window fits, from the env's seeded generator. Each ``step``
    takes every live agent's action; after ``config.n_steps`` steps the episode terminates and every
    agent receives r = -L(p_bar - e_label); earlier rewards are 0. ``infos[agent]`` holds
    ``{"label": int, "image_index": int, "blocked": bool}`` (index into the dataset; ``blocked``: the border stopped
    the agent's last move, or shortened it when ``stride`` > 1; always False after ``reset``).

    Attributes:
        dataset: the :class:`ImageDataset` episodes are drawn from.
        config: the :class:`SimConfig`.
        indices: (n,) int64 dataset indices episodes are drawn from.
        sim: the batched core (B = 1 here).
        state_space: Box of :meth:`state`.
        max_cycles: PettingZoo's step bound, ``config.max_cycles`` or ``n_steps``. Below ``n_steps``, the episode is
            truncated after ``max_cycles`` steps (``truncations`` True, rewards 0: the reward needs all T steps);
            otherwise it terminates after ``n_steps`` steps and never truncates.
    """

    metadata = {"name": "masimu_v0", "render_modes": ["rgb_array", "human"], "render_fps": 4,
                "is_parallelizable": True}

    def __init__(self, dataset: ImageDataset, config: SimConfig, indices: Sequence[int] | np.ndarray | None = None,
                 obs_mode: str = "dict") -> None:
        if not isinstance(dataset, ImageDataset):
            raise TypeError(f"dataset must be a masimu_env.datasets.ImageDataset; got {type(dataset).__name__}.")
        if not isinstance(config, SimConfig):
            raise TypeError(f"config must be a SimConfig; got {type(config).__name__}.")
        if obs_mode not in env_spaces.OBS_MODES:
            raise ValueError(f"obs_mode must be one of {env_spaces.OBS_MODES}; got {obs_mode!r}.")
        if len(dataset) == 0:
            raise ValueError(f"dataset {dataset.name!r} has no images; an episode needs at least one.")
        self.dataset = dataset
        self.config = config
        self.obs_mode = obs_mode
        self.indices = _check_indices(indices, len(dataset))
        self.image_shape = tuple(int(s) for s in (dataset.image_shape or dataset[int(self.indices[0])][0].shape))
        check_fits(config, self.image_shape)
        self.n_classes = dataset.num_classes
        self.sim = Simulator(config, self.n_classes)
        self.render_mode = config.render_mode
        self.max_cycles = min(config.max_cycles, config.n_steps) if config.max_cycles is not None else config.n_steps

        self.possible_agents = agent_ids(config.n_agents)
        self.agents: list[str] = []
        channels = self.image_shape[0]
        self.observation_spaces = {a: env_spaces.observation_space(config, channels, obs_mode)
                                   for a in self.possible_agents}
        self.action_spaces = {a: env_spaces.action_space(config, self.n_classes) for a in self.possible_agents}
        self.state_space = env_spaces.state_space(config, channels)
        self._messages = env_spaces.has_messages(config)

        self._generator = torch.Generator()
        self._generator.manual_seed(config.seed if config.seed is not None else _random_seed())
        self._state: SimState | None = None
        self._obs = None
        self._image_index = -1
        self._viewer: HumanViewer | None = None

    # --- spaces ---
    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        """The agent's observation space (one object per agent, the same on every call)."""
        return self.observation_spaces[self._known_agent(agent)]

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        """The agent's action space (one object per agent, the same on every call)."""
        return self.action_spaces[self._known_agent(agent)]

    def _check_start_corners(self, value: Any) -> torch.Tensor:
        """``reset(options={"corners": ...})`` as an (N, 2) long tensor, or a ValueError naming the option."""
        what = "reset(options={'corners': ...})"
        try:  # a copy: the episode must not move when the caller reuses its buffer
            array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            if array.dtype.kind == "u":  # torch has no min/max for wide unsigned types; the values are what count
                array = array.astype(np.int64)
            corners = torch.tensor(array)
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{what} must be ({self.config.n_agents}, 2) integer (row, col) corners; got {value!r} "
                             f"({err}).") from None
        if tuple(corners.shape) != (self.config.n_agents, 2):
            raise ValueError(f"{what} must be ({self.config.n_agents}, 2) (row, col) corners, one per agent; got shape "
                             f"{tuple(corners.shape)}.")
        _, h, w = self.image_shape
        try:
            check_corners(corners, h, w, self.config.window)
        except ValueError as err:
            raise ValueError(f"{what}: {err}") from None
        return corners.to(torch.long)

    def _known_agent(self, agent: str) -> str:
        if agent not in self.action_spaces:
            raise ValueError(f"Unknown agent {agent!r}; this env has {self.possible_agents[0]} .. {self.possible_agents[-1]}.")
        return agent

    # --- episode ---
    def reset(self, seed: int | None = None,
              options: dict | None = None) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        """Start an episode.

        Args:
            seed: reseeds the episode generator (image choice and start corners); ``None`` continues it.
            options: ``{"image_index": i}`` plays dataset image ``i`` instead of a random one;
                ``{"corners": c}`` starts the agents at the (N, 2) integer (row, col) window corners ``c`` instead of
                drawn ones (e.g. ``masimu_env.core.row_corners([i], ...)[0]``, the episode the learner's ``evaluate``
                plays for row ``i``). The generator advances as for any episode. Any other key is ignored with a
                UserWarning naming it.

        Returns:
            observations, infos: dicts keyed by agent.
        """
        # Every argument is checked before the generator moves, and the generator is rewound if the image turns out
        # unusable: a refused reset leaves the env exactly as it was (same next episode, same episode in progress).
        if seed is not None and not is_seed(seed):
            raise ValueError(f"reset(seed=) must be None or an int in [0, 2**63); got {seed!r}.")
        chosen_index, chosen_corners = None, None
        if options is not None:
            if not isinstance(options, Mapping):
                raise ValueError(f"reset(options=) must be a dict or None; got {type(options).__name__}.")
            if "image_index" in options:
                chosen_index = check_int(options["image_index"], "reset(options={'image_index': ...})", 0,
                                         below=len(self.dataset))
            if "corners" in options:
                chosen_corners = self._check_start_corners(options["corners"])
            unknown = sorted(set(options) - {"image_index", "corners"}, key=str)
            if unknown:  # a warning, not an error: PettingZoo's parallel_api_test resets with options={"options": 1}
                warnings.warn(f"reset(options=) ignored unknown key(s) {unknown}; the options are 'image_index' and "
                              "'corners'.", UserWarning, stacklevel=2)
        generator_state = self._generator.get_state()
        try:
            if seed is not None:
                self._generator.manual_seed(int(seed))
            _, h, w = self.image_shape
            cfg = self.config
            positions, corners = sample_episodes([self._generator], len(self.indices), cfg.n_agents, h, w, cfg.window,
                                                 self.sim.device)
            image_index = int(self.indices[int(positions[0])]) if chosen_index is None else chosen_index
            images, labels = self.dataset.get_batch([image_index])
            if tuple(images.shape[1:]) != self.image_shape:
                raise ValueError(f"{self.dataset.name} image {image_index} is {tuple(images.shape[1:])}, but the env "
                                 f"was built for {self.image_shape}; pass image_size= so every image has one size.")
        except BaseException:
            self._generator.set_state(generator_state)
            raise
        self._image_index = image_index
        if chosen_corners is not None:
            corners = chosen_corners[None].to(corners.device)
        self._state = self.sim.reset(images, labels, corners=corners)
        self._obs = self.sim.observe(self._state)
        self.agents = self.possible_agents[:]
        if self.render_mode == "human":
            self.render()
        return self._observations(self.agents), self._infos(self.agents)

    def step(self, actions: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, float], dict[str, bool],
                                                        dict[str, bool], dict[str, dict[str, Any]]]:
        """Apply every live agent's action.

        Args:
            actions: ``{agent: action}`` for every live agent, each in its :meth:`action_space` (lists, NumPy arrays
                and torch tensors are accepted; nothing is clamped).

        Returns:
            observations, rewards, terminations, truncations, infos: dicts keyed by the agents that acted. Rewards are
            0 until the ``n_steps``-th step, which terminates the episode; ``max_cycles`` below ``n_steps`` truncates
            it earlier (rewards 0).

        Raises:
            ValueError: the episode has ended (or never started), an action is missing, belongs to an
                agent that is not alive, or is malformed (names the agent and the field).
        """
        if self._state is None or not self.agents:
            raise ValueError("step() called with no live agents: the episode has ended (or reset() was never "
                             "called); call reset() first.")
        if not isinstance(actions, Mapping):
            raise ValueError(f"actions must be a dict {{agent: action}}; got {type(actions).__name__}.")
        unknown = [a for a in actions if a not in self.agents]
        if unknown:
            raise ValueError(f"actions given for agents that are not alive: {unknown}; live agents: {self.agents}.")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"actions missing for live agents {missing}; every live agent must act each step.")

        # --- translate ---
        if self.config.action_mode == "dict":
            moves, messages, predictions = self._pack_dict_actions(actions)
        else:
            moves, predictions = self._pack_multidiscrete_actions(actions)
            messages = None

        # --- core ---
        before = self._state.corners
        state = self.sim.step(self._state, moves, messages)
        # the paper stops a window at the image border; infos say so rather than let the move vanish (or, with a
        # stride > 1, shrink) silently
        blocked = blocked_moves(before, moves.to(before.device), state.corners, self.config.stride)[0].tolist()
        rewards = self.sim.agent_rewards(state, predictions)[0].tolist()
        done = self.sim.done(state)
        truncated = not done and int(state.t) >= self.max_cycles
        self._state = state
        self._obs = self.sim.observe(state)

        # --- unpack ---
        agents = self.agents
        observations = self._observations(agents)
        infos = self._infos(agents)
        for agent in agents:
            infos[agent]["blocked"] = bool(blocked[self._index(agent)])
        rewards_by_agent = {a: float(rewards[self._index(a)]) for a in agents}
        terminations = {a: done for a in agents}
        truncations = {a: truncated for a in agents}
        if done or truncated:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards_by_agent, terminations, truncations, infos

    def state(self) -> np.ndarray:
        """Global state for centralized critics: every agent's flat observation laid end to end, (N * D,) float32."""
        if self._obs is None:
            raise ValueError("state() needs a running episode; call reset() first.")
        return global_state(self._obs, self._messages)[0].cpu().numpy().copy()

    # --- rendering ---
    def render_frame(self) -> np.ndarray:
        """(H', W', 3) uint8 picture of the current episode, whatever ``render_mode`` is (see :func:`render_frame`)."""
        if self._state is None:
            raise ValueError("render_frame() needs an episode; call reset() first.")
        return render_frame(self._state.images[0], self._state.path[0], self.config.window)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            logger.warn("render() called without a render_mode; pass render_mode='rgb_array' or 'human'.")
            return None
        frame = self.render_frame()
        if self.render_mode == "rgb_array":
            return frame
        if self._viewer is None:
            self._viewer = HumanViewer(title=f"masimu: {self.dataset.name}", fps=self.metadata["render_fps"])
        self._viewer.show(frame)
        return None

    def close(self) -> None:
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None

    # --- translation helpers ---
    def _index(self, agent: str) -> int:
        return int(agent.rsplit("_", 1)[1])

    def _observations(self, agents: list[str]) -> dict[str, Any]:
        obs = self._obs
        if self.obs_mode == "flat":
            flat = flatten_observation(obs, self._messages)[0].cpu().numpy().copy()
            return {a: flat[self._index(a)] for a in agents}
        # copies: on CPU .numpy() shares memory with the core's tensors, so editing an observation in place would
        # have edited the episode (and state())
        window = obs.window[0].cpu().numpy().copy()
        position = obs.position[0].cpu().numpy().copy()
        time = obs.time[0].cpu().numpy().copy()
        inbox = obs.inbox[0].to(torch.float32).cpu().numpy().copy() if self._messages else None
        result = {}
        for a in agents:
            i = self._index(a)
            entry = {"window": window[i], "position": position[i], "time": time[i]}
            if inbox is not None:
                entry["inbox"] = inbox[i]
            result[a] = entry
        return result

    def _infos(self, agents: list[str]) -> dict[str, dict[str, Any]]:
        label = int(self._state.labels[0]) if self._state is not None else -1
        # "blocked" is in every info dict, reset's too (False): libraries such as TorchRL build their info spec from
        # reset's keys
        return {a: {"label": label, "image_index": self._image_index, "blocked": False} for a in agents}

    def _pack_dict_actions(self, actions: Mapping[str, Any]):
        n, m, k = self.config.n_agents, self.config.message_dim, self.n_classes
        expected = ("move", "message", "prediction") if m > 0 else ("move", "prediction")
        moves = np.zeros(n, dtype=np.int64)
        messages = np.zeros((n, m), dtype=np.float32)
        predictions = np.zeros((n, k), dtype=np.float32)
        for agent in self.agents:
            action = actions[agent]
            i = self._index(agent)
            if not isinstance(action, Mapping):
                raise ValueError(f"{agent}: action must be a dict with keys {expected} (action_mode='dict'); "
                                 f"got {type(action).__name__}.")
            extra = [key for key in action if key not in expected]
            if extra:
                hint = " (message_dim=0: agents send no message)" if "message" in extra else ""
                raise ValueError(f"{agent}: unknown action key(s) {extra}{hint}; expected {expected}.")
            absent = [key for key in expected if key not in action]
            if absent:
                raise ValueError(f"{agent}: action is missing key(s) {absent}; expected {expected}.")
            moves[i] = _as_int(action["move"], agent, "move", len(MOVE_NAMES))
            if m > 0:
                messages[i] = _as_vector(action["message"], agent, "message", m)
            predictions[i] = _as_vector(action["prediction"], agent, "prediction", k)
        device = self.sim.device
        return (torch.from_numpy(moves)[None].to(device),
                torch.from_numpy(messages)[None].to(device) if m > 0 else None,
                torch.from_numpy(predictions)[None].to(device))

    def _pack_multidiscrete_actions(self, actions: Mapping[str, Any]):
        n, k = self.config.n_agents, self.n_classes
        moves = np.zeros(n, dtype=np.int64)
        votes = np.zeros(n, dtype=np.int64)
        for agent in self.agents:
            action = _as_array(actions[agent], agent, "action")
            if action.shape != (2,) or not np.issubdtype(action.dtype, np.integer):
                raise ValueError(f"{agent}: action must be 2 integers (move, vote) for MultiDiscrete([4, {k}]); "
                                 f"got {action.dtype} array of shape {action.shape}.")
            i = self._index(agent)
            moves[i] = _as_int(action[0], agent, "move", len(MOVE_NAMES))
            votes[i] = _as_int(action[1], agent, "vote", k)
        device = self.sim.device
        return torch.from_numpy(moves)[None].to(device), torch.from_numpy(votes)[None].to(device)

    def __str__(self) -> str:
        return self.metadata["name"]


# --- validation helpers ---
def _as_array(value: Any, agent: str, field: str) -> np.ndarray:
    try:
        if isinstance(value, torch.Tensor):
            # bfloat16 (and other dtypes NumPy lacks) cannot go to .numpy() directly; float32 holds them exactly
            value = value.detach().cpu()
            value = value.float().numpy() if value.is_floating_point() else value.numpy()
        return np.asarray(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{agent}: action field {field!r} is not array-like: {err}") from None


def _as_int(value: Any, agent: str, field: str, n_choices: int) -> int:
    """An integer id in [0, n_choices), as a scalar or a length-1 vector (what batched policies emit); bools,
    floats, other shapes and out-of-range ids are errors."""
    array = _as_array(value, agent, field)
    if array.shape not in ((), (1,)) or array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{agent}: action field {field!r} must be one integer in 0..{n_choices - 1}; "
                         f"got {value!r}.")
    item = int(array.reshape(()))
    if not 0 <= item < n_choices:
        names = f" ({', '.join(MOVE_NAMES)})" if field == "move" else ""
        raise ValueError(f"{agent}: action field {field!r} must lie in 0..{n_choices - 1}{names}; got {item}.")
    return item


def _as_vector(value: Any, agent: str, field: str, size: int) -> np.ndarray:
    """A finite float32 vector of length ``size``."""
    array = _as_array(value, agent, field)
    if array.dtype == np.bool_ or not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{agent}: action field {field!r} must be a float vector of shape ({size},); "
                         f"got dtype {array.dtype}.")
    if array.shape != (size,):
        raise ValueError(f"{agent}: action field {field!r} must have shape ({size},); got {array.shape}.")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"{agent}: action field {field!r} contains NaN or inf (as float32): {array.tolist()}.")
    return array


def _check_indices(indices: Sequence[int] | np.ndarray | None, n_images: int) -> np.ndarray:
    if indices is None:
        return np.arange(n_images, dtype=np.int64)
    array = check_indices(indices, n_images, "indices", size_name="the dataset's size", flat=False)
    if array.size == 0:
        raise ValueError("indices must be a non-empty 1-D sequence of dataset indices; got none.")
    return array


# --- factories ---
def parallel_env(dataset: str | ImageDataset = "digits", *, root: Any = None, split: str = "train",
                 image_size: int | tuple[int, int] | None = None, indices: Sequence[int] | np.ndarray | None = None,
                 config: SimConfig | None = None, obs_mode: str = "dict", dataset_options: Mapping[str, Any] | None = None,
                 **config_fields: Any) -> MasimuParallelEnv:
    """The MASIMU image-patch environment as a PettingZoo ``ParallelEnv``.

    Args:
        dataset: a name for :func:`masimu_env.datasets.load` ("digits", "mnist", "cifar10", "resisc45",
            "ham10000", "folder"), read from ``root`` or ``$MASIMU_DATA/<name>``; or an already-loaded
            :class:`ImageDataset` (then ``root``/``image_size``/``dataset_options`` must be left unset and ``split`` at
            its default).
        root, split, image_size: forwarded to ``load``. ``image_size=None`` uses
            :data:`DEFAULT_IMAGE_SIZE` (HAM10000: 64x64), else the native size.
        indices: dataset indices episodes are drawn from (e.g. a retain set); default all.
        config: a full :class:`SimConfig`; ``config_fields`` are applied on top of it.
        obs_mode: "dict" or "flat" (see the module docstring for when to use which).
        dataset_options: extra reader options for ``load`` (e.g. ``{"missing": "skip"}`` for HAM10000).
        **config_fields: :class:`SimConfig` fields (n_agents, n_steps, window, stride, message_dim, graph,
            reward_loss, action_mode, seed, render_mode, device, max_cycles). Fields not given take the
            paper's defaults for the dataset (``SimConfig.for_dataset``).

    Returns:
        A :class:`MasimuParallelEnv`.
    """
    if isinstance(dataset, str):
        name = dataset
        if image_size is None:
            image_size = DEFAULT_IMAGE_SIZE.get(name)
        data = datasets_module.load(name, root=root, split=split, image_size=image_size, **dict(dataset_options or {}))
    elif isinstance(dataset, ImageDataset):
        if root is not None or image_size is not None or dataset_options or split != "train":
            raise ValueError("root=, split=, image_size= and dataset_options= apply only when dataset is a name; "
                             "load, split or resize the ImageDataset yourself (or pass indices=).")
        data, name = dataset, dataset.name
    else:
        raise TypeError(f"dataset must be a dataset name or an ImageDataset; got {type(dataset).__name__}.")
    unknown = sorted(set(config_fields) - set(SimConfig.__dataclass_fields__))
    if unknown:
        raise TypeError(f"parallel_env() got unknown argument(s) {unknown}; SimConfig fields are "
                        f"{', '.join(SimConfig.__dataclass_fields__)}.")
    if config is None:
        shape = data.image_shape or tuple(data[0][0].shape)
        config = SimConfig.for_dataset(name, min(shape[1:]), **config_fields)
    elif config_fields:
        config = config.replace(**config_fields)
    return MasimuParallelEnv(data, config, indices=indices, obs_mode=obs_mode)


def raw_env(*args: Any, **kwargs: Any) -> AECEnv:
    """The AEC version without the order-enforcing wrapper (``parallel_to_aec_wrapper``); same arguments as :func:`parallel_env`."""
    from pettingzoo.utils.conversions import parallel_to_aec_wrapper

    return parallel_to_aec_wrapper(parallel_env(*args, **kwargs))


def env(*args: Any, **kwargs: Any) -> AECEnv:
    """The AEC version (``parallel_to_aec`` + ``OrderEnforcingWrapper``); same arguments as :func:`parallel_env`."""
    from pettingzoo.utils.wrappers import OrderEnforcingWrapper

    return OrderEnforcingWrapper(raw_env(*args, **kwargs))
