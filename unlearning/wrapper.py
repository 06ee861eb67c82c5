"""The unlearning wrapper: episodes only from the retain set, and I_w gradient scaling on any optimizer.

For learners that drive the PettingZoo environment (RLlib, TorchRL, your own loop)::

    env = retain_env(train, split, n_agents=3, n_steps=5)      # episodes from split.retain only
    weights = InterpretableWeights.compute(original, UnlearningData.from_split(train, split), config)
    handle = InterpretableStepHook(weights, env).attach(optimizer)
    ... play episodes, loss.backward(), optimizer.step() ...     # each step scaled by (1 - I_w)

The hook computes I_w (Algorithm 2 lines 14-17) over the retain images played since the previous
``optimizer.step()``, as recorded by the env, and multiplies every gradient of the optimizer's
parameters by (1 - I_w) just before the step (Algorithm 2 line 25). Our own MA-REINFORCE learner
uses the same scaling through its ``grad_hook`` (see :mod:`unlearning.methods.multi_agent`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.hooks import RemovableHandle

from masimu_env.config import check_indices
from masimu_env.datasets import ImageDataset

from .data import UnlearningData
from .interpretable import InterpretableWeights


class RetainEpisodes:
    """A ``masimu_env`` parallel env restricted to the retain set that records each episode's image.

    Every attribute not defined here (``agents``, ``observation_space``, ``render``, ...) is the
    wrapped env's. ``reset(options={"image_index": i})`` with ``i`` outside the retain set raises
    ``ValueError``: a forgotten image must never be played.

    Args:
        env: a ``masimu_env`` ``MasimuParallelEnv`` built with ``indices=retain``.
        retain: (r,) int dataset indices of the retain set.
    """

    def __init__(self, env: Any, retain: np.ndarray) -> None:
        self.env = env
        self.retain = np.sort(check_indices(retain, None, "retain", flat=False))
        env_indices = np.asarray(getattr(env, "indices", self.retain))
        if not np.isin(env_indices, self.retain).all():
            raise ValueError("the wrapped env draws episodes outside the retain set; build it with indices=retain.")
        self._played: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)

    def reset(self, seed: int | None = None, options: Mapping[str, Any] | None = None) -> Any:
        if options and "image_index" in options and int(options["image_index"]) not in set(self.retain.tolist()):
            raise ValueError(f"image_index {options['image_index']} is not in the retain set; "
                             "unlearning episodes may only use retained images.")
        observations, infos = self.env.reset(seed=seed, options=dict(options) if options else None)
        self._record(infos)
        return observations, infos

    def step(self, actions: Mapping[str, Any]) -> Any:
        return self.env.step(actions)

    def _record(self, infos: Mapping[str, Any]) -> None:
        for info in infos.values():
            if isinstance(info, Mapping) and "image_index" in info:
                self._played.append(int(info["image_index"]))
                return

    def played_indices(self, clear: bool = True) -> np.ndarray:
        """(b,) int64 dataset indices of the episodes started since the last clear."""
        out = np.asarray(self._played, dtype=np.int64)
        if clear:
            self._played = []
        return out


def retain_env(dataset: ImageDataset, split: Any, **env_kwargs: Any) -> RetainEpisodes:
    """``masimu_env.parallel_env(dataset, indices=split.retain, **env_kwargs)`` wrapped in :class:`RetainEpisodes`.

    Args:
        dataset: the training set; ``split`` its retain/forget split (validated like :func:`unlearning.unlearn`).
        **env_kwargs: forwarded to ``masimu_env.parallel_env`` (SimConfig fields, obs_mode, ...).
    """
    import masimu_env

    data = UnlearningData.from_split(dataset, split)
    env = masimu_env.parallel_env(dataset, indices=data.retain, **env_kwargs)
    return RetainEpisodes(env, data.retain)


class InterpretableStepHook:
    """Scales gradients by (1 - I_w) before each ``optimizer.step()``.

    Args:
        weights: the LIME tables (:class:`InterpretableWeights`).
        source: where the batch's retain indices come from: a :class:`RetainEpisodes` (the
            episodes played since the last step) or a callable returning them.

    Attributes:
        history: I_w of every step taken (NaN where no retain episode was recorded: no scaling).
    """

    def __init__(self, weights: InterpretableWeights, source: RetainEpisodes | Callable[[], np.ndarray]) -> None:
        self.weights = weights
        self.source = source
        self.history: list[float] = []

    def _indices(self) -> np.ndarray:
        if isinstance(self.source, RetainEpisodes):
            return self.source.played_indices(clear=True)
        return check_indices(self.source(), None, "InterpretableStepHook source() indices")

    @torch.no_grad()
    def scale(self, params: Any) -> float:
        """Scale the ``.grad`` of ``params`` by (1 - I_w) of the pending batch; returns I_w (NaN: none)."""
        indices = self._indices()
        if indices.size == 0:
            self.history.append(float("nan"))
            return float("nan")
        i_w = self.weights.weight(indices)
        for param in params:
            if param.grad is not None:
                param.grad.mul_(1.0 - i_w)
        self.history.append(i_w)
        return i_w

    def attach(self, optimizer: torch.optim.Optimizer) -> RemovableHandle:
        """Register as a step pre-hook of ``optimizer``; ``handle.remove()`` detaches it."""
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer; got {type(optimizer).__name__}.")

        def hook(opt: torch.optim.Optimizer, _args: Any, _kwargs: Any) -> None:
            self.scale([p for group in opt.param_groups for p in group["params"]])

        return optimizer.register_step_pre_hook(hook)

    def grad_hook(self, net: torch.nn.Module, batch_rows: np.ndarray) -> None:
        """The ``MAReinforce.fit(grad_hook=...)`` form: scale ``net``'s grads by I_w of ``batch_rows``."""
        i_w = self.weights.weight(batch_rows)
        for param in net.parameters():
            if param.grad is not None:
                param.grad.mul_(1.0 - i_w)
        self.history.append(i_w)
