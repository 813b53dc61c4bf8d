from aihf_control.algos.aihf.aihf import AIHF

__all__ = ["AIHF"]
