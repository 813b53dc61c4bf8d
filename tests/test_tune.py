"""The Ray Tune sweep over AIHF's knobs: its search space, and a smoke-sized sweep end to end."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("ray.tune")

from benchmarks.profiles import PROFILES
from benchmarks.tune import PREFERENCE_WEIGHTS, REWARD_LEARNING_RATES, main, search_space


def test_the_search_space_covers_aihfs_knobs_around_the_profile():
    space = search_space(PROFILES["paper"])
    assert set(space) == {"preference_weight", "alignment_steps", "reward_learning_rate"}
    assert space["alignment_steps"].categories == [1_250, 2_500, 5_000, 10_000, 20_000], "around the paper's 5k"
    for _ in range(20):
        assert PREFERENCE_WEIGHTS[0] <= space["preference_weight"].sample() <= PREFERENCE_WEIGHTS[1]
        assert REWARD_LEARNING_RATES[0] <= space["reward_learning_rate"].sample() <= REWARD_LEARNING_RATES[1]


def test_smoke_sweep_reports_the_true_return_and_writes_the_best_config(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))  # the shipped datasets install here
    argv = ["--profile", "smoke", "--samples", "2", "--workers", "2", "--logdir", str(tmp_path / "out")]
    summary = main(argv)
    saved = json.loads((tmp_path / "out" / "best_config.json").read_text())
    assert saved == summary and saved["trials"] == 2 and saved["failed_trials"] == []
    assert set(saved["config"]) == {"preference_weight", "alignment_steps", "reward_learning_rate"}
    assert saved["env_steps"] == 1_200, "the last report is the last evaluation"
    trials = (tmp_path / "out" / "trials.csv").read_text().splitlines()
    assert len(trials) == 3 and "eval/true_return" in trials[0]
    best_returns = [float(row.split(",")[trials[0].split(",").index("final_return")]) for row in trials[1:]]
    assert saved["final_return"] == pytest.approx(max(best_returns))
    assert list((tmp_path / "out" / "tune").rglob("tensorboard/aihf_prefs100_seed0_1/events.out.tfevents.*"))
