"""Minari datasets → ``Demonstrations`` and ``Trajectory`` pools, loaded by id from the local Minari store
(never from the internet).
Also records episodes in the form ``minari.create_dataset_from_buffers`` writes (see ``record_episodes``).

A dataset id names a folder under the local store (``$MINARI_DATASETS_PATH``, else ``~/.minari/datasets``),
e.g. ``aihf/hopper/expert-v0`` lives in ``<store>/aihf/hopper/expert-v0/data``. Small datasets ship inside
this package under ``aihf_control/datasets/`` in the same layout; they are copied into the store the first
time they are asked for, so minari's own tools (``minari list local``, ``minari.load_dataset``) see them too.
Any other Minari dataset already in the store (e.g. ``mujoco/hopper/expert-v0``, downloaded elsewhere
with ``minari download``) loads through the same call.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import gymnasium as gym
import minari
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import parse_env_id
from minari.data_collector import EpisodeBuffer
from minari.namespace import create_namespace, list_local_namespaces
from minari.storage import get_dataset_path

from aihf_control.data.demos import Demonstrations
from aihf_control.data.segments import Trajectory

# Datasets shipped with the package, in the folder layout minari uses under its store.
SHIPPED_DATASETS_ROOT = Path(__file__).resolve().parent.parent / "datasets"

MAKE_DATASET_COMMAND = "python -m aihf_control.data.make_dataset"


class MinariDatasetNotFoundError(FileNotFoundError):
    """A dataset id that is neither in the local Minari store nor shipped with aihf-control."""


def default_dataset_id(env_id: str, quality: str = "expert") -> str:
    """The id ``make_dataset`` gives a dataset recorded on ``env_id``: ``Hopper-v5`` → ``aihf/hopper/expert-v0``.

    :param env_id: a gymnasium env id such as ``Hopper-v5`` (a namespace such as ``ALE/`` is dropped)
    :param quality: the dataset's name inside the env's folder: ``expert`` or ``mixed``
    :return: ``aihf/<lower-case env name>/<quality>-v0``
    """
    _, env_name, _ = parse_env_id(env_id)
    return f"aihf/{env_name.lower()}/{quality}-v0"


def minari_store_path() -> Path:
    """The local Minari store: ``$MINARI_DATASETS_PATH`` if set, else ``~/.minari/datasets`` (minari's rule)."""
    return get_dataset_path()


def local_dataset_ids() -> list[str]:
    """Ids of the datasets in the local Minari store, sorted by namespace, name and version."""
    return list(minari.list_local_datasets())


def shipped_dataset_ids() -> list[str]:
    """Ids of the datasets shipped inside the package (installed or not)."""
    if not SHIPPED_DATASETS_ROOT.is_dir():
        return []
    return sorted(
        metadata_file.parent.parent.relative_to(SHIPPED_DATASETS_ROOT).as_posix()
        for metadata_file in SHIPPED_DATASETS_ROOT.glob("**/data/metadata.json")
    )


def _is_in_store(dataset_id: str) -> bool:
    return (get_dataset_path(dataset_id) / "data").is_dir()


def _install_shipped_dataset(dataset_id: str) -> bool:
    """Copy one shipped dataset into the store unless the store already has that id; True if copied."""
    target = get_dataset_path(dataset_id)
    if _is_in_store(dataset_id):
        return False
    # DataCollector.create_dataset registers each namespace level; do the same so the store stays consistent.
    namespace = dataset_id.rsplit("/", 1)[0] if "/" in dataset_id else None
    if namespace is not None and namespace not in list_local_namespaces():
        with contextlib.suppress(ValueError):  # "already exists": another process made it just now
            create_namespace(namespace)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Copy into a hidden folder beside the target (minari skips hidden folders), then rename: another
    # process never sees half a dataset, and a rename onto an existing dataset fails instead of overwriting it.
    staging = Path(tempfile.mkdtemp(prefix=".aihf-install-", dir=target.parent))
    try:
        shutil.copytree(SHIPPED_DATASETS_ROOT / dataset_id, staging / "dataset")
        _decompress_in_place(staging / "dataset")
        try:
            os.replace(staging / "dataset", target)
        except OSError:
            if _is_in_store(dataset_id):  # another process installed it first
                return False
            raise OSError(
                f"cannot install the shipped dataset '{dataset_id}': {target} already exists but holds no "
                "Minari dataset (no data/ folder); remove that folder and try again"
            ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def _decompress_in_place(folder: Path) -> None:
    """Replace each ``<name>.gz`` under ``folder`` by ``<name>``: shipped HDF5 files are gzipped (a third the size)."""
    for packed in folder.glob("**/*.gz"):
        with gzip.open(packed, "rb") as source, open(packed.with_suffix(""), "wb") as target:
            shutil.copyfileobj(source, target, length=1 << 20)
        packed.unlink()


def install_shipped_datasets(dataset_ids: Iterable[str] | None = None) -> list[str]:
    """Copy datasets shipped with the package into the local Minari store; existing local datasets are kept.

    :param dataset_ids: which shipped datasets to install; None installs all of them
    :return: the ids that were copied (those already in the store are skipped, never overwritten)
    """
    shipped = shipped_dataset_ids()
    wanted = shipped if dataset_ids is None else list(dataset_ids)
    unknown = sorted(set(wanted) - set(shipped))
    if unknown:
        raise ValueError(
            f"{unknown} are not shipped with aihf-control; the shipped datasets are {shipped or 'none'} "
            f"(in {SHIPPED_DATASETS_ROOT})"
        )
    return [dataset_id for dataset_id in wanted if _install_shipped_dataset(dataset_id)]


def _not_found_message(dataset_id: str, env: gym.Env | None) -> str:
    local = local_dataset_ids()
    shipped = shipped_dataset_ids()
    env_id = env.spec.id if env is not None and env.spec is not None else None
    command = f"{MAKE_DATASET_COMMAND} --env {env_id or '<EnvId>'}"
    if env_id is None or default_dataset_id(env_id) != dataset_id:
        command += f" --dataset-id {dataset_id}"
    source = (
        "set by MINARI_DATASETS_PATH"
        if "MINARI_DATASETS_PATH" in os.environ
        else "minari's default; set MINARI_DATASETS_PATH to use another"
    )
    lines = [
        f"Minari dataset '{dataset_id}' is not in the local Minari store {minari_store_path()} ({source}).",
        f"Local datasets: {', '.join(local)}." if local else "The local store holds no datasets.",
    ]
    if shipped:
        lines.append(f"Datasets shipped with aihf-control (installed on first use): {', '.join(shipped)}.")
    lines += [
        f"Create it with: {command}" + ("" if env_id else "   (e.g. --env Hopper-v5)"),
        "or point MINARI_DATASETS_PATH at the store that holds it "
        "(datasets are never downloaded here; fetch one elsewhere with `minari download <id>` and copy it in).",
    ]
    return "\n".join(lines)


def load_local_dataset(dataset_id: str, env: gym.Env | None = None) -> minari.MinariDataset:
    """Open a Minari dataset from the local store, installing it first if it is shipped with the package.

    :param dataset_id: e.g. ``aihf/hopper/expert-v0`` or ``mujoco/hopper/expert-v0``
    :param env: only used to suggest the right ``make_dataset`` command when the id is missing
    :return: the dataset (nothing is downloaded)
    """
    if not _is_in_store(dataset_id) and dataset_id in shipped_dataset_ids():
        _install_shipped_dataset(dataset_id)
    if not _is_in_store(dataset_id):
        raise MinariDatasetNotFoundError(_not_found_message(dataset_id, env))
    try:
        return minari.load_dataset(dataset_id, download=False)
    except ModuleNotFoundError as e:
        # minari reads its storage formats through optional packages (h5py for hdf5, pyarrow for arrow)
        raise ModuleNotFoundError(
            f"reading Minari dataset '{dataset_id}' needs the package {e.name!r}: pip install {e.name}", name=e.name
        ) from e
    except (ValueError, OSError, KeyError, TypeError) as e:  # json.JSONDecodeError is a ValueError
        raise ValueError(
            f"Minari dataset '{dataset_id}' in {minari_store_path()} is damaged and cannot be read "
            f"({type(e).__name__}: {e}); delete its folder and record it again (or reinstall the package "
            "for a shipped one)"
        ) from e


def _spaces_match(dataset_space: spaces.Space, env_space: spaces.Space) -> bool:
    if isinstance(dataset_space, spaces.Box) and isinstance(env_space, spaces.Box):
        # dtype is left out on purpose: the data become float32 either way
        return (
            dataset_space.shape == env_space.shape
            and np.allclose(dataset_space.low, env_space.low)
            and np.allclose(dataset_space.high, env_space.high)
        )
    return dataset_space == env_space


def check_dataset_spaces(dataset: minari.MinariDataset, env: gym.Env) -> None:
    """Raise a clear error if the dataset was not recorded with ``env``'s observation and action spaces.

    :param dataset: a Minari dataset
    :param env: the env the data will be used with
    """
    recorded_on = dataset.env_spec.id if dataset.env_spec is not None else "an unrecorded env"
    env_id = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
    for name, dataset_space, env_space in (
        ("observation", dataset.observation_space, env.observation_space),
        ("action", dataset.action_space, env.action_space),
    ):
        if not _spaces_match(dataset_space, env_space):
            raise ValueError(
                f"Minari dataset '{dataset.id}' has {name} space {dataset_space}, but the env ({env_id}) has "
                f"{name} space {env_space}. The dataset was recorded on {recorded_on}: use it with that env "
                f"(and the same wrappers), or record a dataset on this env with `{MAKE_DATASET_COMMAND} --env {env_id}`"
            )


def record_episodes(
    env: gym.Env,
    policy: Callable[[object], object],
    *,
    seed: int,
    num_episodes: int | None = None,
    num_transitions: int | None = None,
) -> list[EpisodeBuffer]:
    """Run whole episodes of ``policy`` in ``env``, as buffers for ``minari.create_dataset_from_buffers``.

    Episode ``i`` starts from ``env.reset(seed=seed + i)``: explicit seeds make the recording reproducible, and
    minari stores each episode's seed. Recording stops after ``num_episodes`` episodes, or after the episode in
    which the steps reach ``num_transitions``; pass exactly one of them. Infos are not recorded (as with
    minari's ``DataCollector``, whose EpisodeBuffer needs jax, a dependency this package avoids).

    :param env: the env to act in
    :param policy: observation → action
    :param seed: reset seed of the first episode
    :return: one buffer per episode: observations (steps + 1 of them), actions, rewards, terminations and
        truncations (steps each)
    """
    if (num_episodes is None) == (num_transitions is None):
        raise ValueError(
            f"pass num_episodes ({num_episodes}) or num_transitions ({num_transitions}): exactly one of them"
        )
    episodes: list[EpisodeBuffer] = []
    steps = 0
    while (len(episodes) < num_episodes) if num_episodes is not None else (steps < num_transitions):
        episode_seed = seed + len(episodes)
        obs, _ = env.reset(seed=episode_seed)
        observations, actions, rewards, terminations, truncations = [obs], [], [], [], []
        done = False
        while not done:
            action = policy(obs)
            obs, reward, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(reward)
            terminations.append(terminated)
            truncations.append(truncated)
            done = terminated or truncated
        steps += len(rewards)
        episodes.append(
            EpisodeBuffer(
                seed=episode_seed,
                observations=observations,
                actions=actions,
                rewards=rewards,
                terminations=terminations,
                truncations=truncations,
                infos={},  # an empty infos group, as DataCollector writes without record_infos
            )
        )
    return episodes


def _flat_box_steps(dataset_id: str, name: str, space: spaces.Space, values: object, num_steps: int) -> np.ndarray:
    """One episode's observations or actions as a (num_steps, dim) array."""
    if not isinstance(space, spaces.Box):
        raise TypeError(
            f"Minari dataset '{dataset_id}' has {name} space {space}, but Demonstrations hold flat vectors "
            f"(a Box {name} space); use a dataset recorded with Box {name}s, e.g. with "
            "gymnasium.wrappers.FlattenObservation on the env"
        )
    array = np.asarray(values)
    if len(array) != num_steps:
        raise ValueError(
            f"Minari dataset '{dataset_id}' has an episode with {len(array)} {name}s where {num_steps} were expected "
            "(observations: steps + 1, actions: steps); the dataset is malformed, re-record it"
        )
    return array.reshape(num_steps, -1)


def _load_nonempty(dataset_id: str, env: gym.Env | None, num_episodes: int | None) -> minari.MinariDataset:
    """The dataset, checked against ``env``'s spaces, non-empty, and holding at least ``num_episodes`` episodes."""
    dataset = load_local_dataset(dataset_id, env)
    if env is not None:
        check_dataset_spaces(dataset, env)
    if dataset.total_episodes == 0 or dataset.total_steps == 0:
        raise ValueError(
            f"Minari dataset '{dataset_id}' is empty ({dataset.total_episodes} episodes, {dataset.total_steps} steps); "
            f"record a new one with `{MAKE_DATASET_COMMAND} --env "
            f"{dataset.env_spec.id if dataset.env_spec is not None else '<EnvId>'} --dataset-id <new id>`"
        )
    if num_episodes is not None and num_episodes > dataset.total_episodes:
        raise ValueError(
            f"asked for {num_episodes} episodes but Minari dataset '{dataset_id}' has only "
            f"{dataset.total_episodes}; ask for at most {dataset.total_episodes}"
        )
    return dataset


def load_demonstrations(
    dataset_id: str,
    env: gym.Env | None = None,
    num_transitions: int | None = None,
    num_episodes: int | None = None,
    seed: int = 0,
) -> Demonstrations:
    """Load a Minari dataset from the local store as ``Demonstrations`` (never downloads).

    Episodes are taken whole, in the order of a permutation seeded by ``seed``; with ``num_transitions``
    the last episode taken is cut so that exactly that many transitions come back. With neither limit,
    every episode is returned in stored order. ``dones`` are the dataset's terminations only: an episode
    cut by a time limit (a truncation) is not done.

    :param dataset_id: e.g. ``aihf/hopper/expert-v0`` (shipped or made by ``make_dataset``) or any dataset
        already in the store, such as ``mujoco/hopper/expert-v0``
    :param env: if given, the dataset's observation and action spaces must match this env's
    :param num_transitions: take this many transitions (> 0, at most the dataset's total)
    :param num_episodes: take this many whole episodes (> 0, at most the dataset's total)
    :param seed: seed of the permutation that picks the episodes
    :return: the transitions (s, a, s', terminated)
    """
    if num_transitions is not None and num_episodes is not None:
        raise ValueError(
            f"pass num_transitions ({num_transitions}) or num_episodes ({num_episodes}), not both: "
            "one limit decides how much data is taken"
        )
    for name, value in (("num_transitions", num_transitions), ("num_episodes", num_episodes)):
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be > 0, got {value}; pass None to take the whole dataset")
    dataset = _load_nonempty(dataset_id, env, num_episodes)
    if num_transitions is not None and num_transitions > dataset.total_steps:
        raise ValueError(
            f"asked for {num_transitions} transitions but Minari dataset '{dataset_id}' has only "
            f"{dataset.total_steps} (in {dataset.total_episodes} episodes); ask for at most {dataset.total_steps}"
        )

    if num_transitions is None and num_episodes is None:
        episode_indices = dataset.episode_indices
    else:
        episode_indices = np.random.default_rng(seed).permutation(dataset.episode_indices)[:num_episodes]
    obs, acts, next_obs, dones = [], [], [], []
    taken = 0
    for episode in dataset.iterate_episodes(episode_indices):  # read lazily: stops once enough is taken
        steps = len(episode)
        if steps == 0:
            continue
        observations = _flat_box_steps(
            dataset_id, "observation", dataset.observation_space, episode.observations, steps + 1
        )
        obs.append(observations[:-1])
        next_obs.append(observations[1:])
        acts.append(_flat_box_steps(dataset_id, "action", dataset.action_space, episode.actions, steps))
        dones.append(np.asarray(episode.terminations, dtype=bool))
        taken += steps
        if num_transitions is not None and taken >= num_transitions:
            break
    limit = num_transitions if num_transitions is not None else taken
    return Demonstrations(
        obs=np.concatenate(obs)[:limit],
        acts=np.concatenate(acts)[:limit],
        next_obs=np.concatenate(next_obs)[:limit],
        dones=np.concatenate(dones)[:limit],
    )


def load_trajectories(
    dataset_id: str, env: gym.Env | None = None, num_episodes: int | None = None, seed: int = 0
) -> list[Trajectory]:
    """Load a Minari dataset's episodes as ``Trajectory`` with their true rewards: the pool that
    ``generate_preferences`` cuts segments from (e.g. ``aihf/hopper/mixed-v0``, whose episodes come from
    checkpoints of rising quality and a random policy).

    An episode that ended in a termination is marked ``terminated``, so its segments may run past the
    end (padded with absorbing steps); one cut by a time limit is not.

    :param dataset_id: a dataset in the local store or shipped with the package
    :param env: if given, the dataset's observation and action spaces must match this env's
    :param num_episodes: take this many episodes, picked by a permutation seeded by ``seed``; None = all,
        in stored order
    :param seed: seed of that permutation
    :return: one ``Trajectory`` per episode
    """
    if num_episodes is not None and num_episodes <= 0:
        raise ValueError(f"num_episodes must be > 0, got {num_episodes}; pass None to take the whole dataset")
    dataset = _load_nonempty(dataset_id, env, num_episodes)
    episode_indices = dataset.episode_indices
    if num_episodes is not None:
        episode_indices = np.random.default_rng(seed).permutation(episode_indices)[:num_episodes]
    trajectories = []
    for episode in dataset.iterate_episodes(episode_indices):
        steps = len(episode)
        if steps == 0:
            continue
        obs = _flat_box_steps(dataset_id, "observation", dataset.observation_space, episode.observations, steps + 1)
        acts = _flat_box_steps(dataset_id, "action", dataset.action_space, episode.actions, steps)
        terminated = bool(np.asarray(episode.terminations)[-1])
        trajectories.append(Trajectory(obs[:-1], acts, np.asarray(episode.rewards), terminated))
    return trajectories
