"""Minari datasets → Demonstrations, shipped datasets, and the make_dataset script, all in temporary stores.

Every test points MINARI_DATASETS_PATH and the shipped-datasets folder at tmp_path: nothing touches
~/.minari, and nothing is downloaded.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import gymnasium as gym
import minari
import numpy as np
import pytest

from aihf_control.data import minari_datasets
from aihf_control.data.make_dataset import main as make_dataset_main
from aihf_control.data.minari_datasets import (
    MinariDatasetNotFoundError,
    default_dataset_id,
    install_shipped_datasets,
    load_demonstrations,
    load_trajectories,
    local_dataset_ids,
    record_episodes,
)

ENV_ID = "InvertedPendulum-v5"  # obs 4, act 1; random actions topple the pole within a few steps
LOCAL_ID = "tests/invertedpendulum/tiny-v0"
SHIPPED_ID = "aihf/invertedpendulum/tiny-v0"


# Everything minari asks for, so that it does not warn about missing metadata.
TEST_METADATA = dict(
    eval_env=ENV_ID,
    algorithm_name="random actions",
    author="tests",
    author_email="tests@example.org",
    code_permalink="tests/test_minari_datasets.py",
    description="random actions",
)


def record_tiny_dataset(dataset_id: str, num_episodes: int, seed: int = 0) -> None:
    """Random-action episodes of at most 6 steps: some end by termination (the pole falls), some by truncation."""
    env = gym.make(ENV_ID, max_episode_steps=6)
    env.action_space.seed(seed)
    episodes = record_episodes(env, lambda obs: env.action_space.sample(), seed=seed, num_episodes=num_episodes)
    minari.create_dataset_from_buffers(dataset_id, episodes, env=env, **TEST_METADATA)
    env.close()


@pytest.fixture(scope="module")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding LOCAL_ID (12 episodes) and SHIPPED_ID (4 episodes), built once per module."""
    store = tmp_path_factory.mktemp("built_store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MINARI_DATASETS_PATH", str(store))
        record_tiny_dataset(LOCAL_ID, num_episodes=12)
        record_tiny_dataset(SHIPPED_ID, num_episodes=4, seed=100)
    return store


@pytest.fixture(autouse=True)
def no_shipped_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test starts with an empty shipped-datasets folder, so the package's real ones do not leak in."""
    shipped_root = tmp_path / "shipped"
    monkeypatch.setattr(minari_datasets, "SHIPPED_DATASETS_ROOT", shipped_root)
    return shipped_root


@pytest.fixture
def store(built_store: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(built_store))
    return built_store


@pytest.fixture
def empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(path))
    return path


def concatenated_episodes(dataset_id: str, order: np.ndarray | None = None) -> dict[str, np.ndarray]:
    episodes = list(minari.load_dataset(dataset_id).iterate_episodes(order))
    return {
        "obs": np.concatenate([e.observations[:-1] for e in episodes]),
        "acts": np.concatenate([e.actions for e in episodes]),
        "next_obs": np.concatenate([e.observations[1:] for e in episodes]),
        "terminations": np.concatenate([e.terminations for e in episodes]),
        "truncations": np.concatenate([e.truncations for e in episodes]),
    }


def test_recorded_episodes_are_whole_seeded_and_reproducible(store: Path) -> None:
    dataset = minari.load_dataset(LOCAL_ID)
    assert dataset.total_episodes == 12 and dataset.env_spec.max_episode_steps == 6
    assert "dataset_size" in dataset.storage.metadata
    assert [m["seed"] for m in dataset.storage.get_episode_metadata(range(12))] == list(range(12))
    env = gym.make(ENV_ID, max_episode_steps=6)
    episodes = record_episodes(env, lambda obs: np.zeros(1, np.float32), seed=5, num_transitions=10)
    lengths = [len(episode) for episode in episodes]
    assert sum(lengths[:-1]) < 10 <= sum(lengths), "stops after the episode that reaches num_transitions"
    for episode in episodes:
        assert len(episode.observations) == len(episode.actions) + 1 == len(episode) + 1
        ends = np.logical_or(episode.terminations, episode.truncations)
        assert ends[-1] and not ends[:-1].any()
    again = record_episodes(env, lambda obs: np.zeros(1, np.float32), seed=5, num_transitions=10)
    np.testing.assert_array_equal(np.concatenate(episodes[0].observations), np.concatenate(again[0].observations))
    with pytest.raises(ValueError, match="exactly one"):
        record_episodes(env, lambda obs: np.zeros(1, np.float32), seed=0)


