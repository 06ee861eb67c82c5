"""The batched torch core: positions, windows, moves, message routing and reward for B images x N agents.

Must never import gymnasium, pettingzoo or anything from ``masimu_env.api``.
"""

from .dynamics import (MOVE_NAMES, MOVES, crop_glimpses, episode_reward, mean_prediction, move_windows,
                       normalized_positions, route_messages, sample_corners, votes_to_probs)
from .simulator import Observation, Simulator, SimState, to_float_images

__all__ = ["MOVES", "MOVE_NAMES", "Observation", "SimState", "Simulator", "crop_glimpses", "episode_reward",
           "mean_prediction", "move_windows", "normalized_positions", "route_messages", "sample_corners",
           "to_float_images", "votes_to_probs"]
