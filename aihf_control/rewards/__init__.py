"""Reward networks and the AIHF losses."""

from aihf_control.rewards.losses import (
    aihf_loss,
    demo_loss,
    gradient_penalty,
    preference_accuracy,
    preference_loss,
    separate_falls_demo_loss,
)
from aihf_control.rewards.nets import RewardNet

__all__ = [
    "RewardNet",
    "aihf_loss",
    "demo_loss",
    "gradient_penalty",
    "preference_accuracy",
    "preference_loss",
    "separate_falls_demo_loss",
]
