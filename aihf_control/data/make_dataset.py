"""Train a demonstrator with Stable-Baselines3 and record it into Minari datasets.

    python -m aihf_control.data.make_dataset --env Hopper-v5                   # → aihf/hopper/expert-v0
    python -m aihf_control.data.make_dataset --env Hopper-v5 --mixed-quality   # also aihf/hopper/mixed-v0
    python -m aihf_control.data.make_dataset --env Hopper-v5 --expert runs/make_dataset/Hopper-v5/demonstrator.zip

The script reads top to bottom: train (saving checkpoints of rising quality on the way), evaluate the
demonstrator and a random policy (their mean returns become the dataset's ref_max_score / ref_min_score),
record whole episodes of the demonstrator and write them with minari.create_dataset_from_buffers (no jax
needed), and with --mixed-quality record
episodes of lower-quality checkpoints and of the random policy into a second dataset, the pool that
preference segments are cut from. It runs on CPU alone and never downloads anything.

Training, loading and evaluating the demonstrator and its checkpoints live in
:mod:`aihf_control.data.demonstrator`, writing a dataset in :mod:`aihf_control.data.recording`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import minari
import stable_baselines3
import torch
from minari.dataset.minari_dataset import parse_dataset_id

from aihf_control.data.demonstrator import (
    ALGORITHMS,
    Evaluated,
    algorithm_class,
    algorithm_label,
    evaluate,
    find_checkpoints,
    load_model,
    model_policy,
    pick_lower_quality,
    random_policy,
    train_demonstrator,
)
from aihf_control.data.minari_datasets import default_dataset_id, local_dataset_ids, minari_store_path
from aihf_control.data.recording import record_dataset
from aihf_control.progress import ProgressPrinter

# algorithm_class and algorithm_label lived here first and stay importable from here
__all__ = ["ALGORITHMS", "algorithm_class", "algorithm_label", "build_parser", "main"]

# The mixed-quality dataset resets from other seeds than the demonstrations and the evaluations
# (demonstrator.EVAL_SEED_OFFSET): no start state is stored twice, none is both stored and scored.
MIXED_SEED_OFFSET = 2_000_000


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def layer_sizes(text: str) -> list[int]:
    try:
        sizes = [int(size) for size in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"must be comma-separated positive layer sizes such as 256,256, got {text!r}")
    return sizes


def quality_levels(text: str) -> list[float]:
    try:
        levels = [float(level) for level in text.split(",")]
    except ValueError:
        levels = []
    if not levels or not all(0.0 <= level < 1.0 for level in levels):
        raise argparse.ArgumentTypeError(f"must be comma-separated fractions in [0, 1) such as 0.25,0.5, got {text!r}")
    return levels


def build_parser() -> argparse.ArgumentParser:
    intro, examples = __doc__.split("\n\n")[:2]
    parser = argparse.ArgumentParser(
        prog="python -m aihf_control.data.make_dataset",
        description=textwrap.fill(
            f"{intro} Datasets go to the local Minari store ($MINARI_DATASETS_PATH, else "
            "~/.minari/datasets) with ref_min_score (random policy) and ref_max_score (demonstrator) set, and the "
            "evaluations and this run's configuration in their metadata. Runs on CPU alone; downloads nothing.",
            100,
        ),
        epilog=f"examples:\n{examples}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", required=True, help="gymnasium env id with Box actions, e.g. Hopper-v5 (required)")
    parser.add_argument(
        "--algo",
        choices=ALGORITHMS,
        default="sac",
        help="algorithm of the demonstrator: SB3's sac, tqc or crossq (torch), or sbx-sac / sbx-tqc / sbx-crossq, the "
        "same algorithms in SBX (jax), faster on CPU; those need `pip install sbx-rl` (the experts extra) "
        "(default: sac)",
    )
    parser.add_argument(
        "--timesteps",
        type=positive_int,
        default=1_000_000,
        help="training steps of the demonstrator (default: 1000000)",
    )
    parser.add_argument(
        "--learning-starts",
        type=int,
        default=None,
        help="random-action steps before learning starts (default: min(10000, timesteps // 10))",
    )
    parser.add_argument(
        "--net-arch",
        type=layer_sizes,
        default=[256, 256],
        help="hidden layer sizes of actor and critics (default: 256,256)",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=positive_int,
        default=None,
        help="save a checkpoint every this many training steps into OUTPUT_DIR/checkpoints, atomically "
        "(default: timesteps // 20)",
    )
    parser.add_argument(
        "--expert",
        type=Path,
        default=None,
        metavar="PATH",
        help="record this existing SB3 model file (.zip) instead of training a demonstrator",
    )
    amount = parser.add_mutually_exclusive_group()
    amount.add_argument(
        "--num-transitions",
        type=positive_int,
        default=None,
        help="record whole episodes until at least this many transitions are stored (default: 20000)",
    )
    amount.add_argument("--episodes", type=positive_int, default=None, help="record exactly this many episodes instead")
    parser.add_argument(
        "--mixed-quality",
        action="store_true",
        help="also record lower-quality checkpoints and a random policy, in equal shares of the same amount, into "
        "a second dataset: the pool that preference segments are cut from",
    )
    parser.add_argument(
        "--mixed-levels",
        type=quality_levels,
        default=[0.25, 0.5],
        help="with --mixed-quality: for each level, use the checkpoint whose mean return is nearest that fraction of "
        "the way from the random policy's return to the demonstrator's (default: 0.25,0.5)",
    )
    parser.add_argument(
        "--mixed-checkpoints",
        type=Path,
        nargs="+",
        default=None,
        metavar="PATH",
        help="with --mixed-quality: use these SB3 model files as the lower-quality policies instead of picking "
        "from OUTPUT_DIR/checkpoints",
    )
    parser.add_argument(
        "--dataset-id", default=None, help="id of the demonstrations dataset (default: aihf/<env>/expert-v0)"
    )
    parser.add_argument(
        "--mixed-dataset-id", default=None, help="id of the mixed-quality dataset (default: aihf/<env>/mixed-v0)"
    )
    parser.add_argument(
        "--eval-episodes",
        type=positive_int,
        default=10,
        help="episodes that measure the mean ± std return of the demonstrator, the random policy and each "
        "checkpoint (default: 10)",
    )
    parser.add_argument(
        "--stochastic",
        action="store_true",
        help="record and evaluate actions sampled from the policy (default: its deterministic mean action)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="folder of demonstrator.zip and checkpoints/ (default: runs/make_dataset/<env>)",
    )
    parser.add_argument(
        "--author", default="aihf-control make_dataset", help="author in the Minari metadata (default: %(default)s)"
    )
    parser.add_argument("--author-email", default=None, help="author's contact in the Minari metadata")
    parser.add_argument("--code-permalink", default=None, help="link to the code version that made the dataset")
    parser.add_argument("--seed", type=int, default=0, help="seed of training, evaluation and recording (default: 0)")
    parser.add_argument("--device", default="auto", help="torch device for SB3: auto, cpu or cuda (default: auto)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines for training, evaluating and recording")
    return parser


def describe(evaluation: dict[str, float]) -> str:
    """``mean ± std over N episodes`` of an evaluation, for the printed lines and the datasets' descriptions."""
    return f"{evaluation['return_mean']:.1f} ± {evaluation['return_std']:.1f} over {evaluation['episodes']} episodes"


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the command line; returns what it printed as a dict (dataset ids, evaluations).

    :param argv: the arguments, without the program name; None reads ``sys.argv``
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    # one thread is the fastest for these small MLPs and leaves the other cores to parallel runs
    torch.set_num_threads(1)

    try:
        env = gym.make(args.env)
    except gym.error.Error as e:
        parser.error(f"--env {args.env}: {e}")
    if not isinstance(env.action_space, gym.spaces.Box):
        parser.error(f"--env {args.env} has action space {env.action_space}; SAC and TQC need Box (continuous) actions")
    expert_id = args.dataset_id or default_dataset_id(args.env, "expert")
    mixed_id = (args.mixed_dataset_id or default_dataset_id(args.env, "mixed")) if args.mixed_quality else None
    existing = local_dataset_ids()
    for flag, dataset_id in (("--dataset-id", expert_id), ("--mixed-dataset-id", mixed_id)):
        if dataset_id is None:
            continue
        try:
            parse_dataset_id(dataset_id)
        except (ValueError, TypeError):
            parser.error(f"{flag} {dataset_id!r} is not a Minari id: use namespace/name-vN, e.g. aihf/hopper/expert-v1")
        if dataset_id in existing:  # checked before training: minari refuses to overwrite, hours later
            parser.error(
                f"Minari dataset '{dataset_id}' already exists in {minari_store_path()}; delete it with "
                f"`minari delete {dataset_id}` or pass {flag} with another version"
            )
    if expert_id == mixed_id:
        parser.error(f"--dataset-id and --mixed-dataset-id are both {expert_id!r}; give them different ids")
    output_dir = args.output_dir or Path("runs") / "make_dataset" / args.env
    for path in [args.expert, *(args.mixed_checkpoints or [])]:
        if path is not None and not path.is_file():
            parser.error(f"no SB3 model file at {path}; pass the .zip that model.save() wrote")
    checkpoint_dir = output_dir / "checkpoints"
    if args.mixed_quality and args.mixed_checkpoints is None and args.expert is not None:
        if not find_checkpoints(checkpoint_dir):  # training here would make them; with --expert nothing does
            parser.error(
                f"--mixed-quality found no checkpoints in {checkpoint_dir}; name lower-quality models with "
                "--mixed-checkpoints, or pass the --output-dir of the run that trained the --expert"
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    num_transitions = 20_000 if args.num_transitions is None and args.episodes is None else args.num_transitions
    learning_starts = args.learning_starts if args.learning_starts is not None else min(10_000, args.timesteps // 10)
    checkpoint_every = args.checkpoint_every or max(1, args.timesteps // 20)
    deterministic = not args.stochastic
    # A line for the training and each recording in progress: live on a terminal, every 30 s in a log.
    printer = ProgressPrinter(enabled=not args.quiet)

    # 1. The demonstrator: trained here, or an existing model file.
    if args.expert is not None:
        model = load_model(args.expert, args.algo, args.device, env)
        expert_path = args.expert
    else:
        model = train_demonstrator(
            args.env,
            args.algo,
            args.timesteps,
            learning_starts=learning_starts,
            net_arch=args.net_arch,
            checkpoint_every=checkpoint_every,
            output_dir=output_dir,
            seed=args.seed,
            device=args.device,
            report=printer.update,
        )
        expert_path = output_dir / "demonstrator.zip"

    # 2. Reference scores: the demonstrator and a random policy, from the same start states.
    expert_eval = evaluate(args.env, model_policy(model, deterministic), args.eval_episodes, args.seed)
    random_eval = evaluate(args.env, random_policy(env.action_space, args.seed), args.eval_episodes, args.seed)
    refs = (random_eval, expert_eval)
    print(f"demonstrator return: {describe(expert_eval)}", flush=True)
    print(f"random policy return: {describe(random_eval)}", flush=True)
    config = {
        "env_id": args.env,
        "algo": args.algo,
        "timesteps": None if args.expert is not None else args.timesteps,
        "learning_starts": None if args.expert is not None else learning_starts,
        "checkpoint_every": None if args.expert is not None else checkpoint_every,
        "net_arch": None if args.expert is not None else args.net_arch,
        "seed": args.seed,
        "deterministic_actions": deterministic,
        "demonstrator_path": str(expert_path),
        "command": shlex.join(["python", "-m", "aihf_control.data.make_dataset", *argv]),
        "versions": {
            "stable_baselines3": stable_baselines3.__version__,
            "gymnasium": gym.__version__,
            "minari": minari.__version__,
            "torch": torch.__version__,
        },
    }
    action_kind = "mean" if deterministic else "sampled"
    minari_metadata = dict(
        author=args.author,
        author_email=args.author_email,
        code_permalink=args.code_permalink,
        num_episodes_average_score=args.eval_episodes,
    )
    scores = f"demonstrator return {describe(expert_eval)}, random policy {describe(random_eval)}"

    # 3. The demonstrations.
    trained = "an existing model" if args.expert is not None else f"trained for {args.timesteps} steps"
    amounts = (num_transitions, args.episodes)
    record_dataset(
        expert_id,
        args.env,
        [(str(expert_path), model_policy(model, deterministic), expert_eval)],
        amounts,
        args.seed,
        refs,
        config,
        lambda episodes, steps: (
            f"Demonstrations on {args.env} from an {algorithm_label(args.algo)} policy ({trained}, "
            f"{action_kind} actions): {episodes} episodes, {steps} steps. {scores}. Made by `{config['command']}`."
        ),
        printer.update,
        algorithm_name=algorithm_label(args.algo),
        minari_metadata=minari_metadata,
    )
    results: dict[str, object] = {"dataset_ids": [expert_id], "demonstrator": expert_eval, "random_policy": random_eval}

    # 4. The preference pool: lower-quality checkpoints and the random policy, in equal shares.
    if mixed_id is not None:
        evaluated: list[Evaluated] = []
        for path in args.mixed_checkpoints or find_checkpoints(checkpoint_dir):
            checkpoint = load_model(path, args.algo, args.device, env)
            evaluation = evaluate(args.env, model_policy(checkpoint, deterministic), args.eval_episodes, args.seed)
            print(f"checkpoint {path}: return {describe(evaluation)}", flush=True)
            evaluated.append((path, evaluation, checkpoint))
        if args.mixed_checkpoints is None:
            evaluated = pick_lower_quality(
                evaluated, random_eval["return_mean"], expert_eval["return_mean"], args.mixed_levels
            )
        sources = [(str(path), model_policy(checkpoint, deterministic), ev) for path, ev, checkpoint in evaluated]
        sources.append(("random", random_policy(env.action_space, args.seed), random_eval))
        shares = tuple(None if amount is None else -(-amount // len(sources)) for amount in amounts)  # ceil
        results["policies"] = record_dataset(
            mixed_id,
            args.env,
            sources,
            shares,
            args.seed + MIXED_SEED_OFFSET,
            refs,
            config,
            lambda episodes, steps: (
                f"Episodes of mixed quality on {args.env}, for preference segments: {len(sources) - 1} lower-quality "
                f"{algorithm_label(args.algo)} checkpoint(s) and a random policy in equal shares ({episodes} episodes, "
                f"{steps} steps); the metadata key 'policies' lists which episodes each policy made. "
                f"{scores}. Made by `{config['command']}`."
            ),
            printer.update,
            algorithm_name=f"{algorithm_label(args.algo)} checkpoints and a random policy",
            minari_metadata=minari_metadata,
        )
        results["dataset_ids"].append(mixed_id)

    env.close()
    printer.close()
    print(f"datasets in {minari_store_path()}: {', '.join(results['dataset_ids'])}", flush=True)
    return results


if __name__ == "__main__":
    main()
