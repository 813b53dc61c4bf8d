"""RLHF: SAC on a Bradley–Terry reward learned from preferences only, started from a BC policy.

The reward learning is AIHF's with its demonstration term switched off (``demo_weight=0``): the same
preference loss, the same relabelling buffer, the same online gathering and logging keys. So the
comparison with AIHF isolates what the demonstration term adds.
"""

from __future__ import annotations

from typing import Any, TypeVar

import gymnasium as gym

from aihf_control.algos.aihf.aihf import AIHF
from aihf_control.algos.bc.bc import BCStart, clone_before_learning
from aihf_control.data.defaults import shipped_feedback
from aihf_control.data.demos import Demonstrations
from aihf_control.data.preferences import Preferences

SelfRLHF = TypeVar("SelfRLHF", bound="RLHF")


class RLHF(BCStart, AIHF):
    """Reinforcement learning from human feedback (Christiano et al. 2017) on SB3 SAC; with
    ``reward_ensemble_size=3`` and ``query_selection="disagreement"`` it is PEBBLE-style (Lee et al. 2021).

    1. Behaviour cloning of the SAC actor on ``demonstrations`` (``bc_steps`` gradient steps, at the
       start of the first ``learn``), as the AIHF paper initialises RLHF; the demonstrations are used
       for nothing else.
    2. A Bradley–Terry reward model r_θ from ``preferences`` (offline) and/or a teacher's answers
       (``preference_source="online"``), updated every ``alignment_steps`` env steps.
    3. SAC on r_θ through the relabelling replay buffer.

    :param policy: SAC policy ("MlpPolicy" or a policy class)
    :param env: the environment; its reward is not used for learning
    :param demonstrations: expert transitions for the BC initialisation, or None to start from a random policy
    :param preferences: labelled segment pairs (needed unless ``preference_source="online"``)
    :param bc_steps: behaviour-cloning gradient steps before RL (0 skips BC)
    :param bc_batch_size: demonstrated transitions per BC step
    :param bc_learning_rate: Adam learning rate of BC
    :param bc_entropy_weight: entropy bonus of BC (``behaviour_cloning_loss``)
    :param demo_batch_fraction: share of every SAC minibatch drawn from ``demonstrations`` (as AIHF's option;
        0, the paper's protocol, uses the demonstrations for the BC start only)
    :param kwargs: AIHF's reward-learning and online-preference arguments (alignment_steps,
        reward_ensemble_size, preference_source, teacher, ...) and any ``stable_baselines3.SAC`` argument;
        not ``demo_weight``
    """

    def __init__(
        self,
        policy: str | type,
        env: gym.Env | str,
        demonstrations: Demonstrations | None = None,
        preferences: Preferences | None = None,
        bc_steps: int = 10_000,
        bc_batch_size: int = 256,
        bc_learning_rate: float = 1e-3,
        bc_entropy_weight: float = 1e-3,
        demo_batch_fraction: float = 0.0,
        _init_setup_model: bool = True,
        **kwargs: Any,
    ) -> None:
        if "demo_weight" in kwargs:
            raise TypeError("RLHF learns its reward from preferences only and takes no demo_weight; use AIHF for both")
        offline = kwargs.get("preference_source", "offline") == "offline"
        if _init_setup_model and demonstrations is None and preferences is None and offline:
            demonstrations, preferences, self.default_feedback = shipped_feedback(
                env, "RLHF", True, True, seed=kwargs.get("seed") or 0
            )
        if _init_setup_model:
            if preferences is None and offline:
                raise ValueError(
                    "RLHF learns its reward from preferences: pass preferences=Preferences(...), or "
                    "preference_source='online' with a teacher"
                )
            if demonstrations is not None and not isinstance(demonstrations, Demonstrations):
                raise TypeError(
                    "demonstrations must be an aihf_control.Demonstrations (or None), "
                    f"got {type(demonstrations).__name__}"
                )
            if int(bc_steps) < 0:
                raise ValueError(f"bc_steps must be >= 0, got {bc_steps}")
        self.bc_demonstrations = demonstrations
        self.bc_steps = int(bc_steps)
        self.bc_batch_size = int(bc_batch_size)
        self.bc_learning_rate = float(bc_learning_rate)
        self.bc_entropy_weight = float(bc_entropy_weight)
        self.bc_done = False
        super().__init__(
            policy,
            env,
            demonstrations=None,
            preferences=preferences,
            demo_weight=0.0,
            demo_batch_fraction=demo_batch_fraction,
            _init_setup_model=_init_setup_model,
            **kwargs,
        )
        if _init_setup_model and demonstrations is not None:
            demonstrations.check_spaces(self.observation_space, self.action_space)

    def learn(
        self: SelfRLHF,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int = 4,
        tb_log_name: str = "RLHF",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfRLHF:
        clone_before_learning(self)
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)

    def _batch_demonstrations(self) -> Demonstrations | None:
        return getattr(self, "bc_demonstrations", None)  # RLHF's reward never sees them: only BC and the batches

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "bc_demonstrations"]
