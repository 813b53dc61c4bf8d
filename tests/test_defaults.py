"""Out of the box: ``AIHF("MlpPolicy", "Hopper-v5")`` and the baselines with no data arguments use the
shipped datasets with the paper's budget, say so, and record it with the saved model."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

from aihf_control import AIHF, BC, IPL, RLHF
from aihf_control.data.defaults import DEFAULT_NUM_DEMOS, DEFAULT_NUM_PREFS, env_id_of

SMALL = dict(learning_starts=100, buffer_size=1_000, policy_kwargs=dict(net_arch=[32, 32]), device="cpu")


@pytest.fixture(autouse=True)
def fresh_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))


def test_aihf_with_no_data_uses_the_shipped_datasets_and_says_so(tmp_path, capsys):
    model = AIHF("MlpPolicy", "Hopper-v5", seed=3, reward_net_arch=(32, 32), **SMALL)
    assert "AIHF: no feedback given; using the shipped 10,000 transitions of aihf/hopper/expert-v0" in (
        capsys.readouterr().out
    )
    assert len(model.demonstrations) == DEFAULT_NUM_DEMOS and len(model.preferences) == DEFAULT_NUM_PREFS
    assert model.default_feedback == {
        "seed": 3,
        "demonstrations": {"dataset_id": "aihf/hopper/expert-v0", "num_transitions": 10_000},
        "preferences": {
            "dataset_id": "aihf/hopper/mixed-v0",
            "num_pairs": 20_000,
            "teacher": "oracle",
            "segment_length": 50,
        },
    }
    model.learn(150)
    model.save(tmp_path / "model.zip")
    loaded = AIHF.load(tmp_path / "model.zip", env=gym.make("Hopper-v5"))
    assert loaded.default_feedback == model.default_feedback
    # A loaded model goes on learning without data arguments: it rebuilds the same feedback from its record.
    loaded.learn(50, reset_num_timesteps=False)
    np.testing.assert_array_equal(loaded.demonstrations.obs, model.demonstrations.obs)
    np.testing.assert_array_equal(loaded.preferences.labels, model.preferences.labels)
    np.testing.assert_array_equal(loaded.preferences.obs_1, model.preferences.obs_1)


def test_passing_one_kind_of_feedback_turns_the_default_off(hopper_demos):
    model = AIHF("MlpPolicy", gym.make("Hopper-v5"), demonstrations=hopper_demos, **SMALL)
    assert model.preferences is None and model.default_feedback is None


def test_an_ablation_loads_only_the_feedback_it_uses():
    model = AIHF("MlpPolicy", "Hopper-v5", demo_weight=0.0, **SMALL)
    assert model.demonstrations is None and len(model.preferences) == DEFAULT_NUM_PREFS


def test_baselines_with_no_data(capsys):
    rlhf = RLHF("MlpPolicy", "Hopper-v5", bc_steps=1, **SMALL)
    assert len(rlhf.bc_demonstrations) == DEFAULT_NUM_DEMOS and len(rlhf.preferences) == DEFAULT_NUM_PREFS
    ipl = IPL("MlpPolicy", "Hopper-v5", bc_steps=1, **SMALL)
    assert len(ipl.bc_demonstrations) == DEFAULT_NUM_DEMOS and len(ipl.preferences) == DEFAULT_NUM_PREFS
    bc = BC("MlpPolicy", "Hopper-v5", device="cpu")
    assert len(bc.demonstrations) == DEFAULT_NUM_DEMOS and "preferences" not in bc.default_feedback
    out = capsys.readouterr().out
    assert all(f"{name}: no feedback given" in out for name in ("RLHF", "IPL", "BC"))


def test_env_ids_of_strings_envs_and_vec_envs():
    assert env_id_of("Hopper-v5") == "Hopper-v5"
    assert env_id_of(gym.make("Walker2d-v5")) == "Walker2d-v5"
    assert env_id_of(make_vec_env("Hopper-v5", n_envs=2)) == "Hopper-v5"
