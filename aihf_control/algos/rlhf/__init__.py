from aihf_control.algos.rlhf.rlhf import RLHF

__all__ = ["RLHF"]
