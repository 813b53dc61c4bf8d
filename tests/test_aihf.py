"""AIHF end to end on Hopper-v5, at a few hundred env steps."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers import TransformReward
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor

from aihf_control import AIHF, Demonstrations, Preferences, RelabelingReplayBuffer, TrueReturnEvalCallback
from aihf_control.algos.aihf.reward_step import joint_reward_loss

STEPS = 300


def make_model(env, kwargs: dict, demos=None, prefs=None, seed: int = 0, **overrides) -> AIHF:
    return AIHF("MlpPolicy", env, demonstrations=demos, preferences=prefs, seed=seed, **{**kwargs, **overrides})


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def params_changed(module: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(v, before[k]) for k, v in module.state_dict().items())


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def csv_logger(model: AIHF, folder: Path) -> Path:
    model.set_logger(configure(str(folder), ["csv"]))
    return folder / "progress.csv"


# ---------------------------------------------------------------------------- (a) end to end

DEMO_KEYS = {"reward/demo_loss", "reward/demo_minus_policy"}
PREF_KEYS = {"reward/pref_loss", "reward/pref_accuracy"}
COMMON_KEYS = {"reward/updates", "reward/absorbing_reward", "reward/true_corr"}


@pytest.mark.parametrize(
    "use_demos, use_prefs, present, absent",
    [
        (True, True, DEMO_KEYS | PREF_KEYS | COMMON_KEYS, set()),
        (True, False, DEMO_KEYS | COMMON_KEYS, PREF_KEYS),  # pure ML-IRL
        (False, True, PREF_KEYS | COMMON_KEYS, DEMO_KEYS),  # pure preferences (RLHF reward loss)
    ],
    ids=["demos+prefs", "demos-only", "prefs-only"],
)
def test_end_to_end_learns_reward_and_logs(
    tmp_path, hopper_demos, hopper_prefs, small_aihf_kwargs, use_demos, use_prefs, present, absent
):
    env = gym.make("Hopper-v5")
    model = make_model(
        env, small_aihf_kwargs, demos=hopper_demos if use_demos else None, prefs=hopper_prefs if use_prefs else None
    )
    progress = csv_logger(model, tmp_path)
    reward_before, actor_before = snapshot(model.reward_net), snapshot(model.actor)
    model.learn(STEPS)

    assert model.num_timesteps == STEPS
    assert model.reward_updates >= 2  # one every alignment_steps=100 env steps after learning_starts=100
    assert params_changed(model.reward_net, reward_before)
    assert params_changed(model.actor, actor_before)

    with open(progress, newline="") as f:
        header = set(csv.DictReader(f).fieldnames or ())
    assert present <= header, f"missing {present - header} in the CSV log"
    assert not (absent & header)

    # one more reward update by hand: its metrics sit in the logger until the next dump
    model.logger.name_to_value.clear()
    model._update_reward()
    logged = dict(model.logger.name_to_value)
    assert present <= set(logged), f"missing {present - set(logged)}"
    assert not (absent & set(logged))
    assert all(np.isfinite(logged[k]) for k in present)
    assert logged["reward/updates"] == model.reward_updates
    if use_prefs:
        assert 0.0 <= logged["reward/pref_accuracy"] <= 1.0
        assert logged["reward/pref_loss"] > 0
    if use_demos:
        assert -2 * model.reward_bound * (1 + model.gamma / (1 - model.gamma)) <= logged["reward/demo_minus_policy"]
    assert -1.0 <= logged["reward/true_corr"] <= 1.0


def test_preference_weight_zero_ignores_preferences(hopper_demos, hopper_prefs, small_aihf_kwargs):
    model = make_model(
        gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos, prefs=hopper_prefs, preference_weight=0.0
    )
    model.learn(150)
    model.logger.name_to_value.clear()
    model._update_reward()
    assert "reward/demo_loss" in model.logger.name_to_value
    assert "reward/pref_loss" not in model.logger.name_to_value


@pytest.mark.parametrize("ensemble_size", [1, 3])
def test_the_minimised_loss_is_the_weighted_sum_of_the_logged_terms(
    hopper_demos, hopper_prefs, small_aihf_kwargs, ensemble_size
):
    model = make_model(
        gym.make("Hopper-v5"),
        small_aihf_kwargs,
        demos=hopper_demos,
        prefs=hopper_prefs,
        demo_weight=0.7,
        preference_weight=2.0,
        reward_gradient_penalty=5.0,
        reward_ensemble_size=ensemble_size,
    )
    model.learn(150)
    step = joint_reward_loss(
        model.reward_net,
        model._feedback,
        model._recent_policy_transitions(),
        use_demos=True,
        use_prefs=True,
        demo_weight=0.7,
        preference_weight=2.0,
        gradient_penalty_weight=5.0,
        reward_batch_size=32,
        preference_batch_size=8,
        gamma=model.gamma,
        absorbing_state=True,
        demo_loss_weighting=model.demo_loss_weighting,
    )
    # Each ensemble member gets its whole loss (× E): the logged terms are the members' means.
    expected = ensemble_size * (0.7 * step.demo_loss + 2.0 * step.preference_loss + 5.0 * step.gradient_penalty)
    assert step.loss.item() == pytest.approx(expected, rel=1e-5)
    assert step.preference_loss > 0 and step.gradient_penalty >= 0


def add_policy_steps_near(model: AIHF, demos: Demonstrations, terminated: bool) -> None:
    """50 replayed Hopper steps near the first demonstrated states, random actions, all (not) terminated."""
    rng = np.random.default_rng(0)
    for i in range(50):
        obs = demos.obs[i : i + 1] + rng.normal(scale=0.1, size=(1, 11))
        model.replay_buffer.add(obs, obs, rng.uniform(-1, 1, (1, 3)), np.array([0.0]), np.array([terminated]), [{}])


@pytest.mark.parametrize("demos_terminate", [True, False])
def test_absorbing_reward_is_learned_from_the_demo_loss(tmp_path, hopper_demos, small_aihf_kwargs, demos_terminate):
    """Demos that end in termination while the policy never does raise r_abs, and the reverse lowers it."""
    demos = Demonstrations(
        hopper_demos.obs, hopper_demos.acts, hopper_demos.next_obs, np.full(len(hopper_demos), demos_terminate)
    )
    model = make_model(
        gym.make("Hopper-v5"), small_aihf_kwargs, demos=demos, reward_gradient_steps=10, reward_learning_rate=1e-2
    )
    csv_logger(model, tmp_path)  # _update_reward logs; learn() would set the logger up otherwise
    add_policy_steps_near(model, hopper_demos, terminated=not demos_terminate)
    before = model.reward_net.absorbing_reward().item()
    model._update_reward()
    after = model.reward_net.absorbing_reward().item()
    assert (after > before) if demos_terminate else (after < before)


@pytest.mark.parametrize("weighting", ["transitions", "occupancy", "separate_falls"])
def test_a_falling_policy_drags_the_whole_reward_down_unless_the_demo_loss_weighs_occupancies(
    tmp_path, hopper_demos, small_aihf_kwargs, weighting
):
    """Every policy step ends in a fall, no demonstrated one does. Per transition, each fall adds γ/(1-γ)·r_abs to
    the policy's side, so lowering r_θ everywhere lowers the loss: r_θ(demo) falls with it. Over normalised
    occupancies (or with the falls in a term of their own) a constant does not change the loss: r_θ(demo) rises
    and r_abs falls."""
    model = make_model(
        gym.make("Hopper-v5"),
        small_aihf_kwargs,
        demos=hopper_demos,
        reward_gradient_steps=10,
        reward_learning_rate=1e-2,
        reward_gradient_penalty=0.0,
        demo_loss_weighting=weighting,
    )
    csv_logger(model, tmp_path)
    add_policy_steps_near(model, hopper_demos, terminated=True)
    demo_obs, demo_acts = (torch.as_tensor(x[:256], dtype=torch.float32) for x in (hopper_demos.obs, hopper_demos.acts))
    policy = model._recent_policy_transitions()

    def levels() -> tuple[float, float, float]:
        net = model.reward_net
        demo_r, policy_r = net(demo_obs, demo_acts).mean().item(), net(policy.obs, policy.acts).mean().item()
        return demo_r, policy_r, net.absorbing_reward().item()

    before, policy_before, absorbing_before = levels()
    model._update_reward()
    after, policy_after, absorbing_after = levels()
    assert absorbing_after < absorbing_before
    if weighting == "transitions":
        assert after < before - 1.0
    elif weighting == "occupancy":  # the policy's real steps weigh 1/(1 + γ/(1-γ)) here: r_θ(demo) rises
        assert after > before
    else:  # the contrast at full weight lowers the policy's steps (near the demonstrations) without a drift
        assert after - policy_after > before - policy_before + 1.0 and after > before - 0.5


def test_an_unknown_demo_loss_weighting_is_refused(hopper_demos, small_aihf_kwargs):
    expected = "demo_loss_weighting must be one of 'occupancy', 'separate_falls', 'transitions', got 'steps'"
    with pytest.raises(ValueError, match=expected):
        make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos, demo_loss_weighting="steps")


def test_preferences_against_falls_lower_the_absorbing_reward(tmp_path, hopper_prefs, small_aihf_kwargs, falls_factory):
    """A segment that ends in a fall is padded with absorbing steps; preferring the whole segment to
    the fall can only be learned through r_abs, which must drop below the rewards of real steps."""
    falls = falls_factory(hopper_prefs, 3)  # σ² fell after 3 steps
    model = make_model(gym.make("Hopper-v5"), small_aihf_kwargs, prefs=falls, reward_learning_rate=1e-2)
    csv_logger(model, tmp_path)
    model.replay_buffer.add(
        falls.obs_1[0, :1], falls.obs_1[0, 1:2], falls.acts_1[0, :1], np.array([0.0]), np.array([False]), [{}]
    )
    before = model.reward_net.absorbing_reward().item()
    for _ in range(5):
        model._update_reward()
    after = model.reward_net.absorbing_reward().item()
    real_mean = model.predict_reward(falls.obs_1, falls.acts_1).mean()
    assert after < before and after < real_mean
    assert model.logger.name_to_value["reward/pref_accuracy"] == 1.0


# ---------------------------------------------------------------------------- (b) no true reward


@pytest.mark.parametrize("absorbing_state", [True, False])
def test_sac_never_sees_true_reward(tmp_path, hopper_demos, hopper_prefs, small_aihf_kwargs, absorbing_state):
    huge = 1e6
    env = TransformReward(gym.make("Hopper-v5"), lambda _, c=huge: c)
    model = make_model(env, small_aihf_kwargs, demos=hopper_demos, prefs=hopper_prefs, absorbing_state=absorbing_state)
    progress = csv_logger(model, tmp_path)
    model.learn(STEPS)

    buffer = model.replay_buffer
    assert isinstance(buffer, RelabelingReplayBuffer)
    np.testing.assert_array_equal(buffer.rewards[: buffer.size()], huge)  # the true reward is stored...
    batch = buffer.sample(256)
    limit = model.reward_bound * ((1 + model.gamma / (1 - model.gamma)) if absorbing_state else 1.0)
    assert (batch.rewards.abs() <= limit).all()  # ...but never sampled
    assert batch.rewards.abs().max() < huge / 1e3

    rows = read_csv(progress)
    critic_losses = [float(r["train/critic_loss"]) for r in rows if r.get("train/critic_loss")]
    assert critic_losses, "SAC must have trained"
    # a critic fitted to 1e6 rewards would have losses around 1e12
    assert max(critic_losses) < 1e5
    true_returns = [float(r["rollout/ep_rew_mean"]) for r in rows if r.get("rollout/ep_rew_mean")]
    assert true_returns and min(true_returns) >= huge  # the Monitor still logs the true reward


# ---------------------------------------------------------------------------- (c) save / load


def assert_optimizer_state_equal(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["state"], "the optimizer must have taken steps"
    assert sa["state"].keys() == sb["state"].keys()
    for key, state in sa["state"].items():
        for name, value in state.items():
            other = sb["state"][key][name]
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(other)), (key, name)
    for ga, gb in zip(sa["param_groups"], sb["param_groups"], strict=True):
        assert ga["lr"] == gb["lr"] and ga["weight_decay"] == gb["weight_decay"]


def test_save_load_round_trip_and_continue(tmp_path, hopper_demos, hopper_prefs, small_aihf_kwargs, feedback_factory):
    env = gym.make("Hopper-v5")
    model = make_model(env, small_aihf_kwargs, demos=hopper_demos, prefs=hopper_prefs)
    model.learn(STEPS)
    path = tmp_path / "aihf.zip"
    model.save(path)

    loaded = AIHF.load(path, env=env, demonstrations=hopper_demos, preferences=hopper_prefs, device="cpu")
    obs, acts = hopper_demos.obs[:20], hopper_demos.acts[:20]
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0])
    np.testing.assert_array_equal(model.predict_reward(obs, acts), loaded.predict_reward(obs, acts))
    torch.testing.assert_close(model.reward_net.absorbing_reward(), loaded.reward_net.absorbing_reward())
    for name, value in model.reward_net.state_dict().items():
        assert torch.equal(value, loaded.reward_net.state_dict()[name]), name
    assert_optimizer_state_equal(model.reward_optimizer, loaded.reward_optimizer)
    assert loaded.reward_updates == model.reward_updates
    assert loaded.alignment_steps == model.alignment_steps and loaded.reward_bound == model.reward_bound
    # the optimizer steps the loaded net's own parameters
    opt_params = {id(p) for g in loaded.reward_optimizer.param_groups for p in g["params"]}
    assert opt_params == {id(p) for p in loaded.reward_net.parameters()}

    # it goes on learning: reward and policy both move (a fresh learn() restarts the step count)
    reward_before, actor_before = snapshot(loaded.reward_net), snapshot(loaded.actor)
    updates_before = loaded.reward_updates
    loaded.learn(250)
    assert loaded.reward_updates > updates_before
    assert params_changed(loaded.reward_net, reward_before)
    assert params_changed(loaded.actor, actor_before)

    # without feedback it refuses to learn, and says how to fix it
    bare = AIHF.load(path, env=env, device="cpu")
    np.testing.assert_array_equal(bare.predict_reward(obs, acts), model.predict_reward(obs, acts))
    with pytest.raises(RuntimeError, match="set_feedback"):
        bare.learn(10)
    with pytest.raises(ValueError, match="set_feedback needs"):
        bare.set_feedback()

    # set_feedback with other data keeps the trained input statistics
    other_demos, other_prefs = feedback_factory("Hopper-v5", n_demo_steps=100, n_pairs=6, seed=7)
    stats = (bare.reward_net.obs_mean.clone(), bare.reward_net.obs_std.clone())
    bare.set_feedback(demonstrations=other_demos, preferences=other_prefs)
    assert torch.equal(bare.reward_net.obs_mean, stats[0]) and torch.equal(bare.reward_net.obs_std, stats[1])
    reward_before = snapshot(bare.reward_net)
    bare.learn(250, reset_num_timesteps=False)
    assert bare.num_timesteps == STEPS + 250
    assert params_changed(bare.reward_net, reward_before)


def test_learn_twice_keeps_updating_the_reward(hopper_demos, small_aihf_kwargs):
    """A second learn() (which restarts the step count) must not freeze the reward."""
    model = make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos)
    model.learn(STEPS)
    updates = model.reward_updates
    model.learn(STEPS)
    assert model.reward_updates >= updates + 2


def test_save_before_learning_and_load_with_feedback(tmp_path, hopper_demos, small_aihf_kwargs):
    model = make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos)
    model.save(tmp_path / "fresh.zip")
    loaded = AIHF.load(tmp_path / "fresh.zip", env=gym.make("Hopper-v5"), demonstrations=hopper_demos, device="cpu")
    assert torch.equal(loaded.reward_net.obs_mean, model.reward_net.obs_mean)
    np.testing.assert_array_equal(
        loaded.predict_reward(hopper_demos.obs[:5], hopper_demos.acts[:5]),
        model.predict_reward(hopper_demos.obs[:5], hopper_demos.acts[:5]),
    )


def test_a_file_saved_before_demo_loss_weighting_existed_goes_on_with_transitions(
    tmp_path, hopper_demos, small_aihf_kwargs
):
    """The default became "occupancy", then "separate_falls"; a saved model keeps the objective it was trained with."""
    model = make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos)
    assert model.demo_loss_weighting == "separate_falls"
    model.save(tmp_path / "new.zip")
    make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos, demo_loss_weighting="occupancy").save(
        tmp_path / "occupancy.zip"
    )
    with zipfile.ZipFile(tmp_path / "new.zip") as new, zipfile.ZipFile(tmp_path / "old.zip", "w") as old:
        for item in new.infolist():
            content = new.read(item)
            if item.filename == "data":
                data = json.loads(content)
                del data["demo_loss_weighting"]
                content = json.dumps(data).encode()
            old.writestr(item, content)

    def load(name: str, **kwargs) -> AIHF:
        return AIHF.load(
            tmp_path / name, env=gym.make("Hopper-v5"), demonstrations=hopper_demos, device="cpu", **kwargs
        )

    assert load("new.zip").demo_loss_weighting == "separate_falls"
    assert load("occupancy.zip").demo_loss_weighting == "occupancy"
    assert load("old.zip").demo_loss_weighting == "transitions"
    assert load("old.zip", demo_loss_weighting="occupancy").demo_loss_weighting == "occupancy"


def test_the_reward_net_has_the_actors_layers_unless_given(tmp_path, hopper_demos):
    """Benchmarks pass the learner's layers to r_θ; the default does the same, so it is what they measured."""
    env = gym.make("Hopper-v5")

    def reward_layers(**kwargs) -> list[int]:
        model = AIHF(
            "MlpPolicy",
            env,
            demonstrations=hopper_demos,
            preference_weight=0.0,
            buffer_size=1_000,
            device="cpu",
            **kwargs,
        )
        return [layer.out_features for layer in model.reward_net.modules() if isinstance(layer, torch.nn.Linear)]

    assert reward_layers() == [256, 256, 1]  # SB3's actor
    assert reward_layers(policy_kwargs={"net_arch": [64, 64]}) == [64, 64, 1]
    assert reward_layers(policy_kwargs={"net_arch": {"pi": [32], "qf": [128, 128]}}) == [32, 1]
    assert reward_layers(policy_kwargs={"net_arch": [64, 64]}, reward_net_arch=[16]) == [16, 1]
    model = AIHF(
        "MlpPolicy", env, demonstrations=hopper_demos, policy_kwargs={"net_arch": [24]}, buffer_size=1_000, device="cpu"
    )
    model.save(tmp_path / "model.zip")
    assert AIHF.load(tmp_path / "model.zip", env=env, demonstrations=hopper_demos).reward_net_arch == [24]


