from aihf_control.algos.bc.bc import BC, BehaviourCloner, behaviour_cloning_loss, clone_before_learning

__all__ = ["BC", "BehaviourCloner", "behaviour_cloning_loss", "clone_before_learning"]
