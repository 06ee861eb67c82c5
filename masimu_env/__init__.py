"""masimu_env: image classification as a PettingZoo parallel multi-agent environment (paper §4, Algorithm 1).

``env = masimu_env.parallel_env("digits")`` gives the PettingZoo view; :mod:`masimu_env.core` is the
batched torch core that learners drive directly; :mod:`masimu_env.datasets` reads the datasets.
"""

from . import datasets
from .config import SimConfig

__all__ = ["SimConfig", "datasets"]
