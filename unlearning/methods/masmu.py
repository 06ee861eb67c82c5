"""MASMU: MA-REINFORCE fine-tuning of the GRU multi-agent model on retain-set episodes."""

from __future__ import annotations

from .multi_agent import MultiAgentFineTune


class Masmu(MultiAgentFineTune):
    name = "masmu"
    belief = "gru"
    interpretable = False
    reference = "paper §4-5 (MASMU, GRU beliefs)"
