"""Preferences: pairs of trajectory segments with a label saying which one is better."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from aihf_control.validation import as_float_array, check_feature_size


@dataclass(frozen=True)
class Preferences:
    """Labelled segment pairs (σ¹, σ²), checked on construction.

    Segments are cut from inside episodes; a segment that runs past a termination is not
    supported (its reward after the end would be undefined).

    :param obs_1: (N, T, obs_dim) observations of the first segment of each pair
    :param acts_1: (N, T, act_dim) its actions
    :param obs_2: (N, T, obs_dim) observations of the second segment
    :param acts_2: (N, T, act_dim) its actions
    :param labels: (N,) P(σ¹ ≻ σ²) in [0, 1]: 1 = first better, 0 = second better, 0.5 = equal
    :param true_rewards_1: optional (N, T) environment rewards of the first segments, kept
        for evaluation only (never used for learning)
    :param true_rewards_2: optional (N, T) environment rewards of the second segments
    """

    obs_1: np.ndarray
    acts_1: np.ndarray
    obs_2: np.ndarray
    acts_2: np.ndarray
    labels: np.ndarray
    true_rewards_1: np.ndarray | None = None
    true_rewards_2: np.ndarray | None = None

    def __post_init__(self) -> None:
        checked = {
            name: as_float_array(f"Preferences.{name}", getattr(self, name), 3)
            for name in ("obs_1", "acts_1", "obs_2", "acts_2")
        }
        labels = as_float_array("Preferences.labels", self.labels, 1)
        n = len(labels)
        if n == 0:
            raise ValueError("Preferences are empty: pass at least one labelled segment pair")
        if ((labels < 0) | (labels > 1)).any():
            bad = labels[(labels < 0) | (labels > 1)][:5]
            raise ValueError(
                f"Preferences.labels must be probabilities P(σ¹ ≻ σ²) in [0, 1] "
                f"(1 = first better, 0 = second, 0.5 = equal), got values such as {bad.tolist()}"
            )
        for name, array in checked.items():
            if len(array) != n:
                raise ValueError(f"Preferences.{name} holds {len(array)} segments but there are {n} labels")
        o1, a1, o2, a2 = checked["obs_1"], checked["acts_1"], checked["obs_2"], checked["acts_2"]
        if o1.shape[1] != o2.shape[1]:
            raise ValueError(
                f"segments of unequal length within a pair: σ¹ has {o1.shape[1]} steps, σ² has {o2.shape[1]}; "
                "cut both segments of a pair to the same length"
            )
        if a1.shape[:2] != o1.shape[:2] or a2.shape[:2] != o2.shape[:2]:
            raise ValueError(
                f"actions and observations of a segment must have the same (N, T): "
                f"obs_1 {o1.shape}, acts_1 {a1.shape}, obs_2 {o2.shape}, acts_2 {a2.shape}"
            )
        if o1.shape[2] != o2.shape[2] or a1.shape[2] != a2.shape[2]:
            raise ValueError(
                "both segments must have the same feature sizes: "
                f"obs_1 {o1.shape} vs obs_2 {o2.shape}, acts_1 {a1.shape} vs acts_2 {a2.shape}"
            )
        for name, array in checked.items():
            object.__setattr__(self, name, array)
        object.__setattr__(self, "labels", labels)
        for name in ("true_rewards_1", "true_rewards_2"):
            value = getattr(self, name)
            if value is not None:
                value = as_float_array(f"Preferences.{name}", value, 2)
                if value.shape != o1.shape[:2]:
                    raise ValueError(f"Preferences.{name} must have shape (N, T) = {o1.shape[:2]}, got {value.shape}")
                object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def segment_length(self) -> int:
        return self.obs_1.shape[1]

    def check_spaces(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """Raise a clear error if these segments do not fit the env's spaces."""
        check_feature_size("preference segments", self.obs_1.shape[2], "observation", observation_space)
        check_feature_size("preference segments", self.acts_1.shape[2], "action", action_space)