def test_an_actor_without_layer_sizes_asks_for_reward_net_arch(hopper_demos, monkeypatch):
    from stable_baselines3.sac.policies import Actor

    monkeypatch.setattr(Actor, "net_arch", None, raising=False)  # as a custom actor that keeps no layer list
    monkeypatch.setattr(Actor, "__init__", _actor_init_without_net_arch(Actor.__init__))
    with pytest.raises(ValueError, match="has no net_arch: pass reward_net_arch"):
        AIHF("MlpPolicy", gym.make("Hopper-v5"), demonstrations=hopper_demos, buffer_size=1_000, device="cpu")


def _actor_init_without_net_arch(init):
    def without(self, *args, **kwargs):
        init(self, *args, **kwargs)
        del self.net_arch

    return without


# ---------------------------------------------------------------------------- (d) determinism


def test_same_seed_same_result_different_seed_different(hopper_demos, hopper_prefs, small_aihf_kwargs):
    def run(seed: int) -> tuple[dict, dict]:
        model = make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos, prefs=hopper_prefs, seed=seed)
        model.learn(STEPS)
        return snapshot(model.reward_net), snapshot(model.policy)

    reward_a, policy_a = run(0)
    reward_b, policy_b = run(0)
    reward_c, policy_c = run(1)
    for k in reward_a:
        assert torch.equal(reward_a[k], reward_b[k]), k
    for k in policy_a:
        assert torch.equal(policy_a[k], policy_b[k]), k
    assert any(not torch.equal(reward_a[k], reward_c[k]) for k in reward_a)
    assert any(not torch.equal(policy_a[k], policy_c[k]) for k in policy_a)


