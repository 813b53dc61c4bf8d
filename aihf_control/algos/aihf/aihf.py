"""AIHF on three inner learners: SB3's SAC (the default), sb3-contrib's TQC and CrossQ.

Each class is the inner learner with AIHF's reward learning mixed in (``AIHFRewardLearning``, the
outer loop); the API, ``save``/``load``, checkpoints and logging are the same for all three.
``AveragedSAC``, ``AveragedTQC`` and ``AveragedCrossQ`` are the same inner learners without the reward
learning (they learn from the env's reward, as SB3's do): the references that measure what the learned
reward costs or gains against the true one, and the bases of the AIHF classes, which act as they do.
"""

from __future__ import annotations

from typing import Any

from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC

from aihf_control.algos.aihf.reward_learning import AIHFRewardLearning
from aihf_control.sb3.averaged_actor import AveragedActor
from aihf_control.sb3.model_files import CheckedLoad

# The CrossQ paper's BatchRenorm warmup, for AIHFCrossQ and for CrossQ references on the true reward (see AIHFCrossQ)
CROSSQ_POLICY_KWARGS = {"renorm_warmup_steps": 5_000}


class AveragedSAC(CheckedLoad, AveragedActor, SAC):
    """SB3's SAC on the env's reward, acting as ``AIHF`` does (``AveragedActor``; ``actor_averaging``)."""


class AveragedTQC(CheckedLoad, AveragedActor, TQC):
    """sb3-contrib's TQC on the env's reward, acting as ``AIHFTQC`` does (``AveragedActor``; ``actor_averaging``)."""


class AveragedCrossQ(CheckedLoad, AveragedActor, CrossQ):
    """sb3-contrib's CrossQ on the env's reward, acting as ``AIHFCrossQ`` does: ``AveragedActor`` and the CrossQ
    paper's BatchRenorm warmup (``policy_kwargs={"renorm_warmup_steps": 5_000}`` unless given)."""

    def __init__(self, policy: str | type, env: Any, *args: Any, policy_kwargs: dict | None = None, **kwargs: Any):
        super().__init__(policy, env, *args, policy_kwargs={**CROSSQ_POLICY_KWARGS, **(policy_kwargs or {})}, **kwargs)


class AIHF(AIHFRewardLearning, AveragedSAC):
    """Alignment with Integrated Human Feedback (arXiv 2406.06874) on SB3's SAC.

    SAC is trained on the reward r_θ(s, a) that ``AIHFRewardLearning`` learns jointly from
    demonstrations and preferences. Takes AIHF's arguments (see ``AIHFRewardLearning``: demonstrations,
    preferences, demo_weight, preference_weight, alignment_steps, demo_batch_fraction, ...),
    ``actor_averaging`` (``AveragedActor``: deterministic actions from a Polyak average of the actor) and any
    argument of ``stable_baselines3.SAC``.
    """


class AIHFTQC(AIHFRewardLearning, AveragedTQC):
    """AIHF on sb3-contrib's TQC (truncated quantile critics, Kuznetsov et al. 2020).

    TQC drops the top quantiles of its critics' return distribution, which curbs the overestimation that
    a critic trained on a moving learned reward is prone to. Takes AIHF's arguments (see
    ``AIHFRewardLearning``), ``actor_averaging`` (``AveragedActor``: deterministic actions from a Polyak average of
    the actor) and any argument of ``sb3_contrib.TQC``.
    """


class AIHFCrossQ(AIHFRewardLearning, AveragedCrossQ):
    """AIHF on sb3-contrib's CrossQ (Bhatt et al. 2024): batch-renormalised critics without target networks.

    CrossQ is the most sample-efficient of the three at one gradient step per env step. Takes AIHF's
    arguments (see ``AIHFRewardLearning``), ``actor_averaging`` (``AveragedActor``: deterministic actions from a
    Polyak average of the actor) and any argument of ``sb3_contrib.CrossQ``.

    One default differs from sb3-contrib's (set in ``AveragedCrossQ``): BatchRenorm normalises with the
    batch's own statistics for the first 5,000 updates of each network
    (``policy_kwargs={"renorm_warmup_steps": 5_000}``, the CrossQ paper's warmup) rather than 100,000. Until
    then the policy is trained on batch statistics but acts with the running ones, and the actor, updated
    every third step, stays in that phase for 300k env steps. On Hopper the paper's value gave fewer
    evaluations below 60 after reaching the demonstrator (2 in 3 seeds of 150k env steps, against 4 in 2
    seeds), not none (docs: the inner loop).
    """
