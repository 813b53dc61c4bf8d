"""Baselines with AIHF's interface: BC (behaviour cloning of SAC's actor) and RLHF (BC init, a
Bradley–Terry reward from preferences only, SAC on it)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.logger import configure

from aihf_control import AIHF, BC, RLHF
from aihf_control.algos.bc import BehaviourCloner, behaviour_cloning_loss
from aihf_control.data import ScriptedTeacher
from examples.scripted_experts import expert_demonstrations, mean_return

BC_KWARGS = dict(policy_kwargs=dict(net_arch=[64, 64]), device="cpu", seed=0)


def actor_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.actor.state_dict().items()}


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------- BC


def test_behaviour_cloning_loss_by_hand():
    log_probs = torch.tensor([-1.0, -3.0])
    log_stds = torch.tensor([[0.5, -0.5], [1.0, 1.0]])
    # NLL 2.0, mean Σ log σ = (0 + 2) / 2 = 1
    torch.testing.assert_close(behaviour_cloning_loss(log_probs, log_stds, 0.1), torch.tensor(2.0 - 0.1))


def test_bc_on_expert_demonstrations_swings_up_the_pendulum():
    """A scripted swing-up expert scores about -130 and random actions about -1,200 (10 episodes each)."""
    torch.set_num_threads(1)
    demos = expert_demonstrations("Pendulum-v1", 5_000, seed=0)
    model = BC("MlpPolicy", "Pendulum-v1", demonstrations=demos, **BC_KWARGS).learn(4_000)
    cloned = mean_return("Pendulum-v1", lambda obs: model.predict(obs, deterministic=True)[0])
    assert cloned > -400 > mean_return("Pendulum-v1", None) + 400


def test_bc_learns_logs_saves_and_loads(tmp_path):
    demos = expert_demonstrations("Pendulum-v1", 500, seed=0)
    model = BC("MlpPolicy", "Pendulum-v1", demonstrations=demos, **BC_KWARGS)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    before = actor_state(model)
    model.learn(200, log_interval=100)
    assert not same_state(before, actor_state(model)) and model.num_timesteps == 200
    log = (tmp_path / "progress.csv").read_text()
    assert "bc/loss" in log and "bc/log_prob" in log
    model.save(tmp_path / "bc.zip")
    loaded = BC.load(tmp_path / "bc.zip", device="cpu")
    obs = demos.obs[:5]
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    with pytest.raises(RuntimeError, match="no demonstrations"):
        loaded.learn(10)
    loaded.set_demonstrations(demos)
    with pytest.raises(RuntimeError, match="no env"):
        loaded.learn(10)
    loaded = BC.load(tmp_path / "bc.zip", env=gym.make("Pendulum-v1"), device="cpu")
    loaded.set_demonstrations(demos)
    loaded.learn(10)


def test_bc_is_deterministic_given_the_seed():
    demos = expert_demonstrations("Pendulum-v1", 300, seed=0)
    states = [actor_state(BC("MlpPolicy", "Pendulum-v1", demonstrations=demos, **BC_KWARGS).learn(50)) for _ in "ab"]
    assert same_state(*states)


def test_bc_input_errors(hopper_demos):
    with pytest.raises(ValueError, match="BC got no feedback, and no datasets ship for Pendulum-v1"):
        BC("MlpPolicy", "Pendulum-v1")
    with pytest.raises(ValueError, match="observation"):
        BC("MlpPolicy", "Pendulum-v1", demonstrations=hopper_demos).learn(1)
    with pytest.raises(TypeError, match="continuous actions"):
        BC("MlpPolicy", "CartPole-v1", demonstrations=hopper_demos)
    model = BC("MlpPolicy", "Hopper-v5", demonstrations=hopper_demos, device="cpu").learn(300)
    assert model.num_timesteps == 300
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        BehaviourCloner(model, hopper_demos, batch_size=0)


# ---------------------------------------------------------------------------- RLHF


def test_rlhf_starts_from_bc_and_learns_its_reward_from_preferences(hopper_demos, hopper_prefs, small_aihf_kwargs):
    model = RLHF("MlpPolicy", "Hopper-v5", hopper_demos, hopper_prefs, bc_steps=20, seed=0, **small_aihf_kwargs)
    actor_before, reward_before = actor_state(model), {k: v.clone() for k, v in model.reward_net.state_dict().items()}
    model.learn(300)
    assert model.bc_done and "loss" in model.bc_metrics
    assert not same_state(actor_before, actor_state(model))
    assert any(not torch.equal(v, reward_before[k]) for k, v in model.reward_net.state_dict().items())
    assert model.demo_weight == 0.0 and model.demonstrations is None, "demonstrations never enter the reward loss"
    model.logger.name_to_value.clear()
    model._update_reward()
    assert "reward/pref_loss" in model.logger.name_to_value and "reward/demo_loss" not in model.logger.name_to_value


def test_aihf_without_its_demo_term_trains_the_reward_exactly_as_rlhf(hopper_prefs, small_aihf_kwargs, tmp_path):
    """The reduction: AIHF with demo_weight=0 is RLHF's reward learning, through one shared code path."""
    aihf = AIHF("MlpPolicy", "Hopper-v5", preferences=hopper_prefs, demo_weight=0.0, seed=3, **small_aihf_kwargs)
    rlhf = RLHF("MlpPolicy", "Hopper-v5", preferences=hopper_prefs, bc_steps=0, seed=3, **small_aihf_kwargs)
    for model in (aihf, rlhf):
        model.set_logger(configure(str(tmp_path), ["csv"]))
        rng = np.random.default_rng(0)
        for _ in range(20):
            obs = rng.normal(size=(1, 11))
            model.replay_buffer.add(obs, obs, rng.uniform(-1, 1, (1, 3)), np.zeros(1), np.zeros(1), [{}])
    for k, v in aihf.reward_net.state_dict().items():
        torch.testing.assert_close(v, rlhf.reward_net.state_dict()[k], rtol=0, atol=0)
    start = {k: v.clone() for k, v in aihf.reward_net.state_dict().items()}
    for model in (aihf, rlhf):
        np.random.seed(0)  # the reward batches are drawn with numpy's global generator
        for _ in range(3):
            model._update_reward()
    for k, v in aihf.reward_net.state_dict().items():
        torch.testing.assert_close(v, rlhf.reward_net.state_dict()[k], rtol=0, atol=0)
    assert any(not torch.equal(v, start[k]) for k, v in aihf.reward_net.state_dict().items()), "the reward learned"


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_rlhf_online_with_an_ensemble(small_aihf_kwargs, device):
    model = RLHF(
        "MlpPolicy",
        gym.make("Hopper-v5"),
        preference_source="online",
        teacher=ScriptedTeacher.oracle(),
        reward_ensemble_size=3,
        query_selection="disagreement",
        queries_per_round=8,
        query_every=100,
        segment_length=10,
        seed=0,
        **{**small_aihf_kwargs, "device": device},
    )
    model.learn(250)
    assert model.queries_asked == 16 and len(model.preferences) == 16
    assert model._feedback.pref_labels.device.type == device
    assert next(model.reward_net.parameters()).device.type == device


