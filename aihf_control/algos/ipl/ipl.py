"""IPL: Inverse Preference Learning (Hejna & Sadigh, NeurIPS 2023) on SB3 SAC.

No reward network: the reward is implicit in the critic, r_Q(s, a) = Q(s, a) - γ V(s'), the inverse
soft Bellman operator. The critic is trained so that segment sums of r_Q fit the preferences
(Bradley–Terry, the same ``preference_loss`` as AIHF and RLHF), with a χ² regulariser E[r_Q²] that keeps
the implicit reward small where there is no preference to fit; the actor is SAC's.
"""

from __future__ import annotations

from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import maybe_make_env
from stable_baselines3.common.utils import polyak_update

from aihf_control.algos.bc.bc import BCStart, clone_before_learning
from aihf_control.data.defaults import shipped_feedback
from aihf_control.data.demos import Demonstrations
from aihf_control.data.preferences import Preferences
from aihf_control.rewards.losses import preference_accuracy, preference_loss
from aihf_control.sb3.averaged_actor import AveragedActor
from aihf_control.sb3.model_files import CheckedLoad
from aihf_control.sb3.relabel_buffer import DemonstrationReplayBuffer, attach_demonstrations
from aihf_control.validation import (
    NonFiniteError,
    check_continuous_actions,
    check_demo_batch_fraction,
    check_policy_net_arch,
)

SelfIPL = TypeVar("SelfIPL", bound="IPL")


def implicit_rewards(
    q_values: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor, gamma: float
) -> torch.Tensor:
    """r_Q(s, a) = Q(s, a) - γ (1 - d) V(s'), the reward that makes Q a fixed point of the soft Bellman operator.

    :param q_values: (E, N) Q(s, a) of each of E critics
    :param next_values: (N,) V(s') = E_a'~π[min target Q(s', a') - α log π(a'|s')], without gradient
    :param terminated: (N,) 1.0 where s' is terminal (V(s') = 0 there)
    :param gamma: discount factor
    :return: (E, N) implicit rewards
    """
    return q_values - gamma * (1.0 - terminated) * next_values


def ipl_loss(
    rewards_1: torch.Tensor,
    rewards_2: torch.Tensor,
    valid_1: torch.Tensor,
    valid_2: torch.Tensor,
    labels: torch.Tensor,
    replay_rewards: torch.Tensor,
    regularization: float,
) -> torch.Tensor:
    """IPL's critic loss: Bradley–Terry on segment sums of implicit rewards + λ·χ² regulariser.

    The regulariser λ·E[r_Q²] is the χ²-divergence form of IPL's regularisation, averaged over every real
    transition in the batch (preference segments and replay alike).

    :param rewards_1: (E, B, T) implicit rewards of the first segments' transitions, under each critic
    :param rewards_2: (E, B, T) those of the second segments
    :param valid_1: (B, T) 1.0 at real transitions, 0.0 at padding after a termination
    :param valid_2: (B, T) the same for the second segments
    :param labels: (B,) P(σ¹ ≻ σ²)
    :param replay_rewards: (E, N) implicit rewards of replay transitions
    :param regularization: λ ≥ 0
    :return: scalar loss
    """
    returns_1 = (rewards_1 * valid_1).sum(dim=-1)  # (E, B)
    returns_2 = (rewards_2 * valid_2).sum(dim=-1)
    squares = torch.cat(
        [
            (rewards_1.square() * valid_1).flatten(1),
            (rewards_2.square() * valid_2).flatten(1),
            replay_rewards.square(),
        ],
        dim=1,
    )  # (E, 2BT + N)
    count = valid_1.sum() + valid_2.sum() + replay_rewards.shape[1]
    return preference_loss(returns_1, returns_2, labels) + regularization * squares.sum(dim=1).mean() / count