def test_whole_dataset_becomes_transitions_with_terminations_as_dones(store: Path) -> None:
    demos = load_demonstrations(LOCAL_ID, env=gym.make(ENV_ID))
    expected = concatenated_episodes(LOCAL_ID)
    assert expected["terminations"].any() and expected["truncations"].any(), "the data must hold both endings"
    assert demos.obs.shape == (len(expected["obs"]), 4) and demos.acts.shape == (len(expected["obs"]), 1)
    np.testing.assert_allclose(demos.obs, expected["obs"], rtol=1e-6)
    np.testing.assert_allclose(demos.next_obs, expected["next_obs"], rtol=1e-6)
    np.testing.assert_allclose(demos.acts, expected["acts"], rtol=1e-6)
    np.testing.assert_array_equal(demos.dones, expected["terminations"])
    assert not demos.dones[expected["truncations"]].any(), "a time-limit truncation is not a done"


def test_num_transitions_takes_seeded_whole_episodes_then_cuts(store: Path) -> None:
    order = np.random.default_rng(3).permutation(minari.load_dataset(LOCAL_ID).episode_indices)
    expected = concatenated_episodes(LOCAL_ID, order)
    demos = load_demonstrations(LOCAL_ID, num_transitions=17, seed=3)
    assert len(demos) == 17
    np.testing.assert_allclose(demos.obs, expected["obs"][:17], rtol=1e-6)
    np.testing.assert_array_equal(demos.dones, expected["terminations"][:17])
    again = load_demonstrations(LOCAL_ID, num_transitions=17, seed=3)
    np.testing.assert_array_equal(demos.obs, again.obs)
    other_seed = load_demonstrations(LOCAL_ID, num_transitions=17, seed=4)
    assert not np.array_equal(demos.obs, other_seed.obs)


def test_num_episodes_takes_exactly_that_many(store: Path) -> None:
    dataset = minari.load_dataset(LOCAL_ID)
    chosen = np.random.default_rng(0).permutation(dataset.episode_indices)[:5]
    demos = load_demonstrations(LOCAL_ID, num_episodes=5, seed=0)
    assert len(demos) == sum(len(e) for e in dataset.iterate_episodes(chosen))


def test_bad_amounts_say_what_the_dataset_has(store: Path) -> None:
    dataset = minari.load_dataset(LOCAL_ID)
    with pytest.raises(ValueError, match=f"has only {dataset.total_episodes}"):
        load_demonstrations(LOCAL_ID, num_episodes=dataset.total_episodes + 1)
    with pytest.raises(ValueError, match=f"has only {dataset.total_steps}"):
        load_demonstrations(LOCAL_ID, num_transitions=dataset.total_steps + 1)
    with pytest.raises(ValueError, match="not both"):
        load_demonstrations(LOCAL_ID, num_transitions=5, num_episodes=1)
    with pytest.raises(ValueError, match="must be > 0"):
        load_demonstrations(LOCAL_ID, num_episodes=0)


def test_space_mismatch_names_both_spaces(store: Path) -> None:
    hopper = gym.make("Hopper-v5")
    with pytest.raises(ValueError, match="observation space") as error:
        load_demonstrations(LOCAL_ID, env=hopper)
    message = str(error.value)
    assert str(minari.load_dataset(LOCAL_ID).observation_space) in message
    assert str(hopper.observation_space) in message
    assert ENV_ID in message and "make_dataset --env Hopper-v5" in message


