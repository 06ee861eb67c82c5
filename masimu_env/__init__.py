"""masimu_env: image classification as a PettingZoo parallel multi-agent environment (paper §4, Algorithm 1).

``env = masimu_env.parallel_env("digits")`` gives the PettingZoo view (``masimu_env.env(...)`` the AEC
one); :mod:`masimu_env.core` is the batched torch core that learners drive directly;
:mod:`masimu_env.datasets` reads the datasets.

The environments are also registered in PettingZoo's registry (PettingZoo >= 1.27) as
``"masimu/masimu-v0"``: ``pettingzoo.make("parallel", "masimu/masimu-v0", dataset="digits")``.
With older PettingZoo versions, which have no registry, registration is skipped.
"""

from . import datasets
from .api import MasimuParallelEnv, env, parallel_env, raw_env, save_episode_gif
from .config import SimConfig

#: Id of the environments in PettingZoo's registry.
REGISTRY_ID = "masimu/masimu-v0"


def _register() -> None:
    try:
        from pettingzoo import aec_registry, parallel_registry, register
    except ImportError:  # PettingZoo < 1.27 has no registry
        return
    if REGISTRY_ID not in parallel_registry:
        register("parallel", REGISTRY_ID, entry_point="masimu_env.api.parallel_env:parallel_env")
    if REGISTRY_ID not in aec_registry:
        register("aec", REGISTRY_ID, entry_point="masimu_env.api.parallel_env:env")


_register()

__all__ = ["MasimuParallelEnv", "REGISTRY_ID", "SimConfig", "datasets", "env", "parallel_env", "raw_env",
           "save_episode_gif"]
