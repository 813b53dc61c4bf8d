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
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shlex
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import minari
import numpy as np
import stable_baselines3
import torch
from minari import EpisodeMetadataCallback
from minari.data_collector import EpisodeBuffer
from minari.dataset.minari_dataset import parse_dataset_id
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import check_for_correct_spaces

from aihf_control.data.minari_datasets import (
    default_dataset_id,
    local_dataset_ids,
    minari_store_path,
    record_episodes,
)
from aihf_control.progress import ProgressCallback, ProgressPrinter, Report, Tracker

Policy = Callable[[np.ndarray], np.ndarray]

# Evaluation and recording start their episodes from disjoint reset seeds, so the reference scores are
# measured on other start states than the ones stored in the datasets.
EVAL_SEED_OFFSET = 1_000_000
MIXED_SEED_OFFSET = 2_000_000
CHECKPOINT_NAME = re.compile(r"_(\d+)_steps\.zip$")


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


ALGORITHMS = ("sac", "tqc", "crossq", "sbx-sac", "sbx-tqc", "sbx-crossq")


def algorithm_class(algo: str) -> type[BaseAlgorithm]:
    """The model class of ``--algo``: SB3 (torch) or SBX (jax, imported only when asked for)."""
    if not algo.startswith("sbx-"):
        return {"sac": SAC, "tqc": TQC, "crossq": CrossQ}[algo]
    try:
        import sbx
    except ImportError as e:
        raise ImportError(
            f"--algo {algo} needs SBX (Stable-Baselines3 in jax): `pip install 'aihf-control[experts]'` "
            "(or `pip install sbx-rl`), or pass --algo sac to train with SB3 and torch"
        ) from e
    return {"sbx-sac": sbx.SAC, "sbx-tqc": sbx.TQC, "sbx-crossq": sbx.CrossQ}[algo]


def save_atomically(model: BaseAlgorithm, path: Path) -> None:
    """Write to a temporary name, then rename: a reader never sees half a file, even if the run is killed."""
    temporary = path.with_name(f".{path.stem}.tmp.zip")
    model.save(temporary)
    os.replace(temporary, path)


class CheckpointCallback(BaseCallback):
    """Saves the model every ``every`` steps as ``<algo>_<steps>_steps.zip`` and prints training progress.

    :param every: steps between checkpoints
    :param directory: folder of the checkpoints
    :param algo: name prefix of the files
    """

    def __init__(self, every: int, directory: Path, algo: str):
        super().__init__()
        self.every = every
        self.directory = directory
        self.algo = algo

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            path = self.directory / f"{self.algo}_{self.num_timesteps}_steps.zip"
            save_atomically(self.model, path)
            returns = [info["r"] for info in self.model.ep_info_buffer]
            recent = f"{np.mean(returns):.1f} over the last {len(returns)} episodes" if returns else "no episode yet"
            print(f"step {self.num_timesteps}: training return {recent}; saved {path}", flush=True)
        return True


def train_demonstrator(
    args: argparse.Namespace, learning_starts: int, checkpoint_every: int, output_dir: Path, report: Report
) -> BaseAlgorithm:
    """Train ``args.algo`` on ``args.env`` with SB3's default hyperparameters, saving checkpoints on the way.

    :param report: where the training's progress goes (``ProgressPrinter.update``)
    :return: the trained model, also saved as ``output_dir/demonstrator.zip``
    """
    checkpoint_dir = output_dir / "checkpoints"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    model = algorithm_class(args.algo)(
        "MlpPolicy",
        gym.make(args.env),
        learning_starts=learning_starts,
        buffer_size=min(1_000_000, args.timesteps),  # a short run does not need a million-step buffer
        policy_kwargs=dict(net_arch=args.net_arch),
        seed=args.seed,
        **algorithm_device(args.algo, args.device),
    )
    print(
        f"training {algorithm_label(args.algo)} on {args.env} for {args.timesteps} steps, "
        f"checkpoints every {checkpoint_every}",
        flush=True,
    )
    progress = ProgressCallback(
        f"training the {algorithm_label(args.algo)} demonstrator",
        args.timesteps,
        report,
        last_return=lambda: float(np.mean([i["r"] for i in model.ep_info_buffer])) if model.ep_info_buffer else None,
        return_label="training return",
    )
    model.learn(
        total_timesteps=args.timesteps,
        callback=[CheckpointCallback(checkpoint_every, checkpoint_dir, args.algo), progress],
    )
    progress.finish()
    save_atomically(model, output_dir / "demonstrator.zip")
    return model