# ---------------------------------------------------------------------------- (e) bad input


def test_demos_with_wrong_observation_size(small_aihf_kwargs):
    rng = np.random.default_rng(0)
    demos = Demonstrations(
        rng.normal(size=(10, 8)), rng.uniform(-1, 1, (10, 3)), rng.normal(size=(10, 8)), np.zeros(10)
    )
    with pytest.raises(ValueError, match=r"demonstrations have observation size 8.*size 11"):
        make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=demos)


def test_feedback_from_another_env(feedback_factory, small_aihf_kwargs):
    demos, prefs = feedback_factory("Pendulum-v1", n_demo_steps=30, n_pairs=2, segment_length=3)
    with pytest.raises(ValueError, match="preference segments have observation size 3"):
        make_model(gym.make("Hopper-v5"), small_aihf_kwargs, prefs=prefs)
    with pytest.raises(ValueError, match="recorded on a different environment"):
        make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=demos)


def test_discrete_action_space(small_aihf_kwargs):
    rng = np.random.default_rng(0)
    demos = Demonstrations(rng.normal(size=(5, 4)), np.zeros((5, 1)), rng.normal(size=(5, 4)), np.zeros(5))
    with pytest.raises(TypeError, match="continuous"):
        make_model(gym.make("CartPole-v1"), small_aihf_kwargs, demos=demos)
    with pytest.raises(TypeError, match="continuous"):
        make_model("CartPole-v1", small_aihf_kwargs, demos=demos)


