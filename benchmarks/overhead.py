"""Wall time per env step of AIHF against the same inner learner without reward learning.

Runs the inner learner (``--inner``: SB3's ``SAC``, sb3-contrib's ``TQC`` or ``CrossQ``; "SAC" below) and AIHF
on it (``AIHF``, ``AIHFTQC``, ``AIHFCrossQ``, with ``--demo-batch-fraction`` of every batch drawn from the
demonstrations) with the same settings (SB3's default networks unless ``--net-arch``),
alternately (SAC, AIHF, SAC, AIHF, ...: ``--repeats`` pairs, pair ``i`` seeded with ``--seed + i``, so that
machine drift hits both alike), in one process with one torch thread (reproducible CPU timings), and prints
the medians of their seconds per env step and the ratio AIHF/SAC (target: at most 1.15). Timed: from
``num_timesteps == --learning-starts`` (the random-action warm-up, the same for both, is over) to the end
of ``learn``, i.e. ``--steps`` env steps each followed by one gradient step; the whole ``learn`` is
reported too. For AIHF, where the extra time goes: inside ``model._update_reward`` (its Adam steps and
logged metrics) and inside the replay buffer's ``reward_fn`` (relabelling each sampled batch with r_θ);
the rest is AIHF's policy visiting other states (e.g. other episode lengths) and machine noise.

The feedback is SYNTHETIC: random observations and actions of the env's spaces (normal where a bound is
infinite) and random preference labels. It costs what real feedback of its size costs; the learned reward
means nothing. Only cost is measured.

Example::

    python -m benchmarks.overhead                       # defaults: Hopper-v5, 3000 timed steps, 2 repeats
    python -m benchmarks.overhead --steps 1000 --learning-starts 500 --repeats 1 --json overhead.json
    python -m benchmarks.overhead --inner crossq --net-arch 64 64
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import stable_baselines3
import torch
from gymnasium import spaces
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback

import aihf_control
from aihf_control import AIHF, AIHFTQC, AIHFCrossQ, Demonstrations, Preferences

TARGET_RATIO = 1.15
INNER = {"sac": (SAC, AIHF), "tqc": (TQC, AIHFTQC), "crossq": (CrossQ, AIHFCrossQ)}  # learner alone, AIHF on it
AIHF_DEFAULTS = {name: p.default for name, p in inspect.signature(AIHF.__init__).parameters.items()}
POSITIVE = ("steps", "learning_starts", "repeats", "num_demos", "num_prefs", "segment_length")
POSITIVE += ("alignment_steps", "reward_gradient_steps")


class Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as it is, and each option's default."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; see the module docstring.

    :param argv: the arguments without the program name; None reads ``sys.argv``
    """
    parser = argparse.ArgumentParser("python -m benchmarks.overhead", description=__doc__, formatter_class=Help)
    add, aihf = parser.add_argument, AIHF_DEFAULTS
    add("--env", default="Hopper-v5", help="gymnasium env id, continuous actions and flat observations")
    add("--steps", type=int, default=3000, help="timed env steps after --learning-starts, per run")
    add("--learning-starts", type=int, default=1000, help="random-action env steps first, not timed per step")
    add("--repeats", type=int, default=2, help="SAC/AIHF pairs, run alternately (ABAB); medians are reported")
    add("--seed", type=int, default=0, help="seed of the first pair and the synthetic feedback; pair i: seed + i")
    add("--net-arch", type=int, nargs="+", metavar="N", help="SAC's hidden sizes for both, e.g. 64 64; None: SB3's")
    add("--num-demos", type=int, default=10_000, help="synthetic demonstration transitions")
    add("--num-prefs", type=int, default=2_000, help="synthetic labelled segment pairs")
    add("--segment-length", type=int, default=50, help="steps per synthetic preference segment")
    add("--alignment-steps", type=int, default=aihf["alignment_steps"], help="AIHF's env steps per reward update")
    add("--reward-gradient-steps", type=int, default=aihf["reward_gradient_steps"], help="AIHF's Adam steps per update")
    add("--reward-net-arch", type=int, nargs="+", metavar="N", help="r_θ's hidden sizes; None: AIHF's default")
    add("--inner", choices=list(INNER), default="sac", help="the inner learner, alone and under AIHF")
    add("--demo-batch-fraction", type=float, default=aihf["demo_batch_fraction"], help="AIHF's demonstration share")
    add("--device", default="auto", help="torch device for both algorithms")
    add("--json", metavar="PATH", help="also write the results, configuration and versions as JSON to PATH")
    args = parser.parse_args(argv)
    for name in POSITIVE:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.net_arch is not None and any(n < 1 for n in args.net_arch):
        parser.error(f"--net-arch sizes must be positive, got {args.net_arch}")
    return args


