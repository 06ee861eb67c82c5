"""MALIMU: MALMU with each retain batch's gradients scaled by (1 - I_w) (paper Algorithm 2, LSTM)."""

from __future__ import annotations

from .multi_agent import MultiAgentFineTune


class Malimu(MultiAgentFineTune):
    name = "malimu"
    belief = "lstm"
    interpretable = True
    reference = "paper Algorithm 2 (MALIMU, LSTM beliefs)"
