"""AIHF's feedback — demonstrations and preferences — checked, and as tensors on the training device.

``AIHFRewardLearning`` checks its feedback arguments with ``check_feedback_arguments`` and the data it is given with
``check_usable_feedback``, turns the data into a ``FeedbackTensors`` with ``feedback_tensors`` whenever it changes,
and reads segment returns off it with ``preference_returns``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces

from aihf_control.data.demos import Demonstrations
from aihf_control.data.preferences import Preferences
from aihf_control.data.teachers import ScriptedTeacher
from aihf_control.rewards.nets import RewardNet

DEMO_LOSS_WEIGHTINGS = ("occupancy", "separate_falls", "transitions")


@dataclass
class FeedbackTensors:
    """Demonstrations and preferences as tensors on the training device (None where that feedback is absent)."""

    demo_obs: torch.Tensor | None = None  # (N, obs_dim)
    demo_acts: torch.Tensor | None = None  # (N, act_dim)
    demo_terminated: torch.Tensor | None = None  # (N,) float
    pref_obs_1: torch.Tensor | None = None  # (M, T, obs_dim)
    pref_acts_1: torch.Tensor | None = None  # (M, T, act_dim)
    pref_obs_2: torch.Tensor | None = None  # (M, T, obs_dim)
    pref_acts_2: torch.Tensor | None = None  # (M, T, act_dim)
    pref_absorbing_1: torch.Tensor | None = None  # (M, T) bool, padded steps past a termination
    pref_absorbing_2: torch.Tensor | None = None  # (M, T) bool
    pref_labels: torch.Tensor | None = None  # (M,)


def check_feedback_arguments(
    demonstrations: object, preferences: object, demo_loss_weighting: str, preference_source: str, teacher: object
) -> None:
    """Check AIHF's feedback and how it is used, before shipped datasets may be loaded in its place.

    :param demonstrations: a ``Demonstrations`` or None
    :param preferences: a ``Preferences`` or None
    :param demo_loss_weighting: ``"occupancy"``, ``"separate_falls"`` or ``"transitions"``
    :param preference_source: ``"offline"`` or ``"online"``
    :param teacher: a ``ScriptedTeacher`` with ``"online"``, None with ``"offline"``
    """
    if demo_loss_weighting not in DEMO_LOSS_WEIGHTINGS:
        choices = ", ".join(map(repr, DEMO_LOSS_WEIGHTINGS))
        raise ValueError(f"demo_loss_weighting must be one of {choices}, got {demo_loss_weighting!r}")
    if preference_source not in ("offline", "online"):
        raise ValueError(f"preference_source must be 'offline' or 'online', got {preference_source!r}")
    online = preference_source == "online"
    if online and not isinstance(teacher, ScriptedTeacher):
        raise ValueError(
            "preference_source='online' needs a teacher to label the queries, e.g. "
            f"teacher=ScriptedTeacher.oracle(); got {type(teacher).__name__}"
        )
    if not online and teacher is not None:
        raise ValueError("a teacher is only used with preference_source='online'; pass that, or drop teacher")
    _check_feedback_types(demonstrations, preferences)


def _check_feedback_types(demonstrations: object, preferences: object) -> None:
    """Raise a ``TypeError`` unless ``demonstrations`` is a ``Demonstrations`` and ``preferences`` a ``Preferences``.

    :param demonstrations: a ``Demonstrations`` or None
    :param preferences: a ``Preferences`` or None
    """
    for name, value, expected in (
        ("demonstrations", demonstrations, Demonstrations),
        ("preferences", preferences, Preferences),
    ):
        if value is not None and not isinstance(value, expected):
            raise TypeError(
                f"{name} must be an aihf_control.{expected.__name__} (or None), got {type(value).__name__}; "
                f"build one with {expected.__name__}(...)"
            )


def check_usable_feedback(
    demonstrations: object, preferences: object, demo_weight: float, preference_weight: float
) -> None:
    """Check the types of the feedback given, and that a positive weight puts some of it to use.

    :param demonstrations: a ``Demonstrations`` or None
    :param preferences: a ``Preferences`` or None
    :param demo_weight: weight of the demonstration term
    :param preference_weight: weight of the preference term
    """
    _check_feedback_types(demonstrations, preferences)
    given = demonstrations is not None or preferences is not None
    usable = (demonstrations is not None and demo_weight > 0) or (preferences is not None and preference_weight > 0)
    if given and not usable:
        raise ValueError(
            f"the feedback given is switched off by its weight (demo_weight={demo_weight}, "
            f"preference_weight={preference_weight}): give a positive weight to the data you pass"
        )


def feedback_tensors(
    demonstrations: Demonstrations | None,
    preferences: Preferences | None,
    observation_space: spaces.Space,
    action_space: spaces.Space,
    device: torch.device | str,
) -> tuple[FeedbackTensors, list[np.ndarray]]:
    """The feedback, checked against the env's spaces, as float32 tensors on ``device``.

    :param demonstrations: expert transitions, or None
    :param preferences: labelled segment pairs, or None; without absorbing masks no step is padded
    :param observation_space: the env's observation space
    :param action_space: the env's action space
    :param device: the training device
    :return: the tensors, and the feedback's real observations as (n, obs_dim) arrays (demonstrations, then
        each side of the preferences, padded steps left out): the data of the reward net's input statistics
    """

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32, device=device)

    fb = FeedbackTensors()
    observed = []
    if demonstrations is not None:
        demonstrations.check_spaces(observation_space, action_space)
        fb.demo_obs, fb.demo_acts = tensor(demonstrations.obs), tensor(demonstrations.acts)
        fb.demo_terminated = tensor(demonstrations.dones)
        observed.append(demonstrations.obs)
    if preferences is not None:
        preferences.check_spaces(observation_space, action_space)
        fb.pref_obs_1, fb.pref_acts_1 = tensor(preferences.obs_1), tensor(preferences.acts_1)
        fb.pref_obs_2, fb.pref_acts_2 = tensor(preferences.obs_2), tensor(preferences.acts_2)
        fb.pref_labels = tensor(preferences.labels)
        no_padding = np.zeros(preferences.obs_1.shape[:2], dtype=bool)
        for i in (1, 2):
            absorbing = getattr(preferences, f"absorbing_{i}")
            absorbing = no_padding if absorbing is None else absorbing
            setattr(fb, f"pref_absorbing_{i}", torch.as_tensor(absorbing, device=device))
            observed.append(getattr(preferences, f"obs_{i}")[~absorbing])  # padded steps hold zeros
    return fb, observed


def preference_returns(
    feedback: FeedbackTensors,
    reward_net: RewardNet,
    pairs: torch.Tensor | np.ndarray,
    absorbing_state: bool,
    members: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """R_θ(σ¹), R_θ(σ²) of the preference pairs ``pairs`` (B,), padded steps worth the absorbing reward.

    :param feedback: the feedback tensors, with preferences
    :param reward_net: r_θ
    :param pairs: (B,) indices of preference pairs
    :param absorbing_state: whether padded steps are worth r_abs (else 0)
    :param members: return each ensemble member's returns rather than their mean
    :return: two (B,) tensors, or (E, B) per ensemble member with ``members=True``
    """
    fb = feedback
    returns = reward_net.member_segment_returns if members else reward_net.segment_return
    r1 = returns(fb.pref_obs_1[pairs], fb.pref_acts_1[pairs], fb.pref_absorbing_1[pairs], absorbing_state)
    r2 = returns(fb.pref_obs_2[pairs], fb.pref_acts_2[pairs], fb.pref_absorbing_2[pairs], absorbing_state)
    return r1, r2
