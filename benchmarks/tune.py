"""Tune AIHF's own knobs with Ray Tune: the weight of the preference term, the env steps of SAC between two
reward updates, and the reward's learning rate.

    python -m benchmarks.tune --env Hopper-v5 --profile quick --samples 16 --workers 2
    python -m benchmarks.tune --env Hopper-v5 --profile paper --samples 64 --ray-address auto --scheduler asha

Each trial is the benchmark's ``aihf`` run (``python -m benchmarks.hopper --methods aihf``: the profile's data,
networks and schedule, one seed, one number of preferences) with sampled knobs, on one CPU (and
``--gpus-per-run`` GPUs). At each evaluation it reports ``eval/true_return`` and ``final_return``, the mean of
the last 3 evaluations, as in the benchmark's tables; the best trial is the one with the highest last
``final_return``. Written to ``--logdir``: ``best_config.json`` (the best knobs, its returns, the search
space and the profile), ``trials.csv`` (every trial's knobs and last metrics) and Ray Tune's own files in
``tune/`` (each trial's TensorBoard run is in ``tune/<trial>/tensorboard``). A trial that fails is retried once;
failed trials are listed in ``best_config.json``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from aihf_control import TrueReturnEvalCallback
from benchmarks.executors import import_ray, init_ray
from benchmarks.profiles import PROFILES, Profile
from benchmarks.report import FINAL_EVALS, save_json_atomically
from benchmarks.run import RunSpec, build_model, load_feedback

PREFERENCE_WEIGHTS = (0.1, 10.0)  # log-uniform; the demonstration term's weight is 1
REWARD_LEARNING_RATES = (1e-5, 1e-3)  # log-uniform
ALIGNMENT_FACTORS = (0.25, 0.5, 1, 2, 4)  # alignment_steps: the profile's value times one of these


def alignment_choices(profile: Profile) -> list[int]:
    return [max(1, int(factor * profile.alignment_steps)) for factor in ALIGNMENT_FACTORS]


def search_space(profile: Profile) -> dict[str, Any]:
    """AIHF's knobs as Ray Tune distributions, around the profile's schedule."""
    from ray import tune

    return {
        "preference_weight": tune.loguniform(*PREFERENCE_WEIGHTS),
        "alignment_steps": tune.choice(alignment_choices(profile)),
        "reward_learning_rate": tune.loguniform(*REWARD_LEARNING_RATES),
    }


def describe_search_space(profile: Profile) -> dict[str, str]:
    """:func:`search_space` in words, for ``best_config.json``."""
    return {
        "preference_weight": "log-uniform in [{}, {}]".format(*PREFERENCE_WEIGHTS),
        "alignment_steps": f"one of {alignment_choices(profile)}",
        "reward_learning_rate": "log-uniform in [{}, {}]".format(*REWARD_LEARNING_RATES),
    }


class ReportToTune(TrueReturnEvalCallback):
    """:class:`TrueReturnEvalCallback` that also reports each evaluation to Ray Tune (a scheduler such as ASHA
    may stop the trial there)."""

    def evaluate(self) -> float:
        from ray import tune

        mean = super().evaluate()
        returns = [r for _, r, _ in self.curve]
        tune.report(
            {
                "eval/true_return": mean,
                "final_return": float(np.mean(returns[-FINAL_EVALS:])),
                "env_steps": self.num_timesteps,
            }
        )
        return mean


def train_trial(config: dict[str, Any], spec: RunSpec) -> None:
    """One trial: ``spec``'s run with the knobs of ``config``, its TensorBoard run in the trial's folder."""
    import torch
    from ray import tune

    torch.set_num_threads(1)  # a trial declares one CPU
    profile = replace(
        spec.profile,
        preference_weight=float(config["preference_weight"]),
        alignment_steps=int(config["alignment_steps"]),
        reward_learning_rate=float(config["reward_learning_rate"]),
    )
    spec = replace(spec, profile=profile, logdir=tune.get_context().get_trial_dir())
    env, eval_env = gym.make(spec.env_id), gym.make(spec.env_id)
    env.reset(seed=spec.seed)
    eval_env.reset(seed=spec.seed + 10_000)
    demos, prefs, _ = load_feedback(spec, env)
    model = build_model(spec, env, demos, prefs)
    evaluation = ReportToTune(eval_env, eval_freq=profile.eval_freq, n_eval_episodes=profile.eval_episodes)
    model.learn(profile.timesteps, callback=evaluation, tb_log_name=spec.name)
    env.close()
    eval_env.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tune",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--env", default="Hopper-v5", help="env with shipped datasets: Hopper-v5, HalfCheetah-v5, Walker2d-v5")
    add("--profile", choices=sorted(PROFILES), default="quick", help="the benchmark's preset (default: quick)")
    add("--samples", type=int, default=16, help="trials (default: 16)")
    add("--num-prefs", type=int, default=None, help="labelled segment pairs (default: the profile's first)")
    add("--seed", type=int, default=0, help="seed of every trial (default: 0)")
    add("--timesteps", type=int, default=None, help="env steps per trial (default: the profile's)")
    add("--eval-freq", type=int, default=None, help="env steps between evaluations, i.e. reports")
    add("--eval-episodes", type=int, default=None, help="episodes per evaluation")
    add("--scheduler", choices=["fifo", "asha"], default="fifo", help="asha stops poor trials early")
    add("--workers", type=int, default=None, help="trials at a time on a Ray instance started here")
    add("--device", default=None, help="torch device of the models: cpu, cuda or auto (default: cpu)")
    add("--ray-address", default=None, help="Ray cluster to join, e.g. auto (default: start Ray on this machine)")
    add("--gpus-per-run", type=float, default=0.0, help="GPUs each trial declares, e.g. 0.25 (default: 0)")
    add("--logdir", type=Path, default=None, help="output folder (default: runs/tune/<env>/<timestamp>)")
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Run the sweep; returns what ``best_config.json`` holds."""
    parser = build_parser()
    args = parser.parse_args(argv)
    profile = Profile(**asdict(PROFILES[args.profile]))
    for name in ("timesteps", "eval_freq", "eval_episodes", "workers", "device"):
        if getattr(args, name) is not None:
            setattr(profile, name, getattr(args, name))
    if args.samples < 1 or profile.eval_freq > profile.timesteps:
        parser.error("--samples must be at least 1 and --eval-freq at most --timesteps")
    try:
        ray = import_ray()
        from ray import tune
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search import BasicVariantGenerator
    except ImportError as error:
        parser.error(str(error))
    module = args.env.split("-")[0].lower()
    logdir = (args.logdir or Path("runs") / "tune" / module / datetime.now().strftime("%Y%m%d-%H%M%S")).resolve()
    logdir.mkdir(parents=True, exist_ok=True)
    num_prefs = args.num_prefs or profile.num_prefs[0]
    spec = RunSpec(args.env, "aihf", num_prefs, args.seed, profile, str(logdir))
    evaluations = profile.timesteps // profile.eval_freq
    scheduler = (
        ASHAScheduler(max_t=evaluations, grace_period=max(1, evaluations // 4)) if args.scheduler == "asha" else None
    )

    connected = init_ray(args.ray_address, profile.workers)
    try:
        trainable = tune.with_resources(
            tune.with_parameters(train_trial, spec=spec), {"cpu": 1, "gpu": args.gpus_per_run}
        )
        tuner = tune.Tuner(
            trainable,
            param_space=search_space(profile),
            tune_config=tune.TuneConfig(
                metric="final_return",
                mode="max",
                num_samples=args.samples,
                scheduler=scheduler,
                search_alg=BasicVariantGenerator(random_state=args.seed),  # the same trials for the same seed
            ),
            run_config=tune.RunConfig(
                name="tune", storage_path=str(logdir), failure_config=tune.FailureConfig(max_failures=1), verbose=1
            ),
        )
        results = tuner.fit()
    finally:
        if connected:
            ray.shutdown()

    failed = [str(result.path) for result in results if result.error is not None]
    if len(failed) == len(results):
        sys.exit(f"all {len(results)} trials failed; see {logdir / 'tune'}")
    best = results.get_best_result()
    results.get_dataframe().to_csv(logdir / "trials.csv", index=False)
    summary = {
        "env_id": args.env,
        "command": " ".join(["python -m benchmarks.tune", *(argv if argv is not None else sys.argv[1:])]),
        "config": best.config,
        "final_return": best.metrics["final_return"],
        "eval/true_return": best.metrics["eval/true_return"],
        "env_steps": best.metrics["env_steps"],
        "trial": str(best.path),
        "trials": len(results),
        "failed_trials": failed,
        "search_space": describe_search_space(profile),
        "profile": asdict(profile),
        "num_prefs": num_prefs,
        "seed": args.seed,
    }
    save_json_atomically(summary, logdir / "best_config.json")
    print(
        f"best of {len(results)} trials: {best.config} with final return {summary['final_return']:.1f}; "
        f"wrote {logdir / 'best_config.json'} and {logdir / 'trials.csv'}"
    )
    if failed:
        print(f"{len(failed)} trial(s) failed twice: {', '.join(failed)}", file=sys.stderr)
    return summary


if __name__ == "__main__":
    main()
