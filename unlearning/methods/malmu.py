"""MALMU: MA-REINFORCE fine-tuning of the LSTM multi-agent model on retain-set episodes."""

from __future__ import annotations

from .multi_agent import MultiAgentFineTune


class Malmu(MultiAgentFineTune):
    name = "malmu"
    belief = "lstm"
    interpretable = False
    reference = "paper §4-5 (MALMU, LSTM beliefs)"
