"""agents: the MA-REINFORCE learner (paper §4, Algorithm 1, Eq. 6) -- MASMU (GRU) and MALMU (LSTM) -- on the batched core.

``MAReinforce(AgentConfig.for_dataset("mnist"), n_classes, image_shape).fit(train_ds)`` trains;
``evaluate`` / ``predict`` / ``predict_proba`` score; ``save`` / ``MAReinforce.load`` checkpoint;
``fit(..., callbacks=[TensorBoardLogger(dir)])`` logs each epoch to TensorBoard.
"""

from .config import AgentConfig
from .learner import FitResult, MAReinforce
from .networks import MultiAgentNet
from .pettingzoo_policy import PettingZooPolicy
from .rollout import run_episode
from .tensorboard import TensorBoardLogger

__all__ = ["AgentConfig", "FitResult", "MAReinforce", "MultiAgentNet", "PettingZooPolicy", "TensorBoardLogger",
           "run_episode"]
