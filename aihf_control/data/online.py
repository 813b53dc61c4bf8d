"""Online preferences: queries about the agent's own recent steps, asked while it trains (PEBBLE / B-Pref style).

Three steps, each a plain function of arrays: ``recent_trajectories`` reads the latest steps of an SB3
replay buffer as episodes, ``OnlinePreferenceGatherer.gather`` picks segment pairs from them (uniformly
or where a reward ensemble disagrees most, see ``disagreement``) and has a scripted teacher label them,
and ``Preferences.concatenate`` joins the batches gathered so far into one dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer

from aihf_control.data.preferences import Preferences
from aihf_control.data.segments import Trajectory, cut_segments
from aihf_control.data.teachers import ScriptedTeacher
from aihf_control.validation import check_finite, check_positive_int, check_rng

SELECTIONS = ("uniform", "disagreement")

# (obs (K, T, obs_dim), acts (K, T, act_dim), absorbing (K, T) bool) -> returns (E, K), one row per ensemble member
EnsembleReturns = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def recent_trajectories(buffer: ReplayBuffer, num_steps: int) -> list[Trajectory]:
    """The last ``num_steps`` steps of each env of an SB3 replay buffer, split into episodes.

    An episode ends at a step whose ``dones`` is set. It ended by termination (``terminated=True``, so
    segments may run past it as absorbing padding) unless ``timeouts`` is also set there (a time-limit
    truncation, which SB3 records with ``handle_timeout_termination=True``); the episode still running at
    the end of the window has ``terminated=False``. The first episode is included even if it began before
    the window. A buffer built with ``handle_timeout_termination=False`` cannot tell truncations apart,
    so every done counts as a termination there, as it does for SAC's targets.

    Observations are those SB3 stored (raw ones, before a ``VecNormalize``), flattened; rewards are the
    true env rewards, which a ``RelabelingReplayBuffer`` keeps stored (it applies r_θ only when sampling).

    :param buffer: any SB3 ``ReplayBuffer`` with flat-array observations, full (wrapped around) or not
    :param num_steps: steps per env to read; fewer if the buffer holds fewer
    :return: the episodes of env 0 in time order, then those of env 1, and so on
    """
    if not isinstance(buffer, ReplayBuffer):
        raise TypeError(f"buffer must be a stable_baselines3 ReplayBuffer, got {type(buffer).__name__}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, Integral) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer (steps per env to read), got {num_steps!r}")
    if isinstance(buffer.observations, dict):
        raise TypeError(
            "recent_trajectories needs flat-array observations, but this buffer stores a dict of them; "
            "flatten the env's observations with gymnasium.wrappers.FlattenObservation"
        )
    stored = buffer.size()
    if buffer.optimize_memory_usage and buffer.full:
        stored -= 1  # the oldest slot already holds the next observation of the newest step
    if stored < 1:
        raise ValueError("the replay buffer holds no steps yet; gather preferences after the first rollouts")
    n = min(int(num_steps), stored)
    steps = (buffer.pos - n + np.arange(n)) % buffer.buffer_size  # (n,) slots, oldest first, across the wrap
    obs = buffer.observations[steps].reshape(n, buffer.n_envs, -1)  # (n, n_envs, obs_dim)
    acts = buffer.actions[steps].reshape(n, buffer.n_envs, -1)  # (n, n_envs, act_dim)
    rewards = buffer.rewards[steps]  # (n, n_envs)
    done = buffer.dones[steps] > 0  # (n, n_envs)
    terminal = done & ~(buffer.timeouts[steps] > 0)  # (n, n_envs); timeouts stay 0 without handle_timeout_termination

    trajectories = []
    for env in range(buffer.n_envs):
        # Episode e covers steps [starts[e], stops[e]); a done on the window's last step needs no split.
        stops = np.append(np.flatnonzero(done[:-1, env]) + 1, n)  # (D,)
        starts = np.append(0, stops[:-1])  # (D,)
        trajectories += [
            Trajectory(obs[a:b, env], acts[a:b, env], rewards[a:b, env], terminated=bool(terminal[b - 1, env]))
            for a, b in zip(starts, stops, strict=True)
        ]
    return trajectories


def disagreement(returns_1: np.ndarray, returns_2: np.ndarray) -> np.ndarray:
    """How much the members of a reward ensemble disagree on each segment pair.

    Each member e gives the Bradley–Terry probability P_e(σ¹ ≻ σ²) = σ(R¹_e - R²_e); the disagreement is
    its standard deviation over members (PEBBLE's disagreement-based sampling). It is 0 where all members
    agree and at most 0.5.

    :param returns_1: (E, K) returns of the first segment of each of K pairs under each of E ≥ 2 members
    :param returns_2: (E, K) returns of the second segments
    :return: (K,) float64 standard deviation (over members, ddof 0) of P(σ¹ ≻ σ²)
    """
    r1 = _returns_array("returns_1", returns_1)
    r2 = _returns_array("returns_2", returns_2)
    if r1.shape != r2.shape:
        raise ValueError(f"returns_1 {r1.shape} and returns_2 {r2.shape} must have the same shape (E members, K pairs)")
    if r1.shape[0] < 2:
        raise ValueError(
            f"disagreement needs an ensemble of at least 2 reward models (E ≥ 2 rows), got E = {r1.shape[0]}"
        )
    # σ(x) = (1 + tanh(x / 2)) / 2 does not overflow, and halving each return first keeps x / 2 finite.
    p_first = 0.5 * (1.0 + np.tanh(0.5 * r1 - 0.5 * r2))  # (E, K)
    return p_first.std(axis=0)  # (K,)


def _returns_array(name: str, value: object) -> np.ndarray:
    """``value`` as a finite (E, K) float64 array; float64 so that large returns lose no precision in R¹ - R²."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"{name} must be a numeric (E, K) array, got {type(value).__name__}: {e}") from e
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (E members, K segments), got shape {array.shape}")
    check_finite(name, array)
    return array


@dataclass(frozen=True)
class OnlinePreferenceGatherer:
    """Asks a scripted teacher about segment pairs cut from the agent's recent trajectories.

    ``selection="uniform"`` pairs random segments. ``selection="disagreement"`` cuts
    ``candidates_per_query`` random candidate pairs per query and asks about those on which a reward
    ensemble disagrees most (``disagreement``), as PEBBLE does. Segments are cut as by ``cut_segments``:
    one that reaches a termination (a fall) is padded with absorbing steps, never dropped.

    Queries count against a feedback budget by queries *asked*, as in B-Pref: a pair the teacher skips
    costs as much as a labelled one, so subtract ``num_queries`` (``metadata["queries_asked"]``) from the
    budget, not the number of pairs returned.

    :param teacher: the scripted labeller, e.g. ``ScriptedTeacher.oracle()``
    :param segment_length: steps per segment
    :param selection: "uniform" or "disagreement"
    :param candidates_per_query: random candidate pairs drawn per query for "disagreement" (≥ 1; 1 makes it
        uniform); unused by "uniform"
    """

    teacher: ScriptedTeacher
    segment_length: int = 50
    selection: str = "uniform"
    candidates_per_query: int = 10

    def __post_init__(self) -> None:
        if not isinstance(self.teacher, ScriptedTeacher):
            raise TypeError(
                f"teacher must be a ScriptedTeacher, got {type(self.teacher).__name__}; "
                "e.g. ScriptedTeacher.oracle() or ScriptedTeacher.named('mistake')"
            )
        check_positive_int("segment_length", self.segment_length)
        if self.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {self.selection!r}: valid selections are {', '.join(SELECTIONS)}")
        check_positive_int("candidates_per_query", self.candidates_per_query)
        object.__setattr__(self, "segment_length", int(self.segment_length))
        object.__setattr__(self, "candidates_per_query", int(self.candidates_per_query))

    def gather(
        self,
        trajectories: Sequence[Trajectory],
        num_queries: int,
        rng: np.random.Generator,
        ensemble_returns: EnsembleReturns | None = None,
    ) -> Preferences | None:
        """Ask ``num_queries`` queries about segments of ``trajectories`` and return the labelled pairs.

        :param trajectories: the pool, e.g. ``recent_trajectories(model.replay_buffer, 10_000)``; one with no
            usable segment (nothing terminated, nothing as long as a segment) raises ``cut_segments``' error
        :param num_queries: queries to ask (≥ 1), all counted against the budget
        :param rng: source of the segment draws and the teacher's draws, e.g. ``np.random.default_rng(seed)``
        :param ensemble_returns: needed by ``selection="disagreement"``: maps candidate segments, obs
            (K, T, obs_dim), acts (K, T, act_dim) and absorbing (K, T) bool, to their (E, K) returns under
            each of E ≥ 2 ensemble members, as a numpy array
        :return: the pairs the teacher kept, at most ``num_queries`` (with "disagreement", the most disputed
            first), with labels, true rewards, absorbing masks and metadata (teacher settings, segment_length,
            selection, queries_asked, queries_kept); None if the teacher skipped every query
        """
        check_positive_int("num_queries", num_queries)
        check_rng(rng)
        disputed = self.selection == "disagreement"
        if disputed and ensemble_returns is None:
            raise ValueError(
                "selection='disagreement' needs ensemble_returns, a function from candidate segments (obs, acts, "
                "absorbing) to their (E, K) returns under each reward ensemble member; pass it, or use "
                "selection='uniform'"
            )
        pairs = num_queries * (self.candidates_per_query if disputed else 1)  # C candidate pairs
        # (2C, T, ...): candidate pair i is (segment i, segment C + i)
        obs, acts, rewards, absorbing = cut_segments(trajectories, self.segment_length, 2 * pairs, rng)
        first = np.arange(pairs)  # (C,)
        second = first + pairs  # (C,)
        if disputed:
            returns = _ensemble_returns(ensemble_returns, obs, acts, absorbing)  # (E, 2C)
            spread = disagreement(returns[:, :pairs], returns[:, pairs:])  # (C,)
            chosen = np.argsort(-spread, kind="stable")[:num_queries]  # (Q,) most disputed first; ties by draw order
            first, second = first[chosen], second[chosen]
        labels, keep = self.teacher.label(rewards[first], rewards[second], rng)  # (Q,), (Q,)
        if not keep.any():
            return None
        first, second = first[keep], second[keep]  # (N,)
        return Preferences(
            obs_1=obs[first],
            acts_1=acts[first],
            obs_2=obs[second],
            acts_2=acts[second],
            labels=labels[keep],
            true_rewards_1=rewards[first],
            true_rewards_2=rewards[second],
            absorbing_1=absorbing[first],
            absorbing_2=absorbing[second],
            metadata={
                "teacher": self.teacher.to_dict(),
                "segment_length": self.segment_length,
                "selection": self.selection,
                "queries_asked": int(num_queries),
                "queries_kept": len(first),
            },
        )


def _ensemble_returns(
    ensemble_returns: EnsembleReturns, obs: np.ndarray, acts: np.ndarray, absorbing: np.ndarray
) -> np.ndarray:
    """The (E, K) returns ``ensemble_returns`` gives the K candidate segments, checked."""
    returns = _returns_array("ensemble_returns(...)", ensemble_returns(obs, acts, absorbing))
    if returns.shape[1] != len(obs):
        raise ValueError(
            f"ensemble_returns returned shape {returns.shape}, expected (E members, {len(obs)}): one return per "
            "member and candidate segment"
        )
    return returns
