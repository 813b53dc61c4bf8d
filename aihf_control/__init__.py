"""aihf-control: Alignment with Integrated Human Feedback for robot control, on Stable-Baselines3."""

from aihf_control.algos.aihf import (
    AIHF,
    AIHFTQC,
    AIHFCrossQ,
    AIHFRewardLearning,
    AveragedCrossQ,
    AveragedSAC,
    AveragedTQC,
)
from aihf_control.algos.bc import BC
from aihf_control.algos.ipl import IPL
from aihf_control.algos.rlhf import RLHF
from aihf_control.data import Demonstrations, Preferences, record_demonstrations
from aihf_control.rewards import RewardNet, aihf_loss, demo_loss, preference_loss
from aihf_control.sb3 import (
    RelabelingReplayBuffer,
    ResumableCheckpointCallback,
    TrueReturnEvalCallback,
    load_checkpoint,
)
from aihf_control.validation import NonFiniteError

__version__ = "0.1.0"

__all__ = [
    "AIHF",
    "AIHFTQC",
    "BC",
    "IPL",
    "RLHF",
    "AIHFCrossQ",
    "AIHFRewardLearning",
    "AveragedCrossQ",
    "AveragedSAC",
    "AveragedTQC",
    "Demonstrations",
    "NonFiniteError",
    "Preferences",
    "RelabelingReplayBuffer",
    "ResumableCheckpointCallback",
    "RewardNet",
    "TrueReturnEvalCallback",
    "aihf_loss",
    "demo_loss",
    "load_checkpoint",
    "preference_loss",
    "record_demonstrations",
]
