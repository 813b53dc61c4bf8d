"""Demonstrations: expert transitions (s, a, s', terminated)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from aihf_control.validation import as_float_array, check_action_bounds, check_feature_size


@dataclass(frozen=True)
class Demonstrations:
    """Demonstrated transitions as flat arrays, checked on construction.

    :param obs: (N, obs_dim) observations s
    :param acts: (N, act_dim) actions a
    :param next_obs: (N, obs_dim) next observations s'
    :param dones: (N,) True where the episode truly ended at s' (a termination such as a fall),
        False for ordinary steps *and* for time-limit truncations, as in gymnasium's ``terminated``
    """

    obs: np.ndarray
    acts: np.ndarray
    next_obs: np.ndarray
    dones: np.ndarray

    def __post_init__(self) -> None:
        obs = as_float_array("Demonstrations.obs", self.obs, 2)
        acts = as_float_array("Demonstrations.acts", self.acts, 2)
        next_obs = as_float_array("Demonstrations.next_obs", self.next_obs, 2)
        dones = np.asarray(self.dones)
        if dones.ndim != 1:
            raise ValueError(f"Demonstrations.dones must have shape (N,), got {dones.shape}")
        if dones.dtype != np.bool_:
            if not np.isin(dones, (0, 1)).all():
                raise ValueError("Demonstrations.dones must hold booleans (or 0/1): True where the episode terminated")
            dones = dones.astype(bool)
        n = len(obs)
        if n == 0:
            raise ValueError("Demonstrations are empty: pass at least one transition")
        lengths = {"obs": n, "acts": len(acts), "next_obs": len(next_obs), "dones": len(dones)}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"Demonstrations arrays must have one length N, got {lengths}")
        if next_obs.shape != obs.shape:
            raise ValueError(
                f"Demonstrations.next_obs has shape {next_obs.shape}, obs has {obs.shape}: they must match"
            )
        # frozen dataclass: store the checked, converted arrays
        for name, value in (("obs", obs), ("acts", acts), ("next_obs", next_obs), ("dones", dones)):
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.obs)

    def check_spaces(
        self, observation_space: spaces.Space, action_space: spaces.Space, check_bounds: bool = True
    ) -> None:
        """Raise a clear error if these transitions do not fit the env's spaces.

        Besides the sizes, the actions must lie within a Box action space's bounds, up to
        ``aihf_control.validation.ACTION_BOUND_TOLERANCE`` (0.1% of each dimension's range, for float
        noise): actions in other units, or scaled twice, would otherwise be trained on silently. For an
        env whose bounds are soft, clip the data explicitly with ``clip_actions`` before passing it on.

        :param observation_space: the env's observation space
        :param action_space: the env's action space
        :param check_bounds: False skips the action-bounds check (sizes are always checked)
        """
        check_feature_size("demonstrations", self.obs.shape[1], "observation", observation_space)
        check_feature_size("demonstrations", self.acts.shape[1], "action", action_space)
        if check_bounds:
            check_action_bounds("demonstrations", self.acts, action_space)

    def clip_actions(self, action_space: spaces.Box) -> Demonstrations:
        """These transitions with their actions clipped to the action space's bounds: the explicit opt-out
        of ``check_spaces``'s bounds check, for envs whose bounds are soft (the env accepts, or clips,
        larger actions, but a SAC policy only ever takes actions within the bounds).

        :param action_space: the env's Box action space
        :return: new ``Demonstrations``; observations and dones are shared, not copied
        """
        if not isinstance(action_space, spaces.Box):
            raise TypeError(f"clip_actions needs a Box action space, got {action_space}")
        check_feature_size("demonstrations", self.acts.shape[1], "action", action_space)
        low, high = action_space.low.reshape(-1), action_space.high.reshape(-1)
        return replace(self, acts=np.clip(self.acts, low, high).astype(np.float32))


def record_demonstrations(
    env: gym.Env, policy: Callable[[np.ndarray], np.ndarray], num_transitions: int, seed: int | None = None
) -> Demonstrations:
    """Run ``policy`` in ``env`` and record ``num_transitions`` transitions (episodes reset as they end).

    :param env: a gymnasium env (not vectorised)
    :param policy: maps one observation to one action, e.g. ``lambda o: model.predict(o, deterministic=True)[0]``
    :param num_transitions: how many transitions to record (> 0)
    :param seed: seed of the first ``env.reset``
    :return: the transitions, with ``dones`` set on terminations only (not on time-limit truncations)
    """
    if num_transitions <= 0:
        raise ValueError(f"num_transitions must be > 0, got {num_transitions}")
    obs_list, act_list, next_list, done_list = [], [], [], []
    obs, _ = env.reset(seed=seed)
    while len(obs_list) < num_transitions:
        action = np.asarray(policy(obs), dtype=np.float32)
        next_obs, _, terminated, truncated, _ = env.step(action)
        obs_list.append(obs)
        act_list.append(action)
        next_list.append(next_obs)
        done_list.append(terminated)
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
    return Demonstrations(np.array(obs_list), np.array(act_list), np.array(next_list), np.array(done_list))
