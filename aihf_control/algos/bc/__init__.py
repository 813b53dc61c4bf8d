from aihf_control.algos.bc.bc import BC, BehaviourCloner, behaviour_cloning_loss

__all__ = ["BC", "BehaviourCloner", "behaviour_cloning_loss"]
