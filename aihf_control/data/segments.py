"""Segments: which windows of recorded episodes a preference is asked about (the "fragmenter" of a
preference pipeline).

A pool of ``Trajectory`` is concatenated once into a ``SegmentPool``; segments are windows of
``segment_length`` steps drawn uniformly from all its windows. A trajectory that ends in a termination
(a fall) gives windows that run past its end, padded with absorbing steps; ``cut_segments`` returns
the windows themselves, ``generate_preferences`` (in ``aihf_control.data.preferences``) labels pairs of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aihf_control.validation import as_float_array, check_positive_int, check_rng


@dataclass(frozen=True)
class Trajectory:
    """One episode (or the part of one that was recorded) of a policy in an environment.

    :param obs: (T, obs_dim) observations s_t at which the actions were taken (not the final s_T)
    :param acts: (T, act_dim) actions a_t
    :param rewards: (T,) true environment rewards r(s_t, a_t)
    :param terminated: True if the episode truly ended after the last step (a fall): segments may then
        run past its end, padded with absorbing steps; False if it was cut by a time limit or is still
        running: segments then stay inside it
    """

    obs: np.ndarray
    acts: np.ndarray
    rewards: np.ndarray
    terminated: bool = False

    def __post_init__(self) -> None:
        obs = as_float_array("Trajectory.obs", self.obs, 2)
        acts = as_float_array("Trajectory.acts", self.acts, 2)
        rewards = as_float_array("Trajectory.rewards", self.rewards, 1)
        lengths = {"obs": len(obs), "acts": len(acts), "rewards": len(rewards)}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"Trajectory arrays must have one length T (one entry per step), got {lengths}")
        if len(obs) == 0:
            raise ValueError("Trajectory is empty: pass at least one step")
        if not isinstance(self.terminated, (bool, np.bool_)):
            raise TypeError(f"Trajectory.terminated must be a bool, got {type(self.terminated).__name__}")
        for name, value in (("obs", obs), ("acts", acts), ("rewards", rewards)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "terminated", bool(self.terminated))

    def __len__(self) -> int:
        return len(self.rewards)


@dataclass(frozen=True)
class SegmentPool:
    """The trajectories that give segments, concatenated once (terminated ones padded), and where their windows
    are; built by :func:`segment_pool`.

    :param obs: (M, obs_dim) observations, M = total steps of the usable trajectories, padding included
    :param acts: (M, act_dim) actions
    :param rewards: (M,) true rewards
    :param absorbing: (M,) True at padded steps after a termination
    :param first_step: (E,) index of each trajectory's first step in the arrays above
    :param first_window: (E,) number of each trajectory's first window, counting over the pool
    :param num_windows: windows of ``segment_length`` steps in the whole pool
    :param segment_length: steps per segment
    """

    obs: np.ndarray
    acts: np.ndarray
    rewards: np.ndarray
    absorbing: np.ndarray
    first_step: np.ndarray
    first_window: np.ndarray
    num_windows: int
    segment_length: int

    def sample_starts(self, num_segments: int, rng: np.random.Generator) -> np.ndarray:
        """(K,) first steps of windows drawn uniformly from all windows of the pool."""
        window = rng.integers(0, self.num_windows, size=num_segments)  # (K,)
        trajectory = np.searchsorted(self.first_window, window, side="right") - 1  # (K,)
        return self.first_step[trajectory] + (window - self.first_window[trajectory])

    def steps(self, starts: np.ndarray) -> np.ndarray:
        """(K, T) indices of the steps of the windows that start at ``starts``."""
        return starts[:, None] + np.arange(self.segment_length)


def _padded(trajectory: Trajectory, segment_length: int) -> tuple[np.ndarray, ...]:
    """obs, acts, rewards, absorbing of a trajectory; a terminated one gets segment_length - 1 absorbing steps."""
    real = np.zeros(len(trajectory), dtype=bool)
    if not trajectory.terminated:
        return trajectory.obs, trajectory.acts, trajectory.rewards, real
    pad = segment_length - 1
    return (
        np.concatenate([trajectory.obs, np.zeros((pad, trajectory.obs.shape[1]), np.float32)]),
        np.concatenate([trajectory.acts, np.zeros((pad, trajectory.acts.shape[1]), np.float32)]),
        np.concatenate([trajectory.rewards, np.zeros(pad, np.float32)]),
        np.concatenate([real, np.ones(pad, dtype=bool)]),
    )


def segment_pool(trajectories: Sequence[Trajectory], segment_length: int) -> SegmentPool:
    """Check a pool of trajectories and concatenate the ones that give segments, terminated ones padded.

    :param trajectories: the pool, every trajectory from one environment
    :param segment_length: steps per segment
    :return: the pool's arrays and where its windows are
    """
    if not isinstance(trajectories, Sequence) or isinstance(trajectories, (str, bytes)) or not trajectories:
        raise ValueError("trajectories must be a non-empty list of Trajectory (the pool to cut segments from)")
    for i, trajectory in enumerate(trajectories):
        if not isinstance(trajectory, Trajectory):
            raise TypeError(
                f"trajectories[{i}] is a {type(trajectory).__name__}, not a Trajectory; "
                "wrap each episode as Trajectory(obs, acts, rewards, terminated)"
            )
    first = trajectories[0]
    for i, trajectory in enumerate(trajectories):
        if trajectory.obs.shape[1] != first.obs.shape[1] or trajectory.acts.shape[1] != first.acts.shape[1]:
            raise ValueError(
                f"trajectories[{i}] has observation size {trajectory.obs.shape[1]} and action size "
                f"{trajectory.acts.shape[1]}, but trajectories[0] has {first.obs.shape[1]} and "
                f"{first.acts.shape[1]}: every trajectory of a pool must come from the same environment"
            )
    check_positive_int("segment_length", segment_length)
    # A terminated trajectory gives a segment starting at each of its steps (padded past the fall); one
    # cut by a time limit or still running only gives windows that fit inside it.
    usable = [t for t in trajectories if t.terminated or len(t) >= segment_length]
    if not usable:
        raise ValueError(
            f"no trajectory gives a segment of {segment_length} steps: none terminated, and the longest has "
            f"{max(len(t) for t in trajectories)} steps; use a shorter segment_length or longer episodes"
        )
    padded = [_padded(t, segment_length) for t in usable]
    lengths = np.array([len(p[0]) for p in padded])  # (E,) steps, padding included
    windows = lengths - segment_length + 1  # (E,) windows that fit in each (padded) trajectory
    obs, acts, rewards, absorbing = (np.concatenate(arrays) for arrays in zip(*padded, strict=True))
    return SegmentPool(
        obs=obs,
        acts=acts,
        rewards=rewards,
        absorbing=absorbing,
        first_step=np.cumsum(lengths) - lengths,
        first_window=np.cumsum(windows) - windows,
        num_windows=int(windows.sum()),
        segment_length=int(segment_length),
    )


def cut_segments(
    trajectories: Sequence[Trajectory], segment_length: int, num_segments: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut random windows of ``segment_length`` steps, each from one trajectory.

    Every window is equally likely (a long trajectory gives more segments than a short one). A
    terminated trajectory gives one window per step, padded past its end with absorbing steps
    (zero observations, actions and rewards); any other trajectory only gives windows that fit
    inside it, so one shorter than ``segment_length`` gives none.

    :param trajectories: the pool, e.g. episodes of random, intermediate and noisy expert policies
    :param segment_length: steps per segment
    :param num_segments: how many segments K to cut (drawn with replacement)
    :param rng: e.g. ``np.random.default_rng(seed)``
    :return: obs (K, T, obs_dim), acts (K, T, act_dim), true rewards (K, T), float32, and absorbing
        (K, T), bool, True at padded steps
    """
    check_positive_int("num_segments", num_segments)
    check_rng(rng)
    pool = segment_pool(trajectories, segment_length)
    steps = pool.steps(pool.sample_starts(num_segments, rng))  # (K, T)
    return pool.obs[steps], pool.acts[steps], pool.rewards[steps], pool.absorbing[steps]
