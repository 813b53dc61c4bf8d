"""AIHF with preference_source="online": queries on the agent's own rollouts, a budget, a schedule,
uniform or disagreement selection, and a reward ensemble."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from aihf_control import AIHF
from aihf_control.data import ScriptedTeacher

ONLINE = dict(
    preference_source="online",
    teacher=ScriptedTeacher.oracle(),
    preference_budget=25,
    queries_per_round=10,
    query_every=100,
    segment_length=10,
)


def online_model(kwargs: dict, **overrides) -> AIHF:
    return AIHF("MlpPolicy", gym.make("Hopper-v5"), seed=0, **{**kwargs, **ONLINE, **overrides})


def test_online_queries_follow_the_schedule_and_stop_at_the_budget(small_aihf_kwargs):
    model = online_model(small_aihf_kwargs)
    assert model.preferences is None and model.queries_asked == 0
    before = [p.detach().clone() for p in model.reward_net.parameters()]
    model.learn(250)  # rounds at steps 100 and 200 (learning_starts 100, query_every 100)
    assert model.queries_asked == 20 and len(model.preferences) == 20  # the oracle skips nothing
    model.learn(300, reset_num_timesteps=False)  # one more round, cut to the 5 queries left of 25
    assert model.queries_asked == 25 and len(model.preferences) == 25
    model.learn(200, reset_num_timesteps=False)
    assert model.queries_asked == 25, "the budget is never exceeded"
    assert any(not torch.equal(b, p) for b, p in zip(before, model.reward_net.parameters(), strict=True))
    prefs = model.preferences
    # Labels are the oracle's on the segments' true rewards; early Hopper episodes fall within a few
    # dozen steps, so some segments reach a termination and are padded, not dropped.
    expected = (prefs.true_rewards_1.sum(1) > prefs.true_rewards_2.sum(1)).astype(np.float32)
    ties = prefs.true_rewards_1.sum(1) == prefs.true_rewards_2.sum(1)
    np.testing.assert_array_equal(prefs.labels[~ties], expected[~ties])
    assert prefs.segment_length == 10


def test_online_preferences_are_seeded(small_aihf_kwargs):
    first, second = online_model(small_aihf_kwargs), online_model(small_aihf_kwargs)
    first.learn(150)
    second.learn(150)
    np.testing.assert_array_equal(first.preferences.obs_1, second.preferences.obs_1)
    np.testing.assert_array_equal(first.preferences.labels, second.preferences.labels)


def test_disagreement_selection_with_a_reward_ensemble(small_aihf_kwargs):
    model = online_model(small_aihf_kwargs, query_selection="disagreement", reward_ensemble_size=3)
    assert model.reward_net.ensemble_size == 3
    model.learn(150)
    assert model.queries_asked == 10 and len(model.preferences) == 10
    members = model.reward_net.member_rewards(
        torch.as_tensor(model.preferences.obs_1[:, 0]), torch.as_tensor(model.preferences.acts_1[:, 0])
    )
    assert not torch.allclose(members[0], members[1]), "members stay distinct after training"


def test_online_with_demonstrations(small_aihf_kwargs, hopper_demos):
    model = online_model(small_aihf_kwargs, demonstrations=hopper_demos)
    model.learn(150)
    assert len(model.preferences) == 10
    model.logger.name_to_value.clear()
    model._update_reward()  # both terms of the joint loss are in use
    assert {"reward/demo_loss", "reward/pref_loss"} <= set(model.logger.name_to_value)


def test_a_teacher_that_skips_everything_leaves_the_reward_waiting(small_aihf_kwargs):
    skipper = ScriptedTeacher(skip_threshold=1e9)
    model = online_model(small_aihf_kwargs, teacher=skipper)
    before = [p.detach().clone() for p in model.reward_net.parameters()]
    model.learn(150)
    assert model.queries_asked == 10 and model.preferences is None
    assert all(torch.equal(b, p) for b, p in zip(before, model.reward_net.parameters(), strict=True))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(preference_source="both"), "preference_source must be 'offline' or 'online'"),
        (dict(teacher=None), "preference_source='online' needs a teacher"),
        (dict(query_selection="random"), "query_selection must be 'uniform' or 'disagreement'"),
        (dict(query_selection="disagreement"), "pass reward_ensemble_size >= 2"),
        (dict(preference_budget=0), "preference_budget must be a positive integer"),
        (dict(queries_per_round=0), "queries_per_round must be a positive integer"),
        (dict(preference_weight=0.0), "preference_weight is 0"),
    ],
)
def test_online_configuration_errors(small_aihf_kwargs, overrides, message):
    with pytest.raises(ValueError, match=message):
        online_model(small_aihf_kwargs, **overrides)


def test_a_teacher_without_online_source_is_refused(small_aihf_kwargs, hopper_demos):
    with pytest.raises(ValueError, match="a teacher is only used with preference_source='online'"):
        AIHF(
            "MlpPolicy", "Hopper-v5", demonstrations=hopper_demos, teacher=ScriptedTeacher.oracle(), **small_aihf_kwargs
        )


def test_save_load_keeps_the_query_count_and_teacher(tmp_path, small_aihf_kwargs):
    model = online_model(small_aihf_kwargs)
    model.learn(150)
    model.save(tmp_path / "online.zip")
    model.preferences.save(tmp_path / "prefs.npz")  # feedback data is saved apart from the model
    loaded = AIHF.load(tmp_path / "online.zip", env=gym.make("Hopper-v5"))
    assert loaded.queries_asked == 10 and loaded.teacher == ScriptedTeacher.oracle()
    assert loaded.preference_source == "online" and loaded.preferences is None
    loaded.set_feedback(preferences=type(model.preferences).load(tmp_path / "prefs.npz"))
    loaded.learn(150, reset_num_timesteps=False)  # the next round is due at once after a reload
    assert loaded.queries_asked == 20 and len(loaded.preferences) == 20
