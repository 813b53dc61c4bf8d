"""The agent's most recent env steps, read from its replay buffer in the env's action units (as the feedback
data and the reward net use them; the buffer holds actions scaled to [-1, 1]).

``AIHFRewardLearning`` reads its last ``policy_window`` steps as transitions, the policy side of L_demo
(``recent_transitions``), and as episodes, the pool its online preference queries are cut from
(``recent_episodes``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

import numpy as np
import torch
from stable_baselines3.common.policies import BasePolicy

from aihf_control.data.online import recent_trajectories
from aihf_control.data.segments import Trajectory
from aihf_control.sb3.relabel_buffer import RelabelingReplayBuffer


class PolicyTransitions(NamedTuple):
    """Transitions of the agent's recent steps, on the training device (the env's rewards excepted)."""

    obs: torch.Tensor  # (N, obs_dim)
    acts: torch.Tensor  # (N, act_dim) in the env's units
    terminated: torch.Tensor  # (N,) float, 1.0 at true terminations (not at time-limit truncations)
    true_rewards: np.ndarray  # (N,) the env's rewards: for logging only


def recent_transitions(
    buffer: RelabelingReplayBuffer, policy: BasePolicy, steps_per_env: int, device: torch.device | str
) -> PolicyTransitions:
    """The last ``steps_per_env`` steps of every env of ``buffer``, as float32 tensors on ``device``.

    :param buffer: the agent's replay buffer
    :param policy: the agent's policy (it maps the stored actions back to the env's units)
    :param steps_per_env: steps to read per env; fewer if the buffer holds fewer
    :param device: the training device
    :return: the transitions, env after env within each step
    """
    idx = buffer.recent_indices(steps_per_env)
    obs = buffer.observations[idx].reshape(-1, buffer.obs_shape[0])
    acts = policy.unscale_action(buffer.actions[idx].reshape(-1, buffer.action_dim))
    terminated = (buffer.dones[idx] * (1 - buffer.timeouts[idx])).reshape(-1)
    true_rewards = buffer.rewards[idx].reshape(-1)
    to = lambda x: torch.as_tensor(x, dtype=torch.float32, device=device)  # noqa: E731
    return PolicyTransitions(to(obs), to(acts), to(terminated), true_rewards)


def recent_episodes(buffer: RelabelingReplayBuffer, policy: BasePolicy, steps_per_env: int) -> list[Trajectory]:
    """``data.online.recent_trajectories`` of ``buffer``, with actions in the env's units like offline preferences.

    :param buffer: the agent's replay buffer
    :param policy: the agent's policy (it maps the stored actions back to the env's units)
    :param steps_per_env: steps to read per env; fewer if the buffer holds fewer
    :return: the episodes of env 0 in time order, then those of env 1, and so on
    """
    return [replace(t, acts=policy.unscale_action(t.acts)) for t in recent_trajectories(buffer, steps_per_env)]
