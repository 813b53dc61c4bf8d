from aihf_control.algos.aihf.aihf import AIHF, AIHFTQC, AIHFCrossQ, AveragedCrossQ, AveragedSAC, AveragedTQC
from aihf_control.algos.aihf.reward_learning import AIHFRewardLearning

__all__ = ["AIHF", "AIHFTQC", "AIHFCrossQ", "AIHFRewardLearning", "AveragedCrossQ", "AveragedSAC", "AveragedTQC"]
