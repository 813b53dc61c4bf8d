"""Stable-Baselines3 glue: the relabelling replay buffer, callbacks and resumable checkpoints."""

from aihf_control.sb3.averaged_actor import AveragedActor
from aihf_control.sb3.callbacks import TrueReturnEvalCallback
from aihf_control.sb3.checkpoint import (
    ResumableCheckpointCallback,
    checkpoint_folder,
    latest_checkpoint,
    load_checkpoint,
    read_checkpoint_state,
    save_checkpoint,
)
from aihf_control.sb3.relabel_buffer import RelabelingReplayBuffer

__all__ = [
    "AveragedActor",
    "RelabelingReplayBuffer",
    "ResumableCheckpointCallback",
    "TrueReturnEvalCallback",
    "checkpoint_folder",
    "latest_checkpoint",
    "load_checkpoint",
    "read_checkpoint_state",
    "save_checkpoint",
]