def synthetic_feedback(
    env_id: str, num_demos: int, num_prefs: int, segment_length: int, seed: int
) -> tuple[Demonstrations, Preferences]:
    """Correctly shaped random demonstrations and preferences for ``env_id`` (cost only, no meaning): uniform
    between finite bounds of the env's spaces, standard normal where a bound is infinite.

    :param env_id: the env whose spaces the data has
    :param num_demos: demonstration transitions
    :param num_prefs: labelled segment pairs
    :param segment_length: steps per segment
    :param seed: seed of the random data
    """
    env = gym.make(env_id)
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(obs_space, spaces.Box) or not isinstance(act_space, spaces.Box):
        raise SystemExit(f"{env_id} needs Box observation and action spaces, got {obs_space} and {act_space}")
    rng = np.random.default_rng(seed)

    def sample(space: spaces.Box, *leading: int) -> np.ndarray:
        low = np.broadcast_to(space.low, space.shape).astype(np.float64)
        high = np.broadcast_to(space.high, space.shape).astype(np.float64)
        bounded = np.isfinite(low) & np.isfinite(high)
        uniform = rng.uniform(np.where(bounded, low, 0.0), np.where(bounded, high, 1.0), (*leading, *space.shape))
        return np.where(bounded, uniform, rng.standard_normal((*leading, *space.shape))).astype(np.float32)

    demos = Demonstrations(
        obs=sample(obs_space, num_demos),
        acts=sample(act_space, num_demos),
        next_obs=sample(obs_space, num_demos),
        dones=rng.random(num_demos) < 0.01,  # a few terminations, so the absorbing-state term is exercised
    )
    prefs = Preferences(
        obs_1=sample(obs_space, num_prefs, segment_length),
        acts_1=sample(act_space, num_prefs, segment_length),
        obs_2=sample(obs_space, num_prefs, segment_length),
        acts_2=sample(act_space, num_prefs, segment_length),
        labels=rng.integers(0, 2, num_prefs).astype(np.float32),
    )
    return demos, prefs


class Stopwatch:
    """Total seconds and number of calls of the functions it wraps."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn``, timed.

        :param fn: any function
        """

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        return timed


class LearningPhaseTimer(BaseCallback):
    """Times ``learn`` from the step at which ``num_timesteps`` reaches ``learning_starts`` to its end.

    In SB3's off-policy loop the first gradient step follows env step ``learning_starts + 1``, so the window
    holds exactly ``end_step - start_step`` env steps and as many ``train`` calls. The stopwatches start
    from zero with the window.

    :param learning_starts: env steps of the warm-up, left out
    :param stopwatches: stopwatches of the model's parts, reset when the window opens
    """

    def __init__(self, learning_starts: int, stopwatches: list[Stopwatch]) -> None:
        super().__init__()
        self.learning_starts, self.stopwatches = learning_starts, stopwatches
        self.start: float | None = None
        self.end: float | None = None
        self.start_step = self.end_step = 0

    def _on_step(self) -> bool:
        if self.start is None and self.num_timesteps >= self.learning_starts:
            for watch in self.stopwatches:
                watch.seconds, watch.calls = 0.0, 0
            self.start_step, self.start = self.num_timesteps, time.perf_counter()
        return True

    def _on_training_end(self) -> None:
        self.end, self.end_step = time.perf_counter(), self.num_timesteps


@dataclass
class RunResult:
    """The times of one run (one line of the JSON's ``runs``)."""

    algo: str
    repeat: int
    seed: int
    learn_seconds: float  # the whole model.learn call, warm-up included
    timed_steps: int
    timed_seconds: float
    seconds_per_step: float
    reward_updates: int = 0
    reward_update_seconds: float = 0.0  # inside model._update_reward (Adam steps + logged metrics)
    reward_metrics_seconds: float = 0.0  # of which in model._log_reward_metrics
    relabel_calls: int = 0
    relabel_seconds: float = 0.0  # inside replay_buffer.reward_fn