class IPL(BCStart, AveragedActor, CheckedLoad, SAC):
    """Inverse Preference Learning, online, SAC-based, started from a BC policy as in the AIHF paper.

    Each gradient step samples replay transitions and preference pairs. For a segment of T steps the
    T - 1 transitions (s_t, a_t, s_{t+1}) inside it give implicit rewards (the last step has no s_{t+1} in
    the data, in both segments alike); a transition into a termination bootstraps nothing, and padded
    steps after a fall count 0. Choices, documented here as the paper leaves them open for SAC:

    - V(s') = E_{a'~π}[min_j Q̄_j(s', a') - α log π(a'|s')] with SAC's target critics Q̄ and one sampled a',
      i.e. exactly SAC's soft target; each of SAC's critics gets its own implicit reward and loss.
    - χ² regularisation weight λ (``reward_regularization``) 0.5, the value of the authors' code, over
      preference and replay transitions alike.
    - The actor and entropy coefficient are trained as in SAC, on replay observations.

    The env's reward is never read: replay rewards are ignored.

    :param policy: SAC policy ("MlpPolicy" or a policy class)
    :param env: the environment
    :param preferences: labelled segment pairs
    :param demonstrations: expert transitions for the BC initialisation, or None to start from a random policy
    :param reward_regularization: λ of the χ² regulariser
    :param preference_batch_size: segment pairs per gradient step
    :param bc_steps: behaviour-cloning gradient steps before RL (0 skips BC)
    :param bc_batch_size: demonstrated transitions per BC step
    :param bc_learning_rate: Adam learning rate of BC
    :param bc_entropy_weight: entropy bonus of BC
    :param demo_batch_fraction: share of every SAC minibatch drawn from ``demonstrations`` (as AIHF's option of
        that name; 0, the paper's protocol, uses the demonstrations for the BC start only)
    :param learning_starts: env steps of random actions before learning starts
    :param kwargs: any other ``stable_baselines3.SAC`` argument
    """

    def __init__(
        self,
        policy: str | type,
        env: gym.Env | str,
        preferences: Preferences | None = None,
        demonstrations: Demonstrations | None = None,
        reward_regularization: float = 0.5,
        preference_batch_size: int = 32,
        bc_steps: int = 10_000,
        bc_batch_size: int = 256,
        bc_learning_rate: float = 1e-3,
        bc_entropy_weight: float = 1e-3,
        demo_batch_fraction: float = 0.0,
        learning_starts: int = 5_000,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        self.default_feedback: dict | None = None
        if _init_setup_model and preferences is None and demonstrations is None:
            demonstrations, preferences, self.default_feedback = shipped_feedback(
                env, "IPL", True, True, seed=kwargs.get("seed") or 0
            )
        if _init_setup_model:
            if not isinstance(preferences, Preferences):
                raise TypeError(
                    f"IPL learns from preferences=Preferences(...), got {type(preferences).__name__}; "
                    "make them with aihf_control.data.generate_preferences"
                )
            if demonstrations is not None and not isinstance(demonstrations, Demonstrations):
                raise TypeError(
                    "demonstrations must be an aihf_control.Demonstrations (or None), "
                    f"got {type(demonstrations).__name__}"
                )
            if reward_regularization < 0 or int(preference_batch_size) < 1 or int(bc_steps) < 0:
                raise ValueError(
                    "reward_regularization must be >= 0, preference_batch_size >= 1 and bc_steps >= 0, got "
                    f"{reward_regularization}, {preference_batch_size} and {bc_steps}"
                )
            check_demo_batch_fraction(demo_batch_fraction)
            if preferences.segment_length < 2:
                raise ValueError("IPL needs segments of at least 2 steps: r_Q(s, a) needs the next observation")
            env = maybe_make_env(env, 0) if isinstance(env, str) else env
            check_continuous_actions(env.action_space)
            check_policy_net_arch(kwargs.get("policy_kwargs"))
            preferences.check_spaces(env.observation_space, env.action_space)
            if demonstrations is not None:
                demonstrations.check_spaces(env.observation_space, env.action_space)
        self.preferences = preferences
        self.bc_demonstrations = demonstrations
        self.reward_regularization = float(reward_regularization)
        self.preference_batch_size = int(preference_batch_size)
        self.bc_steps = int(bc_steps)
        self.bc_batch_size = int(bc_batch_size)
        self.bc_learning_rate = float(bc_learning_rate)
        self.bc_entropy_weight = float(bc_entropy_weight)
        self.bc_done = False
        self.demo_batch_fraction = float(demo_batch_fraction)
        self._segments: dict[str, torch.Tensor] | None = None
        if self.demo_batch_fraction > 0 and "replay_buffer_class" not in kwargs:
            kwargs["replay_buffer_class"] = DemonstrationReplayBuffer
        super().__init__(policy, env, learning_starts=learning_starts, _init_setup_model=_init_setup_model, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        self._attach_batch_demonstrations()

    def _attach_batch_demonstrations(self) -> None:
        demos = getattr(self, "bc_demonstrations", None)
        attach_demonstrations(self.replay_buffer, demos, self.policy, self.demo_batch_fraction)

    def set_preferences(self, preferences: Preferences) -> None:
        """Attach preferences to a loaded model so that it can go on learning."""
        preferences.check_spaces(self.observation_space, self.action_space)
        self.preferences, self._segments = preferences, None

    def _segment_tensors(self) -> dict[str, torch.Tensor]:
        """The preference data as transitions (s_t, a_t, s_{t+1}), t < T - 1, on the device."""
        if self._segments is None:
            prefs, to = self.preferences, lambda x: torch.as_tensor(x, dtype=torch.float32, device=self.device)
            tensors = {"labels": to(prefs.labels)}
            for i in (1, 2):
                obs = getattr(prefs, f"obs_{i}")  # raw: normalised per batch, with VecNormalize's current statistics
                padded = getattr(prefs, f"absorbing_{i}")
                padded = np.zeros(obs.shape[:2], dtype=bool) if padded is None else padded
                tensors[f"obs_{i}"] = to(obs[:, :-1])  # (M, T-1, obs_dim)
                tensors[f"next_obs_{i}"] = to(obs[:, 1:])
                tensors[f"acts_{i}"] = to(self.policy.scale_action(getattr(prefs, f"acts_{i}")[:, :-1]))
                tensors[f"valid_{i}"] = to(~padded[:, :-1])  # (M, T-1)
                tensors[f"terminated_{i}"] = to(padded[:, 1:] & ~padded[:, :-1])  # the fall happens at this step
            self._segments = tensors
        return self._segments

    def learn(
        self: SelfIPL,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int = 4,
        tb_log_name: str = "IPL",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfIPL:
        if self.preferences is None:
            raise RuntimeError("this IPL model has no preferences (a loaded model keeps none): call set_preferences")
        clone_before_learning(self)
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)

    def _as_policy_sees(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw observations normalised as the critic sees the replay's (VecNormalize, if the model has one)."""
        normalizer = self.get_vec_normalize_env()
        if normalizer is None:
            return obs
        return torch.as_tensor(normalizer.normalize_obs(obs.cpu().numpy()), dtype=torch.float32, device=obs.device)

    def _soft_value(self, next_obs: torch.Tensor, ent_coef: torch.Tensor) -> torch.Tensor:
        """(N,) V(s') = min_j Q̄_j(s', a') - α log π(a'|s'), a' ~ π(s'), without gradient."""
        with torch.no_grad():
            next_actions, next_log_prob = self.actor.action_log_prob(next_obs)
            next_q = torch.cat(self.critic_target(next_obs, next_actions), dim=1).min(dim=1).values
            return next_q - ent_coef * next_log_prob.reshape(-1)

    def _implicit(
        self,
        obs: torch.Tensor,
        acts: torch.Tensor,
        next_obs: torch.Tensor,
        terminated: torch.Tensor,
        ent_coef: torch.Tensor,
    ) -> torch.Tensor:
        """(E, N) implicit rewards of N transitions under each critic."""
        q_values = torch.cat(self.critic(obs, acts), dim=1).T  # (E, N)
        return implicit_rewards(q_values, self._soft_value(next_obs, ent_coef), terminated.reshape(-1), self.gamma)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        # SB3's SAC.train with the critic's TD loss replaced by IPL's; the true reward is never read.
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers += [self.ent_coef_optimizer]
        self._update_learning_rate(optimizers)
        segments = self._segment_tensors()
        num_pairs, steps = segments["valid_1"].shape
        ent_coef_losses, ent_coefs, actor_losses, critic_losses, pref_losses, accuracies = [], [], [], [], [], []

        for gradient_step in range(gradient_steps):
            replay = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            if self.use_sde:
                self.actor.reset_noise()
            actions_pi, log_prob = self.actor.action_log_prob(replay.observations)
            log_prob = log_prob.reshape(-1, 1)
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                ent_coef = torch.exp(self.log_ent_coef.detach())
                ent_coef_loss = -(self.log_ent_coef * (log_prob + self.target_entropy).detach()).mean()
                ent_coef_losses.append(ent_coef_loss.item())
                self.ent_coef_optimizer.zero_grad()
                ent_coef_loss.backward()
                self.ent_coef_optimizer.step()
            else:
                ent_coef = self.ent_coef_tensor
            ent_coefs.append(ent_coef.item())

            # Critic: IPL's loss on preference segments and replay transitions.
            pairs = torch.randint(0, num_pairs, (self.preference_batch_size,), device=self.device)
            segment_rewards = []
            for i in (1, 2):
                obs, acts, next_obs, terminated = (
                    segments[f"{name}_{i}"][pairs].flatten(0, 1)  # (B·(T-1), ...)
                    for name in ("obs", "acts", "next_obs", "terminated")
                )
                obs, next_obs = self._as_policy_sees(obs), self._as_policy_sees(next_obs)
                r = self._implicit(obs, acts, next_obs, terminated, ent_coef)
                segment_rewards.append(r.reshape(-1, self.preference_batch_size, steps))  # (E, B, T-1)
            replay_rewards = self._implicit(
                replay.observations, replay.actions, replay.next_observations, replay.dones, ent_coef
            )  # (E, N)
            valid_1, valid_2 = segments["valid_1"][pairs], segments["valid_2"][pairs]
            labels = segments["labels"][pairs]
            critic_loss = ipl_loss(
                *segment_rewards, valid_1, valid_2, labels, replay_rewards, self.reward_regularization
            )
            if not torch.isfinite(critic_loss):
                raise NonFiniteError(
                    f"IPL's critic loss became {critic_loss.item()} at env step {self.num_timesteps} (before its "
                    "step: the critics are unchanged); lower the learning rate or raise reward_regularization",
                    state_is_good=True,
                )
            critic_losses.append(critic_loss.item())
            with torch.no_grad():
                returns_1 = (segment_rewards[0] * valid_1).sum(-1).mean(0)  # (B,) averaged over critics
                returns_2 = (segment_rewards[1] * valid_2).sum(-1).mean(0)
                pref_losses.append(preference_loss(returns_1, returns_2, labels).item())
                accuracies.append(preference_accuracy(returns_1, returns_2, labels).item())
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()

            # Actor: as in SAC.
            q_values_pi = torch.cat(self.critic(replay.observations, actions_pi), dim=1)
            actor_loss = (ent_coef * log_prob - q_values_pi.min(dim=1, keepdim=True).values).mean()
            actor_losses.append(actor_loss.item())
            self.actor.optimizer.zero_grad()
            actor_loss.backward()
            self.actor.optimizer.step()

            if gradient_step % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", np.mean(ent_coefs))
        self.logger.record("train/actor_loss", np.mean(actor_losses))
        self.logger.record("train/critic_loss", np.mean(critic_losses))
        if ent_coef_losses:
            self.logger.record("train/ent_coef_loss", np.mean(ent_coef_losses))
        self.logger.record("reward/pref_loss", float(np.mean(pref_losses)))
        finite = [a for a in accuracies if np.isfinite(a)]
        if finite:
            self.logger.record("reward/pref_accuracy", float(np.mean(finite)))

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "preferences", "bc_demonstrations", "_segments"]
