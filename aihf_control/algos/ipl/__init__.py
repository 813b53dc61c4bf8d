from aihf_control.algos.ipl.ipl import IPL, implicit_rewards, ipl_loss

__all__ = ["IPL", "implicit_rewards", "ipl_loss"]
