"""Deterministic actions from a Polyak average of the actor, as the mixin ``AveragedActor``.

An off-policy actor changes with every gradient step, and on tasks such as Hopper and Walker2d one of those
steps now and then moves the mean action to where the walker falls: the deterministic policy then fails in
every evaluation episode while the stochastic one that collects data does not, and a step later it is back.
Averaging the actor's weights over the last few thousand env steps (as SAC's target critics average the
critics') removes these transient falls from the policy a user deploys, at the cost of a short lag.
Exploration and learning are unchanged: the current actor acts with ``deterministic=False`` and is the one
trained; the average only answers ``predict(..., deterministic=True)``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.utils import polyak_update


def update_average(average: torch.nn.Module, module: torch.nn.Module, rate: float) -> None:
    """Move ``average`` the share ``rate`` of the way towards ``module`` (same architecture): weights and
    floating-point buffers (running means and variances) alike; integer buffers (step counters) are copied."""
    polyak_update(module.parameters(), average.parameters(), rate)
    with torch.no_grad():
        for mine, theirs in zip(average.buffers(), module.buffers(), strict=True):
            mine.lerp_(theirs, rate) if mine.is_floating_point() else mine.copy_(theirs)


def averaging_rate(rate: float, warmup: float | None, steps: int) -> float:
    """The rate of the env step after ``steps`` steps of averaging: ``rate``, or while ``1 / rate`` is longer than
    the share ``warmup`` of the steps so far, ``1 / (warmup * steps)`` (capped at 1), so that the average spans that
    share of the run. Early in a run successive actors differ most and an average over more steps than the run has
    taken trails far behind; the form follows the warmup of TensorFlow's ``ExponentialMovingAverage``."""
    if warmup is None:
        return rate
    return max(rate, min(1.0, 1.0 / (warmup * max(steps, 1))))


class AveragedActor:
    """Mixin for SB3's actor-critic off-policy learners (``class AIHF(AIHFRewardLearning, AveragedActor, SAC)``):
    ``predict(obs, deterministic=True)`` (evaluation, videos, deployment) acts with a Polyak average of the actor.

    After every env step the average moves ``actor_averaging`` of the way towards the current actor, weights and
    normalisation statistics (CrossQ's BatchRenorm) alike, so it spans about the last ``1 / actor_averaging``
    env steps. Early in a run, when successive actors differ most, it spans only the share
    ``actor_averaging_warmup`` of the env steps taken so far while that is shorter (with the defaults: at 10k env
    steps the last 1k, from 50k on the last 5k; ``averaging_rate``), counted from the start of the run or from
    ``reset_averaged_actor``. It is saved with the model (``model.averaged_actor``); a model file saved without it
    loads with the average set to its actor.

    Measured (docs: the inner loop): on Hopper and Walker2d, in the same runs, the current actor fell below 60%
    of the demonstrator after first reaching 90% 18 times in 8 runs of 150k env steps, the average over 5k env
    steps twice. Without the warmup that average lagged far behind on short tasks (InvertedPendulum, solved by the
    actor at 10k env steps: the average at 106 and 657 of 1,000 at 10k and 15k); with it, it was at 1,000 when
    the actor was.

    :param actor_averaging: the rate per env step, in (0, 1]; 1 or None acts with the current actor (SB3's behaviour)
    :param actor_averaging_warmup: the share of the steps so far the average spans early in a run, in (0, 1];
        None: ``actor_averaging`` from the first step
    """

    averaged_actor: torch.nn.Module | None

    def __init__(
        self,
        *args: Any,
        actor_averaging: float | None = 0.0002,
        actor_averaging_warmup: float | None = 0.1,
        **kwargs: Any,
    ) -> None:
        if actor_averaging is not None and not _is_share(actor_averaging):
            raise ValueError(
                f"actor_averaging must be a rate in (0, 1] (e.g. 0.0002: an average over ~5,000 env steps) "
                f"or None to act with the current actor, got {actor_averaging!r}"
            )
        if actor_averaging_warmup is not None and not _is_share(actor_averaging_warmup):
            raise ValueError(
                f"actor_averaging_warmup must be a share of the run in (0, 1] (e.g. 0.1: early on, the average "
                f"spans the last tenth of the env steps taken) or None, got {actor_averaging_warmup!r}"
            )
        self.actor_averaging = None if actor_averaging in (None, 1) else float(actor_averaging)
        self.actor_averaging_warmup = None if actor_averaging_warmup is None else float(actor_averaging_warmup)
        self.averaging_steps = 0  # env steps averaged since the average was set to the actor
        super().__init__(*args, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()  # type: ignore[misc]
        actor = self.policy.actor  # type: ignore[attr-defined]
        self.averaged_actor = None
        if self.actor_averaging is not None:
            self.averaged_actor = copy.deepcopy(actor).requires_grad_(False).train(False)  # never trained
            self.averaged_actor.optimizer = None  # the average is not trained: no copy of the actor's optimizer

    def reset_averaged_actor(self) -> None:
        """Set the average to the current actor (after the actor was set by other means than learning, e.g. BC)."""
        if self.averaged_actor is not None:
            self.averaged_actor.load_state_dict(self.policy.actor.state_dict())  # type: ignore[attr-defined]
        self.averaging_steps = 0

    def _on_step(self) -> None:
        super()._on_step()  # type: ignore[misc]
        if self.averaged_actor is not None:
            self.averaging_steps += self.n_envs  # type: ignore[attr-defined]
            rate = averaging_rate(self.actor_averaging, self.actor_averaging_warmup, self.averaging_steps)  # type: ignore[arg-type]
            rate = 1 - (1 - rate) ** self.n_envs  # type: ignore[attr-defined]  # one call, n_envs steps
            update_average(self.averaged_actor, self.policy.actor, rate)  # type: ignore[attr-defined]

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3's ``predict``; with ``deterministic=True`` the averaged actor acts."""
        if not deterministic or self.averaged_actor is None:
            return super().predict(observation, state, episode_start, deterministic)  # type: ignore[misc]
        policy = self.policy  # type: ignore[attr-defined]
        actor, policy.actor = policy.actor, self.averaged_actor  # the policy's predict acts with policy.actor
        try:
            return super().predict(observation, state, episode_start, deterministic)  # type: ignore[misc]
        finally:
            policy.actor = actor

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()  # type: ignore[misc]
        return ([*state_dicts, "averaged_actor"] if self.averaged_actor is not None else state_dicts), variables

    def set_parameters(self, load_path_or_dict: Any, exact_match: bool = True, device: Any = "auto") -> None:
        """SB3's ``set_parameters``; parameters without an averaged actor (older files) set it to their actor."""
        if isinstance(load_path_or_dict, dict):
            params = dict(load_path_or_dict)
            if self.averaged_actor is None:  # loaded with actor_averaging=None: the file's average is not used
                params.pop("averaged_actor", None)
            elif "averaged_actor" not in params and "policy" in params:
                params["averaged_actor"] = {
                    k.removeprefix("actor."): v for k, v in params["policy"].items() if k.startswith("actor.")
                }
            load_path_or_dict = params
        super().set_parameters(load_path_or_dict, exact_match=exact_match, device=device)  # type: ignore[misc]


def _is_share(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1