def test_no_feedback_for_an_env_without_shipped_datasets(small_aihf_kwargs):
    with pytest.raises(ValueError, match=r"no datasets ship for Pendulum-v1; pass demonstrations=\.\.\. and pref"):
        make_model(gym.make("Pendulum-v1"), small_aihf_kwargs)


def test_numpy_array_instead_of_demonstrations(hopper_demos, small_aihf_kwargs):
    with pytest.raises(TypeError, match=r"demonstrations must be an aihf_control\.Demonstrations"):
        make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos.obs)


def test_wrong_type_for_preferences(hopper_demos, small_aihf_kwargs):
    with pytest.raises(TypeError, match=r"preferences must be an aihf_control\.Preferences"):
        make_model(gym.make("Hopper-v5"), small_aihf_kwargs, prefs=hopper_demos)


@pytest.mark.parametrize(
    "name", ["alignment_steps", "reward_gradient_steps", "reward_batch_size", "preference_batch_size"]
)
def test_non_positive_schedule(hopper_demos, small_aihf_kwargs, name):
    with pytest.raises(ValueError, match=f"{name} must be a positive integer, got 0"):
        make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos, **{name: 0})


@pytest.mark.parametrize("weights", [(0.0, 0.0), (-1.0, 1.0), (1.0, -0.5)])
def test_bad_weights(hopper_demos, small_aihf_kwargs, weights):
    with pytest.raises(ValueError, match="demo_weight and preference_weight must be >= 0 and not both 0"):
        make_model(
            gym.make("Hopper-v5"),
            small_aihf_kwargs,
            demos=hopper_demos,
            demo_weight=weights[0],
            preference_weight=weights[1],
        )


