"""AIHF on three inner learners: SB3's SAC (the default), sb3-contrib's TQC and CrossQ.

Each class is the inner learner with AIHF's reward learning mixed in (``AIHFRewardLearning``, the
outer loop); the API, ``save``/``load``, checkpoints and logging are the same for all three.
"""

from __future__ import annotations

from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC

from aihf_control.algos.aihf.reward_learning import AIHFRewardLearning


class AIHF(AIHFRewardLearning, SAC):
    """Alignment with Integrated Human Feedback (arXiv 2406.06874) on SB3's SAC.

    SAC is trained on the reward r_θ(s, a) that ``AIHFRewardLearning`` learns jointly from
    demonstrations and preferences. Takes AIHF's arguments (see ``AIHFRewardLearning``: demonstrations,
    preferences, demo_weight, preference_weight, alignment_steps, demo_batch_fraction, ...) and any
    argument of ``stable_baselines3.SAC``.
    """


class AIHFTQC(AIHFRewardLearning, TQC):
    """AIHF on sb3-contrib's TQC (truncated quantile critics, Kuznetsov et al. 2020).

    TQC drops the top quantiles of its critics' return distribution, which curbs the overestimation that
    a critic trained on a moving learned reward is prone to. Takes AIHF's arguments (see
    ``AIHFRewardLearning``) and any argument of ``sb3_contrib.TQC``.
    """


class AIHFCrossQ(AIHFRewardLearning, CrossQ):
    """AIHF on sb3-contrib's CrossQ (Bhatt et al. 2024): batch-renormalised critics without target networks.

    CrossQ is the most sample-efficient of the three at one gradient step per env step. Takes AIHF's
    arguments (see ``AIHFRewardLearning``) and any argument of ``sb3_contrib.CrossQ``.
    """
