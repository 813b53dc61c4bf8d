"""Stable-Baselines3 glue: the relabelling replay buffer and callbacks."""

from aihf_control.sb3.callbacks import TrueReturnEvalCallback
from aihf_control.sb3.relabel_buffer import RelabelingReplayBuffer

__all__ = ["RelabelingReplayBuffer", "TrueReturnEvalCallback"]
