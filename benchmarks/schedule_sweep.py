"""How often and how much should the reward learn? The measurement behind AIHF's defaults.

Runs AIHF (demonstrations only, i.e. the ML-IRL term, which is where the schedule matters
most) for several reward schedules and input handlings, and reports how many env steps each
needs before its normalised score (0 = random actions, 100 = the demonstrator) first reaches
90, and the final return. Pendulum-v1 (the default) and InvertedPendulum-v5 have scripted
demonstrators and are cheap on a CPU; InvertedPendulum, like Hopper, ends episodes on a fall,
so termination handling matters there. Any other env takes a demonstrator saved by SB3
(``--expert model.zip --expert-algo sac|td3|tqc``).

    python -m benchmarks.schedule_sweep                 # all variants, seeds 0 and 1 (~35 min, 1 core)
    python -m benchmarks.schedule_sweep --env InvertedPendulum-v5 --expert-noise 0.3
    python -m benchmarks.schedule_sweep --variants paper default --seeds 0
    python -m benchmarks.schedule_sweep --env Hopper-v5 --expert hopper_sac.zip --num-demos 10000 \
        --timesteps 100000 --eval-freq 5000 --learning-starts 5000
    python -m benchmarks.schedule_sweep --variants default --seeds 0 --inner crossq \
        --averaged-actors 0.0002 0.0002:0.1      # the current actor acts; averages of it evaluated alongside
    python -m benchmarks.schedule_sweep --variants default --set reward_gradient_penalty=10   # any model argument

Writes a JSON file (``--json``) and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.monitor import Monitor

from aihf_control import AIHF, AIHFCrossQ, Demonstrations, TrueReturnEvalCallback, record_demonstrations
from benchmarks.inner_loop_sweep import AveragedActors, averaging_spec, model_setting
from examples.scripted_experts import SCRIPTED_EXPERTS, expert_demonstrations, mean_return


@dataclass(frozen=True)
class Variant:
    description: str
    kwargs: dict


def _schedule(alignment_steps: int, reward_gradient_steps: int, lr: float = 3e-4, **changes: object) -> dict:
    """Every setting the sweep varies, spelled out, so a variant does not move when AIHF's defaults do."""
    settings = dict(
        alignment_steps=alignment_steps,
        reward_gradient_steps=reward_gradient_steps,
        reward_learning_rate=lr,
        reward_gradient_penalty=0.0,
        policy_window=alignment_steps,
        demo_batch_fraction=0.0,  # the sweep measures the reward schedule with the paper's inner loop
    )
    return {**settings, **changes}


VARIANTS = {
    "paper": Variant("paper / ML-IRL: 5 steps per 5k env steps, lr 1e-4", _schedule(5_000, 5, lr=1e-4)),
    "paper-more-steps": Variant("100 steps per 5k env steps", _schedule(5_000, 100)),
    "1k-20": Variant("20 steps per 1k env steps", _schedule(1_000, 20)),
    "often": Variant("10 steps per 500 env steps", _schedule(500, 10)),
    "more-steps": Variant("100 steps per 1k env steps", _schedule(1_000, 100)),
    "no-absorbing": Variant("1k-20, termination ends the return", _schedule(1_000, 20, absorbing_state=False)),
    "no-input-norm": Variant("1k-20, raw observations into r_θ", _schedule(1_000, 20, normalize_reward_inputs=False)),
    "gp1": Variant("1k-20 + gradient penalty 1", _schedule(1_000, 20, reward_gradient_penalty=1.0)),
    "gp10": Variant("1k-20 + gradient penalty 10", _schedule(1_000, 20, reward_gradient_penalty=10.0)),
    "window10k": Variant("1k-20, L_demo against the last 10k policy steps", _schedule(1_000, 20, policy_window=10_000)),
    "default-no-batches": Variant(
        "1k-20 + gradient penalty 1 + policy_window 10k (the defaults before demonstration batches)",
        _schedule(1_000, 20, reward_gradient_penalty=1.0, policy_window=10_000),
    ),
    "default": Variant("AIHF's defaults of this version (no argument changed)", {}),
    "zero-reward": Variant("control: plain SAC on a reward of 0 (no feedback at all)", {}),
}


def load_expert(path: str, algo: str) -> BaseAlgorithm:
    from sb3_contrib import TQC

    return {"sac": SAC, "td3": TD3, "tqc": TQC}[algo].load(path, device="cpu")


