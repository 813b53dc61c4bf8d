"""Env steps per second of the demonstrator algorithms ``make_dataset`` offers, on this machine's CPU.

Times the learning phase (after ``--learning-starts`` random steps: one env step and one gradient step
per step) of SB3 SAC (torch) and SBX SAC (jax), with the same hyperparameters (SB3's SAC defaults:
256-256 networks, batch 256), one at a time, each on one CPU thread, so the numbers say how fast one
demonstrator trains while the other core does something else. SBX is optional
(``pip install 'aihf-control[experts]'``); without it only SB3 is timed.

    python -m benchmarks.demonstrator_speed                 # Hopper-v5, 3000 timed steps each
    python -m benchmarks.demonstrator_speed --env Walker2d-v5 --steps 2000 --json speed.json
"""

from __future__ import annotations

import os

# One thread for jax's CPU backend; must be set before jax is imported (sbx imports it).
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse
import json
import time

import gymnasium as gym
import torch
from stable_baselines3.common.callbacks import BaseCallback

from aihf_control.data.demonstrator import algorithm_class, algorithm_label


class LearningPhaseTimer(BaseCallback):
    """Records the time when random warm-up steps end and when learning ends."""

    def __init__(self, learning_starts: int) -> None:
        super().__init__()
        self.learning_starts = learning_starts
        self.start: float | None = None

    def _on_step(self) -> bool:
        if self.num_timesteps == self.learning_starts:
            self.start = time.perf_counter()
        return True


def steps_per_second(algo: str, env_id: str, learning_starts: int, steps: int, seed: int) -> float:
    model = algorithm_class(algo)("MlpPolicy", gym.make(env_id), learning_starts=learning_starts, seed=seed)
    timer = LearningPhaseTimer(learning_starts)
    model.learn(learning_starts + steps, callback=timer)
    return steps / (time.perf_counter() - timer.start)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.demonstrator_speed",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", default="Hopper-v5", help="gymnasium env id (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=3000, help="timed steps per algorithm (default: %(default)s)")
    parser.add_argument("--learning-starts", type=int, default=1000, help="untimed warm-up (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.learning_starts < 1:
        parser.error("--steps and --learning-starts must be at least 1")
    torch.set_num_threads(1)
    results: dict[str, float] = {}
    for algo in ("sac", "sbx-sac"):
        try:
            algorithm_class(algo)
        except ImportError as e:
            print(f"{algorithm_label(algo)}: skipped ({e})")
            continue
        results[algo] = steps_per_second(algo, args.env, args.learning_starts, args.steps, args.seed)
        print(f"{algorithm_label(algo)} on {args.env}: {results[algo]:.1f} env steps/s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": args.env, "steps": args.steps, "steps_per_second": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
