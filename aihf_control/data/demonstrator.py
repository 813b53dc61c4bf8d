"""The demonstrator of ``make_dataset`` and its checkpoints: train, load, evaluate, pick by quality.

The demonstrator is a SAC, TQC or CrossQ of SB3 and sb3-contrib (torch) or of SBX (jax). Training saves
checkpoints of rising quality on the way, each written atomically, so that a killed run leaves only whole files;
the mixed-quality dataset later picks among them by their evaluated return.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.utils import check_for_correct_spaces

from aihf_control.progress import ProgressCallback, Report

Policy = Callable[[np.ndarray], np.ndarray]

ALGORITHMS = ("sac", "tqc", "crossq", "sbx-sac", "sbx-tqc", "sbx-crossq")
CHECKPOINT_NAME = re.compile(r"_(\d+)_steps\.zip$")
# Evaluations reset from seed + EVAL_SEED_OFFSET on, recordings from seed (and seed + MIXED_SEED_OFFSET): the
# reference scores are measured on other start states than the ones stored in the datasets.
EVAL_SEED_OFFSET = 1_000_000


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


def algorithm_label(algo: str) -> str:
    """``sbx-sac`` → ``SBX SAC``, ``sac`` → ``SB3 SAC``."""
    library, _, name = algo.rpartition("-")
    return f"{(library or 'sb3').upper()} {name.upper()}"


def algorithm_device(algo: str, device: str) -> dict[str, str]:
    """SB3 takes a torch device; SBX picks jax's platform (JAX_PLATFORMS) and only accepts "auto"."""
    return {"device": device} if not algo.startswith("sbx-") else {}


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
    env_id: str,
    algo: str,
    timesteps: int,
    learning_starts: int,
    net_arch: list[int],
    checkpoint_every: int,
    output_dir: Path,
    seed: int,
    device: str,
    report: Report,
) -> BaseAlgorithm:
    """Train ``algo`` on ``env_id`` with SB3's default hyperparameters, saving checkpoints on the way.

    :param env_id: gymnasium env id with Box actions
    :param algo: one of :data:`ALGORITHMS`
    :param timesteps: training steps
    :param learning_starts: random-action steps before learning starts
    :param net_arch: hidden layer sizes of actor and critics
    :param checkpoint_every: steps between checkpoints, saved into ``output_dir/checkpoints``
    :param output_dir: folder of ``demonstrator.zip`` and ``checkpoints/``
    :param seed: seed of the model and its env
    :param device: torch device for SB3 (ignored by SBX)
    :param report: where the training's progress goes (``ProgressPrinter.update``)
    :return: the trained model, also saved as ``output_dir/demonstrator.zip``
    """
    checkpoint_dir = output_dir / "checkpoints"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    model = algorithm_class(algo)(
        "MlpPolicy",
        gym.make(env_id),
        learning_starts=learning_starts,
        buffer_size=min(1_000_000, timesteps),  # a short run does not need a million-step buffer
        policy_kwargs=dict(net_arch=net_arch),
        seed=seed,
        **algorithm_device(algo, device),
    )
    print(
        f"training {algorithm_label(algo)} on {env_id} for {timesteps} steps, checkpoints every {checkpoint_every}",
        flush=True,
    )
    progress = ProgressCallback(
        f"training the {algorithm_label(algo)} demonstrator",
        timesteps,
        report,
        last_return=lambda: float(np.mean([i["r"] for i in model.ep_info_buffer])) if model.ep_info_buffer else None,
        return_label="training return",
    )
    model.learn(
        total_timesteps=timesteps,
        callback=[CheckpointCallback(checkpoint_every, checkpoint_dir, algo), progress],
    )
    progress.finish()
    save_atomically(model, output_dir / "demonstrator.zip")
    return model


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


def find_checkpoints(directory: Path) -> list[Path]:
    """The ``<algo>_<steps>_steps.zip`` files in ``directory``, in training order."""
    found = [path for path in directory.glob("*_steps.zip") if checkpoint_steps(path.name) is not None]
    return sorted(found, key=lambda path: checkpoint_steps(path.name))


def checkpoint_steps(name: str) -> int | None:
    """Training steps of a checkpoint named ``<algo>_<steps>_steps.zip``, None for other names."""
    match = CHECKPOINT_NAME.search(name)
    return int(match.group(1)) if match else None


def model_policy(model: BaseAlgorithm, deterministic: bool) -> Policy:
    """``model`` as an observation → action function: its mean action if ``deterministic``, else a sample."""
    return lambda obs: model.predict(obs, deterministic=deterministic)[0]


def random_policy(action_space: gym.spaces.Space, seed: int) -> Policy:
    """Uniform random actions from a copy of ``action_space`` seeded with ``seed`` (the env's space is left alone)."""
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


Evaluated = tuple[Path, dict[str, float], BaseAlgorithm]  # a checkpoint's path, its evaluation, its model


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
