"""Reward networks r_θ(s, a)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from aihf_control.validation import check_layer_sizes


class RewardNet(nn.Module):
    """An MLP reward r_θ(s, a) with fixed input normalisation, a bounded output and a learned
    absorbing-state reward.

    - Observations are standardised with statistics fixed at set-up (``set_observation_stats``,
      from the feedback data), so the reward function does not drift as a policy explores.
      Actions are rescaled from the action space's bounds to [-1, 1].
    - The output is ``reward_bound · tanh(x / reward_bound)``: linear near 0, never beyond
      ±reward_bound, and with a gradient everywhere (a hard clamp has none outside the bound).
    - ``absorbing_reward`` is r_θ of the absorbing state that follows a true termination
      (Kostrikov et al. 2019, "Discriminator-Actor-Critic"), see ``transition_reward``. As in
      DAC, the MLP takes one more input, an absorbing-state indicator (0 for real states); the
      absorbing state is all zeros with the indicator at 1, so its reward learns as fast as
      any other (a separate scalar would move only one Adam step of ``lr`` per update).

    :param obs_dim: size of the (flat) observation
    :param act_dim: size of the (flat) action
    :param action_low: lower bound of the action space, shape (act_dim,)
    :param action_high: upper bound of the action space, shape (act_dim,)
    :param hidden_sizes: sizes of the hidden layers, positive integers (AIHF's ``reward_net_arch``; () for none)
    :param state_only: if True, r depends on s only (actions are ignored)
    :param reward_bound: |r| stays below this value
    :param ensemble_size: number of independently initialised MLPs (members); r_θ is their mean.
        Each member is trained on its own copy of the loss (``member_*`` methods), so their spread
        measures the reward's uncertainty, which disagreement-based query selection uses (PEBBLE).
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        action_low: np.ndarray | None = None,
        action_high: np.ndarray | None = None,
        hidden_sizes: Sequence[int] = (256, 256),
        state_only: bool = False,
        reward_bound: float = 10.0,
        ensemble_size: int = 1,
    ) -> None:
        super().__init__()
        if reward_bound <= 0:
            raise ValueError(f"reward_bound must be > 0, got {reward_bound}")
        if isinstance(ensemble_size, bool) or not isinstance(ensemble_size, int) or ensemble_size < 1:
            raise ValueError(f"ensemble_size must be a positive integer, got {ensemble_size!r}")
        hidden_sizes = check_layer_sizes("reward_net_arch (RewardNet's hidden_sizes)", hidden_sizes)
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.state_only = state_only
        self.reward_bound = float(reward_bound)
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))
        low = np.full(act_dim, -1.0) if action_low is None else np.asarray(action_low, dtype=np.float64)
        high = np.full(act_dim, 1.0) if action_high is None else np.asarray(action_high, dtype=np.float64)
        finite = np.isfinite(low) & np.isfinite(high)
        # Unbounded action dimensions are passed through unscaled.
        low, high = np.where(finite, low, -1.0), np.where(finite, high, 1.0)
        center, half_range = (high + low) / 2, (high - low) / 2
        self.register_buffer("act_center", torch.as_tensor(center, dtype=torch.float32))
        self.register_buffer("act_half_range", torch.as_tensor(np.maximum(half_range, 1e-6), dtype=torch.float32))

        in_dim = obs_dim + (0 if state_only else act_dim) + 1  # + absorbing indicator
        absorbing_input = torch.zeros(in_dim)
        absorbing_input[-1] = 1.0
        self.register_buffer("absorbing_input", absorbing_input, persistent=False)
        self.members = nn.ModuleList(_mlp(in_dim, hidden_sizes) for _ in range(ensemble_size))

    @property
    def ensemble_size(self) -> int:
        return len(self.members)

    def set_observation_stats(self, mean: torch.Tensor | np.ndarray, std: torch.Tensor | np.ndarray) -> None:
        """Fix the observation standardisation; dimensions with (near) zero spread are left unscaled."""
        mean_t = torch.as_tensor(mean, dtype=torch.float32, device=self.obs_mean.device)
        std_t = torch.as_tensor(std, dtype=torch.float32, device=self.obs_std.device)
        self.obs_mean.copy_(mean_t)
        self.obs_std.copy_(torch.where(std_t > 1e-6, std_t, torch.ones_like(std_t)))

    def _bound(self, x: torch.Tensor) -> torch.Tensor:
        return self.reward_bound * torch.tanh(x / self.reward_bound)

    def features(self, obs: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
        """The MLP's input: standardised observation, rescaled action, absorbing indicator (0).

        :param obs: (..., obs_dim)
        :param acts: (..., act_dim)
        :return: (..., in_dim)
        """
        obs, acts = obs.to(self.obs_mean.dtype), acts.to(self.obs_mean.dtype)  # envs often give float64
        # Clipping keeps far out-of-distribution states from saturating every unit.
        x = ((obs - self.obs_mean) / self.obs_std).clamp(-10.0, 10.0)
        features = [x] if self.state_only else [x, (acts - self.act_center) / self.act_half_range]
        features.append(torch.zeros_like(x[..., :1]))  # not the absorbing state
        return torch.cat(features, dim=-1)

    def member_reward_of_features(self, features: torch.Tensor, member: int) -> torch.Tensor:
        """:param features: (..., in_dim) from ``features``  :param member: which one  :return: (...,) its rewards"""
        return self._bound(self.members[member](features).squeeze(-1))

    def member_rewards_of_features(self, features: torch.Tensor) -> torch.Tensor:
        """:param features: (..., in_dim) from ``features``  :return: (E, ...) each member's bounded rewards"""
        return torch.stack([self.member_reward_of_features(features, e) for e in range(self.ensemble_size)])

    def reward_of_features(self, features: torch.Tensor) -> torch.Tensor:
        """:param features: (..., in_dim) from ``features``  :return: (...,) bounded rewards (the members' mean)"""
        return self.member_rewards_of_features(features).mean(dim=0)

    def member_rewards(self, obs: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
        """:param obs: (..., obs_dim)  :param acts: (..., act_dim)  :return: (E, ...) each member's r(s, a)"""
        return self.member_rewards_of_features(self.features(obs, acts))

    def forward(self, obs: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
        """r_θ(s, a).

        :param obs: (..., obs_dim)
        :param acts: (..., act_dim)
        :return: (...,) rewards in (-reward_bound, reward_bound)
        """
        return self.reward_of_features(self.features(obs, acts))

    def absorbing_reward(self) -> torch.Tensor:
        """r_θ of the absorbing state (a scalar)."""
        return self.reward_of_features(self.absorbing_input)

    def member_transition_rewards(
        self, obs: torch.Tensor, acts: torch.Tensor, terminated: torch.Tensor, gamma: float, absorbing: bool = True
    ) -> torch.Tensor:
        """``transition_reward`` of each member: (E, B)."""
        if not absorbing:
            return self.member_rewards(obs, acts)  # (E, B)
        # The absorbing state as one more row of the same pass: one MLP call per batch, not two.
        features = torch.cat([self.features(obs, acts), self.absorbing_input[None]])  # (B + 1, in_dim)
        rewards = self.member_rewards_of_features(features)  # (E, B + 1)
        r_abs = rewards[:, -1:]  # (E, 1)
        return rewards[:, :-1] + terminated.reshape(1, -1) * (gamma / (1.0 - gamma)) * r_abs

    def transition_reward(
        self, obs: torch.Tensor, acts: torch.Tensor, terminated: torch.Tensor, gamma: float, absorbing: bool = True
    ) -> torch.Tensor:
        """The reward a transition contributes to the return, termination included.

        After a true termination the agent stays in an absorbing state with reward r_abs, worth
        Σ_{k≥1} γ^k r_abs = γ/(1-γ)·r_abs. SAC's target stops at a termination, so that value is
        added to the terminal transition's own reward. The same reward enters the demo loss,
        so falling is neither free nor forced: r_abs is learned like any other reward (it drops
        when the policy terminates more often than the demonstrator).

        :param obs: (B, obs_dim)
        :param acts: (B, act_dim)
        :param terminated: (B,) 1.0 where the episode truly ended (not a time-limit truncation)
        :param gamma: discount factor of the RL problem
        :param absorbing: if False, return plain r_θ(s, a) (termination ends the return)
        :return: (B,) rewards
        """
        return self.member_transition_rewards(obs, acts, terminated, gamma, absorbing).mean(dim=0)

    def segment_return(
        self, obs: torch.Tensor, acts: torch.Tensor, absorbing: torch.Tensor | None = None, absorbing_state: bool = True
    ) -> torch.Tensor:
        """R_θ(σ): the sum of rewards over each segment, steps past a termination included.

        A segment that reaches the end of its episode is padded with absorbing steps (the agent has
        fallen and stays fallen); each of them is worth r_abs, the same reward the replay buffer gives
        after a termination, so falling early costs return here exactly as it does in SAC's targets.

        :param obs: (B, T, obs_dim)
        :param acts: (B, T, act_dim)
        :param absorbing: (B, T) True at padded steps past the episode's termination; None = no padding
        :param absorbing_state: if False, padded steps are worth 0 (termination ends the return)
        :return: (B,) segment returns
        """
        return self.member_segment_returns(obs, acts, absorbing, absorbing_state).mean(dim=0)

    def member_segment_returns(
        self, obs: torch.Tensor, acts: torch.Tensor, absorbing: torch.Tensor | None = None, absorbing_state: bool = True
    ) -> torch.Tensor:
        """``segment_return`` of each member: (E, B)."""
        rewards = self.member_rewards(obs, acts)  # (E, B, T)
        if absorbing is None:
            return rewards.sum(dim=-1)
        if absorbing_state:
            after_end = self.member_rewards_of_features(self.absorbing_input)[:, None, None]  # (E, 1, 1)
        else:
            after_end = torch.zeros_like(rewards)
        return torch.where(absorbing, after_end, rewards).sum(dim=-1)


def _mlp(in_dim: int, hidden_sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in hidden_sizes:
        layers += [nn.Linear(in_dim, size), nn.ReLU()]
        in_dim = size
    layers.append(nn.Linear(in_dim, 1))
    return nn.Sequential(*layers)
