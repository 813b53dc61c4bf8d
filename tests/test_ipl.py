"""IPL: implicit rewards r_Q = Q - γV(s'), the preference loss on their segment sums, the χ² regulariser,
and the SAC-based algorithm that starts from BC and never reads the env's reward."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gymnasium.wrappers import TransformReward
from stable_baselines3.common.logger import configure

from aihf_control import IPL, Preferences
from aihf_control.algos.ipl import implicit_rewards, ipl_loss

IPL_KWARGS = dict(
    learning_starts=100,
    batch_size=32,
    buffer_size=1_000,
    preference_batch_size=8,
    policy_kwargs=dict(net_arch=[32, 32]),
    device="cpu",
)


def test_implicit_rewards_by_hand():
    q = torch.tensor([[1.0, 2.0, 3.0]])
    v_next = torch.tensor([10.0, 10.0, 10.0])
    terminated = torch.tensor([0.0, 1.0, 0.0])
    torch.testing.assert_close(implicit_rewards(q, v_next, terminated, 0.9), torch.tensor([[-8.0, 2.0, -6.0]]))


def test_ipl_loss_by_hand():
    # One critic, one pair of 3-step segments; σ² fell after its first step (2 padded steps).
    r1 = torch.tensor([[[1.0, 0.5, -0.5]]])
    r2 = torch.tensor([[[2.0, 7.0, 7.0]]])  # padded steps hold garbage that must not count
    valid_1, valid_2 = torch.ones(1, 3), torch.tensor([[1.0, 0.0, 0.0]])
    labels = torch.tensor([1.0])
    replay = torch.tensor([[3.0, -1.0]])
    # R¹ = 1.0, R² = 2.0 → -log σ(1 - 2); χ² over the 3 + 1 real segment steps and 2 replay steps
    expected_pref = -F.logsigmoid(torch.tensor(-1.0))
    expected_reg = (1 + 0.25 + 0.25 + 4 + 9 + 1) / 6
    loss = ipl_loss(r1, r2, valid_1, valid_2, labels, replay, regularization=0.5)
    torch.testing.assert_close(loss, expected_pref + 0.5 * expected_reg)
    # Two identical critics give the same loss (each critic is averaged, not summed).
    loss_2 = ipl_loss(r1.repeat(2, 1, 1), r2.repeat(2, 1, 1), valid_1, valid_2, labels, replay.repeat(2, 1), 0.5)
    torch.testing.assert_close(loss_2, loss)


def test_ipl_starts_from_bc_and_fits_the_preferences(hopper_demos, hopper_prefs, tmp_path):
    torch.manual_seed(0)
    model = IPL("MlpPolicy", "Hopper-v5", hopper_prefs, hopper_demos, bc_steps=20, seed=0, **IPL_KWARGS)
    actor_before = {k: v.clone() for k, v in model.actor.state_dict().items()}
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(101)  # warm-up only
    assert model.bc_done and any(not torch.equal(v, actor_before[k]) for k, v in model.actor.state_dict().items())
    model.train(gradient_steps=5, batch_size=32)
    first = model.logger.name_to_value["reward/pref_loss"]
    model.train(gradient_steps=300, batch_size=32)
    model.train(gradient_steps=100, batch_size=32)  # the window measured
    last = model.logger.name_to_value["reward/pref_loss"]
    assert last < 0.5 * first, "the implicit reward fits the preferences"
    assert model.logger.name_to_value["reward/pref_accuracy"] > 0.8


def test_ipl_never_reads_the_env_reward(hopper_prefs):
    """Two runs that differ only in the env's reward end with the same critic: the reward is never used."""
    critics = []
    for value in (0.0, 1_000.0):
        env = TransformReward(gym.make("Hopper-v5"), lambda _, c=value: c)
        model = IPL("MlpPolicy", env, hopper_prefs, bc_steps=0, seed=0, **IPL_KWARGS)
        model.learn(200)
        critics.append(model.critic.state_dict())
    for k, v in critics[0].items():
        torch.testing.assert_close(v, critics[1][k], rtol=0, atol=0)


def test_ipl_handles_segments_that_end_in_a_fall(hopper_prefs, falls_factory):
    padded = falls_factory(hopper_prefs, 2)
    model = IPL("MlpPolicy", "Hopper-v5", padded, bc_steps=0, seed=0, **IPL_KWARGS)
    segments = model._segment_tensors()
    np.testing.assert_array_equal(segments["valid_2"][0].numpy(), [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(segments["terminated_2"][0].numpy(), [0.0, 1.0, 0.0, 0.0])
    model.learn(200)
    model.train(gradient_steps=5, batch_size=32)
    assert np.isfinite(model.logger.name_to_value["train/critic_loss"])
    assert 0.0 <= model.logger.name_to_value["reward/pref_accuracy"] <= 1.0


def test_ipl_save_load(tmp_path, hopper_prefs):
    model = IPL("MlpPolicy", "Hopper-v5", hopper_prefs, bc_steps=0, seed=0, **IPL_KWARGS)
    model.learn(150)
    model.save(tmp_path / "ipl.zip")
    loaded = IPL.load(tmp_path / "ipl.zip", env=gym.make("Hopper-v5"), device="cpu")
    obs = hopper_prefs.obs_1[:, 0]
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    with pytest.raises(RuntimeError, match="no preferences"):
        loaded.learn(10, reset_num_timesteps=False)
    loaded.set_preferences(hopper_prefs)
    loaded.learn(10, reset_num_timesteps=False)


def test_ipl_input_errors(hopper_demos, hopper_prefs):
    with pytest.raises(TypeError, match="IPL learns from preferences"):
        IPL("MlpPolicy", "Hopper-v5", None, hopper_demos, **IPL_KWARGS)
    with pytest.raises(ValueError, match="IPL got no feedback, and no datasets ship for Pendulum-v1"):
        IPL("MlpPolicy", "Pendulum-v1", **IPL_KWARGS)
    with pytest.raises(ValueError, match="observation"):
        IPL("MlpPolicy", "Pendulum-v1", hopper_prefs, **IPL_KWARGS)
    with pytest.raises(ValueError, match="reward_regularization must be >= 0"):
        IPL("MlpPolicy", "Hopper-v5", hopper_prefs, reward_regularization=-1.0, **IPL_KWARGS)
    one_step = Preferences(
        hopper_prefs.obs_1[:, :1], hopper_prefs.acts_1[:, :1], hopper_prefs.obs_2[:, :1], hopper_prefs.acts_2[:, :1],
        hopper_prefs.labels,
    )  # fmt: skip
    with pytest.raises(ValueError, match="at least 2 steps"):
        IPL("MlpPolicy", "Hopper-v5", one_step, **IPL_KWARGS)


def test_ipl_with_vec_normalize_normalises_segments_like_the_replay(hopper_prefs):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    venv = VecNormalize(make_vec_env("Hopper-v5", n_envs=1, seed=0), norm_reward=False)
    model = IPL("MlpPolicy", venv, hopper_prefs, bc_steps=0, seed=0, **IPL_KWARGS)
    model.learn(150)
    raw = model._segment_tensors()["obs_1"][:2].flatten(0, 1)
    expected = venv.normalize_obs(raw.numpy())
    np.testing.assert_allclose(model._as_policy_sees(raw).numpy(), expected, rtol=1e-6)
    assert not np.allclose(expected, raw.numpy())
