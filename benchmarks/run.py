"""One benchmark run, and ``main``, which runs them all: ``python -m benchmarks.hopper`` (and halfcheetah,
walker2d). The options and methods are described in ``benchmarks.profiles``, the records, table and plot in
``benchmarks.report``, where the runs execute (here, in a pool of processes, on Ray) in ``benchmarks.executors``.

A run (:func:`run_one`) loads its feedback from the shipped datasets, builds its model (or, after a crash,
resumes it from its last checkpoint), learns with an evaluation of the true return every ``eval_freq`` env
steps, saves its final model and video and writes its record to ``<logdir>/runs/<run>.json``. ``main``
plans the runs from the profile, skips those whose record exists, runs the others and writes
``results.json``, ``results.md`` and ``comparison.png``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from benchmarks.executors import run_all
from benchmarks.profiles import (
    AIHF_FAMILY,
    DEMO_BATCHES,
    USES_DEMONSTRATIONS,
    USES_PREFERENCES,
    Profile,
    build_parser,
    resolve_profile,
    saved_arguments,
)
from benchmarks.report import (
    FINAL_EVALS,
    headline,
    normalized_score,
    plot,
    plot_scarcity,
    report,
    run_record,
    save_json_atomically,
    versions,
)


@dataclass(frozen=True)
class RunSpec:
    """One run of a benchmark: a method, a number of preferences and a seed, with the profile's settings.

    :param env_id: the env, e.g. ``Hopper-v5``
    :param method: one of ``benchmarks.profiles.METHODS``
    :param num_prefs: labelled segment pairs, None for methods that use no preferences
    :param seed: seed of the env, the feedback and the model
    :param profile: every other setting
    :param logdir: the benchmark's output folder (absolute: a Ray worker may run in another folder)
    """

    env_id: str
    method: str
    num_prefs: int | None  # None for methods that use no preferences
    seed: int
    profile: Profile
    logdir: str

    @property
    def name(self) -> str:
        """``<method>[_prefs<N>]_seed<S>``: the name of the run's record, model, video and TensorBoard run."""
        prefs = "" if self.num_prefs is None else f"_prefs{self.num_prefs}"
        return f"{self.method}{prefs}_seed{self.seed}"


def run_specs(env_id: str, profile: Profile, logdir: Path) -> list[RunSpec]:
    """The runs of a benchmark: every method, for each of its numbers of preferences, for each seed.

    :param env_id: the env
    :param profile: the methods, numbers of preferences, seeds and settings
    :param logdir: the output folder
    """
    specs = []
    for method in profile.methods:
        for num_prefs in profile.num_prefs if method in USES_PREFERENCES else [None]:
            for seed in profile.seeds:
                specs.append(RunSpec(env_id, method, num_prefs, seed, profile, str(logdir)))
    return specs


def load_feedback(spec: RunSpec, env: gym.Env) -> tuple[Any, Any, dict]:
    """Demonstrations and preferences of one run from the shipped datasets (seeded by the run's seed).

    :param spec: the run
    :param env: its env, whose spaces the data is checked against
    :return: demonstrations (None if the method uses none), preferences (likewise) and the reference returns
    """
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


def demo_batch_fraction(profile: Profile) -> float:
    """The share of each inner-loop minibatch drawn from the demonstrations for aihf, aihf-demos and the
    -batches variants: the profile's (``--demo-batch-fraction``), else AIHF's own default.

    :param profile: the benchmark's settings
    """
    import inspect

    from aihf_control import AIHFRewardLearning

    if profile.demo_batch_fraction is not None:
        return profile.demo_batch_fraction
    return float(inspect.signature(AIHFRewardLearning.__init__).parameters["demo_batch_fraction"].default)


def inner_learner(spec: RunSpec) -> str:
    """The inner learner a run trains: ``--inner`` for the AIHF family and sac-true, SAC for the others.

    :param spec: the run
    """
    return spec.profile.inner if spec.method in (*AIHF_FAMILY, "sac-true") else "sac"


def model_class(spec: RunSpec) -> type:
    """The class a run's model is built from and its checkpoints are loaded with.

    :param spec: the run
    """
    from aihf_control import AIHF, AIHFTQC, BC, IPL, RLHF, AIHFCrossQ, AveragedCrossQ, AveragedSAC, AveragedTQC

    inner = inner_learner(spec)
    if spec.method in AIHF_FAMILY:
        return {"sac": AIHF, "tqc": AIHFTQC, "crossq": AIHFCrossQ}[inner]
    if spec.method == "sac-true":
        return {"sac": AveragedSAC, "tqc": AveragedTQC, "crossq": AveragedCrossQ}[inner]
    classes = {"rlhf": RLHF, "rlhf-batches": RLHF, "ipl": IPL, "ipl-batches": IPL, "bc": BC}
    if spec.method not in classes:
        raise ValueError(f"unknown method {spec.method!r}")
    return classes[spec.method]