def run_once(
    algo: str, args: argparse.Namespace, repeat: int, feedback: tuple[Demonstrations, Preferences]
) -> RunResult:
    """Build a fresh model, learn ``learning_starts + steps`` env steps, and time the learning phase.

    :param algo: ``"SAC"`` or ``"AIHF"``
    :param args: the command line
    :param repeat: index of the pair; the seed is ``args.seed + repeat``
    :param feedback: AIHF's demonstrations and preferences
    """
    seed = args.seed + repeat
    sac_kwargs: dict[str, Any] = {
        "learning_starts": args.learning_starts,
        "seed": seed,
        "device": args.device,
        "verbose": 0,
        "policy_kwargs": {"net_arch": list(args.net_arch)} if args.net_arch else None,
    }
    update, metrics, relabel = Stopwatch(), Stopwatch(), Stopwatch()
    inner_cls, aihf_cls = INNER[args.inner]
    if algo == "SAC":
        model = inner_cls("MlpPolicy", args.env, **sac_kwargs)
    else:
        demos, prefs = feedback
        model = aihf_cls(
            "MlpPolicy",
            args.env,
            demonstrations=demos,
            preferences=prefs,
            alignment_steps=args.alignment_steps,
            reward_gradient_steps=args.reward_gradient_steps,
            demo_batch_fraction=args.demo_batch_fraction,
            **({"reward_net_arch": list(args.reward_net_arch)} if args.reward_net_arch else {}),
            **sac_kwargs,
        )
        # Instance attributes shadow the methods, so AIHF.train calls the timed versions.
        model._update_reward = update.wrap(model._update_reward)
        model._log_reward_metrics = metrics.wrap(model._log_reward_metrics)
        model.replay_buffer.set_reward_fn(relabel.wrap(model.replay_buffer.reward_fn))

    timer = LearningPhaseTimer(args.learning_starts, [update, metrics, relabel])
    start = time.perf_counter()
    model.learn(args.learning_starts + args.steps, callback=timer)
    learn_seconds = time.perf_counter() - start
    if timer.start is None or timer.end is None or timer.end_step <= timer.start_step:
        raise RuntimeError(f"{algo} run {repeat}: the learning phase was never reached or is empty")
    timed_steps, timed_seconds = timer.end_step - timer.start_step, timer.end - timer.start
    return RunResult(
        algo=algo,
        repeat=repeat,
        seed=seed,
        learn_seconds=learn_seconds,
        timed_steps=timed_steps,
        timed_seconds=timed_seconds,
        seconds_per_step=timed_seconds / timed_steps,
        reward_updates=int(getattr(model, "reward_updates", 0)),
        reward_update_seconds=update.seconds,
        reward_metrics_seconds=metrics.seconds,
        relabel_calls=relabel.calls,
        relabel_seconds=relabel.seconds,
    )


