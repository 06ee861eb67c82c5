"""MASIMU: MASMU with each retain batch's gradients scaled by (1 - I_w) (paper Algorithm 2, GRU)."""

from __future__ import annotations

from .multi_agent import MultiAgentFineTune


class Masimu(MultiAgentFineTune):
    name = "masimu"
    belief = "gru"
    interpretable = True
    reference = "paper Algorithm 2 (MASIMU, GRU beliefs)"
