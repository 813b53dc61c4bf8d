"""benchmarks.reward_levels reads a checkpointed AIHF run and reports where its reward sits."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from aihf_control import AIHF
from aihf_control.sb3.checkpoint import save_checkpoint


def test_reward_levels_of_a_checkpoint_match_the_models_reward(tmp_path, hopper_demos, small_aihf_kwargs, capsys):
    from benchmarks.reward_levels import main

    model = AIHF("MlpPolicy", gym.make("Hopper-v5"), demonstrations=hopper_demos, seed=0, **small_aihf_kwargs)
    model.learn(300)
    folder = save_checkpoint(model, tmp_path / "checkpoints")
    levels = main([str(tmp_path / "checkpoints"), "--env", "Hopper-v5", "--block", "100"])
    assert levels["absorbing"] == pytest.approx(model.reward_net.absorbing_reward().item(), abs=1e-5)
    buffer = model.replay_buffer
    expected = model.predict_reward(buffer.observations[:300, 0], model.policy.unscale_action(buffer.actions[:300, 0]))
    np.testing.assert_allclose(levels["policy_rewards"], expected, atol=1e-4)
    out = capsys.readouterr().out
    assert str(folder) in out and "| 200–300 |" in out
    env_rewards = buffer.rewards[:300, 0]
    assert levels["correlations"][2] == pytest.approx(np.corrcoef(expected[200:], env_rewards[200:])[0, 1], abs=1e-3)


def test_the_reward_judges_another_runs_replay_rows(tmp_path, hopper_demos, small_aihf_kwargs, capsys):
    from stable_baselines3 import SAC

    from benchmarks.reward_levels import main

    model = AIHF("MlpPolicy", gym.make("Hopper-v5"), demonstrations=hopper_demos, seed=0, **small_aihf_kwargs)
    model.learn(300)
    save_checkpoint(model, tmp_path / "aihf")
    other = SAC("MlpPolicy", gym.make("Hopper-v5"), learning_starts=50, seed=1, policy_kwargs={"net_arch": [16]})
    other.learn(200)
    other_folder = save_checkpoint(other, tmp_path / "sac")
    levels = main([str(tmp_path / "aihf"), "--env", "Hopper-v5", "--rows-from", str(tmp_path / "sac")])
    buffer = other.replay_buffer
    expected = model.predict_reward(buffer.observations[:200, 0], other.policy.unscale_action(buffer.actions[:200, 0]))
    np.testing.assert_allclose(levels["policy_rewards"], expected, atol=1e-4)
    assert f"replay rows of {other_folder}" in capsys.readouterr().out
    pendulum = SAC("MlpPolicy", gym.make("Pendulum-v1"), learning_starts=10, seed=0, policy_kwargs={"net_arch": [16]})
    pendulum.learn(20)
    save_checkpoint(pendulum, tmp_path / "pendulum")
    with pytest.raises(SystemExit):
        main([str(tmp_path / "aihf"), "--env", "Hopper-v5", "--rows-from", str(tmp_path / "pendulum")])
    assert "have 3 observation and 1 action dimensions, Hopper-v5 has 11 and 3" in capsys.readouterr().err


def test_correlation_of_constant_values_is_nan():
    from aihf_control.algos.aihf.reward_metrics import correlation

    assert np.isnan(correlation(np.ones(5), np.arange(5.0)))
    assert correlation(np.arange(5.0), 2 * np.arange(5.0) + 1) == pytest.approx(1.0)


def test_a_checkpoint_of_another_algorithm_is_refused(tmp_path, capsys):
    from stable_baselines3 import SAC

    from benchmarks.reward_levels import main

    model = SAC("MlpPolicy", gym.make("Pendulum-v1"), learning_starts=10, buffer_size=100, seed=0)
    model.learn(20)
    save_checkpoint(model, tmp_path)
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--env", "Pendulum-v1"])
    assert "is a checkpoint of SAC, not of an AIHF model" in capsys.readouterr().err


def test_reward_by_bins_of_an_observation_dimension(tmp_path, hopper_demos, small_aihf_kwargs, capsys):
    from benchmarks.reward_levels import main

    model = AIHF("MlpPolicy", gym.make("Hopper-v5"), demonstrations=hopper_demos, seed=0, **small_aihf_kwargs)
    model.learn(300)
    save_checkpoint(model, tmp_path / "checkpoints")
    levels = main(
        [
            str(tmp_path / "checkpoints"),
            "--env",
            "Hopper-v5",
            "--block",
            "100",
            "--observation-bins",
            "1",
            "-0.1",
            "0.1",
        ]
    )
    angle = model.replay_buffer.observations[:300, 0, 1]  # Hopper's torso angle
    below, middle, above = levels["bins"]
    assert below["bin"] == (-np.inf, -0.1) and above["bin"] == (0.1, np.inf)
    assert middle["shares"][0] == pytest.approx(np.mean(np.abs(angle[:100]) < 0.1))
    assert len(middle["shares"]) == 3
    assert sum(b["demo_share"] for b in levels["bins"]) == pytest.approx(1.0)
    rows = angle >= 0.1
    if rows.any():
        assert above["mean_r"] == pytest.approx(levels["policy_rewards"][rows].mean(), abs=1e-5)
    assert "| [-0.1, 0.1) |" in capsys.readouterr().out
    for bad in (["1"], ["1", "0.5", "-0.5"], ["11", "0.0"], ["0.5", "0.0"]):
        with pytest.raises(SystemExit):
            main([str(tmp_path / "checkpoints"), "--env", "Hopper-v5", "--observation-bins", *bad])
    assert "not an observation dimension of Hopper-v5 (0 to 10)" in capsys.readouterr().err