def demonstrations_and_level(args: argparse.Namespace, seed: int) -> tuple[Demonstrations, float]:
    """The demonstrations, and the demonstrator's mean true return over 10 episodes."""
    if args.expert is None:
        if args.env not in SCRIPTED_EXPERTS:
            raise SystemExit(
                f"--expert is required for {args.env}: scripted experts exist for {list(SCRIPTED_EXPERTS)}"
            )
        demos = expert_demonstrations(args.env, args.num_demos, noise=args.expert_noise, seed=seed)
        return demos, mean_return(args.env, SCRIPTED_EXPERTS[args.env])
    expert = load_expert(args.expert, args.expert_algo)
    policy = lambda o: expert.predict(o, deterministic=True)[0]  # noqa: E731
    return record_demonstrations(gym.make(args.env), policy, args.num_demos, seed=seed), mean_return(args.env, policy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Pendulum-v1", help="gymnasium env id (default Pendulum-v1)")
    parser.add_argument("--expert-noise", type=float, default=0.0, help="action noise std of a scripted expert")
    parser.add_argument("--expert", help="SB3 model file of the demonstrator (needed where no scripted one exists)")
    parser.add_argument("--expert-algo", choices=["sac", "td3", "tqc"], default="sac", help="algorithm of --expert")
    parser.add_argument("--net-arch", type=int, nargs="+", default=[64, 64], help="SAC and reward hidden sizes")
    parser.add_argument("--learning-starts", type=int, default=1_000, help="random env steps first (default 1,000)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), help="variants to run")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1], help="seeds (default 0 1)")
    parser.add_argument("--timesteps", type=int, default=15_000, help="env steps per run (default 15,000)")
    parser.add_argument("--eval-freq", type=int, default=1_000, help="evaluate every N env steps (default 1,000)")
    parser.add_argument("--num-demos", type=int, default=2_000, help="demonstration transitions (default 2,000)")
    parser.add_argument("--inner", choices=["sac", "crossq"], default="sac", help="AIHF (SAC) or AIHFCrossQ")
    parser.add_argument(
        "--averaged-actors", nargs="*", type=averaging_spec, default=[], metavar="TAU[:WARMUP]",
        help="act with the current actor and also evaluate these averages of it at each evaluation",
    )  # fmt: skip
    parser.add_argument(
        "--threshold", type=float, help="return that counts as solved (default: a normalised score of 90)"
    )
    parser.add_argument(
        "--set", nargs="*", type=model_setting, default=[], metavar="KEY=VALUE",
        help="model arguments over every variant's (not zero-reward), values in JSON: reward_gradient_penalty=10",
    )  # fmt: skip
    parser.add_argument("--json", default="schedule_sweep.json", help="where to write the results")
    args = parser.parse_args()
    overrides = dict(args.set)
    torch.set_num_threads(1)  # small nets: one thread is fastest and reproducible on a CPU

    results = []
    for name in args.variants:
        for seed in args.seeds:
            demos, expert_return = demonstrations_and_level(args, seed)
            # normalised score 90: 0 = random actions, 100 = the demonstrator
            random_return = mean_return(args.env, None)
            threshold = (
                args.threshold if args.threshold is not None else random_return + 0.9 * (expert_return - random_return)
            )
            start = time.perf_counter()
            common = dict(learning_starts=args.learning_starts, policy_kwargs=dict(net_arch=args.net_arch), seed=seed)
            # --set wins over the variant; the zero-reward control is plain SAC and takes neither
            settings = {} if name == "zero-reward" else {**VARIANTS[name].kwargs, **overrides}
            if name == "zero-reward":  # the control: what SAC learns from no reward at all
                zero_env = gym.wrappers.TransformReward(gym.make(args.env), lambda r: 0.0)
                model = SAC("MlpPolicy", zero_env, **common)
            else:
                model = {"sac": AIHF, "crossq": AIHFCrossQ}[args.inner](
                    "MlpPolicy",
                    args.env,
                    demonstrations=demos,
                    reward_net_arch=args.net_arch,
                    **common,
                    **{**({"actor_averaging": None} if args.averaged_actors else {}), **settings},
                )
            evaluation = TrueReturnEvalCallback(
                Monitor(gym.make(args.env)), eval_freq=args.eval_freq, n_eval_episodes=5
            )
            averaged = AveragedActors(args.averaged_actors, args.env, args.eval_freq, 5)
            model.learn(args.timesteps, callback=[evaluation, averaged])
            curve = evaluation.curve
            solved = next((steps for steps, mean, _ in curve if mean >= threshold), None)
            averages = {
                spec: {
                    "curve": c,
                    "steps_to_threshold": next((s for s, r in c if r >= threshold), None),
                    "final_return": c[-1][1],
                }
                for spec, c in averaged.curves.items()
            }
            results.append(
                dict(
                    variant=name,
                    seed=seed,
                    expert_return=expert_return,
                    random_return=random_return,
                    threshold=threshold,
                    steps_to_threshold=solved,
                    final_return=curve[-1][1],
                    curve=curve,
                    averaged_actors=averages,
                    wall_s=time.perf_counter() - start,
                    kwargs=settings,
                )
            )
            print(
                f"{name:18s} seed {seed}: first ≥{threshold:.0f} at {solved} steps, final {curve[-1][1]:.0f}",
                flush=True,
            )

    with open(args.json, "w") as f:
        json.dump(dict(env=args.env, config=vars(args), results=results), f, indent=1)

    limit = f"– = not within {args.timesteps:,}"
    print(f"\n| variant | what | env steps to a score of 90 (per seed; {limit}) | final return (mean) |")
    print("|---|---|---|---|")
    for name in args.variants:
        rows = [r for r in results if r["variant"] == name]
        actors = {"": rows} | {
            f", average {spec}": [r["averaged_actors"][spec] for r in rows] for spec in args.averaged_actors
        }
        for actor, runs in actors.items():
            steps = ", ".join("–" if r["steps_to_threshold"] is None else f"{r['steps_to_threshold']:,}" for r in runs)
            final = np.mean([r["final_return"] for r in runs])
            print(f"| {name}{actor} | {VARIANTS[name].description} | {steps} | {final:.0f} |")


if __name__ == "__main__":
    main()
