"""The datasets shipped in aihf_control/datasets: they install into a fresh store, load, and hold what the
paper's protocol needs (10k demonstration transitions from a strong demonstrator, and a mixed-quality
pool for 20k synthetic preferences)."""

from __future__ import annotations

import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from aihf_control.data import (
    ScriptedTeacher,
    generate_preferences,
    load_demonstrations,
    load_local_dataset,
    load_trajectories,
    shipped_dataset_ids,
)
from aihf_control.data.describe import main as describe_main

# env id → the least demonstrator return that makes the data worth learning from
STRONG_RETURN = {"Hopper-v5": 2_500.0, "HalfCheetah-v5": 5_000.0, "Walker2d-v5": 3_000.0}


@pytest.fixture(autouse=True)
def fresh_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    return tmp_path / "store"


def dataset_ids(env_id: str) -> tuple[str, str]:
    name = env_id.split("-")[0].lower()
    return f"aihf/{name}/expert-v0", f"aihf/{name}/mixed-v0"


@pytest.mark.parametrize("env_id", sorted(STRONG_RETURN))
def test_shipped_demonstrations_come_from_a_strong_demonstrator(env_id: str, fresh_store: Path) -> None:
    expert_id, mixed_id = dataset_ids(env_id)
    assert {expert_id, mixed_id} <= set(shipped_dataset_ids())
    env = gym.make(env_id)
    demos = load_demonstrations(expert_id, env=env, num_transitions=10_000, seed=0)
    assert len(demos) == 10_000 and (fresh_store / expert_id / "data" / "main_data.hdf5").is_file()
    dataset = load_local_dataset(expert_id)
    metadata = dataset.storage.metadata
    returns = [episode.rewards.sum() for episode in dataset.iterate_episodes()]
    assert len(returns) >= 10
    assert np.mean(returns) >= STRONG_RETURN[env_id]
    assert metadata["ref_max_score"] == pytest.approx(metadata["demonstrator_evaluation"]["return_mean"])
    assert metadata["ref_max_score"] >= STRONG_RETURN[env_id] > 10 * abs(metadata["ref_min_score"])
    summary = describe_main([expert_id])[0]  # the command README quotes
    assert summary["return_mean"] == pytest.approx(np.mean(returns), rel=1e-5) and summary["episodes"] == len(returns)
    # Different seeds pick different demonstration episodes.
    other = load_demonstrations(expert_id, env=env, num_transitions=10_000, seed=1)
    assert not np.array_equal(demos.obs, other.obs)


@pytest.mark.parametrize("env_id", sorted(STRONG_RETURN))
def test_shipped_mixed_pool_gives_20k_preferences_across_qualities(env_id: str) -> None:
    _, mixed_id = dataset_ids(env_id)
    pool = load_trajectories(mixed_id, env=gym.make(env_id))
    returns = np.array([t.rewards.sum() for t in pool])
    assert returns.min() < 0.1 * STRONG_RETURN[env_id] and returns.max() > 0.5 * STRONG_RETURN[env_id]
    start = time.perf_counter()
    prefs = generate_preferences(pool, 20_000, ScriptedTeacher.oracle(), segment_length=50, seed=0)
    seconds = time.perf_counter() - start
    assert len(prefs) == 20_000 and seconds < 30
    segment_returns = np.concatenate([prefs.true_rewards_1.sum(axis=1), prefs.true_rewards_2.sum(axis=1)])
    # Segments of every quality: from short falls to the best checkpoint's steady progress.
    assert np.percentile(segment_returns, 10) < 0.25 * np.percentile(segment_returns, 90)
    if any(t.terminated and len(t) < 50 for t in pool):
        assert prefs.absorbing_1.any(), "falls shorter than a segment are kept, padded"