def test_weights_that_switch_off_all_given_feedback(hopper_demos, hopper_prefs, small_aihf_kwargs):
    # demonstrations only, with their term weighted 0: nothing would be learned
    with pytest.raises(ValueError, match="switched off by its weight"):
        make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos, demo_weight=0.0)
    model = make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos, preference_weight=0.0)
    with pytest.raises(ValueError, match="switched off by its weight"):
        model.set_feedback(preferences=hopper_prefs)


def test_plain_replay_buffer_is_refused(hopper_demos, small_aihf_kwargs):
    with pytest.raises(TypeError, match="needs a RelabelingReplayBuffer, got ReplayBuffer"):
        make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos, replay_buffer_class=ReplayBuffer)


def test_relabeling_buffer_subclass_is_accepted(hopper_demos, small_aihf_kwargs):
    class MyBuffer(RelabelingReplayBuffer):
        pass

    model = make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos, replay_buffer_class=MyBuffer)
    assert type(model.replay_buffer) is MyBuffer
    assert model.replay_buffer.reward_fn is not None


# ---------------------------------------------------------------------------- (f) predict_reward


def test_predict_reward_shapes_and_values(hopper_demos, small_aihf_kwargs):
    model = make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos)
    obs, acts = hopper_demos.obs[:20].astype(np.float64), hopper_demos.acts[:20]

    batch = model.predict_reward(obs, acts)
    assert isinstance(batch, np.ndarray) and batch.shape == (20,) and batch.dtype == np.float32
    with torch.no_grad():
        expected = model.reward_net(torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(acts)).numpy()
    np.testing.assert_allclose(batch, expected, rtol=1e-6)
    assert (np.abs(batch) < model.reward_bound).all()

    single = model.predict_reward(obs[3], acts[3])
    assert isinstance(single, np.ndarray) and single.shape == ()
    assert single == pytest.approx(batch[3], rel=1e-6)

    tbd = model.predict_reward(obs.reshape(5, 4, 11), acts.reshape(5, 4, 3))  # (T, B, d)
    assert tbd.shape == (5, 4)
    np.testing.assert_allclose(tbd.reshape(-1), batch, rtol=1e-6)

    as_lists = model.predict_reward(obs[:2].tolist(), acts[:2].tolist())
    np.testing.assert_allclose(as_lists, batch[:2], rtol=1e-6)