def build_model(spec: RunSpec, env: gym.Env, demos: Any, prefs: Any) -> Any:
    """A fresh model of the run's method with the profile's settings.

    :param spec: the run
    :param env: the env it learns in
    :param demos: its demonstrations, or None
    :param prefs: its preferences, or None
    """
    p = spec.profile
    cls = model_class(spec)
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
    # aihf and the -batches baselines draw the same share of each minibatch from the demonstrations
    batches = dict(demo_batch_fraction=demo_batch_fraction(p)) if spec.method in DEMO_BATCHES else {}
    if spec.method == "aihf":
        weights = dict(preference_weight=p.preference_weight)
        return cls("MlpPolicy", env, demonstrations=demos, preferences=prefs, **weights, **batches, **reward, **sac)
    if spec.method == "aihf-demos":
        return cls("MlpPolicy", env, demonstrations=demos, **batches, **reward, **sac)
    if spec.method == "aihf-prefs":
        return cls("MlpPolicy", env, preferences=prefs, demo_weight=0.0, **reward, **sac)
    if spec.method in ("rlhf", "rlhf-batches"):
        return cls("MlpPolicy", env, demos, prefs, **bc, **batches, **reward, **sac)
    if spec.method in ("ipl", "ipl-batches"):
        return cls("MlpPolicy", env, prefs, demos, **bc, **batches, **sac)
    if spec.method == "bc":
        sac.pop("learning_starts")
        return cls("MlpPolicy", env, demonstrations=demos, **sac)
    return cls("MlpPolicy", env, **sac)  # sac-true


def resume_model(spec: RunSpec, checkpoint: Path, env: gym.Env, demos: Any, prefs: Any) -> Any:
    """The model of a run in progress, from its last checkpoint (the feedback is rebuilt from the seed).

    :param spec: the run
    :param checkpoint: its newest checkpoint folder
    :param env: the env it learns in
    :param demos: its demonstrations, or None
    :param prefs: its preferences, or None
    """
    from aihf_control import load_checkpoint

    cls = model_class(spec)
    device = spec.profile.device  # else SB3's "auto": a run started on the CPU would go on on a GPU
    if spec.method in AIHF_FAMILY:
        return load_checkpoint(cls, checkpoint, env, device=device, demonstrations=demos, preferences=prefs)
    if spec.method in ("rlhf", "rlhf-batches"):  # its BC start is done and recorded in the checkpoint
        model = load_checkpoint(cls, checkpoint, env, device=device, preferences=prefs)
    elif spec.method in ("ipl", "ipl-batches"):
        model = load_checkpoint(cls, checkpoint, env, device=device)
        model.set_preferences(prefs)
    else:
        return load_checkpoint(cls, checkpoint, env, device=device)
    if spec.method.endswith("-batches"):  # feedback is not saved: the demonstrations of the minibatches again
        model.set_demonstrations(demos)
    return model


