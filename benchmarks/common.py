"""Shared code of ``python -m benchmarks.hopper`` (and halfcheetah, walker2d): AIHF against its ablations,
RLHF, IPL, BC and SAC on the true reward, on the shipped Minari datasets.

For each method, number of preferences and seed, one run: the feedback is loaded (demonstrations from
``aihf/<env>/expert-v0``, preference segments cut from ``aihf/<env>/mixed-v0`` and labelled by a scripted
teacher on the true reward), the model learns for ``--timesteps`` env steps and its true return is
evaluated every ``--eval-freq`` steps. Each run writes a TensorBoard run; at the end the folder holds
``results.json`` (per run: the curve of true return against env steps and wall time, the final return
(mean of the last 3 evaluations), the mean over the last third of the curve, the normalised score (0 =
random policy, 100 = demonstrator, from the dataset's reference scores), env steps and seconds until the
score first reaches 90, env steps per second; and the exact configuration and versions),
``comparison.png`` (mean ± std over seeds) and ``results.md`` (the table printed at the end); each run's
final model is in ``models/<run>.zip`` and a 3 s video of its policy in ``videos/<run>.mp4`` (``--no-video``
skips the videos; ``python -m aihf_control.play`` replays a model).
``python -m benchmarks.compare RUN_DIR...`` redraws both from earlier runs. The env's true reward is used for evaluation
and by the synthetic teacher only, except by ``sac-true``, the ceiling.

Methods:
  aihf         AIHF: reward from demonstrations and preferences jointly, SAC from random init
  aihf-demos   ablation: demonstrations only (preference term off: ML-IRL)
  aihf-prefs   ablation: preferences only (demo term off), from random init
  rlhf         RLHF: BC init on the demonstrations, Bradley-Terry reward from preferences, SAC
  ipl          IPL: BC init, implicit reward Q - γV(s') fitted to preferences (no reward net)
  bc           behaviour cloning of SAC's actor on the demonstrations (no env steps: a flat line)
  sac-true     SAC on the env's true reward: the ceiling
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from benchmarks.executors import EXECUTORS, import_ray, run_all

METHODS = ("aihf", "aihf-demos", "aihf-prefs", "rlhf", "ipl", "bc", "sac-true")
USES_PREFERENCES = {"aihf", "aihf-prefs", "rlhf", "ipl"}
USES_DEMONSTRATIONS = {"aihf", "aihf-demos", "rlhf", "ipl", "bc"}
TEACHERS = ("oracle", "stochastic", "mistake", "myopic", "skip", "equal")
FINAL_EVALS = 3  # the final return of a run is the mean of its last FINAL_EVALS evaluations


@dataclass
class Profile:
    """Everything a benchmark run needs besides the env; the command-line options override any field."""

    timesteps: int
    seeds: list[int]
    num_demos: int
    num_prefs: list[int]
    eval_freq: int
    eval_episodes: int
    learning_starts: int
    net_arch: list[int]
    alignment_steps: int
    reward_gradient_steps: int
    reward_learning_rate: float
    bc_steps: int
    workers: int
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    teacher: str = "oracle"
    segment_length: int = 50
    preference_weight: float = 1.0  # aihf's weight of the preference term (the demonstration term's is 1)
    device: str = "cpu"
    checkpoint_freq: int = 0  # env steps between checkpoints of a run in progress (0: none)
    video: bool = True  # a video of each run's final policy in <logdir>/videos/
    video_seconds: float = 3.0


PROFILES = {
    # Seconds per method: checks that everything runs end to end (a CI test uses it), learns nothing.
    "smoke": Profile(
        timesteps=1_200,
        seeds=[0],
        num_demos=1_000,
        num_prefs=[100],
        eval_freq=600,
        eval_episodes=1,
        learning_starts=400,
        net_arch=[32, 32],
        alignment_steps=400,
        reward_gradient_steps=2,
        reward_learning_rate=3e-4,
        bc_steps=100,
        workers=1,
        video=False,  # keeps the CI test quick (Hopper renders ~0.1 s a frame on a CPU); --video turns it on
        video_seconds=0.5,
    ),
    # About 15 minutes on 2 CPU cores: all methods, one seed, two runs at a time.
    "quick": Profile(
        timesteps=30_000,
        seeds=[0],
        num_demos=10_000,
        num_prefs=[2_000],
        eval_freq=3_000,
        eval_episodes=5,
        learning_starts=2_000,
        net_arch=[64, 64],
        alignment_steps=1_000,
        reward_gradient_steps=20,
        reward_learning_rate=3e-4,
        bc_steps=2_000,
        workers=2,
        checkpoint_freq=10_000,
    ),
    # The AIHF paper's protocol: 10k demonstration transitions, 20k preferences, 3 seeds, a policy
    # alignment of 5k SAC steps with 5 reward steps at lr 1e-4 (SAC not reset), SB3's default networks.
    "paper": Profile(
        timesteps=300_000,
        seeds=[0, 1, 2],
        num_demos=10_000,
        num_prefs=[20_000],
        eval_freq=10_000,
        eval_episodes=10,
        learning_starts=5_000,
        net_arch=[256, 256],
        alignment_steps=5_000,
        reward_gradient_steps=5,
        reward_learning_rate=1e-4,
        bc_steps=10_000,
        workers=2,
        checkpoint_freq=20_000,
    ),
}


def build_parser(env_id: str) -> argparse.ArgumentParser:
    module = env_id.split("-")[0].lower()
    parser = argparse.ArgumentParser(
        prog=f"python -m benchmarks.{module}",
        description=f"Compare AIHF, its ablations, RLHF, IPL, BC and SAC on the true reward on {env_id}.\n\n"
        + __doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--profile", choices=sorted(PROFILES), default="quick", help="preset of every option below (default: quick)")
    add("--methods", nargs="+", choices=METHODS, default=None, help="methods to run (default: all)")
    add("--seeds", nargs="+", type=int, default=None, help="seeds, one run each (profile: smoke/quick 0, paper 0 1 2)")
    add("--timesteps", type=int, default=None, help="env steps per run (profile: 1200 / 30000 / 300000)")
    add("--num-demos", type=int, default=None, help="demonstration transitions (profile: 1000 / 10000 / 10000)")
    add(
        "--num-prefs",
        nargs="+",
        type=int,
        default=None,
        help="labelled segment pairs; several values run the preference-scarcity sweep, e.g. 500 2000 20000 "
        "(profile: 100 / 2000 / 20000)",
    )
    add("--teacher", choices=TEACHERS, default=None, help="scripted teacher of the preferences (default: oracle)")
    add("--eval-freq", type=int, default=None, help="env steps between evaluations of the true return")
    add("--eval-episodes", type=int, default=None, help="episodes per evaluation")
    add("--workers", type=int, default=None, help="runs at a time, one process and one CPU thread each")
    add("--device", default=None, help="torch device of every model: cpu, cuda or auto (default: cpu)")
    add("--logdir", type=Path, default=None, help=f"output folder (default: runs/{module}/<timestamp>)")
    add(
        "--checkpoint-freq",
        type=int,
        default=None,
        help="env steps between checkpoints of each run in progress, 0 for none (profile: 0 / 10000 / 20000)",
    )
    add(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="go on with an interrupted benchmark, with the options it was started with: finished runs are "
        "kept, runs in progress continue from their last checkpoint",
    )
    add(
        "--video",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="a video of each run's final policy in <logdir>/videos/; --no-video skips it (profile: off in smoke)",
    )
    add("--executor", choices=EXECUTORS, default="local", help="local: this machine; ray: one Ray task per run")
    add("--ray-address", default=None, help="Ray cluster to join, e.g. auto (default: start Ray on this machine)")
    add("--gpus-per-run", type=float, default=0.0, help="GPUs each Ray task declares, e.g. 0.25 (default: 0)")
    return parser


def resolve_profile(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Profile:
    profile = Profile(**asdict(PROFILES[args.profile]))
    for name in ("methods", "seeds", "timesteps", "num_demos", "num_prefs", "teacher", "eval_freq", "eval_episodes"):
        if getattr(args, name) is not None:
            setattr(profile, name, getattr(args, name))
    for name in ("workers", "device", "video", "checkpoint_freq"):
        if getattr(args, name) is not None:
            setattr(profile, name, getattr(args, name))
    for name in ("timesteps", "num_demos", "eval_freq", "eval_episodes", "workers"):
        if getattr(profile, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(profile, name)}")
    if profile.checkpoint_freq < 0:
        parser.error(f"--checkpoint-freq must be 0 (no checkpoints) or positive, got {profile.checkpoint_freq}")
    if min(profile.num_prefs) < 1:
        parser.error(f"--num-prefs must be at least 1, got {profile.num_prefs}")
    if profile.eval_freq > profile.timesteps:
        parser.error(
            f"--eval-freq {profile.eval_freq} is above --timesteps {profile.timesteps}: nothing would be evaluated"
        )
    if args.executor == "ray":
        try:
            import_ray()
        except ImportError as error:
            parser.error(f"--executor ray: {error}")
    elif args.ray_address is not None or args.gpus_per_run:
        parser.error("--ray-address and --gpus-per-run need --executor ray")
    return profile


@dataclass(frozen=True)
class RunSpec:
    env_id: str
    method: str
    num_prefs: int | None  # None for methods that use no preferences
    seed: int
    profile: Profile
    logdir: str

    @property
    def name(self) -> str:
        prefs = "" if self.num_prefs is None else f"_prefs{self.num_prefs}"
        return f"{self.method}{prefs}_seed{self.seed}"


def run_specs(env_id: str, profile: Profile, logdir: Path) -> list[RunSpec]:
    specs = []
    for method in profile.methods:
        for num_prefs in profile.num_prefs if method in USES_PREFERENCES else [None]:
            for seed in profile.seeds:
                specs.append(RunSpec(env_id, method, num_prefs, seed, profile, str(logdir)))
    return specs


def load_feedback(spec: RunSpec, env: gym.Env) -> tuple[Any, Any, dict]:
    """Demonstrations and preferences of one run from the shipped datasets (seeded by the run's seed)."""
    from aihf_control.data import (
        ScriptedTeacher,
        cut_segments,
        default_dataset_id,
        generate_preferences,
        load_demonstrations,
        load_local_dataset,
        load_trajectories,
    )

    profile, demos, prefs = spec.profile, None, None
    expert_id, mixed_id = default_dataset_id(spec.env_id, "expert"), default_dataset_id(spec.env_id, "mixed")
    if spec.method in USES_DEMONSTRATIONS:
        demos = load_demonstrations(expert_id, env=env, num_transitions=profile.num_demos, seed=spec.seed)
    if spec.num_prefs is not None:
        pool = load_trajectories(mixed_id, env=env)
        overrides: dict[str, Any] = {}
        if profile.teacher in ("skip", "equal"):  # thresholds relative to the pool's segment returns
            segment_rewards = cut_segments(pool, profile.segment_length, 1_000, np.random.default_rng(spec.seed))[2]
            overrides["reference_returns"] = segment_rewards.sum(axis=1)
        teacher = ScriptedTeacher.named(profile.teacher, **overrides)
        prefs = generate_preferences(pool, spec.num_prefs, teacher, profile.segment_length, seed=spec.seed)
    metadata = load_local_dataset(expert_id).storage.metadata
    refs = {"demonstrator": metadata.get("ref_max_score"), "random": metadata.get("ref_min_score")}
    return demos, prefs, refs


def build_model(spec: RunSpec, env: gym.Env, demos: Any, prefs: Any) -> Any:
    from stable_baselines3 import SAC

    from aihf_control import AIHF, BC, IPL, RLHF

    p = spec.profile
    sac = dict(
        learning_starts=p.learning_starts,
        policy_kwargs=dict(net_arch=p.net_arch),
        seed=spec.seed,
        device=p.device,
        tensorboard_log=str(Path(spec.logdir) / "tensorboard"),
    )
    reward = dict(
        alignment_steps=p.alignment_steps,
        reward_gradient_steps=p.reward_gradient_steps,
        reward_learning_rate=p.reward_learning_rate,
        reward_net_arch=p.net_arch,
    )
    bc = dict(bc_steps=p.bc_steps)
    if spec.method == "aihf":
        weights = dict(preference_weight=p.preference_weight)
        return AIHF("MlpPolicy", env, demonstrations=demos, preferences=prefs, **weights, **reward, **sac)
    if spec.method == "aihf-demos":
        return AIHF("MlpPolicy", env, demonstrations=demos, **reward, **sac)
    if spec.method == "aihf-prefs":
        return AIHF("MlpPolicy", env, preferences=prefs, demo_weight=0.0, **reward, **sac)
    if spec.method == "rlhf":
        return RLHF("MlpPolicy", env, demos, prefs, **bc, **reward, **sac)
    if spec.method == "ipl":
        return IPL("MlpPolicy", env, prefs, demos, **bc, **sac)
    if spec.method == "bc":
        sac.pop("learning_starts")
        return BC("MlpPolicy", env, demonstrations=demos, **sac)
    if spec.method == "sac-true":
        return SAC("MlpPolicy", env, **sac)
    raise ValueError(f"unknown method {spec.method!r}")


def resume_model(spec: RunSpec, checkpoint: Path, env: gym.Env, demos: Any, prefs: Any) -> Any:
    """The model of a run in progress, from its last checkpoint (the feedback is rebuilt from the seed)."""
    from stable_baselines3 import SAC

    from aihf_control import AIHF, IPL, RLHF, load_checkpoint

    if spec.method in ("aihf", "aihf-demos", "aihf-prefs"):
        return load_checkpoint(AIHF, checkpoint, env, demonstrations=demos, preferences=prefs)
    if spec.method == "rlhf":  # its BC start is done and recorded in the checkpoint
        return load_checkpoint(RLHF, checkpoint, env, preferences=prefs)
    if spec.method == "ipl":
        model = load_checkpoint(IPL, checkpoint, env)
        model.set_preferences(prefs)
        return model
    return load_checkpoint(SAC, checkpoint, env)


def run_one(spec: RunSpec) -> dict:
    """Train and evaluate one (method, number of preferences, seed); runs in a worker process."""
    import torch

    from aihf_control import ResumableCheckpointCallback, TrueReturnEvalCallback
    from aihf_control.sb3 import latest_checkpoint, read_checkpoint_state
    from aihf_control.video import record_video  # first: it sets MUJOCO_GL before gym.make imports mujoco

    torch.set_num_threads(1)  # small networks: one thread is fastest, and runs go in parallel
    p = spec.profile
    env, eval_env = gym.make(spec.env_id), gym.make(spec.env_id)
    env.reset(seed=spec.seed)
    eval_env.reset(seed=spec.seed + 10_000)
    start = time.perf_counter()
    demos, prefs, refs = load_feedback(spec, env)
    model = build_model(spec, env, demos, prefs)  # replaced by the checkpoint's below when resuming
    evaluation = TrueReturnEvalCallback(eval_env, eval_freq=p.eval_freq, n_eval_episodes=p.eval_episodes)
    callbacks: list = [evaluation]
    checkpoints = Path(spec.logdir) / "checkpoints" / spec.name
    resumed_from = latest_checkpoint(checkpoints) if p.checkpoint_freq and spec.method != "bc" else None
    if resumed_from is not None:
        model = resume_model(spec, resumed_from, env, demos, prefs)
        saved = read_checkpoint_state(resumed_from)["extra"]
        evaluation.curve = [tuple(point) for point in saved["curve"]]
        evaluation.wall_times, evaluation.seconds_before = saved["wall_times"], saved["seconds"]
        print(f"{spec.name}: resuming from {resumed_from} ({model.num_timesteps} env steps done)", flush=True)
    if p.checkpoint_freq and spec.method != "bc":  # after the evaluation: a checkpoint holds the eval at its step
        callbacks.append(
            ResumableCheckpointCallback(
                p.checkpoint_freq,
                checkpoints,
                extra_state=lambda: {
                    "curve": evaluation.curve,
                    "wall_times": evaluation.wall_times,
                    "seconds": evaluation.elapsed(),
                },
            )
        )
    steps_before = model.num_timesteps if resumed_from is not None else 0
    train_start = time.perf_counter()
    if spec.method == "bc":
        model.learn(p.bc_steps, tb_log_name=spec.name)
        evaluation.init_callback(model)
        evaluation.evaluate()  # BC takes no env steps: one evaluation, drawn as a flat line
        env_steps = 0
    else:
        model.learn(
            p.timesteps - steps_before,
            callback=callbacks,
            tb_log_name=spec.name,
            reset_num_timesteps=resumed_from is None,  # a resumed run goes on in the same TensorBoard run
        )
        env_steps = p.timesteps - steps_before
    train_seconds = time.perf_counter() - train_start
    wall_seconds = time.perf_counter() - start  # the model file and video are not part of the run's time
    (Path(spec.logdir) / "models").mkdir(exist_ok=True)
    model.save(Path(spec.logdir) / "models" / f"{spec.name}.zip")  # for python -m aihf_control.play
    if p.video:
        record_video(model, spec.env_id, Path(spec.logdir) / "videos" / f"{spec.name}.mp4", p.video_seconds)
    env.close()
    eval_env.close()
    steps = [0] if spec.method == "bc" else [int(s) for s, _, _ in evaluation.curve]
    record = run_record(
        spec.method,
        spec.num_prefs,
        spec.seed,
        steps,
        [float(r) for _, r, _ in evaluation.curve],
        evaluation.wall_times,
        refs,
    )
    record.update(
        wall_seconds=wall_seconds,
        env_steps_per_second=env_steps / train_seconds if env_steps else None,
    )
    save_json_atomically(record, Path(spec.logdir) / "runs" / f"{spec.name}.json")  # kept if a later run fails
    shutil.rmtree(checkpoints, ignore_errors=True)  # the run is done: its record and final model are kept
    print(f"{spec.name}: final return {record['final_return']:.1f} ({record['wall_seconds']:.0f} s)", flush=True)
    return record


def save_json_atomically(data: object, path: Path) -> None:
    """Write to a temporary name, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2))
    os.replace(temporary, path)


def normalized_score(value: float, refs: dict) -> float | None:
    """0 = the random policy, 100 = the demonstrator (the dataset's ref_min_score and ref_max_score)."""
    low, high = refs.get("random"), refs.get("demonstrator")
    if low is None or high is None or high == low:
        return None
    return 100.0 * (value - low) / (high - low)


def run_record(
    method: str,
    num_prefs: int | None,
    seed: int,
    steps: list[int],
    returns: list[float],
    wall_times: list[float],
    refs: dict,
) -> dict:
    """One run's curve and the numbers derived from it (see the module docstring)."""
    scores = [normalized_score(r, refs) for r in returns]
    final = float(np.mean(returns[-FINAL_EVALS:]))
    last_third = float(np.mean(returns[len(returns) - max(1, len(returns) // 3) :]))
    reached = [i for i, score in enumerate(scores) if score is not None and score >= 90]
    return {
        "method": method,
        "num_prefs": num_prefs,
        "seed": seed,
        "steps": steps,
        "returns": returns,
        "wall_times": wall_times,
        "scores": scores,
        "final_return": final,
        "final_score": normalized_score(final, refs),
        "last_third_return": last_third,
        "last_third_score": normalized_score(last_third, refs),
        "steps_to_score_90": steps[reached[0]] if reached else None,
        "seconds_to_score_90": wall_times[reached[0]] if reached and wall_times else None,
        "refs": refs,
    }


def summarize(runs: list[dict]) -> list[dict]:
    """Mean ± std over seeds per (method, number of preferences): final and last-third return and score."""
    groups: dict[tuple[str, int | None], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["method"], run["num_prefs"]), []).append(run)
    order = {m: i for i, m in enumerate(METHODS)}

    def stats(values: list) -> tuple[float | None, float | None]:
        values = [v for v in values if v is not None]
        return (float(np.mean(values)), float(np.std(values))) if values else (None, None)

    rows = []
    for (method, num_prefs), group in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1] or 0)):
        row = {"method": method, "num_prefs": num_prefs, "seeds": len(group)}
        for key in ("final_return", "final_score", "last_third_return", "last_third_score"):
            row[f"{key}_mean"], row[f"{key}_std"] = stats([run[key] for run in group])
        reached = [run["steps_to_score_90"] for run in group if run["steps_to_score_90"] is not None]
        row["seeds_reaching_score_90"] = len(reached)
        row["steps_to_score_90_median"] = float(np.median(reached)) if reached else None
        rows.append(row)
    return rows


def results_table(summary: list[dict], refs: dict, command: str) -> str:
    """The markdown table of ``results.md``."""

    def pm(mean: float | None, std: float | None, digits: int = 0) -> str:
        return "–" if mean is None else f"{mean:,.{digits}f} ± {std:,.{digits}f}"

    lines = [
        f"From `{command}`. Score: 0 = random policy, 100 = demonstrator. Final: mean of the last "
        f"{FINAL_EVALS} evaluations; last third: mean of the last third of the evaluations (a single final "
        "point hides collapses). Mean ± std over seeds.",
        "",
        "| method | preferences | final score | last-third score | final return | env steps to score 90 | seeds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary:
        prefs = "–" if row["num_prefs"] is None else f"{row['num_prefs']:,}"
        to_90 = (
            "never"
            if row["steps_to_score_90_median"] is None
            else f"{row['steps_to_score_90_median']:,.0f} ({row['seeds_reaching_score_90']}/{row['seeds']} seeds)"
        )
        lines.append(
            f"| {row['method']} | {prefs} | {pm(row['final_score_mean'], row['final_score_std'])} "
            f"| {pm(row['last_third_score_mean'], row['last_third_score_std'])} "
            f"| {pm(row['final_return_mean'], row['final_return_std'])} | {to_90} | {row['seeds']} |"
        )
    if refs.get("demonstrator") is not None:
        lines += ["", f"Demonstrator return {refs['demonstrator']:,.0f}, random policy {refs['random']:,.0f}."]
    return "\n".join(lines)


def plot(runs: list[dict], refs: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted({r["num_prefs"] for r in runs if r["num_prefs"] is not None}) or [None]
    fig, axes = plt.subplots(1, len(counts), figsize=(6 * len(counts), 4.5), squeeze=False, sharey=True)
    colors = {m: plt.get_cmap("tab10")(i) for i, m in enumerate(METHODS)}
    horizon = max((max(r["steps"]) for r in runs if r["steps"]), default=1)
    for ax, count in zip(axes[0], counts, strict=True):
        for method in METHODS:
            chosen = [r for r in runs if r["method"] == method and r["num_prefs"] in (count, None)]
            if method in USES_PREFERENCES:
                chosen = [r for r in chosen if r["num_prefs"] == count]
            if not chosen:
                continue
            if method == "bc":
                value = np.mean([r["returns"][-1] for r in chosen])
                ax.axhline(value, color=colors[method], linestyle=":", label=f"bc ({value:,.0f})")
                continue
            length = min(len(r["returns"]) for r in chosen)
            steps = np.array(chosen[0]["steps"][:length])
            curves = np.array([r["returns"][:length] for r in chosen])
            mean, std = curves.mean(axis=0), curves.std(axis=0)
            ax.plot(steps, mean, color=colors[method], label=method)
            ax.fill_between(steps, mean - std, mean + std, color=colors[method], alpha=0.2)
        for name, style in (("demonstrator", "--"), ("random", "-.")):
            if refs.get(name) is not None:
                ax.axhline(refs[name], color="gray", linestyle=style, linewidth=1, label=name)
        ax.set_xlim(0, horizon)
        ax.set_xlabel("env steps")
        ax.set_title(title if count is None else f"{title}, {count:,} preferences")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("true return")
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(env_id: str, argv: list[str] | None = None) -> dict:
    """Run the benchmark on ``env_id``; returns what ``results.json`` holds."""
    parser = build_parser(env_id)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.resume is not None:
        argv = saved_arguments(args.resume, argv, parser)
        args = parser.parse_args(argv)
    profile = resolve_profile(args, parser)
    module = env_id.split("-")[0].lower()
    logdir = args.logdir or Path("runs") / module / datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        logdir.mkdir(parents=True, exist_ok=True)
        save_json_atomically({"env_id": env_id, "argv": argv}, logdir / "command.json")  # read by --resume
    except OSError as e:
        parser.error(f"cannot write to --logdir {logdir} ({e.strerror or e}); pass a folder you can write to")
    command = " ".join(["python -m", f"benchmarks.{module}", *argv])
    specs = run_specs(env_id, profile, logdir.resolve())  # absolute: Ray workers may run in another folder
    # Runs finished by an earlier call with the same --logdir are kept, not repeated: a long benchmark
    # can be split into parts, and a crash loses only the run in progress.
    done = {spec.name: Path(spec.logdir) / "runs" / f"{spec.name}.json" for spec in specs}
    todo = [spec for spec in specs if not done[spec.name].is_file()]
    print(
        f"{len(specs)} runs on {env_id} ({args.profile} profile), {len(specs) - len(todo)} already done, "
        f"{profile.workers} at a time; output in {logdir}"
    )
    start = time.perf_counter()
    failed = run_all(run_one, todo, profile.workers, args.executor, args.ray_address, args.gpus_per_run)
    if failed:
        sys.exit(
            f"{len(failed)} run(s) failed twice: {', '.join(spec.name for spec in failed)}; the other runs are in "
            f"{logdir / 'runs'}; `python -m benchmarks.{module} --resume {logdir}` repeats only the failed ones "
            "(from their last checkpoint)"
        )
    runs = [json.loads(done[spec.name].read_text()) for spec in specs]
    refs = runs[0]["refs"] if runs else {}
    summary = summarize(runs)
    table = results_table(summary, refs, command)
    results = {
        "env_id": env_id,
        "profile": args.profile,
        "command": command,
        "config": asdict(profile),
        "final_return": f"mean of the last {FINAL_EVALS} evaluations of the true return",
        "wall_seconds": time.perf_counter() - start,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "versions": _versions(),
        "refs": refs,
        "summary": summary,
        "runs": runs,
    }
    save_json_atomically(results, logdir / "results.json")
    (logdir / "results.md").write_text(table + "\n")
    plot(runs, refs, logdir / "comparison.png", env_id)
    print(table)
    print(
        f"\nwrote {logdir / 'results.json'}, {logdir / 'comparison.png'}, {logdir / 'results.md'}; "
        f"curves: tensorboard --logdir {logdir / 'tensorboard'}"
    )
    videos = f"videos of the final policies in {logdir / 'videos'}; " if profile.video else ""
    print(
        f"{videos}final models in {logdir / 'models'}, replayed with: "
        f"python -m aihf_control.play {logdir / 'models'}/<run>.zip --env {env_id} --video <run>.mp4"
    )
    return results


def saved_arguments(run_dir: Path, argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """The options a benchmark in ``run_dir`` was started with, for ``--resume run_dir``."""
    others = [a for a in argv if a.startswith("-") and not a.startswith("--resume")]
    if others:
        parser.error(f"--resume takes no other options (got {' '.join(others)}): the run's own are reused")
    saved = run_dir / "command.json"
    try:
        command = json.loads(saved.read_text())
    except FileNotFoundError:
        parser.error(
            f"--resume {run_dir}: no command.json there; pass the output folder of an earlier benchmark "
            f"(runs/{parser.prog.rsplit('.', 1)[-1]}/<timestamp>)"
        )
    except (OSError, json.JSONDecodeError) as e:
        parser.error(f"--resume {run_dir}: {saved} is unreadable ({e}); start the benchmark again with --logdir")
    if parser.prog != f"python -m benchmarks.{command['env_id'].split('-')[0].lower()}":
        parser.error(f"--resume {run_dir}: that folder holds a {command['env_id']} benchmark, not this one")
    saved_argv = list(command["argv"])
    if "--logdir" in saved_argv:  # the folder may have moved since: it is run_dir now
        del saved_argv[saved_argv.index("--logdir") : saved_argv.index("--logdir") + 2]
    return [*saved_argv, "--logdir", str(run_dir)]


def _versions() -> dict[str, str]:
    import minari
    import stable_baselines3
    import torch

    import aihf_control

    return {
        "aihf_control": aihf_control.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "torch": torch.__version__,
        "gymnasium": gym.__version__,
        "minari": minari.__version__,
    }
