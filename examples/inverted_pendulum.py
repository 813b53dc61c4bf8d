"""AIHF end to end in a few minutes on a CPU: learn to balance InvertedPendulum-v5 from demonstrations.

The demonstrator is a scripted linear controller, so nothing has to be trained or downloaded
first. AIHF never sees the env's reward: it learns r_θ from the demonstrations (and from
preferences, when given) and trains SAC on it. The true return is only evaluated and logged.

    python -m examples.inverted_pendulum            # ~3 minutes on one core
    tensorboard --logdir runs/                      # eval/true_return, reward/*, rollout/*
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch

from aihf_control import AIHF, Demonstrations, TrueReturnEvalCallback, record_demonstrations

ENV_ID = "InvertedPendulum-v5"
# A linear controller that balances InvertedPendulum-v5 for the full 1,000 steps, even with
# Gaussian action noise of std 0.3 (found by random search over gains, then rounded).
EXPERT_GAINS = np.array([[1.4, 7.3, 0.85, 1.2]])


def expert_demonstrations(n: int, noise: float = 0.3, seed: int = 0) -> Demonstrations:
    """``n`` transitions of the scripted expert with action noise (noise widens the states covered)."""
    rng = np.random.default_rng(seed)

    def expert(obs: np.ndarray) -> np.ndarray:
        return np.clip(EXPERT_GAINS @ obs + noise * rng.normal(size=1), -3, 3)

    return record_demonstrations(gym.make(ENV_ID), expert, n, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=12_000, help="env steps of training (default 12,000)")
    parser.add_argument("--num-demos", type=int, default=2_000, help="demonstration transitions (default 2,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logdir", default="runs/inverted_pendulum", help="TensorBoard folder")
    parser.add_argument("--save", default="runs/inverted_pendulum/aihf_inverted_pendulum.zip", help="model file")
    args = parser.parse_args()
    torch.set_num_threads(1)  # small nets: one thread is fastest on a CPU

    demos = expert_demonstrations(args.num_demos, seed=args.seed)
    model = AIHF(
        "MlpPolicy",
        ENV_ID,
        demonstrations=demos,
        alignment_steps=500,
        learning_starts=1_000,
        reward_net_arch=(64, 64),
        policy_kwargs=dict(net_arch=[64, 64]),
        tensorboard_log=args.logdir,
        seed=args.seed,
        verbose=0,
    )
    evaluation = TrueReturnEvalCallback(gym.make(ENV_ID), eval_freq=2_000, n_eval_episodes=5, verbose=1)
    model.learn(args.timesteps, callback=evaluation, progress_bar=True)
    model.save(args.save)

    loaded = AIHF.load(args.save, env=gym.make(ENV_ID))
    obs = demos.obs[:5]
    print("learned reward of 5 demonstrated (s, a):", np.round(loaded.predict_reward(obs, demos.acts[:5]), 2))
    print(f"final true return: {evaluation.curve[-1][1]:.0f} (the maximum is 1,000; a random policy gets about 5)")
    print(f"model saved to {args.save}; TensorBoard: tensorboard --logdir {args.logdir}")


if __name__ == "__main__":
    main()
