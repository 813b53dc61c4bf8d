"""Replay buffers for learners trained on a learned reward.

``DemonstrationReplayBuffer`` puts a fixed share of demonstration transitions into every batch (RLPD's
symmetric sampling; hybrid inverse RL). ``RelabelingReplayBuffer`` adds the learned reward: every sampled
row, replayed or demonstrated, gets r_θ(s, a) at sample time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize

# (obs (B, obs_dim), acts (B, act_dim), terminated (B,)) -> rewards (B,)
RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class DemonstrationReplayBuffer(ReplayBuffer):
    """SB3 ``ReplayBuffer`` whose batches hold fixed shares of demonstration and preference-segment transitions.

    With ``set_demonstrations(..., fraction=f)``, ``round(f · batch_size)`` rows of every batch are drawn
    uniformly from the demonstrations and the rest from the agent's own replay, so the critic and the
    actor see the demonstrator's states from the first update on: an inner loop that would otherwise
    have to find them by exploration (Ball et al. 2023, RLPD; Ren, Swamy et al. 2024, hybrid IRL).
    ``set_segments`` does the same with the transitions inside labelled segments (of every quality), which
    show the critic states between the agent's and the demonstrator's. A batch is the agent's rows, then the
    demonstration rows, then the segment rows. These rows carry no reward (NaN): this class is for learners
    that do not read the reward (IPL) or that relabel it (``RelabelingReplayBuffer``). Their ``dones`` are true
    terminations. The feedback rows are not replay: they are not pickled with the buffer.

    Takes the same arguments as ``ReplayBuffer``.
    """

    demo_fraction: float = 0.0
    demo_rows: ReplayBufferSamples | None = None
    segment_fraction: float = 0.0
    segment_rows: ReplayBufferSamples | None = None
    _num_feedback: tuple[int, int] = (0, 0)  # demonstration and segment rows of the batch being sampled

    def _feedback_rows(
        self, observations: np.ndarray, actions: np.ndarray, next_observations: np.ndarray, terminated: np.ndarray
    ) -> ReplayBufferSamples:
        def tensor(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(x, dtype=np.float32), device=self.device)

        n = len(observations)
        return ReplayBufferSamples(
            observations=tensor(observations),
            actions=tensor(actions),
            next_observations=tensor(next_observations),
            dones=tensor(terminated).reshape(n, 1),
            rewards=torch.full((n, 1), float("nan"), device=self.device),
        )

    def _check_fractions(self, demo_fraction: float, segment_fraction: float) -> None:
        for name, fraction in (("demonstration", demo_fraction), ("segment", segment_fraction)):
            if not 0.0 <= fraction < 1.0:
                raise ValueError(
                    f"the {name} share of a batch must be in [0, 1) (some rows must be the agent's own), got {fraction}"
                )
        if demo_fraction + segment_fraction >= 1.0:
            raise ValueError(
                f"the demonstration and segment shares of a batch add up to {demo_fraction + segment_fraction}: "
                "they must stay below 1 (some rows must be the agent's own)"
            )

    def set_demonstrations(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        next_observations: np.ndarray,
        terminated: np.ndarray,
        fraction: float,
    ) -> None:
        """Draw ``fraction`` of every batch from these transitions (``fraction=0`` or no rows: none).

        :param observations: (N, obs_dim) raw observations (as the env returns them)
        :param actions: (N, act_dim) actions as the buffer stores them (SAC's scaled [-1, 1] units)
        :param next_observations: (N, obs_dim)
        :param terminated: (N,) true terminations (not time-limit truncations)
        :param fraction: share of each batch, in [0, 1)
        """
        self._check_fractions(fraction, self.segment_fraction if self.segment_rows is not None else 0.0)
        self.demo_rows = self._feedback_rows(observations, actions, next_observations, terminated)
        self.demo_fraction = float(fraction)

    def set_segments(
        self,
        observations: np.ndarray,
        actions: np.ndarray,
        next_observations: np.ndarray,
        terminated: np.ndarray,
        fraction: float,
    ) -> None:
        """Draw ``fraction`` of every batch from the transitions of preference segments (as ``set_demonstrations``).

        :param observations: (N, obs_dim) raw observations
        :param actions: (N, act_dim) actions as the buffer stores them (scaled to [-1, 1])
        :param next_observations: (N, obs_dim)
        :param terminated: (N,) true terminations (a segment's last real step before its absorbing padding)
        :param fraction: share of each batch, in [0, 1); with the demonstrations' share, below 1
        """
        self._check_fractions(self.demo_fraction if self.demo_rows is not None else 0.0, fraction)
        self.segment_rows = self._feedback_rows(observations, actions, next_observations, terminated)
        self.segment_fraction = float(fraction)

    def num_demo_rows(self, batch_size: int) -> int:
        """How many rows of a batch of ``batch_size`` come from the demonstrations."""
        if self.demo_rows is None or self.demo_fraction == 0.0:
            return 0
        return min(batch_size - 1, round(self.demo_fraction * batch_size))

    def num_segment_rows(self, batch_size: int) -> int:
        """How many rows of a batch of ``batch_size`` come from the preference segments."""
        if self.segment_rows is None or self.segment_fraction == 0.0:
            return 0
        return min(batch_size - 1 - self.num_demo_rows(batch_size), round(self.segment_fraction * batch_size))

    def num_feedback_rows(self, batch_size: int) -> int:
        """How many rows at the end of a batch of ``batch_size`` are not the agent's own."""
        return self.num_demo_rows(batch_size) + self.num_segment_rows(batch_size)

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        # SB3 draws the replayed rows' indices and calls _get_samples, which appends the feedback rows:
        # the whole batch is then rewarded and normalised in one pass.
        self._num_feedback = (self.num_demo_rows(batch_size), self.num_segment_rows(batch_size))
        try:
            return super().sample(batch_size - sum(self._num_feedback), env=env)
        finally:
            self._num_feedback = (0, 0)

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> ReplayBufferSamples:
        rows = super()._get_samples(batch_inds, env=None)  # raw observations: a reward net sees the env's units
        for source, num in zip((self.demo_rows, self.segment_rows), self._num_feedback, strict=True):
            if num > 0:
                picked = np.random.randint(0, len(source.observations), num)
                picked = torch.as_tensor(picked, device=self.device)  # the feedback rows' device
                rows = ReplayBufferSamples(  # fields SB3 leaves None (n-step discounts) stay None
                    *(
                        a if b is None else torch.cat([a, b[picked].to(a.dtype)])
                        for a, b in zip(rows, source, strict=True)
                    )
                )
        rows = self._with_rewards(rows, env)
        if env is None:
            return rows
        return rows._replace(
            observations=self.to_torch(self._normalize_obs(rows.observations.cpu().numpy(), env)),
            next_observations=self.to_torch(self._normalize_obs(rows.next_observations.cpu().numpy(), env)),
        )

    def _with_rewards(self, rows: ReplayBufferSamples, env: VecNormalize | None) -> ReplayBufferSamples:
        """The rewards of a raw batch: the stored ones, normalised like SB3's (demonstration rows: NaN)."""
        if env is None:
            return rows
        return rows._replace(rewards=self.to_torch(self._normalize_reward(rows.rewards.cpu().numpy(), env)))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("demo_rows", None)  # feedback data: the model attaches it again
        state.pop("segment_rows", None)
        return state


def attach_demonstrations(buffer: ReplayBuffer, demonstrations: Any, policy: Any, fraction: float) -> None:
    """Put ``demonstrations`` into ``fraction`` of every batch of ``buffer``; none when either is missing or 0.

    :param buffer: the learner's replay buffer (a ``DemonstrationReplayBuffer`` when demonstrations are attached)
    :param demonstrations: an ``aihf_control.Demonstrations`` in the env's action units, or None
    :param policy: the learner's SB3 policy, whose ``scale_action`` maps env units to the buffer's [-1, 1]
    :param fraction: share of each batch
    """
    rows = None if demonstrations is None else (demonstrations.obs, demonstrations.acts, demonstrations.next_obs)
    terminated = None if demonstrations is None else demonstrations.dones
    _attach_rows(buffer, "demo", rows, terminated, policy, fraction)


def attach_segments(buffer: ReplayBuffer, preferences: Any, policy: Any, fraction: float) -> None:
    """Put the transitions of ``preferences``' segments into ``fraction`` of every batch of ``buffer``.

    :param buffer: the learner's replay buffer (a ``DemonstrationReplayBuffer`` when segments are attached)
    :param preferences: an ``aihf_control.Preferences`` in the env's action units, or None
    :param policy: the learner's SB3 policy, whose ``scale_action`` maps env units to the buffer's [-1, 1]
    :param fraction: share of each batch
    """
    if preferences is None or fraction == 0:  # spares building the transitions
        _attach_rows(buffer, "segment", None, None, policy, fraction)
        return
    obs, acts, next_obs, terminated = preferences.transitions()
    _attach_rows(buffer, "segment", (obs, acts, next_obs), terminated, policy, fraction)


def _attach_rows(
    buffer: ReplayBuffer,
    kind: str,
    rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    terminated: np.ndarray | None,
    policy: Any,
    fraction: float,
) -> None:
    """``kind`` ("demo" or "segment") rows (observations, env-unit actions, next observations) into ``buffer``."""
    if rows is None or fraction == 0:
        if isinstance(buffer, DemonstrationReplayBuffer):
            setattr(buffer, f"{kind}_rows", None)
        return
    if not isinstance(buffer, DemonstrationReplayBuffer):
        raise TypeError(f"{kind}_batch_fraction > 0 needs a DemonstrationReplayBuffer, got {type(buffer).__name__}")
    obs, acts, next_obs = rows
    # The buffer holds the policy's scaled [-1, 1] actions; a reward net sees env units again.
    scaled = np.clip(policy.scale_action(acts), -1.0, 1.0)
    setter = buffer.set_demonstrations if kind == "demo" else buffer.set_segments
    setter(obs, scaled, next_obs, terminated, fraction)


class RelabelingReplayBuffer(DemonstrationReplayBuffer):
    """Replay buffer whose rows get the learned reward r_θ(s, a) when a batch is sampled.

    The env's true reward stays stored in ``rewards`` (for logging and evaluation only). Rewards are
    computed for the whole batch at once — replayed and demonstrated rows alike, with the same
    function — without gradient, on the buffer's device, so a reward update takes effect on the very
    next batch and nothing in the buffer is ever rewritten. The reward sees raw observations even when
    a ``VecNormalize`` env normalises the observations the learner trains on.

    Takes the same arguments as ``ReplayBuffer``; the reward function is attached with
    ``set_reward_fn`` after construction (it is not pickled with the buffer).
    """

    reward_fn: RewardFn | None = None

    def set_reward_fn(self, reward_fn: RewardFn) -> None:
        """:param reward_fn: maps (obs, acts, terminated) tensors of a batch to (B,) rewards"""
        self.reward_fn = reward_fn

    def _with_rewards(self, rows: ReplayBufferSamples, env: VecNormalize | None) -> ReplayBufferSamples:
        if self.reward_fn is None:
            raise RuntimeError("RelabelingReplayBuffer has no reward function: call set_reward_fn(...) before sampling")
        with torch.no_grad():
            rewards = self.reward_fn(rows.observations, rows.actions, rows.dones.squeeze(-1)).reshape(-1, 1)
        return rows._replace(rewards=rewards.to(rows.rewards.dtype))

    def recent_indices(self, n: int) -> np.ndarray:
        """Indices (into the first axis) of the last ``min(n, size)`` stored steps, oldest first."""
        n = min(n, self.size())
        return (self.pos - n + np.arange(n)) % self.buffer_size

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("reward_fn", None)  # a bound method of the model: saved with the model instead
        return state
