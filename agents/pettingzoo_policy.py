"""Drive a trained MASMU/MALMU step by step through the PettingZoo view (the slow, interoperable path).

Only touches observation and action dicts, never the core: the env routes the decoded messages and
scores the prediction logits of the last step, exactly as :func:`agents.rollout.run_episode` does in batch.

Example:
    >>> env = masimu_env.parallel_env(test_ds, config=model.config.sim_config)
    >>> policy = PettingZooPolicy(model.net, mode="greedy")
    >>> obs, infos = env.reset(seed=0)
    >>> policy.reset(n_agents=len(env.agents))
    >>> while env.agents:
    ...     obs, rewards, terms, truncs, infos = env.step(policy.act(obs))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .networks import MultiAgentNet, RecurrentState
from .rollout import MOVE_MODES, sample_moves

OBS_KEYS = ("window", "position", "time")


def _agent_number(agent: str) -> tuple[int, str]:
    """Sort key: agents by their number (``agent_2`` before ``agent_10``); names without one by their text."""
    prefix, _, number = agent.rpartition("_")
    return (int(number), prefix) if number.isdigit() else (-1, agent)


class PettingZooPolicy:
    """Per-agent observation dicts in, per-agent action dicts (move, message, prediction logits) out.

    Args:
        net: the shared networks (e.g. ``MAReinforce.net``); the env's ``message_dim`` must equal
            ``net.config.message_dim`` (build the env from ``model.config.sim_config``).
        mode: 'greedy' (argmax pi), 'sample' (pi, with ``generator``) or 'random' (uniform moves).
        generator: CPU torch.Generator for 'sample' / 'random'; drawn from exactly as the batched
            rollout draws for one episode, so equal seeds give equal moves on both paths.
    """

    def __init__(self, net: MultiAgentNet, mode: str = "greedy", generator: torch.Generator | None = None) -> None:
        if mode not in MOVE_MODES:
            raise ValueError(f"mode must be one of {MOVE_MODES}; got {mode!r}.")
        if mode != "greedy" and generator is None:
            raise ValueError(f"mode={mode!r} draws moves at random; pass generator=torch.Generator().manual_seed(...).")
        self.net = net
        self.mode = mode
        self.generator = generator
        self.device = next(net.parameters()).device
        self._state: RecurrentState | None = None
        self._agents: list[str] = []
        self._steps = 0

    def reset(self, n_agents: int | None = None, agents: list[str] | None = None) -> None:
        """Zero the RNN states before an episode (``agents`` default ``agent_0 .. agent_{N-1}``, in any order).

        :meth:`act` also starts afresh by itself when it sees time 0 again after an episode."""
        if agents is None:
            if n_agents is None:
                raise ValueError("reset needs n_agents= or agents= (e.g. env.possible_agents).")
            agents = [f"agent_{i}" for i in range(n_agents)]
        # agent_i order, whatever order they were listed in: the 'sample' and 'random' draws follow it, as the
        # batched rollout's do (a permuted list drew other moves)
        self._agents = sorted(agents, key=_agent_number)
        self._state = self.net.initial_state(1, len(self._agents), self.device)
        self._steps = 0

    def _stack(self, observations: Mapping[str, Any], key: str) -> torch.Tensor:
        try:
            arrays = [np.asarray(observations[a][key], dtype=np.float32) for a in self._agents]
        except KeyError as err:
            raise KeyError(f"observation of every agent in {self._agents} needs key {err}; use obs_mode='dict' "
                           f"and action_mode='dict' in the env.") from None
        return torch.from_numpy(np.stack(arrays))[None].to(self.device)

    @torch.no_grad()
    def act(self, observations: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """One step for all agents.

        Args:
            observations: {agent: {"window": (C, f, f), "position": (2,), "time": (1,), "inbox": (M,)}}.

        Returns:
            {agent: {"move": int, "message": (M,) float32, "prediction": (K,) float32 logits}}.
        """
        if self._state is None:
            raise RuntimeError("call reset() before act().")
        missing = [a for a in self._agents if a not in observations]
        if missing:
            raise ValueError(f"observations missing for agents {missing}.")
        window = self._stack(observations, "window")
        position = self._stack(observations, "position")
        time = self._stack(observations, "time")
        if self._steps and not bool(time.any()):
            # time 0 again: a new episode began without reset(); starting it from the last episode's recurrent state
            # gave other moves than a fresh episode
            self._state = self.net.initial_state(1, len(self._agents), self.device)
            self._steps = 0
        m = self.net.config.message_dim
        if "inbox" in observations[self._agents[0]]:
            inbox = self._stack(observations, "inbox")
            if inbox.shape[-1] != m:
                raise ValueError(f"env inbox has width {inbox.shape[-1]} but the networks send messages of width {m}; "
                                 f"build the env from model.config.sim_config.")
        else:
            raise ValueError("observations carry no 'inbox': the env must exchange messages "
                             f"(action_mode='dict', message_dim={m}).")
        out = self.net.step(window, position, time, inbox, self._state)
        self._state = out.state
        self._steps += 1
        if self.mode == "greedy":
            moves = out.move_logits.argmax(-1)
        elif self.mode == "sample":
            moves, _ = sample_moves(out.move_logits, self.generator)  # type: ignore[arg-type]
        else:
            moves = torch.randint(0, out.move_logits.shape[-1], tuple(out.move_logits.shape[:2]),
                                  generator=self.generator).to(self.device)
        logits = self.net.predict_logits(self._state)
        actions = {}
        for i, agent in enumerate(self._agents):
            actions[agent] = {"move": int(moves[0, i]),
                              "message": out.message[0, i].cpu().numpy().astype(np.float32),
                              "prediction": logits[0, i].cpu().numpy().astype(np.float32)}
        return actions
