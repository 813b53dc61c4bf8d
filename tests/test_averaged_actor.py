"""AveragedActor: deterministic actions from a Polyak average of the actor, saved and loaded with the model."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from aihf_control import IPL, AIHFCrossQ
from aihf_control.data import Demonstrations

KWARGS = {"policy_kwargs": {"net_arch": [16, 16]}, "reward_net_arch": (16, 16), "preference_weight": 0.0}


def demos() -> Demonstrations:
    rng = np.random.default_rng(0)
    return Demonstrations(
        rng.normal(size=(64, 3)), rng.uniform(-2, 2, size=(64, 1)), rng.normal(size=(64, 3)), np.zeros(64, dtype=bool)
    )


def model(**kwargs) -> AIHFCrossQ:
    kwargs = {"learning_starts": 20, "seed": 0, **KWARGS, **kwargs}
    return AIHFCrossQ("MlpPolicy", "Pendulum-v1", demonstrations=demos(), **kwargs)


def flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([t.flatten().float() for t in module.state_dict().values()])


def test_the_average_moves_its_rate_towards_the_actor_each_env_step_and_copies_counters():
    m = model(actor_averaging=0.25)
    m.learn(60)  # the actor has learned; the average trails it
    actor, average = m.policy.actor, m.averaged_actor
    before = {k: v.clone() for k, v in average.state_dict().items()}
    m._on_step()
    for name, value in average.state_dict().items():
        current = actor.state_dict()[name]
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.75 * before[name] + 0.25 * current)
        else:  # BatchRenorm's step counter
            assert torch.equal(value, current)
    assert any(not torch.equal(before[k], actor.state_dict()[k]) for k in before if before[k].is_floating_point())
    assert not any(p.requires_grad for p in average.parameters())


def test_deterministic_predict_acts_with_the_average_and_stochastic_with_the_actor():
    m = model(actor_averaging=0.01)
    m.learn(80)
    obs = np.array([0.3, -0.2, 0.5], dtype=np.float32)
    actor = m.policy.actor
    with torch.no_grad():
        m.policy.set_training_mode(False)
        assert not m.averaged_actor.training
        from_average = m.averaged_actor(torch.as_tensor(obs)[None], deterministic=True).numpy()
        from_actor = actor(torch.as_tensor(obs)[None], deterministic=True).numpy()
    assert not np.allclose(from_average, from_actor)  # else the test could not tell them apart
    action, _ = m.predict(obs, deterministic=True)
    np.testing.assert_allclose(m.policy.scale_action(action), from_average[0], atol=1e-6)
    assert m.policy.actor is actor  # put back
    m.predict(obs, deterministic=False)
    assert m.policy.actor is actor


def test_none_or_one_acts_with_the_current_actor_as_sb3_does():
    for rate in (None, 1):
        m = model(actor_averaging=rate)
        m.learn(40)
        assert m.averaged_actor is None
        obs = np.array([0.3, -0.2, 0.5], dtype=np.float32)
        action, _ = m.predict(obs, deterministic=True)
        expected, _ = m.policy.predict(obs, deterministic=True)
        np.testing.assert_array_equal(action, expected)


def test_the_warmup_spans_a_share_of_the_steps_so_far_until_the_rate_takes_over():
    from aihf_control.sb3.averaged_actor import averaging_rate

    assert averaging_rate(0.0002, None, 10) == 0.0002
    assert averaging_rate(0.0002, 0.1, 1) == 1.0  # the first steps copy the actor
    assert averaging_rate(0.0002, 0.1, 10_000) == pytest.approx(0.001)  # the last 1,000 of 10,000 steps
    assert averaging_rate(0.0002, 0.1, 50_000) == pytest.approx(0.0002)
    assert averaging_rate(0.0002, 0.1, 200_000) == 0.0002


def test_with_a_warmup_the_average_follows_the_actor_early_and_restarts_after_a_reset():
    m = model(actor_averaging=0.001, actor_averaging_warmup=0.5)
    m.learn(60)
    assert m.averaging_steps == 60
    before = {k: v.clone() for k, v in m.averaged_actor.state_dict().items()}
    m._on_step()  # step 61: rate 1 / (0.5 * 61), not 0.001
    rate = 1 / (0.5 * 61)
    for name, value in m.averaged_actor.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (1 - rate) * before[name] + rate * m.policy.actor.state_dict()[name])
    m.reset_averaged_actor()
    assert m.averaging_steps == 0
    torch.testing.assert_close(flat(m.averaged_actor), flat(m.policy.actor))


@pytest.mark.parametrize("warmup", [0, 1.5, "early", True])
def test_a_warmup_outside_0_1_is_refused_with_what_to_pass(warmup):
    with pytest.raises(ValueError, match=r"actor_averaging_warmup must be a share of the run in \(0, 1\]"):
        model(actor_averaging_warmup=warmup)


@pytest.mark.parametrize("rate", [0, -0.1, 1.5, "fast", True])
def test_a_rate_outside_0_1_is_refused_with_what_to_pass(rate):
    with pytest.raises(ValueError, match=r"actor_averaging must be a rate in \(0, 1\]"):
        model(actor_averaging=rate)


def test_save_and_load_keep_the_average_and_an_older_file_gets_its_actor(tmp_path):
    m = model(actor_averaging=0.01)
    m.learn(80)
    m.save(tmp_path / "m")
    loaded = AIHFCrossQ.load(tmp_path / "m", env=gym.make("Pendulum-v1"))
    assert loaded.actor_averaging == 0.01
    assert (loaded.actor_averaging_warmup, loaded.averaging_steps) == (m.actor_averaging_warmup, 80)  # resumes
    torch.testing.assert_close(flat(loaded.averaged_actor), flat(m.averaged_actor))
    assert not torch.equal(flat(loaded.averaged_actor), flat(loaded.policy.actor))

    raw = model(actor_averaging=None)  # a file without an average, like those saved before it existed
    raw.learn(80)
    raw.save(tmp_path / "raw")
    older = AIHFCrossQ.load(tmp_path / "raw", env=gym.make("Pendulum-v1"), actor_averaging=0.01)
    torch.testing.assert_close(flat(older.averaged_actor), flat(older.policy.actor))
    without = AIHFCrossQ.load(tmp_path / "m", env=gym.make("Pendulum-v1"), actor_averaging=None)
    assert without.averaged_actor is None


def test_a_bc_start_sets_the_average_to_the_cloned_actor(hopper_demos, hopper_prefs):
    ipl = IPL(
        "MlpPolicy",
        "Hopper-v5",
        hopper_prefs,
        hopper_demos,
        bc_steps=20,
        learning_starts=10,
        policy_kwargs={"net_arch": [16, 16]},
        seed=0,
    )
    initial = flat(ipl.averaged_actor)
    ipl.learn(1)
    assert ipl.bc_done
    assert not torch.equal(flat(ipl.averaged_actor), initial)
    torch.testing.assert_close(flat(ipl.averaged_actor), flat(ipl.policy.actor))


def test_play_loads_the_aihf_learners_and_the_averaged_references(tmp_path):
    from aihf_control import AIHFTQC, AveragedCrossQ, AveragedSAC
    from aihf_control.play import load_model

    small = {"policy_kwargs": {"net_arch": [8, 8]}, "learning_starts": 10}
    models = [
        AveragedSAC("MlpPolicy", "Pendulum-v1", **small),
        AveragedCrossQ("MlpPolicy", "Pendulum-v1", **small),
        AIHFTQC("MlpPolicy", "Pendulum-v1", demonstrations=demos(), reward_net_arch=(8, 8), **small),
    ]
    for m in models:
        m.learn(20)
        m.save(tmp_path / type(m).__name__)
        loaded = load_model(tmp_path / f"{type(m).__name__}.zip")
        assert type(loaded) is type(m)
        torch.testing.assert_close(flat(loaded.averaged_actor), flat(m.averaged_actor))
    assert {m.warmup_steps for m in models[1].policy.modules() if hasattr(m, "warmup_steps")} == {5_000}
