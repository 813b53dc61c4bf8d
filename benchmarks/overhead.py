"""Wall-time overhead of AIHF over plain Stable-Baselines3 SAC, per env step.

Runs ``SAC`` and ``AIHF`` on the same env, for the same number of steps, with the same SAC
settings (SB3's default networks unless ``--net-arch`` is given), in the same process, and
prints the ratio of their seconds per env step. The target is a ratio of at most 1.15.

Only the learning phase is compared: a callback records ``time.perf_counter()`` when
``num_timesteps`` reaches ``--learning-starts`` (the random-action warm-up, identical for both
algorithms, is over) and again when ``learn`` ends, so the per-step time covers ``--steps``
env steps each followed by one SAC gradient step (and, for AIHF, the reward relabelling of
every sampled batch and a reward update every ``alignment_steps`` env steps). The total
``learn`` time, warm-up included, is reported as well.

Runs alternate SAC, AIHF, SAC, AIHF, ... (``--repeats`` pairs, pair ``i`` seeded with
``--seed + i``) so that slow drifts of the machine hit both algorithms alike; the median
per-step time of each algorithm is reported. For AIHF the script also reports where the
extra time goes: time inside ``model._update_reward`` (the reward's Adam steps and its
logged metrics) and time inside the replay buffer's ``reward_fn`` (relabelling each sampled
batch with r_θ).

The feedback data is SYNTHETIC: demonstrations are random observations and actions drawn
from the env's spaces (normal where a bound is infinite, uniform otherwise), preferences are
random segments with random 0/1 labels. They have the shapes and sizes of real feedback, so
the cost is that of real feedback, but the learned reward and the policy are meaningless.
Only cost is measured. (The AIHF policy therefore visits different states than SAC's, e.g.
episodes of other lengths; that, and machine noise, is what remains of the difference after
the reward updates and the relabelling are accounted for.)

``torch.set_num_threads(1)`` is called first: on CPU, PyTorch's intra-op thread pool makes
small-network timings depend on the number of cores and on whatever else runs on the
machine; one thread makes the benchmark reproducible and the ratio comparable across machines.

Example::

    python -m benchmarks.overhead                       # defaults: Hopper-v5, 3000 timed steps, 2 repeats
    python -m benchmarks.overhead --steps 1000 --learning-starts 500 --repeats 1 --json overhead.json
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
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback

import aihf_control
from aihf_control import AIHF, Demonstrations, Preferences

TARGET_RATIO = 1.15
AIHF_DEFAULTS = {name: p.default for name, p in inspect.signature(AIHF.__init__).parameters.items()}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.overhead",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--env",
        default="Hopper-v5",
        help="gymnasium env id, continuous actions and flat observations (default: %(default)s)",
    )
    add(
        "--steps",
        type=int,
        default=3000,
        help="timed env steps after --learning-starts, per run (default: %(default)s)",
    )
    add(
        "--learning-starts",
        type=int,
        default=1000,
        help="env steps of random actions before learning starts, not in the per-step time (default: %(default)s)",
    )
    add(
        "--repeats",
        type=int,
        default=2,
        help="SAC/AIHF pairs, run alternately (ABAB); medians are reported (default: %(default)s)",
    )
    add(
        "--seed",
        type=int,
        default=0,
        help="seed of the first pair and of the synthetic feedback; pair i uses seed + i (default: %(default)s)",
    )
    add(
        "--net-arch",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="hidden sizes of SAC's actor and critics for both algorithms, e.g. --net-arch 64 64 "
        "(default: SB3's SAC default); the AIHF reward net keeps its own architecture",
    )
    add("--num-demos", type=int, default=10_000, help="synthetic demonstration transitions (default: %(default)s)")
    add("--num-prefs", type=int, default=2_000, help="synthetic labelled segment pairs (default: %(default)s)")
    add("--segment-length", type=int, default=50, help="steps per synthetic preference segment (default: %(default)s)")
    add(
        "--alignment-steps",
        type=int,
        default=AIHF_DEFAULTS["alignment_steps"],
        help="AIHF alignment_steps: env steps between reward updates (default: AIHF's default, %(default)s)",
    )
    add(
        "--reward-gradient-steps",
        type=int,
        default=AIHF_DEFAULTS["reward_gradient_steps"],
        help="AIHF reward_gradient_steps: Adam steps per reward update (default: AIHF's default, %(default)s)",
    )
    add("--device", default="auto", help="torch device for both algorithms (default: %(default)s)")
    add(
        "--json",
        default=None,
        metavar="PATH",
        help="also write the results, configuration and versions as JSON to PATH",
    )
    args = parser.parse_args(argv)
    for name in (
        "steps",
        "learning_starts",
        "repeats",
        "num_demos",
        "num_prefs",
        "segment_length",
        "alignment_steps",
        "reward_gradient_steps",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.net_arch is not None and any(n < 1 for n in args.net_arch):
        parser.error(f"--net-arch sizes must be positive, got {args.net_arch}")
    return args


def sample_box(space: spaces.Box, leading_shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random points of a Box: uniform between finite bounds, standard normal where a bound is infinite."""
    low = np.broadcast_to(space.low, space.shape).astype(np.float64)
    high = np.broadcast_to(space.high, space.shape).astype(np.float64)
    bounded = np.isfinite(low) & np.isfinite(high)
    uniform = rng.uniform(np.where(bounded, low, 0.0), np.where(bounded, high, 1.0), (*leading_shape, *space.shape))
    normal = rng.standard_normal((*leading_shape, *space.shape))
    return np.where(bounded, uniform, normal).astype(np.float32)