def system() -> dict[str, Any]:
    """The machine and the versions, for the JSON."""
    cpu_model = platform.processor() or platform.machine()  # often empty on Linux: /proc/cpuinfo says more
    if os.path.isfile("/proc/cpuinfo"):
        names = [line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")]
        cpu_model = names[0] if names else cpu_model
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "torch_num_threads": torch.get_num_threads(),
        **{m.__name__: m.__version__ for m in (torch, stable_baselines3, gym, mujoco, np, aihf_control)},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time the runs, print the table; returns the summary (also written with ``--json``).

    :param argv: the arguments without the program name; None reads ``sys.argv``
    """
    torch.set_num_threads(1)  # reproducible CPU timings (see the module docstring), before any torch work
    args = parse_args(argv)
    print(
        f"AIHF overhead benchmark on {args.env}: {args.steps} timed steps after {args.learning_starts} warm-up steps, "
        f"{args.repeats} {args.inner}/AIHF pair(s), net_arch={args.net_arch or 'SB3 default'}, "
        f"demo_batch_fraction={args.demo_batch_fraction}, "
        f"alignment_steps={args.alignment_steps}, reward_gradient_steps={args.reward_gradient_steps}"
    )
    print(
        f"feedback: SYNTHETIC (random, correctly shaped; cost only) — {args.num_demos} demo transitions, "
        f"{args.num_prefs} preference pairs of {args.segment_length} steps"
    )
    feedback = synthetic_feedback(args.env, args.num_demos, args.num_prefs, args.segment_length, args.seed)

    # ABAB: alternate the algorithms so that machine noise and drift hit both alike.
    results: list[RunResult] = []
    for repeat in range(args.repeats):
        for algo in ("SAC", "AIHF"):
            result = run_once(algo, args, repeat, feedback)
            results.append(result)
            line = (
                f"  run {repeat} {algo:<4}: {result.seconds_per_step * 1e3:7.2f} ms/step over {result.timed_steps} "
                f"steps (learn() total {result.learn_seconds:6.1f} s)"
            )
            if algo == "AIHF":
                line += (
                    f", {result.reward_updates} reward updates {result.reward_update_seconds:.2f} s, "
                    f"relabelling {result.relabel_seconds:.2f} s; AIHF/SAC of this pair "
                    f"{result.seconds_per_step / results[-2].seconds_per_step:.3f}"
                )
            print(line, flush=True)

    sac = [r for r in results if r.algo == "SAC"]
    aihf = [r for r in results if r.algo == "AIHF"]

    def median(runs: list[RunResult], key: Callable[[RunResult], float]) -> float:
        return float(statistics.median(key(r) for r in runs))

    sac_step = median(sac, lambda r: r.seconds_per_step)
    aihf_step = median(aihf, lambda r: r.seconds_per_step)
    ratio = aihf_step / sac_step
    update_step = median(aihf, lambda r: r.reward_update_seconds / r.timed_steps)
    metrics_step = median(aihf, lambda r: r.reward_metrics_seconds / r.timed_steps)
    relabel_step = median(aihf, lambda r: r.relabel_seconds / r.timed_steps)
    updates = median(aihf, lambda r: r.reward_updates)
    seconds_per_update = median(aihf, lambda r: r.reward_update_seconds / max(r.reward_updates, 1))
    remainder_step = aihf_step - sac_step - update_step - relabel_step
    # Less noisy than the ratio of wall times: SAC's time plus what AIHF measurably adds to it.
    accounted_ratio = (sac_step + update_step + relabel_step) / sac_step

    def row(name: str, seconds_per_step: float, note: str = "") -> str:
        return f"{name:<38}{seconds_per_step * 1e3:>10.3f}{seconds_per_step / aihf_step:>10.1%}  {note}"

    print()
    print(f"{'median over ' + str(args.repeats) + ' run(s) each':<38}{'ms/step':>10}{'of AIHF':>10}")
    print(row(f"{args.inner} alone", sac_step))
    print(row("AIHF", aihf_step))
    print(
        row("  reward updates (_update_reward)", update_step, f"{updates:g} updates, {seconds_per_update:.3f} s each")
    )
    print(row("    of which logged metrics", metrics_step))
    print(row("  relabelling (replay_buffer.reward_fn)", relabel_step))
    print(row("  rest (AIHF - SAC - above)", remainder_step, "other states visited + noise"))
    print(f"ratio AIHF/SAC: {ratio:.3f} (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})")
    print(f"ratio from the measured AIHF-only costs, (SAC + reward updates + relabelling) / SAC: {accounted_ratio:.3f}")
    print("feedback was synthetic: these numbers measure cost only, not learning")

    summary = {
        "sac_seconds_per_step": sac_step,
        "aihf_seconds_per_step": aihf_step,
        "ratio": ratio,
        "pair_ratios": [a.seconds_per_step / s.seconds_per_step for s, a in zip(sac, aihf, strict=True)],
        "accounted_ratio": accounted_ratio,
        "target_ratio": TARGET_RATIO,
        "target_met": ratio <= TARGET_RATIO,
        "aihf_reward_updates": updates,
        "aihf_seconds_per_reward_update": seconds_per_update,
        "aihf_reward_update_seconds_per_step": update_step,
        "aihf_reward_metrics_seconds_per_step": metrics_step,
        "aihf_relabel_seconds_per_step": relabel_step,
        "aihf_rest_seconds_per_step": remainder_step,
    }
    if args.json:
        defaults = ("alignment_steps", "reward_gradient_steps")
        report = {
            "benchmark": "aihf_overhead",
            "feedback": "synthetic (random observations/actions from the env's spaces, random preference labels)",
            "config": {
                **vars(args),
                "aihf_defaults_used": {k: AIHF_DEFAULTS[k] for k in defaults if getattr(args, k) == AIHF_DEFAULTS[k]},
                "timed_window": "from num_timesteps == learning_starts to the end of learn()",
                "order": "ABAB: SAC then AIHF, per repeat; repeat i seeded with seed + i",
            },
            "system": system(),
            "runs": [asdict(r) for r in results],
            "summary": summary,
        }
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"results written to {args.json}")
    return summary


if __name__ == "__main__":
    main()
