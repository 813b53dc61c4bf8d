"""Play a saved model: its true return over a few episodes, and a video of its deterministic policy.

    python -m aihf_control.play MODEL.zip --env Hopper-v5 --episodes 5 --video hopper.mp4

MODEL is a zip written by ``model.save(path)`` of AIHF (on SAC, TQC or CrossQ), RLHF, IPL, BC, the averaged
references (``AveragedSAC``, ...) or Stable-Baselines3's SAC (the benchmarks write one per run to
``<logdir>/models/``); which of them saved it is read from the zip. No
feedback data is needed: the model only acts. The return is the env's true reward summed over an episode,
mean ± std over ``--episodes`` episodes of the deterministic policy (SB3's ``evaluate_policy``), and each
episode's return. ``--stochastic`` also plays the policy with sampled actions, as it acts while learning: a
deterministic policy far below its stochastic one is stuck somewhere its noise gets it out of (e.g. standing
still at the start).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# First: sets MUJOCO_GL for headless rendering before anything imports mujoco (see aihf_control.video).
from aihf_control.video import VIDEO_SUFFIXES, check_video_path, record_video  # isort: skip

import gymnasium as gym
import numpy as np
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.utils import check_for_correct_spaces
from stable_baselines3.common.vec_env import DummyVecEnv

from aihf_control import AIHF, AIHFTQC, BC, IPL, RLHF, AIHFCrossQ, AveragedCrossQ, AveragedSAC, AveragedTQC
from aihf_control.progress import ProgressPrinter, Tracker
from aihf_control.sb3.model_files import read_saved_data, saved_algorithm

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    cls.__name__: cls
    for cls in (AIHF, AIHFTQC, AIHFCrossQ, RLHF, IPL, BC, SAC, AveragedSAC, AveragedTQC, AveragedCrossQ)
}

# Playing only predicts: no learning-rate schedule (a pickled function, which may not load across Python
# versions) and no replay buffer (SAC would allocate buffer_size transitions).
PREDICT_ONLY = {"learning_rate": 0.0, "lr_schedule": lambda _: 0.0, "buffer_size": 1}


def load_model(path: str | Path, device: str = "cpu") -> BaseAlgorithm:
    """Load a saved model of any of ``ALGORITHMS`` for acting only: no feedback data, no replay buffer.

    Which class saved it is read from the file (``aihf_control.sb3.model_files.saved_algorithm``).

    :param path: a zip written by ``model.save``
    :param device: torch device of the model
    :raises FileNotFoundError: if there is no such file
    :raises ValueError: for a file that is not a model, or a model of another algorithm
    """
    name = saved_algorithm(path)
    if name not in ALGORITHMS:
        policy_class = read_saved_data(path).get("policy_class")
        module = policy_class.get("__module__") if isinstance(policy_class, dict) else None
        raise ValueError(
            f"{path} holds a model of another algorithm (its policy class is from {module}): play loads "
            f"{', '.join(ALGORITHMS)} models; load it with its own class's .load and evaluate it with "
            "stable_baselines3.common.evaluation.evaluate_policy"
        )
    try:
        return ALGORITHMS[name].load(path, device=device, custom_objects=PREDICT_ONLY)
    except Exception as error:  # whatever SB3's load raises: name the file and the class
        raise ValueError(f"could not load {path} as a {name} model: {type(error).__name__}: {error}") from error


def evaluate(
    model: BaseAlgorithm,
    env_id: str,
    episodes: int = 5,
    seed: int = 0,
    path: str | Path = "the model",
    tracker: Tracker | None = None,
    deterministic: bool = True,
) -> list[float]:
    """True return of each of ``episodes`` episodes of ``model``'s policy on ``env_id``.

    :param model: the model
    :param env_id: a gymnasium env id with the model's observation and action spaces
    :param episodes: number of episodes
    :param seed: seed of the env's first reset
    :param path: the model's file, named in errors
    :param tracker: follows the episodes done, if given
    :param deterministic: the policy's deterministic actions (an averaged actor's, if the model has one), or
        actions sampled from the current actor, as while learning
    """
    env = DummyVecEnv([lambda: Monitor(gym.make(env_id))])  # Monitor: the env's own reward, whatever wraps it
    try:
        check_for_correct_spaces(env, model.observation_space, model.action_space)
    except ValueError as error:
        env.close()
        raise ValueError(f"{path} was trained on another env than {env_id} ({error}); pass its --env") from error
    env.seed(seed)
    # evaluate_policy calls back after each step with its locals: its episode_rewards are the episodes done
    step = None if tracker is None else (lambda local, _: tracker.update(len(local["episode_rewards"])))
    try:
        returns, _ = evaluate_policy(
            model,
            env,
            n_eval_episodes=episodes,
            deterministic=deterministic,
            callback=step,
            return_episode_rewards=True,
        )
    finally:
        env.close()
    if tracker is not None:
        tracker.finish(done=episodes)
    return [float(r) for r in returns]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aihf_control.play",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("model", type=Path, help="a .zip written by model.save (AIHF, RLHF, IPL, BC or SAC)")
    add("--env", required=True, help="the gymnasium env id it was trained on, e.g. Hopper-v5")
    add("--episodes", type=int, default=5, help="episodes of the return's mean ± std (default: 5)")
    add("--seed", type=int, default=0, help="seed of the evaluation and the video (default: 0)")
    add("--video", type=Path, default=None, help=f"write a video of the policy here ({' or '.join(VIDEO_SUFFIXES)})")
    add("--seconds", type=float, default=5.0, help="length of the video in env time (default: 5)")
    add("--every", type=int, default=None, help="render every k-th env step (default: about 30 frames a second)")
    add("--size", type=int, nargs=2, default=(240, 240), metavar=("WIDTH", "HEIGHT"), help="frame size (240 240)")
    add("--stochastic", action="store_true", help="also play the policy with sampled actions, as while learning")
    add("--device", default="cpu", help="torch device (default: cpu)")
    add("--quiet", action="store_true", help="no progress lines while evaluating and rendering")
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Run the command; returns the deterministic return's mean and std, each episode's return (``returns``, by
    ``"deterministic"`` and ``"stochastic"``) and the video written, if any."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.episodes < 1 or args.seconds <= 0 or (args.every is not None and args.every < 1) or min(args.size) < 1:
        parser.error("--episodes, --every and --size must be at least 1 and --seconds above 0")
    printer = ProgressPrinter(enabled=not args.quiet)  # live on a terminal, plain lines in a log
    try:
        if args.video is not None:
            check_video_path(args.video)  # before the evaluation, which can take a while
        model = load_model(args.model, args.device)
        returns = {}
        for deterministic in (True, False) if args.stochastic else (True,):
            kind = "deterministic" if deterministic else "stochastic"
            label = f"evaluating {args.model.name}" + ("" if deterministic else " (stochastic)")
            evaluating = Tracker(label, args.episodes, printer.update, "episodes")
            returns[kind] = evaluate(model, args.env, args.episodes, args.seed, args.model, evaluating, deterministic)
            print(
                f"{type(model).__name__} model {args.model} on {args.env}: return {np.mean(returns[kind]):.1f} ± "
                f"{np.std(returns[kind]):.1f} over {args.episodes} episodes ({kind} policy, seed {args.seed}); "
                f"per episode: {', '.join(f'{r:.0f}' for r in returns[kind])}",
                flush=True,
            )
        video = None
        if args.video is not None:
            rendering = Tracker(f"rendering {args.video.name}", None, printer.update, "env steps")
            video = record_video(
                model,
                args.env,
                args.video,
                args.seconds,
                args.every,
                tuple(args.size),
                args.seed,
                on_step=lambda done, total: rendering.update(done, total=total),
            )
            rendering.finish()
            print(f"wrote {video.path}: {video.frames} frames of {video.width}x{video.height} at {video.fps:g} fps")
    except (OSError, ValueError, ImportError, RuntimeError, gym.error.Error) as error:  # each says what to do
        printer.close()
        parser.error(str(error))
    deterministic_returns = returns["deterministic"]
    return {
        "algo": type(model).__name__,
        "mean_return": float(np.mean(deterministic_returns)),
        "std_return": float(np.std(deterministic_returns)),
        "returns": returns,
        "video": video,
    }


if __name__ == "__main__":
    main(sys.argv[1:])
