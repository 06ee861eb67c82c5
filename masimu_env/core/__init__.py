"""The batched torch core: positions, windows, moves, message routing and reward for B images x N agents.

Must never import gymnasium, pettingzoo or anything from ``masimu_env.api``.
"""

from .dynamics import (MOVE_NAMES, MOVES, agent_rewards, check_moves, crop_glimpses, episode_reward,
                       mean_prediction, move_windows, normalized_positions, prediction_probs, route_messages,
                       row_corners, sample_corners, sample_episodes, sample_image_indices, votes_to_probs)
from .simulator import (Observation, Simulator, SimState, flatten_observation, global_state,
                        to_float_images)

__all__ = ["MOVES", "MOVE_NAMES", "Observation", "SimState", "Simulator", "agent_rewards", "check_moves",
           "crop_glimpses", "episode_reward", "flatten_observation", "global_state", "mean_prediction",
           "move_windows", "normalized_positions", "prediction_probs", "route_messages", "row_corners", "sample_corners",
           "sample_episodes", "sample_image_indices", "to_float_images", "votes_to_probs"]
