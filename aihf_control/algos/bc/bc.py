"""BC: maximum-likelihood behaviour cloning of SB3 SAC's actor on demonstrations.

``BehaviourCloner`` is the reusable part (RLHF and IPL start from a BC policy, as in the AIHF paper's
protocol); ``BC`` wraps it as an SB3 model (``learn`` / ``predict`` / ``save`` / ``load``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import maybe_make_env

from aihf_control.data.defaults import shipped_feedback
from aihf_control.data.demos import Demonstrations
from aihf_control.sb3.averaged_actor import AveragedActor
from aihf_control.sb3.model_files import CheckedLoad
from aihf_control.validation import check_continuous_actions, check_policy_net_arch

SelfBC = TypeVar("SelfBC", bound="BC")

# Demonstrated actions on the bound would have log-probability -inf under a tanh-squashed Gaussian.
_ACTION_MARGIN = 1e-4


def behaviour_cloning_loss(log_probs: torch.Tensor, log_stds: torch.Tensor, entropy_weight: float) -> torch.Tensor:
    """Negative log-likelihood of demonstrated actions, minus a small entropy bonus.

    The bonus (the pre-squash Gaussian's entropy, Σ log σ + const) keeps the cloned policy from
    collapsing to σ → 0, which would leave SAC, started from it, with a huge log π to undo.

    :param log_probs: (B,) log π(a_demo | s_demo)
    :param log_stds: (B, act_dim) the policy's log standard deviations at s_demo
    :param entropy_weight: weight of the entropy bonus (imitation's BC uses 1e-3)
    :return: scalar loss
    """
    return -log_probs.mean() - entropy_weight * log_stds.sum(dim=-1).mean()


class BehaviourCloner:
    """Adam steps of ``behaviour_cloning_loss`` on an SB3 SAC model's actor.

    Observations are normalised as the policy sees them (``VecNormalize`` if the model has one);
    actions are rescaled to the actor's [-1, 1]. The optimiser is its own, so SAC's Adam state is
    untouched.

    :param model: the SAC (or SAC subclass) whose actor is trained
    :param demonstrations: expert transitions; their spaces must match the model's
    :param batch_size: demonstrated transitions per step
    :param learning_rate: Adam learning rate
    :param entropy_weight: weight of the entropy bonus
    """

    def __init__(
        self,
        model: SAC,
        demonstrations: Demonstrations,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        entropy_weight: float = 1e-3,
    ) -> None:
        if not isinstance(demonstrations, Demonstrations):
            raise TypeError(
                f"demonstrations must be an aihf_control.Demonstrations, got {type(demonstrations).__name__}"
            )
        demonstrations.check_spaces(model.observation_space, model.action_space)
        if batch_size < 1 or learning_rate <= 0 or entropy_weight < 0:
            raise ValueError(
                "batch_size must be >= 1, learning_rate > 0 and entropy_weight >= 0, "
                f"got {batch_size}, {learning_rate} and {entropy_weight}"
            )
        self.model, self.batch_size, self.entropy_weight = model, int(batch_size), float(entropy_weight)
        obs = demonstrations.obs
        normalizer = model.get_vec_normalize_env()
        if normalizer is not None:
            obs = normalizer.normalize_obs(obs)
        acts = np.clip(model.policy.scale_action(demonstrations.acts), -1 + _ACTION_MARGIN, 1 - _ACTION_MARGIN)
        self.obs = torch.as_tensor(obs, dtype=torch.float32, device=model.device)
        self.acts = torch.as_tensor(acts, dtype=torch.float32, device=model.device)
        self.optimizer = torch.optim.Adam(model.actor.parameters(), lr=learning_rate)

    def step(self) -> dict[str, float]:
        """One Adam step on a random batch; returns the loss and the mean log-likelihood."""
        actor = self.model.actor
        actor.set_training_mode(True)
        batch = torch.randint(0, len(self.obs), (self.batch_size,), device=self.obs.device)
        mean, log_std, kwargs = actor.get_action_dist_params(self.obs[batch])
        log_probs = actor.action_dist.proba_distribution(mean, log_std, **kwargs).log_prob(self.acts[batch])  # (B,)
        loss = behaviour_cloning_loss(log_probs, log_std, self.entropy_weight)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the behaviour cloning loss became {float(loss)}; lower the learning rate")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "log_prob": log_probs.mean().item()}

    def train(self, gradient_steps: int) -> dict[str, float]:
        """``gradient_steps`` steps; returns the last step's metrics."""
        metrics: dict[str, float] = {}
        for _ in range(gradient_steps):
            metrics = self.step()
        return metrics


class BCStart:
    """For learners that start from a behaviour-cloned actor (RLHF, IPL): their demonstrations after ``load``."""

    def set_demonstrations(self, demonstrations: Demonstrations) -> None:
        """Attach demonstrations to a loaded model (feedback is not saved with it): the share
        ``demo_batch_fraction`` of its minibatches draws from them; a BC start already done is not repeated.

        :param demonstrations: the transitions, in the env's action units
        """
        demonstrations.check_spaces(self.observation_space, self.action_space)
        self.bc_demonstrations = demonstrations
        self._attach_batch_demonstrations()


def clone_before_learning(model: SAC) -> None:
    """Behaviour-clone ``model``'s actor on ``model.bc_demonstrations`` once, before its first ``learn``.

    RLHF and IPL start from a BC policy (the AIHF paper's protocol); they hold the ``bc_*`` settings
    this reads and the ``bc_done`` flag (saved with the model, so a reloaded model is not cloned again).
    """
    if model.bc_done or model.bc_demonstrations is None or model.bc_steps == 0:
        return
    cloner = BehaviourCloner(
        model, model.bc_demonstrations, model.bc_batch_size, model.bc_learning_rate, model.bc_entropy_weight
    )
    model.bc_metrics = cloner.train(model.bc_steps)
    model.bc_done = True
    if isinstance(model, AveragedActor):  # deterministic actions start from the cloned actor too
        model.reset_averaged_actor()


class BC(CheckedLoad, SAC):
    """Behaviour cloning as an SB3 model: SAC's actor trained by maximum likelihood on demonstrations.

    ``learn(n)`` takes ``n`` gradient steps on the demonstrations and no env steps (``num_timesteps``
    counts gradient steps, so callbacks such as ``TrueReturnEvalCallback`` evaluate every k steps).
    The result predicts, saves and loads like any SAC model, and can be loaded as the starting point
    of SAC-based learners.

    :param policy: SAC policy ("MlpPolicy" or a policy class)
    :param env: the environment (only its spaces are used for training; evaluation callbacks use it)
    :param demonstrations: expert transitions
    :param bc_batch_size: demonstrated transitions per gradient step
    :param bc_learning_rate: Adam learning rate of the actor
    :param bc_entropy_weight: weight of the entropy bonus in ``behaviour_cloning_loss``
    :param kwargs: any other ``stable_baselines3.SAC`` argument (policy_kwargs, seed, device, tensorboard_log, ...)
    """

    def __init__(
        self,
        policy: str | type,
        env: gym.Env | str,
        demonstrations: Demonstrations | None = None,
        bc_batch_size: int = 256,
        bc_learning_rate: float = 1e-3,
        bc_entropy_weight: float = 1e-3,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        self.default_feedback: dict | None = None
        if _init_setup_model:
            if demonstrations is None:  # the shipped demonstrations, or an error naming what to pass
                demonstrations, _, self.default_feedback = shipped_feedback(
                    env, "BC", True, False, seed=kwargs.get("seed") or 0
                )
            env = maybe_make_env(env, 0) if isinstance(env, str) else env
            check_continuous_actions(env.action_space)
            check_policy_net_arch(kwargs.get("policy_kwargs"))
        self.demonstrations = demonstrations
        self.bc_batch_size = int(bc_batch_size)
        self.bc_learning_rate = float(bc_learning_rate)
        self.bc_entropy_weight = float(bc_entropy_weight)
        self._cloner: BehaviourCloner | None = None
        super().__init__(policy, env, _init_setup_model=_init_setup_model, **kwargs)

    def set_demonstrations(self, demonstrations: Demonstrations) -> None:
        """Attach demonstrations to a loaded model so that it can go on learning."""
        self.demonstrations, self._cloner = demonstrations, None

    def learn(
        self: SelfBC,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int = 1_000,
        tb_log_name: str = "BC",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfBC:
        """Take ``total_timesteps`` gradient steps of behaviour cloning (no env steps).

        :param log_interval: gradient steps between two logger dumps
        """
        if self.demonstrations is None:
            raise RuntimeError(
                "this BC model has no demonstrations (a loaded model keeps none): call set_demonstrations"
            )
        if self.env is None:
            raise RuntimeError(
                "this BC model has no env (callbacks and logging need one): load it with BC.load(path, env=env)"
            )
        if self._cloner is None:
            self._cloner = BehaviourCloner(
                self, self.demonstrations, self.bc_batch_size, self.bc_learning_rate, self.bc_entropy_weight
            )
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        callback.on_training_start(locals(), globals())
        while self.num_timesteps < total_timesteps:
            metrics = self._cloner.step()
            self.num_timesteps += 1
            callback.update_locals(locals())
            if not callback.on_step():
                break
            if self.num_timesteps % log_interval == 0 or self.num_timesteps == total_timesteps:
                self.logger.record("bc/loss", metrics["loss"])
                self.logger.record("bc/log_prob", metrics["log_prob"])
                self.logger.dump(step=self.num_timesteps)
        callback.on_training_end()
        return self

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "demonstrations", "_cloner"]