def synthetic_feedback(
    env_id: str, num_demos: int, num_prefs: int, segment_length: int, seed: int
) -> tuple[Demonstrations, Preferences]:
    """Correctly shaped random demonstrations and preferences for ``env_id`` (cost only, no meaning)."""
    env = gym.make(env_id)
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(obs_space, spaces.Box) or not isinstance(act_space, spaces.Box):
        raise SystemExit(f"{env_id} needs Box observation and action spaces, got {obs_space} and {act_space}")
    rng = np.random.default_rng(seed)
    demos = Demonstrations(
        obs=sample_box(obs_space, (num_demos,), rng),
        acts=sample_box(act_space, (num_demos,), rng),
        next_obs=sample_box(obs_space, (num_demos,), rng),
        dones=rng.random(num_demos) < 0.01,  # a few terminations, so the absorbing-state term is exercised
    )
    seg = (num_prefs, segment_length)
    prefs = Preferences(
        obs_1=sample_box(obs_space, seg, rng),
        acts_1=sample_box(act_space, seg, rng),
        obs_2=sample_box(obs_space, seg, rng),
        acts_2=sample_box(act_space, seg, rng),
        labels=rng.integers(0, 2, num_prefs).astype(np.float32),
    )
    return demos, prefs


def cpu_model() -> str:
    """The CPU's model name (``platform.processor()`` is often empty on Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass
class Stopwatch:
    """Total time and number of calls of the functions it wraps."""

    seconds: float = 0.0
    calls: int = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        return timed

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0


class LearningPhaseTimer(BaseCallback):
    """Records the time when ``num_timesteps`` reaches ``learning_starts`` and when ``learn`` ends.

    In SB3's off-policy loop the first gradient step follows env step ``learning_starts + 1``,
    so the timed window holds exactly ``end_step - start_step`` env steps and as many
    ``train`` calls. ``on_start`` runs when the window opens (used to reset the stopwatches).
    """

    def __init__(self, learning_starts: int, on_start: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.learning_starts = learning_starts
        self.on_start = on_start
        self.start: float | None = None
        self.end: float | None = None
        self.start_step = 0
        self.end_step = 0

    def _on_step(self) -> bool:
        if self.start is None and self.num_timesteps >= self.learning_starts:
            if self.on_start is not None:
                self.on_start()
            self.start_step = self.num_timesteps
            self.start = time.perf_counter()
        return True

    def _on_training_end(self) -> None:
        self.end = time.perf_counter()
        self.end_step = self.num_timesteps


@dataclass
class RunResult:
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
    """Build a fresh model, learn ``learning_starts + steps`` env steps, and time the learning phase."""
    seed = args.seed + repeat
    sac_kwargs: dict[str, Any] = {
        "learning_starts": args.learning_starts,
        "seed": seed,
        "device": args.device,
        "verbose": 0,
        "policy_kwargs": {"net_arch": list(args.net_arch)} if args.net_arch else None,
    }
    update_watch, metrics_watch, relabel_watch = Stopwatch(), Stopwatch(), Stopwatch()
    if algo == "SAC":
        model: SAC = SAC("MlpPolicy", args.env, **sac_kwargs)
    else:
        demos, prefs = feedback
        model = AIHF(
            "MlpPolicy",
            args.env,
            demonstrations=demos,
            preferences=prefs,
            alignment_steps=args.alignment_steps,
            reward_gradient_steps=args.reward_gradient_steps,
            **sac_kwargs,
        )
        # Instance attributes shadow the methods, so AIHF.train calls the timed versions.
        model._update_reward = update_watch.wrap(model._update_reward)
        model._log_reward_metrics = metrics_watch.wrap(model._log_reward_metrics)
        model.replay_buffer.set_reward_fn(relabel_watch.wrap(model.replay_buffer.reward_fn))

    def reset_watches() -> None:
        for watch in (update_watch, metrics_watch, relabel_watch):
            watch.reset()

    timer = LearningPhaseTimer(args.learning_starts, on_start=reset_watches)
    start = time.perf_counter()
    model.learn(args.learning_starts + args.steps, callback=timer)
    learn_seconds = time.perf_counter() - start
    if timer.start is None or timer.end is None or timer.end_step <= timer.start_step:
        raise RuntimeError(f"{algo} run {repeat}: the learning phase was never reached or is empty")
    timed_steps = timer.end_step - timer.start_step
    timed_seconds = timer.end - timer.start
    return RunResult(
        algo=algo,
        repeat=repeat,
        seed=seed,
        learn_seconds=learn_seconds,
        timed_steps=timed_steps,
        timed_seconds=timed_seconds,
        seconds_per_step=timed_seconds / timed_steps,
        reward_updates=int(getattr(model, "reward_updates", 0)),
        reward_update_seconds=update_watch.seconds,
        reward_metrics_seconds=metrics_watch.seconds,
        relabel_calls=relabel_watch.calls,
        relabel_seconds=relabel_watch.seconds,
    )


if __name__ == "__main__":
    # Reproducible CPU timings: one intra-op thread (see the module docstring). Set before any torch work.
    torch.set_num_threads(1)
    args = parse_args()

    print(
        f"AIHF overhead benchmark on {args.env}: {args.steps} timed steps after {args.learning_starts} warm-up steps, "
        f"{args.repeats} SAC/AIHF pair(s), net_arch={args.net_arch or 'SB3 default'}, "
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
                pair_ratio = result.seconds_per_step / results[-2].seconds_per_step
                line += (
                    f", {result.reward_updates} reward updates {result.reward_update_seconds:.2f} s, "
                    f"relabelling {result.relabel_seconds:.2f} s; AIHF/SAC of this pair {pair_ratio:.3f}"
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
    print(row("SAC", sac_step))
    print(row("AIHF", aihf_step))
    print(
        row("  reward updates (_update_reward)", update_step, f"{updates:g} updates, {seconds_per_update:.3f} s each")
    )
    print(row("    of which logged metrics", metrics_step))
    print(row("  relabelling (replay_buffer.reward_fn)", relabel_step))
    print(row("  rest (AIHF - SAC - above)", remainder_step, "other states visited + noise"))
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    print(f"ratio AIHF/SAC: {ratio:.3f} (target <= {TARGET_RATIO}: {verdict})")
    print(f"ratio from the measured AIHF-only costs, (SAC + reward updates + relabelling) / SAC: {accounted_ratio:.3f}")
    print("feedback was synthetic: these numbers measure cost only, not learning")

    if args.json:
        report = {
            "benchmark": "aihf_overhead",
            "feedback": "synthetic (random observations/actions from the env's spaces, random preference labels)",
            "config": {
                **vars(args),
                "aihf_defaults_used": {
                    k: AIHF_DEFAULTS[k]
                    for k in ("alignment_steps", "reward_gradient_steps")
                    if getattr(args, k) == AIHF_DEFAULTS[k]
                },
                "timed_window": "from num_timesteps == learning_starts to the end of learn()",
                "order": "ABAB: SAC then AIHF, per repeat; repeat i seeded with seed + i",
            },
            "system": {
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "processor": platform.processor(),
                "cpu_model": cpu_model(),
                "cpu_count": os.cpu_count(),
                "torch": torch.__version__,
                "torch_num_threads": torch.get_num_threads(),
                "stable_baselines3": stable_baselines3.__version__,
                "gymnasium": gym.__version__,
                "mujoco": mujoco.__version__,
                "numpy": np.__version__,
                "aihf_control": aihf_control.__version__,
            },
            "runs": [asdict(r) for r in results],
            "summary": {
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
            },
        }
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"results written to {args.json}")
