"""SB3 callbacks shared by every algorithm."""

from __future__ import annotations

import time

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import is_wrapped
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecEnv


class TrueReturnEvalCallback(BaseCallback):
    """Every ``eval_freq`` env steps, run the policy on ``eval_env`` and log its *true* return.

    Writes ``eval/true_return``, ``eval/true_return_std`` and ``eval/ep_length`` through the
    model's logger (TensorBoard, CSV, stdout alike) and keeps the curve in ``self.curve`` as
    ``(env_steps, mean_return, std_return)`` tuples, and in ``self.wall_times`` the seconds since
    training started at which each evaluation began. ``eval_env`` must not be wrapped in
    anything that changes its reward; a plain gymnasium env is wrapped in SB3's ``Monitor``
    so that whole episodes are counted.

    :param eval_env: environment to evaluate on (a separate instance from the training env)
    :param eval_freq: evaluate every this many env steps (summed over parallel envs)
    :param n_eval_episodes: episodes per evaluation
    :param deterministic: evaluate the deterministic (mean) action
    :param verbose: 1 prints each evaluation
    """

    def __init__(
        self,
        eval_env: gym.Env | VecEnv,
        eval_freq: int = 10_000,
        n_eval_episodes: int = 5,
        deterministic: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if eval_freq <= 0 or n_eval_episodes <= 0:
            raise ValueError(f"eval_freq and n_eval_episodes must be > 0, got {eval_freq} and {n_eval_episodes}")
        if isinstance(eval_env, gym.Env) and not is_wrapped(eval_env, Monitor):
            eval_env = Monitor(eval_env)
        self.eval_env = eval_env
        self.eval_freq = eval_freq
        self.n_eval_episodes = n_eval_episodes
        self.deterministic = deterministic
        self.curve: list[tuple[int, float, float]] = []
        self.wall_times: list[float] = []
        self.seconds_before = 0.0  # training seconds of earlier learn calls (a resumed run sets it)
        self._next_eval = 0
        self._start = time.perf_counter()

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()
        self._next_eval = (self.num_timesteps // self.eval_freq + 1) * self.eval_freq

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next_eval:
            self._next_eval += self.eval_freq
            self.evaluate()
        return True

    def elapsed(self) -> float:
        """Seconds of training so far, earlier learn calls of a resumed run included."""
        return self.seconds_before + time.perf_counter() - self._start

    def state(self) -> dict:
        """The curve and the training seconds so far, JSON-serialisable: a checkpoint's ``extra_state``
        (``ResumableCheckpointCallback(..., extra_state=callback.state)``), read back by ``restore_state``."""
        return {"curve": self.curve, "wall_times": self.wall_times, "seconds": self.elapsed()}

    def restore_state(self, state: dict) -> None:
        """Go on from ``state()`` of an earlier run: its curve is kept and its seconds count in ``elapsed``."""
        self.curve = [tuple(point) for point in state["curve"]]
        self.wall_times, self.seconds_before = list(state["wall_times"]), float(state["seconds"])

    def evaluate(self) -> float:
        """Evaluate now, log, and return the mean true return."""
        self.wall_times.append(self.elapsed())
        returns, lengths = evaluate_policy(
            self.model,
            self.eval_env,
            n_eval_episodes=self.n_eval_episodes,
            deterministic=self.deterministic,
            return_episode_rewards=True,
        )
        mean, std = float(np.mean(returns)), float(np.std(returns))
        self.curve.append((self.num_timesteps, mean, std))
        self.logger.record("eval/true_return", mean)
        self.logger.record("eval/true_return_std", std)
        self.logger.record("eval/ep_length", float(np.mean(lengths)))
        self.logger.dump(self.num_timesteps)
        if self.verbose:
            print(f"eval at {self.num_timesteps} env steps: true return {mean:.1f} ± {std:.1f}")
        return mean