def test_missing_id_lists_local_datasets_and_the_command(store: Path) -> None:
    with pytest.raises(FileNotFoundError) as error:
        load_demonstrations("aihf/hopper/expert-v0", env=gym.make("Hopper-v5"))
    assert isinstance(error.value, MinariDatasetNotFoundError)
    message = str(error.value)
    assert LOCAL_ID in message and SHIPPED_ID in message and str(store) in message
    assert "python -m aihf_control.data.make_dataset --env Hopper-v5" in message
    assert "--dataset-id" not in message  # the default id of that env needs no flag


def test_missing_id_in_an_empty_store(empty_store: Path) -> None:
    with pytest.raises(MinariDatasetNotFoundError, match="holds no datasets") as error:
        load_demonstrations("mujoco/hopper/expert-v0")
    assert "make_dataset --env <EnvId> --dataset-id mujoco/hopper/expert-v0" in str(error.value)
    assert local_dataset_ids() == []


def test_empty_dataset_is_refused(empty_store: Path) -> None:
    minari.create_dataset_from_buffers("tests/empty-v0", [], env=gym.make(ENV_ID), **TEST_METADATA)
    with pytest.raises(ValueError, match="is empty"):
        load_demonstrations("tests/empty-v0")


def test_load_trajectories_keeps_rewards_and_marks_falls(store: Path) -> None:
    trajectories = load_trajectories(LOCAL_ID, env=gym.make(ENV_ID))
    episodes = list(minari.load_dataset(LOCAL_ID).iterate_episodes())
    assert len(trajectories) == len(episodes) == 12
    for trajectory, episode in zip(trajectories, episodes, strict=True):
        np.testing.assert_array_equal(trajectory.obs, episode.observations[:-1].astype(np.float32))
        np.testing.assert_array_equal(trajectory.acts, episode.actions.astype(np.float32))
        np.testing.assert_array_equal(trajectory.rewards, episode.rewards.astype(np.float32))
        assert trajectory.terminated == bool(episode.terminations[-1]) != bool(episode.truncations[-1])
    assert {t.terminated for t in trajectories} == {True, False}, "the tiny dataset has falls and time limits"
    picked = load_trajectories(LOCAL_ID, num_episodes=5, seed=3)
    assert len(picked) == 5
    np.testing.assert_array_equal(picked[0].obs, load_trajectories(LOCAL_ID, num_episodes=5, seed=3)[0].obs)


def test_load_trajectories_errors(store: Path) -> None:
    with pytest.raises(ValueError, match="num_episodes must be > 0"):
        load_trajectories(LOCAL_ID, num_episodes=0)
    with pytest.raises(ValueError, match=r"asked for 13 episodes but Minari dataset .* has only 12"):
        load_trajectories(LOCAL_ID, num_episodes=13)
    with pytest.raises(ValueError, match="observation space"):
        load_trajectories(LOCAL_ID, env=gym.make("Pendulum-v1"))
    with pytest.raises(MinariDatasetNotFoundError, match="not in the local Minari store"):
        load_trajectories("tests/nothing/here-v0")


def ship(built_store: Path, shipped_root: Path) -> None:
    """Put SHIPPED_ID into the shipped folder, in the layout minari uses under its store, data file gzipped."""
    shutil.copytree(built_store / SHIPPED_ID, shipped_root / SHIPPED_ID)
    data_file = shipped_root / SHIPPED_ID / "data" / "main_data.hdf5"
    with open(data_file, "rb") as source, gzip.open(data_file.with_suffix(".hdf5.gz"), "wb") as target:
        shutil.copyfileobj(source, target)
    data_file.unlink()


def test_shipped_dataset_is_installed_on_first_use(
    built_store: Path, empty_store: Path, no_shipped_datasets: Path
) -> None:
    ship(built_store, no_shipped_datasets)
    assert local_dataset_ids() == []
    demos = load_demonstrations(SHIPPED_ID, env=gym.make(ENV_ID))
    assert local_dataset_ids() == [SHIPPED_ID]
    assert len(demos) == minari.load_dataset(SHIPPED_ID, download=False).total_steps
    assert not [p for p in empty_store.rglob(".aihf-install-*")], "the staging folder is removed"
    installed = sorted(p.name for p in (empty_store / SHIPPED_ID / "data").iterdir())
    assert installed == ["main_data.hdf5", "metadata.json"], "the gzipped data file is unpacked in the store"
    assert install_shipped_datasets() == []  # already there: nothing to copy