@pytest.mark.parametrize(
    "obs_shape, act_shape",
    [((7, 10), (7, 3)), ((7, 11), (7, 4)), ((7, 11), (6, 3)), ((5, 4, 11), (20, 3)), ((11,), (2, 3))],
)
def test_predict_reward_wrong_shapes(hopper_demos, small_aihf_kwargs, obs_shape, act_shape):
    model = make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos)
    with pytest.raises(
        ValueError, match=r"predict_reward expects observations \(\.\.\., 11\) and actions \(\.\.\., 3\)"
    ):
        model.predict_reward(np.zeros(obs_shape), np.zeros(act_shape))


# ---------------------------------------------------------------------------- (g) env id


def test_env_given_as_string_id(hopper_demos, hopper_prefs, small_aihf_kwargs):
    model = make_model("Hopper-v5", small_aihf_kwargs, demos=hopper_demos, prefs=hopper_prefs)
    assert model.get_env().num_envs == 1
    assert model.observation_space.shape == (11,) and model.action_space.shape == (3,)
    before = snapshot(model.reward_net)
    model.learn(150)
    assert model.reward_updates >= 1
    assert params_changed(model.reward_net, before)


# ---------------------------------------------------------------------------- (h) evaluation callback


def test_true_return_eval_callback(tmp_path, hopper_demos, small_aihf_kwargs):
    # true reward 1 per step and at most 30 steps: the true return is the episode length
    eval_env = Monitor(TransformReward(gym.make("Hopper-v5", max_episode_steps=30), lambda _, c=1.0: c))
    callback = TrueReturnEvalCallback(eval_env, eval_freq=100, n_eval_episodes=2)
    model = make_model(gym.make("Hopper-v5"), small_aihf_kwargs, demos=hopper_demos)
    progress = csv_logger(model, tmp_path)
    model.learn(STEPS, callback=callback)

    assert [step for step, _, _ in callback.curve] == [100, 200, 300]
    for step, mean, std in callback.curve:
        assert isinstance(step, int) and isinstance(mean, float) and isinstance(std, float)
        assert 1.0 <= mean <= 30.0 and std >= 0.0

    rows = [r for r in read_csv(progress) if r.get("eval/true_return")]
    assert len(rows) == 3
    np.testing.assert_allclose([float(r["eval/true_return"]) for r in rows], [m for _, m, _ in callback.curve])
    np.testing.assert_allclose([float(r["eval/true_return_std"]) for r in rows], [s for _, _, s in callback.curve])
    # with a reward of 1 per step the true return equals the episode length: no learned reward in there
    np.testing.assert_allclose([float(r["eval/true_return"]) for r in rows], [float(r["eval/ep_length"]) for r in rows])

    # A checkpoint's state of the callback carries the curve and the seconds over to a resumed run.
    state = json.loads(json.dumps(callback.state()))  # as a checkpoint's state.json stores it
    resumed = TrueReturnEvalCallback(gym.make("Hopper-v5"), eval_freq=100)
    resumed.restore_state(state)
    assert resumed.curve == callback.curve and resumed.wall_times == callback.wall_times
    assert resumed.elapsed() >= state["seconds"] > 0