def algorithm_label(algo: str) -> str:
    """``sbx-sac`` → ``SBX SAC``, ``sac`` → ``SB3 SAC``."""
    library, _, name = algo.rpartition("-")
    return f"{(library or 'sb3').upper()} {name.upper()}"


def algorithm_device(algo: str, device: str) -> dict[str, str]:
    """SB3 takes a torch device; SBX picks jax's platform (JAX_PLATFORMS) and only accepts "auto"."""
    return {"device": device} if not algo.startswith("sbx-") else {}


def load_model(path: Path, algo: str, device: str, env: gym.Env) -> BaseAlgorithm:
    """Load an SB3 model file and check that it acts in ``env``."""
    if not path.is_file():
        raise FileNotFoundError(f"no SB3 model file at {path}; pass the .zip that model.save() wrote")
    try:
        model = algorithm_class(algo).load(path, **algorithm_device(algo, device))
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise ValueError(
            f"{path} could not be loaded as an {algorithm_label(algo)} model ({e}); pass the right --algo"
        ) from e
    try:
        check_for_correct_spaces(env, model.observation_space, model.action_space)
    except ValueError as e:
        raise ValueError(f"{path} was trained on another env than {env.spec.id}: {e}") from e
    return model


def describe(evaluation: dict[str, float]) -> str:
    return f"{evaluation['return_mean']:.1f} ± {evaluation['return_std']:.1f} over {evaluation['episodes']} episodes"


def model_policy(model: BaseAlgorithm, deterministic: bool) -> Policy:
    return lambda obs: model.predict(obs, deterministic=deterministic)[0]


def random_policy(action_space: gym.spaces.Space, seed: int) -> Policy:
    space = copy.deepcopy(action_space)
    space.seed(seed)
    return lambda obs: space.sample()


def evaluate(env_id: str, policy: Policy, episodes: int, seed: int) -> dict[str, float]:
    """Mean and std of the undiscounted return of ``policy`` over ``episodes`` episodes."""
    env = gym.make(env_id)
    returns, lengths = [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + EVAL_SEED_OFFSET + episode)
        total, steps, done = 0.0, 0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total, steps, done = total + float(reward), steps + 1, terminated or truncated
        returns.append(total)
        lengths.append(steps)
    env.close()
    return {
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "episode_length_mean": float(np.mean(lengths)),
        "episodes": episodes,
    }


def find_checkpoints(directory: Path) -> list[Path]:
    """The ``<algo>_<steps>_steps.zip`` files in ``directory``, in training order."""
    found = [path for path in directory.glob("*_steps.zip") if checkpoint_steps(path.name) is not None]
    return sorted(found, key=lambda path: checkpoint_steps(path.name))


def checkpoint_steps(name: str) -> int | None:
    """Training steps of a checkpoint named ``<algo>_<steps>_steps.zip``, None for other names."""
    match = CHECKPOINT_NAME.search(name)
    return int(match.group(1)) if match else None


Evaluated = tuple[Path, dict[str, float], BaseAlgorithm]


def pick_lower_quality(
    evaluated: list[Evaluated], random_return: float, expert_return: float, levels: list[float]
) -> list[Evaluated]:
    """For each level, the checkpoint whose mean return is nearest random + level · (expert - random)."""
    chosen: list[Evaluated] = []
    for level in levels:
        target = random_return + level * (expert_return - random_return)
        nearest = min(evaluated, key=lambda item: abs(item[1]["return_mean"] - target))
        if nearest not in chosen:
            chosen.append(nearest)
    return chosen