def test_shipped_dataset_never_overwrites_a_local_one(
    built_store: Path, empty_store: Path, no_shipped_datasets: Path
) -> None:
    ship(built_store, no_shipped_datasets)
    record_tiny_dataset(SHIPPED_ID, num_episodes=2, seed=7)  # a user's own dataset under the same id
    local_steps = minari.load_dataset(SHIPPED_ID).total_steps
    assert install_shipped_datasets() == []
    assert len(load_demonstrations(SHIPPED_ID)) == local_steps
    with pytest.raises(ValueError, match="not shipped"):
        install_shipped_datasets(["aihf/nothing/here-v0"])


def test_make_dataset_records_expert_and_mixed_datasets(tmp_path: Path, empty_store: Path) -> None:
    run_dir = tmp_path / "run"
    common = [
        "--env",
        "Pendulum-v1",
        "--eval-episodes",
        "2",
        "--output-dir",
        str(run_dir),
        "--device",
        "cpu",
        "--author-email",
        "tests@example.org",
        "--code-permalink",
        "tests",
    ]
    training = ["--timesteps", "300", "--checkpoint-every", "100", "--net-arch", "32,32"]
    results = make_dataset_main([*common, *training, "--num-transitions", "400", "--mixed-quality"])
    expert_id, mixed_id = default_dataset_id("Pendulum-v1"), default_dataset_id("Pendulum-v1", "mixed")
    assert expert_id == "aihf/pendulum/expert-v0"
    assert results["dataset_ids"] == [expert_id, mixed_id]
    assert set(local_dataset_ids()) == {expert_id, mixed_id}
    for dataset_id in (expert_id, mixed_id):
        metadata = json.loads((empty_store / dataset_id / "data" / "metadata.json").read_text())
        assert metadata["ref_max_score"] == results["demonstrator"]["return_mean"]
        assert metadata["ref_min_score"] == results["random_policy"]["return_mean"]
        assert metadata["author"] and metadata["description"]
        assert metadata["demonstrator_evaluation"]["episodes"] == 2
        assert metadata["make_dataset_config"]["timesteps"] == 300
    expert = minari.load_dataset(expert_id)
    assert expert.total_steps >= 400
    episode_metadata = list(expert.storage.get_episode_metadata(expert.episode_indices))
    assert [m["seed"] for m in episode_metadata] == list(range(expert.total_episodes))  # --seed 0, then +1
    assert all("rewards_sum" in m for m in episode_metadata)
    policies = json.loads((empty_store / mixed_id / "data" / "metadata.json").read_text())["policies"]
    assert policies[-1]["policy"] == "random" and all(p["num_steps"] > 0 for p in policies)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        f"sac_{n}_steps.zip" for n in (100, 200, 300)
    ]
    demos = load_demonstrations(expert_id, env=gym.make("Pendulum-v1"), num_transitions=100)
    assert len(demos) == 100 and not demos.dones.any()  # Pendulum only ever truncates

    with pytest.raises(SystemExit):  # refuses to overwrite, before any training
        make_dataset_main([*common, "--timesteps", "300"])
    results = make_dataset_main(
        [
            *common,
            "--expert",
            str(run_dir / "demonstrator.zip"),
            "--episodes",
            "1",
            "--dataset-id",
            "aihf/pendulum/expert-v1",
        ]
    )
    assert minari.load_dataset("aihf/pendulum/expert-v1").total_episodes == 1


def test_make_dataset_knows_crossq_in_torch_and_in_jax():
    from sb3_contrib import CrossQ

    from aihf_control.data.make_dataset import ALGORITHMS, algorithm_class, algorithm_label

    assert algorithm_class("crossq") is CrossQ and {"crossq", "sbx-crossq"} <= set(ALGORITHMS)
    assert algorithm_label("sbx-crossq") == "SBX CROSSQ"
