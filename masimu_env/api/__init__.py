"""Thin views over :mod:`masimu_env.core`: the PettingZoo environments, their spaces and rendering."""

from .parallel_env import DEFAULT_IMAGE_SIZE, MasimuParallelEnv, agent_ids, env, parallel_env, raw_env
from .render import render_frame, save_episode_gif

__all__ = ["DEFAULT_IMAGE_SIZE", "MasimuParallelEnv", "agent_ids", "env", "parallel_env", "raw_env",
           "render_frame", "save_episode_gif"]
