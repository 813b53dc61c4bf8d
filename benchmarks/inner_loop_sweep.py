"""Which inner loop reaches the demonstrator, and stays there? The measurement behind AIHF's inner-loop defaults.

Runs AIHF variants — the inner algorithm (SAC, TQC, CrossQ), the share of demonstrations in its batches,
and the reward schedule — on one env from one demonstrator, and reports for each the env steps and wall
seconds until the normalised score (0 = random, 100 = the demonstrator) first reaches 90, the best and
the last-third mean of the curve, and the lowest score after first reaching 90 (collapse).

    python -m benchmarks.inner_loop_sweep --env Hopper-v5 --variants sac sac-demo50 tqc-demo50 crossq-demo50
    python -m benchmarks.inner_loop_sweep --env Walker2d-v5 --num-prefs 500 --seeds 0 1 2 --timesteps 150000
    python -m benchmarks.inner_loop_sweep --demonstrations aihf/hopper/expert-v1 ...   # another demonstrator

Each run writes ``<logdir>/<env>/<variant>_prefs<P>_seed<S>.json`` when it ends (with ``_<dataset>`` for
another demonstrator than the shipped one, ``_net<layers>`` for other layers than [64, 64] and
``_steps<N>`` for another budget than 150k), its curve so far after each evaluation, and a checkpoint (model,
replay buffer, random states, curve) every ``--checkpoint-freq`` env steps. Running the same command again
skips finished runs and resumes stopped ones from their last checkpoint. ``--workers`` runs that many at once
(one torch thread each). The table is printed and written to ``<logdir>/<env>/table.md``; ``--report`` runs
nothing and reports the runs in ``--logdir`` against the targets (``benchmarks.inner_loop_report``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from aihf_control.sb3.averaged_actor import averaging_rate, update_average
from aihf_control.sb3.checkpoint import latest_checkpoint
from aihf_control.sb3.relabel_buffer import DemonstrationReplayBuffer, attach_demonstrations
from benchmarks.inner_loop_report import CPU_NET_ARCH, TARGET_ENV_STEPS, parse_averaging, report_folder, table

# Each variant: the inner algorithm and the AIHF arguments that differ from the library's defaults.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "sac": ("AIHF", {"demo_batch_fraction": 0.0}),
    "sac-demo25": ("AIHF", {"demo_batch_fraction": 0.25}),
    "sac-demo50": ("AIHF", {"demo_batch_fraction": 0.5}),
    "tqc-demo50": ("AIHFTQC", {"demo_batch_fraction": 0.5}),
    # sb3-contrib's BatchRenorm warmup (100k updates of each network), as these runs were first measured
    "crossq-demo50": ("AIHFCrossQ", {"demo_batch_fraction": 0.5, "policy_kwargs": {"renorm_warmup_steps": 100_000}}),
    # the CrossQ paper's 5k: AIHFCrossQ's default (its records before the averaged actor: `actor_averaging=None`),
    # with L_demo per transition as these runs were first measured (`--set 'demo_loss_weighting="separate_falls"'`:
    # today's default; "occupancy": the one before)
    "crossq-demo50-renorm5k": (
        "AIHFCrossQ",
        {
            "demo_batch_fraction": 0.5,
            "policy_kwargs": {"renorm_warmup_steps": 5_000},
            "demo_loss_weighting": "transitions",
        },
    ),
    "crossq": ("AIHFCrossQ", {"demo_batch_fraction": 0.0}),
    "sac-true": ("SAC", {}),
    "crossq-true": ("CrossQ", {}),
    # the inner loop with a perfect reward: half of each batch from the demonstrations, with the env rewards
    # the dataset recorded for them (RLPD's setting). What AIHF's r_θ would reach if it were the env's reward.
    # (sac-true-demo50: the same on SAC, which has no batch renormalisation over the mixed rows)
    "crossq-true-demo50": ("CrossQ", {"demo_batch_fraction": 0.5}),
    "sac-true-demo50": ("SAC", {"demo_batch_fraction": 0.5}),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--timesteps", type=int, default=TARGET_ENV_STEPS)
    parser.add_argument("--eval-freq", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--num-demos", type=int, default=10_000)
    parser.add_argument("--num-prefs", type=int, default=0, help="oracle preferences from the mixed pool (0: none)")
    parser.add_argument("--demonstrations", default=None, help="Minari dataset id (default: the shipped expert)")
    parser.add_argument("--preference-pool", default=None, help="Minari dataset id (default: the shipped mixed)")
    parser.add_argument("--net-arch", type=int, nargs="+", default=CPU_NET_ARCH, help="SAC/TQC/CrossQ and r_θ layers")
    parser.add_argument(
        "--checkpoint-freq", type=int, default=25_000, help="env steps between checkpoints a stopped run resumes from"
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--logdir", default="runs/inner_loop_sweep")
    parser.add_argument(
        "--set",
        nargs="*",
        type=model_setting,
        default=[],
        metavar="KEY=VALUE",
        help="extra model arguments, values in JSON: reward_gradient_penalty=10 'demo_loss_weighting=\"occupancy\"'",
    )
    parser.add_argument(
        "--averaged-actors",
        nargs="*",
        type=averaging_spec,
        default=[],
        metavar="TAU[:WARMUP]",
        help="also evaluate Polyak averages of the actor (rate per env step, and optionally the actor_averaging_warmup "
        "share, e.g. 0.0002:0.1) at each evaluation; the run is unchanged",
    )
    parser.add_argument(
        "--report", action="store_true", help="run nothing: table and curves (curves.png) of the runs in --logdir"
    )
    return parser.parse_args(argv)


def model_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with a JSON value: ``("KEY", value)``."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE (e.g. reward_gradient_penalty=10), got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(
            f"the value of {key} must be JSON, got {value!r}: quote a string for the shell and for JSON, "
            f"'{key}=\"{value}\"'"
        ) from None


def averaging_spec(text: str) -> str:
    """``TAU`` or ``TAU:WARMUP`` (``AveragedActor``'s ``actor_averaging`` and ``actor_averaging_warmup``)."""
    try:
        tau, warmup = parse_averaging(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected TAU or TAU:WARMUP (e.g. 0.0002:0.1), got {text!r}") from None
    if not (0 < tau <= 1 and (warmup is None or 0 < warmup <= 1)):
        raise argparse.ArgumentTypeError(f"TAU and WARMUP must be in (0, 1], got {text!r}")
    return text


def build_model(variant: str, env: Any, demos: Any, prefs: Any, net_arch: list[int], seed: int, extra: dict) -> Any:
    import aihf_control
    from aihf_control import AveragedCrossQ, AveragedSAC

    algorithm, kwargs = VARIANTS[variant]
    # --set overrides the variant's and the sweep's arguments (e.g. policy_kwargs with wider critics, device="cuda");
    # the CPU by default, as the benchmarks: at these network sizes a GPU is slower (docs/guide/scaling-out.md)
    arguments = {"learning_starts": 5_000, "seed": seed, "verbose": 0, "device": "cpu", **kwargs, **extra}
    arguments["policy_kwargs"] = {
        "net_arch": net_arch,
        **kwargs.get("policy_kwargs", {}),
        **extra.get("policy_kwargs", {}),
    }
    if algorithm in ("SAC", "CrossQ"):  # the references: the true reward (the other variants never read it)
        if arguments.pop("demo_batch_fraction", 0.0) > 0:  # the rows are attached by run_one
            arguments["replay_buffer_class"] = DemonstrationReplayBuffer
        return {"SAC": AveragedSAC, "CrossQ": AveragedCrossQ}[algorithm]("MlpPolicy", env, **arguments)
    cls = getattr(aihf_control, algorithm)
    return cls("MlpPolicy", env, demonstrations=demos, preferences=prefs, **{"reward_net_arch": net_arch, **arguments})


def reference_demo_fraction(variant: str, extra: dict) -> float:
    """The share of demonstration rows in a true-reward reference's batches (0 for AIHF's variants)."""
    algorithm, kwargs = VARIANTS[variant]
    if algorithm not in ("SAC", "CrossQ"):
        return 0.0
    return float({**kwargs, **extra}.get("demo_batch_fraction", 0.0))


def attach_rewarded_demonstrations(model: Any, demos: Any, trajectories: list, fraction: float) -> None:
    """Put ``demos`` into ``fraction`` of every batch of a true-reward reference, each row with the env reward
    the dataset recorded for it (found in ``trajectories``, the dataset's episodes, by its observation and
    action)."""
    recorded = {}
    for trajectory in trajectories:
        for obs, act, reward in zip(trajectory.obs, trajectory.acts, trajectory.rewards, strict=True):
            recorded[np.float32(obs).tobytes() + np.float32(act).tobytes()] = float(reward)
    keys = [np.float32(o).tobytes() + np.float32(a).tobytes() for o, a in zip(demos.obs, demos.acts, strict=True)]
    missing = sum(key not in recorded for key in keys)
    if missing:
        raise ValueError(f"{missing} of {len(keys)} demonstration rows are not in the dataset's episodes")
    attach_demonstrations(model.replay_buffer, demos, model.policy, fraction)
    buffer = model.replay_buffer
    rewards = torch.as_tensor([recorded[key] for key in keys], dtype=torch.float32, device=buffer.device)
    buffer.demo_rows = buffer.demo_rows._replace(rewards=rewards.reshape(-1, 1))


def run_one(job: dict) -> dict:
    """One run: train with evaluations every ``eval_freq`` env steps; the record is written when it ends."""
    from aihf_control import ResumableCheckpointCallback, TrueReturnEvalCallback, load_checkpoint
    from aihf_control.data import (
        ScriptedTeacher,
        default_dataset_id,
        generate_preferences,
        load_demonstrations,
        load_local_dataset,
        load_trajectories,
    )
    from aihf_control.sb3 import read_checkpoint_state

    torch.set_num_threads(1)
    env_id, seed = job["env"], job["seed"]
    env = gym.make(env_id)
    demo_id = job["demonstrations"] or default_dataset_id(env_id, "expert")
    pool_id = job["preference_pool"] or default_dataset_id(env_id, "mixed")
    demos = load_demonstrations(demo_id, env=env, num_transitions=job["num_demos"], seed=seed)
    prefs = None
    if job["num_prefs"] > 0:
        pool = load_trajectories(pool_id, env=env)
        prefs = generate_preferences(pool, job["num_prefs"], ScriptedTeacher.oracle(), 50, seed=seed)
    metadata = load_local_dataset(demo_id).storage.metadata
    low, high = metadata["ref_min_score"], metadata["ref_max_score"]
    model = build_model(job["variant"], env, demos, prefs, job["net_arch"], seed, job["extra"])
    evaluation = TrueReturnEvalCallback(gym.make(env_id), job["eval_freq"], job["eval_episodes"], verbose=1)
    averaged = AveragedActors(job.get("averaged_actor_taus", []), env_id, job["eval_freq"], job["eval_episodes"])
    path = Path(job["path"])
    checkpoints = path.with_suffix(".checkpoints")
    resumed_from = latest_checkpoint(checkpoints)
    if resumed_from is not None:  # the feedback is rebuilt from the seed; the rest comes from the checkpoint
        feedback = {} if job["variant"].endswith("-true") else {"demonstrations": demos, "preferences": prefs}
        model = load_checkpoint(type(model), resumed_from, env, device=model.device, **feedback)
        saved = read_checkpoint_state(resumed_from)["extra"]
        evaluation.restore_state(saved)
        averaged.restore_state(saved)
        print(f"{path.stem}: resuming from {resumed_from} ({model.num_timesteps} env steps done)", flush=True)
    reference_share = reference_demo_fraction(job["variant"], job["extra"])
    if reference_share > 0:  # not pickled with the buffer: attached anew after a resume too
        attach_rewarded_demonstrations(model, demos, load_trajectories(demo_id, env=env), reference_share)
    saves = ResumableCheckpointCallback(
        job["checkpoint_freq"],
        checkpoints,
        keep=1,
        extra_state=lambda: {**evaluation.state(), **averaged.state()},
    )

    def record(finished: bool) -> dict:
        returns = [float(r) for _, r, _ in evaluation.curve]
        return {
            **{k: v for k, v in job.items() if k != "path"},
            "demonstrations": demo_id,
            "refs": {"random": low, "demonstrator": high},
            "steps": [int(s) for s, _, _ in evaluation.curve],
            "returns": returns,
            "scores": [100.0 * (r - low) / (high - low) for r in returns],
            "wall_times": [float(t) for t in evaluation.wall_times],
            "seconds": evaluation.elapsed(),  # training and evaluations, earlier sessions of a resumed run included
            "finished": finished,
            "actor_averaging": getattr(model, "actor_averaging", None),
            "actor_averaging_warmup": getattr(model, "actor_averaging_warmup", None),
            **({"averaged_actors": averaged.record(low, high)} if averaged.taus else {}),
        }

    class WriteRecord(BaseCallback):
        """After each evaluation, the curve so far goes to ``<run>.partial.json`` (read if the run is stopped)."""

        def _on_step(self) -> bool:
            if evaluation.curve and self.num_timesteps == evaluation.curve[-1][0]:
                write_json(record(False), path.with_suffix(".partial.json"))
            return True

    model.learn(
        job["timesteps"] - model.num_timesteps,
        callback=[evaluation, averaged, WriteRecord(), saves],  # the checkpoint after the evaluation: it holds it
        reset_num_timesteps=resumed_from is None,
    )
    result = record(True)
    write_json(result, path)
    path.with_suffix(".partial.json").unlink(missing_ok=True)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return result


class AveragedActors(BaseCallback):
    """Measurement only: Polyak averages of the model's actor, weights and normalisation statistics alike
    (one per rate τ, updated every env step), evaluated deterministically right after each of the model's own
    evaluations. The actor that acts and learns is unchanged, so both curves come from the same run.
    The averages and their curves go into the run's checkpoints, so a resumed run goes on with them."""

    def __init__(self, taus: list[str], env_id: str, eval_freq: int, episodes: int) -> None:
        super().__init__()
        self.taus, self.env_id, self.eval_freq, self.episodes = taus, env_id, eval_freq, episodes
        self.curves: dict[str, list[tuple[int, float]]] = {tau: [] for tau in taus}
        self.rates = {tau: parse_averaging(tau) for tau in taus}  # spec -> (rate, warmup), parsed once
        self.averages: dict[str, torch.nn.Module] = {}
        self.saved_averages: dict[str, dict[str, list]] = {}  # from a checkpoint, set at the start of training

    def state(self) -> dict:
        """The curves and the averages' weights and statistics, JSON-serialisable (a checkpoint's extra state)."""
        averages = {tau: {k: v.tolist() for k, v in a.state_dict().items()} for tau, a in self.averages.items()}
        return {"averaged": self.curves, "averages": averages}

    def restore_state(self, saved: dict) -> None:
        """What ``state`` returned, read back from a checkpoint. Checkpoints written before the averages were
        saved hold only the curves: the averages then start anew from the actor at the resume."""
        self.curves.update(saved.get("averaged", {}))
        self.saved_averages = saved.get("averages", {})

    def _on_training_start(self) -> None:
        actor = self.model.policy.actor
        self.averages = {tau: copy.deepcopy(actor).requires_grad_(False) for tau in self.taus}
        for tau, average in self.averages.items():
            if tau in self.saved_averages:
                mine = average.state_dict()
                average.load_state_dict(
                    {k: torch.tensor(v, dtype=mine[k].dtype) for k, v in self.saved_averages[tau].items()}
                )
        self.eval_envs = {tau: Monitor(gym.make(self.env_id)) for tau in self.taus}

    def _on_step(self) -> bool:
        actor = self.model.policy.actor
        for spec, average in self.averages.items():
            update_average(average, actor, averaging_rate(*self.rates[spec], self.num_timesteps))
        if self.taus and self.num_timesteps % self.eval_freq == 0:
            own_average = getattr(self.model, "averaged_actor", None)
            for tau, average in self.averages.items():
                # predict() acts with policy.actor when the model has no average of its own
                self.model.policy.actor, self.model.averaged_actor = average, None
                try:
                    returns, _ = evaluate_policy(self.model, self.eval_envs[tau], self.episodes)
                finally:
                    self.model.policy.actor, self.model.averaged_actor = actor, own_average
                self.curves[str(tau)].append((self.num_timesteps, float(returns)))
                print(f"  averaged actor τ={tau}: {returns:.1f}", flush=True)
        return True

    def record(self, low: float, high: float) -> dict:
        """Each average's curve as normalised scores."""
        return {
            tau: {"steps": [s for s, _ in curve], "scores": [100.0 * (r - low) / (high - low) for _, r in curve]}
            for tau, curve in self.curves.items()
        }


def write_json(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> list[dict]:
    args = parse_args(argv)
    if args.report:
        return report_folder(Path(args.logdir) / args.env)
    extra = dict(args.set)
    folder = Path(args.logdir) / args.env
    name = "".join(f"_{k}{v}" for k, v in sorted(extra.items()))
    for dataset in (args.demonstrations, args.preference_pool):  # another demonstrator: other runs
        name += f"_{dataset.replace('/', '-')}" if dataset else ""
    # other layers or a shorter screen: other runs (a 50k screen must not pass for a finished 150k run)
    name += "" if args.net_arch == CPU_NET_ARCH else "_net" + "x".join(map(str, args.net_arch))
    name += "" if args.timesteps == TARGET_ENV_STEPS else f"_steps{args.timesteps}"
    jobs = [
        {
            "env": args.env,
            "variant": variant,
            "seed": seed,
            "timesteps": args.timesteps,
            "eval_freq": args.eval_freq,
            "eval_episodes": args.eval_episodes,
            "num_demos": args.num_demos,
            "num_prefs": args.num_prefs,
            "demonstrations": args.demonstrations,
            "preference_pool": args.preference_pool,
            "net_arch": args.net_arch,
            "extra": extra,
            "checkpoint_freq": args.checkpoint_freq,
            "averaged_actor_taus": args.averaged_actors,
            "path": str(folder / f"{variant}{name}_prefs{args.num_prefs}_seed{seed}.json"),
        }
        for variant in args.variants
        for seed in args.seeds
    ]
    done = [json.loads(Path(j["path"]).read_text()) for j in jobs if Path(j["path"]).is_file()]
    todo = [j for j in jobs if not Path(j["path"]).is_file()]
    # a run stopped before its first checkpoint leaves an empty folder: it starts again, not resumes
    stopped = sum(latest_checkpoint(Path(j["path"]).with_suffix(".checkpoints")) is not None for j in todo)
    print(
        f"{len(jobs)} runs on {args.env}: {len(done)} already done, {len(todo)} to run ({stopped} resumed from a "
        f"checkpoint), {args.workers} at a time"
    )
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers) as pool:
            done += list(pool.map(run_one, todo))
    else:
        done += [run_one(job) for job in todo]
    stopped = [json.loads(p.read_text()) for p in folder.glob("*.partial.json")]
    markdown = table(done + [r for r in stopped if r["steps"]])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "table.md").write_text(markdown + "\n")
    print(markdown)
    return done


if __name__ == "__main__":
    main()