def test_rlhf_save_load(tmp_path, hopper_demos, hopper_prefs, small_aihf_kwargs):
    model = RLHF("MlpPolicy", "Hopper-v5", hopper_demos, hopper_prefs, bc_steps=5, seed=0, **small_aihf_kwargs)
    model.learn(150)
    model.save(tmp_path / "rlhf.zip")
    loaded = RLHF.load(tmp_path / "rlhf.zip", preferences=hopper_prefs, device="cpu")
    assert loaded.bc_done and loaded.bc_demonstrations is None
    obs = hopper_demos.obs[:4]
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    np.testing.assert_allclose(
        model.predict_reward(obs, hopper_demos.acts[:4]), loaded.predict_reward(obs, hopper_demos.acts[:4])
    )


def test_rlhf_input_errors(hopper_demos, hopper_prefs, small_aihf_kwargs):
    with pytest.raises(TypeError, match="takes no demo_weight"):
        RLHF("MlpPolicy", "Hopper-v5", preferences=hopper_prefs, demo_weight=1.0, **small_aihf_kwargs)
    with pytest.raises(ValueError, match="RLHF learns its reward from preferences"):
        RLHF("MlpPolicy", "Hopper-v5", demonstrations=hopper_demos, **small_aihf_kwargs)
    with pytest.raises(ValueError, match="bc_steps must be >= 0"):
        RLHF("MlpPolicy", "Hopper-v5", preferences=hopper_prefs, bc_steps=-1, **small_aihf_kwargs)
    with pytest.raises(ValueError, match="observation"):
        RLHF("MlpPolicy", "Pendulum-v1", preferences=hopper_prefs, **small_aihf_kwargs)
