"""The NaN/inf checks of AIHF's training: each stops at the first non-finite value, names it and the step,
and says what to try (``NonFiniteError``).

A NaN left to run would surface later as an obscure error (in the policy's distribution, in a checkpoint) or
silently ruin the run; ``AIHFRewardLearning.learn`` keeps the last good state when the error says it may.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from aihf_control.validation import NonFiniteError


def check_finite_observations(new_obs: Any, env_step: int) -> None:
    """Raise if the env returned a NaN/inf observation.

    :param new_obs: (n_envs, obs_dim) the observations the env just returned
    :param env_step: the model's ``num_timesteps``
    """
    if not np.isfinite(new_obs).all():
        raise NonFiniteError(
            f"the env returned a NaN/inf observation at env step {env_step} "
            f"(env index {int(np.argwhere(~np.isfinite(new_obs))[0][0])}); find where with "
            "stable_baselines3.common.vec_env.VecCheckNan"
        )


def check_finite_relabelled_rewards(
    rewards: torch.Tensor, obs: torch.Tensor, acts: torch.Tensor, env_step: int
) -> None:
    """Raise if r_θ of an inner-loop batch is NaN/inf, saying whether the data or the reward net is to blame.

    :param rewards: (B,) the learned rewards of the batch
    :param obs: (B, obs_dim) the batch's observations
    :param acts: (B, act_dim) the batch's actions, as stored
    :param env_step: the model's ``num_timesteps``
    """
    if not torch.isfinite(rewards).all():
        source = (
            "the replay buffer holds NaN/inf observations or actions (the env returned them)"
            if not (torch.isfinite(obs).all() and torch.isfinite(acts).all())
            else "the reward net's parameters are no longer finite"
        )
        raise NonFiniteError(
            f"the learned reward r_θ of an inner-loop batch became NaN/inf at env step {env_step}: {source}"
        )


def check_finite_inner_losses(logged: Mapping[str, Any], env_step: int, gradient_update: int) -> None:
    """Raise if the inner learner's last training step logged a NaN/inf critic loss, actor loss or entropy coefficient.

    :param logged: the logger's values (``model.logger.name_to_value``)
    :param env_step: the model's ``num_timesteps``
    :param gradient_update: the inner learner's gradient updates so far (``model._n_updates``)
    """
    for name in ("train/critic_loss", "train/actor_loss", "train/ent_coef"):
        value = logged.get(name)
        if value is not None and not np.isfinite(value):
            raise NonFiniteError(
                f"the inner learner's {name.split('/')[1]} became {value} at env step {env_step} "
                f"(gradient update {gradient_update}); lower learning_rate or reward_bound"
            )


def check_finite_reward_loss(loss: torch.Tensor, reward_update: int, gradient_step: int, env_step: int) -> None:
    """Raise if the reward loss is NaN/inf; checked before the backward pass, so the reward net is still good.

    :param loss: the scalar reward loss
    :param reward_update: the reward updates done so far
    :param gradient_step: the gradient step within this reward update
    :param env_step: the model's ``num_timesteps``
    """
    if not torch.isfinite(loss):
        raise NonFiniteError(
            f"the reward loss became {loss.item()} at reward update {reward_update}, "
            f"gradient step {gradient_step} (env step {env_step}); "
            "lower reward_learning_rate or check the feedback data",
            state_is_good=True,
        )


def check_finite_reward_gradients(
    reward_net: torch.nn.Module, reward_update: int, gradient_step: int, env_step: int
) -> None:
    """Raise if a gradient of the reward net is NaN/inf; checked before the optimiser's step, so the parameters stay
    those of the last good update.

    :param reward_net: r_θ, after the backward pass
    :param reward_update: the reward updates done so far
    :param gradient_step: the gradient step within this reward update
    :param env_step: the model's ``num_timesteps``
    """
    for name, parameter in reward_net.named_parameters():
        if parameter.grad is not None and not torch.isfinite(parameter.grad).all():
            raise NonFiniteError(
                f"the gradient of the reward net's {name} became NaN/inf at reward update "
                f"{reward_update}, gradient step {gradient_step} (env step {env_step}); "
                "lower reward_learning_rate or check the feedback data",
                state_is_good=True,
            )
