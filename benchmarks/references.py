"""The references on the env's true reward: AIHF's inner learners without its reward learning, acting as AIHF's
do (deterministic actions from the averaged actor; CrossQ with AIHFCrossQ's BatchRenorm warmup), so that a
comparison with them measures the learned reward, not a difference of inner loop."""

from __future__ import annotations

from typing import Any

from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC

from aihf_control.algos.aihf.aihf import CROSSQ_POLICY_KWARGS
from aihf_control.sb3.averaged_actor import AveragedActor


class SACReference(AveragedActor, SAC):
    """SB3's SAC on the true reward, with AIHF's averaged actor."""


class TQCReference(AveragedActor, TQC):
    """sb3-contrib's TQC on the true reward, with AIHF's averaged actor."""


class CrossQReference(AveragedActor, CrossQ):
    """sb3-contrib's CrossQ on the true reward, with AIHF's averaged actor and AIHFCrossQ's BatchRenorm warmup."""

    def __init__(self, policy: str | type, env: Any, *args: Any, policy_kwargs: dict | None = None, **kwargs: Any):
        super().__init__(policy, env, *args, policy_kwargs={**CROSSQ_POLICY_KWARGS, **(policy_kwargs or {})}, **kwargs)


REFERENCES = {"sac": SACReference, "tqc": TQCReference, "crossq": CrossQReference}