def record_dataset(
    args: argparse.Namespace,
    dataset_id: str,
    sources: list[tuple[str, Policy, dict[str, float]]],
    shares: tuple[int | None, int | None],
    seed: int,
    refs: tuple[dict[str, float], dict[str, float]],
    config: dict,
    describe_recording: Callable[[int, int], str],
    report: Report,
) -> list[dict]:
    """Record each source policy in turn into one Minari dataset, with reference scores and our metadata.

    :param sources: (name, policy, evaluation) triples, recorded in this order
    :param shares: (transitions, episodes) to record per source; one of them is None
    :param seed: reset seed of the first episode; each next episode adds one
    :param refs: evaluations of the random policy and of the demonstrator: ref_min_score and ref_max_score
    :param config: this run's configuration, stored in the metadata
    :param describe_recording: (episodes, steps) recorded → the dataset's description
    :param report: where the recording's progress goes (``ProgressPrinter.update``)
    :return: per source, which episodes it made (the metadata key ``policies``)
    """
    random_eval, expert_eval = refs
    num_transitions, num_episodes = shares
    policies: list[dict] = []
    episodes: list[EpisodeBuffer] = []
    # Whole episodes are recorded: the steps may end above the total, which is a lower bound.
    tracker = Tracker(f"recording {dataset_id}", num_transitions and num_transitions * len(sources), report, "steps")
    env = gym.make(args.env)
    try:
        for name, policy, evaluation in sources:

            def counted(obs: np.ndarray, policy: Policy = policy) -> np.ndarray:
                tracker.update(tracker.status.done + 1)
                return policy(obs)

            recorded = record_episodes(
                env, counted, seed=seed + len(episodes), num_episodes=num_episodes, num_transitions=num_transitions
            )
            policies.append(
                {
                    "policy": name,
                    "train_steps": checkpoint_steps(name),
                    "first_episode": len(episodes),
                    "num_episodes": len(recorded),
                    "num_steps": sum(len(episode) for episode in recorded),
                    "evaluation": evaluation,
                }
            )
            episodes += recorded
        total_episodes = len(episodes)
        total_steps = sum(source["num_steps"] for source in policies)
        dataset = minari.create_dataset_from_buffers(
            dataset_id,
            episodes,
            env=env,  # its spec (with max_episode_steps) and spaces go into the metadata
            eval_env=args.env,
            algorithm_name=algorithm_label(args.algo)
            + (" checkpoints and a random policy" if len(sources) > 1 else ""),
            author=args.author,
            author_email=args.author_email,
            code_permalink=args.code_permalink,
            ref_min_score=random_eval["return_mean"],
            ref_max_score=expert_eval["return_mean"],
            num_episodes_average_score=args.eval_episodes,
            description=describe_recording(total_episodes, total_steps),
        )
    finally:
        env.close()
    tracker.finish(total=tracker.status.done)  # whole episodes: the steps in all are known now
    # per-episode reward statistics (rewards_sum, ...), as DataCollector.create_dataset stores them
    dataset.storage.update_episode_metadata(dataset.storage.apply(EpisodeMetadataCallback()))
    dataset.storage.update_metadata(
        {
            "demonstrator_evaluation": expert_eval,
            "random_policy_evaluation": random_eval,
            "make_dataset_config": config,
            "policies": policies,
        }
    )
    print(f"dataset {dataset_id}: {total_episodes} episodes, {total_steps} steps", flush=True)
    return policies


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
        model = train_demonstrator(args, learning_starts, checkpoint_every, output_dir, printer.update)
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
    scores = f"demonstrator return {describe(expert_eval)}, random policy {describe(random_eval)}"

    # 3. The demonstrations.
    trained = "an existing model" if args.expert is not None else f"trained for {args.timesteps} steps"
    amounts = (num_transitions, args.episodes)
    record_dataset(
        args,
        expert_id,
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
            args,
            mixed_id,
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
        )
        results["dataset_ids"].append(mixed_id)

    env.close()
    printer.close()
    print(f"datasets in {minari_store_path()}: {', '.join(results['dataset_ids'])}", flush=True)
    return results


if __name__ == "__main__":
    main()
