"""AIHF end to end in a few minutes on a CPU: learn the Pendulum-v1 swing-up from demonstrations.

The demonstrator is a scripted controller (``examples/scripted_experts.py``), so nothing has
to be trained or downloaded first. AIHF never sees the env's reward: it learns r_θ from 10
demonstrated episodes (and from preferences, when given) and trains SAC on it. The true
return is only evaluated and logged.

    python -m examples.pendulum                 # ~3 minutes on one core
    tensorboard --logdir runs/                  # eval/true_return, reward/*, rollout/*
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch

from aihf_control import AIHF, TrueReturnEvalCallback
from examples.scripted_experts import expert_demonstrations, mean_return, pendulum_expert

ENV_ID = "Pendulum-v1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=15_000, help="env steps of training (default 15,000)")
    parser.add_argument("--num-demos", type=int, default=2_000, help="demonstration transitions (default 2,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logdir", default="runs/pendulum", help="TensorBoard folder")
    parser.add_argument("--save", default="runs/pendulum/aihf_pendulum.zip", help="model file")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small nets: one thread is fastest on a CPU

    demos = expert_demonstrations(ENV_ID, args.num_demos, seed=args.seed)
    model = AIHF(
        "MlpPolicy",
        ENV_ID,
        demonstrations=demos,
        learning_starts=1_000,
        reward_net_arch=(64, 64),
        policy_kwargs=dict(net_arch=[64, 64]),
        tensorboard_log=args.logdir,
        seed=args.seed,
    )
    evaluation = TrueReturnEvalCallback(gym.make(ENV_ID), eval_freq=2_500, n_eval_episodes=10, verbose=1)
    model.learn(args.timesteps, callback=evaluation, progress_bar=True)
    model.save(args.save)

    loaded = AIHF.load(args.save, env=gym.make(ENV_ID))
    print("learned reward of 5 demonstrated (s, a):", np.round(loaded.predict_reward(demos.obs[:5], demos.acts[:5]), 2))
    print(
        f"final true return {evaluation.curve[-1][1]:.0f}; scripted demonstrator "
        f"{mean_return(ENV_ID, pendulum_expert):.0f}, random actions {mean_return(ENV_ID, None):.0f}"
    )
    print(f"model saved to {args.save}; TensorBoard: tensorboard --logdir {args.logdir}")


if __name__ == "__main__":
    main()