def test_eval_callback_rejects_bad_frequency():
    with pytest.raises(ValueError, match="eval_freq and n_eval_episodes must be > 0"):
        TrueReturnEvalCallback(gym.make("Hopper-v5"), eval_freq=0)
    with pytest.raises(ValueError, match="eval_freq and n_eval_episodes must be > 0"):
        TrueReturnEvalCallback(gym.make("Hopper-v5"), n_eval_episodes=0)


def test_preferences_type_is_exported():
    # the public names used throughout these tests
    assert Preferences.__name__ == "Preferences" and Demonstrations.__name__ == "Demonstrations"


def test_vec_env_and_vec_normalize(feedback_factory, small_aihf_kwargs):
    """Several envs and VecNormalize work; r_θ sees raw observations, SAC the normalised ones."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    demos, _ = feedback_factory("Pendulum-v1")
    venv = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=0), norm_reward=False)
    model = make_model(venv, {**small_aihf_kwargs, "demo_batch_fraction": 0.0}, demos=demos)  # replay rows only
    model.learn(300)
    assert model.reward_updates >= 2
    np.random.seed(0)
    batch = model.replay_buffer.sample(64, env=model._vec_normalize_env)
    np.random.seed(0)
    raw = ReplayBuffer._get_samples(  # the stored rows, before relabelling and normalisation
        model.replay_buffer, np.random.randint(0, model.replay_buffer.size(), size=64)
    )
    env_actions = torch.as_tensor(model.policy.unscale_action(raw.actions.numpy()))  # the buffer holds [-1, 1]
    expected = model.reward_net(raw.observations, env_actions)
    torch.testing.assert_close(batch.rewards.squeeze(-1), expected)
    assert not torch.allclose(batch.observations, raw.observations.float())  # SAC's inputs are normalised

    # Demonstration rows alike: normalised for SAC, raw for r_θ.
    model.replay_buffer.set_demonstrations(demos.obs, demos.acts / 2.0, demos.next_obs, demos.dones, fraction=0.5)
    np.random.seed(1)
    batch = model.replay_buffer.sample(64, env=model._vec_normalize_env)
    np.random.seed(1)
    np.random.randint(0, model.replay_buffer.size(), size=32)  # the replay rows' draw
    np.random.randint(0, model.n_envs, size=32)  # ... and their env indices
    picked = np.random.randint(0, len(demos), size=32)
    normalised = venv.normalize_obs(demos.obs[picked])
    torch.testing.assert_close(batch.observations[32:], torch.as_tensor(normalised, dtype=batch.observations.dtype))
    expected = model.reward_net(torch.as_tensor(demos.obs[picked]), torch.as_tensor(demos.acts[picked]))
    torch.testing.assert_close(batch.rewards[32:].squeeze(-1), expected)


def test_the_reward_sees_actions_in_the_env_units_like_the_feedback(small_aihf_kwargs, feedback_factory):
    """SAC stores actions scaled to [-1, 1]; Pendulum's are in [-2, 2]. The learned reward must see the
    env's units everywhere (relabelling, the demo loss's policy samples), as the demonstrations hold them."""
    demos, _ = feedback_factory("Pendulum-v1", n_demo_steps=50, n_pairs=2, segment_length=3, seed=0)
    model = make_model(gym.make("Pendulum-v1"), small_aihf_kwargs, demos=demos)
    model.learn(120)
    buf = model.replay_buffer
    stored = buf.actions[:50, 0]
    assert np.abs(stored).max() <= 1.0
    env_units = model.policy.unscale_action(stored)
    obs = torch.as_tensor(buf.observations[:50, 0])
    with torch.no_grad():
        relabelled = model._buffer_reward(obs, torch.as_tensor(stored), torch.zeros(50)).numpy()
    np.testing.assert_allclose(relabelled, model.predict_reward(buf.observations[:50, 0], env_units), rtol=1e-5)
    _, policy_acts, _, _ = model._recent_policy_transitions()
    assert np.abs(policy_acts.numpy()).max() > 1.0, "policy transitions are in the env's [-2, 2]"