def run_one(spec: RunSpec) -> dict:
    """Train and evaluate one (method, number of preferences, seed); runs in a worker process.

    :param spec: the run
    :return: its record (see ``benchmarks.records.run_record``), also written to ``<logdir>/runs/<run>.json``
    """
    import torch

    from aihf_control import ResumableCheckpointCallback, TrueReturnEvalCallback
    from aihf_control.progress import ProgressCallback, write_status
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
    # Its status goes to a file that main's printer polls: the run may be in another process, or on Ray.
    progress = ProgressCallback(
        spec.name,
        p.bc_steps if spec.method == "bc" else p.timesteps,
        partial(write_status, Path(spec.logdir) / "progress"),
        last_return=lambda: evaluation.curve[-1][1] if evaluation.curve else None,
        score=lambda value: normalized_score(value, refs),
        unit="BC steps" if spec.method == "bc" else "env steps",
    )
    callbacks: list = [evaluation, progress]  # progress after evaluation: it shows each evaluation at once
    checkpoints = Path(spec.logdir) / "checkpoints" / spec.name
    resumed_from = latest_checkpoint(checkpoints) if p.checkpoint_freq and spec.method != "bc" else None
    if resumed_from is not None:
        model = resume_model(spec, resumed_from, env, demos, prefs)
        evaluation.restore_state(read_checkpoint_state(resumed_from)["extra"])
        print(f"{spec.name}: resuming from {resumed_from} ({model.num_timesteps} env steps done)", flush=True)
    if p.checkpoint_freq and spec.method != "bc":  # after the evaluation: a checkpoint holds the eval at its step
        callbacks.append(
            ResumableCheckpointCallback(
                p.checkpoint_freq,
                checkpoints,
                extra_state=evaluation.state,
            )
        )
    steps_before = model.num_timesteps if resumed_from is not None else 0
    train_start = time.perf_counter()
    if spec.method == "bc":
        model.learn(p.bc_steps, callback=progress, tb_log_name=spec.name)
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
    # a resumed run's seconds before its checkpoint count; saving the model and the video do not
    wall_seconds = evaluation.seconds_before + time.perf_counter() - start
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
        env_id=spec.env_id,
        inner=inner_learner(spec),
        demo_batch_fraction=getattr(model, "demo_batch_fraction", 0.0) if spec.method in USES_DEMONSTRATIONS else None,
        wall_seconds=wall_seconds,
        env_steps_per_second=env_steps / train_seconds if env_steps else None,
    )
    save_json_atomically(record, Path(spec.logdir) / "runs" / f"{spec.name}.json")  # kept if a later run fails
    shutil.rmtree(checkpoints, ignore_errors=True)  # the run is done: its record and final model are kept
    progress.finish(record["final_return"], record["final_score"])  # the printer's last line of the run
    return record


def main(env_id: str, argv: list[str] | None = None) -> dict:
    """Run the benchmark on ``env_id``; returns what ``results.json`` holds.

    :param env_id: the env, e.g. ``Hopper-v5``
    :param argv: the command line without the program name; None reads ``sys.argv``
    """
    from aihf_control.progress import ProgressPrinter

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
    inner = [] if "--inner" in argv else ["--inner", profile.inner]  # the inner learner, stated in the command
    command = " ".join(["python -m", f"benchmarks.{module}", *argv, *inner])
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
    statuses = logdir / "progress"  # one small file per run in progress, written by run_one's ProgressCallback
    shutil.rmtree(statuses, ignore_errors=True)  # left by an interrupted call
    with ProgressPrinter(enabled=not args.quiet) as printer:
        printer.watch(statuses)
        failed = run_all(run_one, todo, profile.workers, args.executor, args.ray_address, args.gpus_per_run)
    shutil.rmtree(statuses, ignore_errors=True)
    if failed:
        sys.exit(
            f"{len(failed)} run(s) failed twice: {', '.join(spec.name for spec in failed)}; the other runs are in "
            f"{logdir / 'runs'}; `python -m benchmarks.{module} --resume {logdir}` repeats only the failed ones "
            "(from their last checkpoint)"
        )
    runs = [json.loads(done[spec.name].read_text()) for spec in specs]
    for run in runs:  # records of an earlier version, resumed: same env, SAC
        run.setdefault("env_id", env_id)
        run.setdefault("inner", "sac")
    refs = runs[0]["refs"] if runs else {}
    wall_seconds = time.perf_counter() - start
    statistics, table = report(runs, command, wall_seconds)
    results = {
        "env_id": env_id,
        "profile": args.profile,
        "command": command,
        "inner": profile.inner,
        "demo_batch_fraction": demo_batch_fraction(profile),
        "config": asdict(profile),
        "final_return": f"mean of the last {FINAL_EVALS} evaluations of the true return",
        "wall_seconds": wall_seconds,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "versions": versions(),
        "refs": refs,
        "summary": statistics["per_env"].get(env_id, []),
        "claims": statistics["claims"],
        "verdict": headline(statistics["per_env"].get(env_id, [])),
        "runs": runs,
    }
    save_json_atomically(results, logdir / "results.json")
    (logdir / "results.md").write_text(table + "\n")
    plot(runs, logdir / "comparison.png")
    scarcity = f"{logdir / 'scarcity.png'}, " if plot_scarcity(runs, logdir / "scarcity.png") else ""
    print(table)  # ends with the paper's claims
    print(f"\n{results['verdict']}")
    print(
        f"\nwrote {logdir / 'results.json'}, {logdir / 'comparison.png'}, {scarcity}{logdir / 'results.md'}; "
        f"curves: tensorboard --logdir {logdir / 'tensorboard'}"
    )
    videos = f"videos of the final policies in {logdir / 'videos'}; " if profile.video else ""
    print(
        f"{videos}final models in {logdir / 'models'}, replayed with: "
        f"python -m aihf_control.play {logdir / 'models'}/<run>.zip --env {env_id} --video <run>.mp4"
    )
    return results
