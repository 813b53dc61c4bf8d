"""A replay buffer whose rewards come from a learned reward function at sample time."""

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


class RelabelingReplayBuffer(ReplayBuffer):
    """SB3 ``ReplayBuffer`` that replaces the stored reward by r_θ when a batch is sampled.

    The env's true reward stays stored in ``rewards`` (for logging and evaluation only).
    Rewards are computed for the whole batch at once, without gradient, on the buffer's
    device, so a reward update takes effect on the very next batch and nothing in the
    buffer is ever rewritten. The reward sees raw observations even when a ``VecNormalize``
    env normalises the observations SAC trains on.

    Takes the same arguments as ``ReplayBuffer``; the reward function is attached with
    ``set_reward_fn`` after construction (it is not pickled with the buffer).
    """

    reward_fn: RewardFn | None = None

    def set_reward_fn(self, reward_fn: RewardFn) -> None:
        """:param reward_fn: maps (obs, acts, terminated) tensors of a batch to (B,) rewards"""
        self.reward_fn = reward_fn

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> ReplayBufferSamples:
        if self.reward_fn is None:
            raise RuntimeError("RelabelingReplayBuffer has no reward function: call set_reward_fn(...) before sampling")
        raw = super()._get_samples(batch_inds, env=None)
        with torch.no_grad():
            rewards = self.reward_fn(raw.observations, raw.actions, raw.dones.squeeze(-1)).reshape(-1, 1)
        samples = raw._replace(rewards=rewards.to(raw.rewards.dtype))
        if env is not None:
            samples = samples._replace(
                observations=self.to_torch(self._normalize_obs(raw.observations.cpu().numpy(), env)),
                next_observations=self.to_torch(self._normalize_obs(raw.next_observations.cpu().numpy(), env)),
            )
        return samples

    def recent_indices(self, n: int) -> np.ndarray:
        """Indices (into the first axis) of the last ``min(n, size)`` stored steps, oldest first."""
        n = min(n, self.size())
        return (self.pos - n + np.arange(n)) % self.buffer_size

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("reward_fn", None)  # a bound method of the model: saved with the model instead
        return state
