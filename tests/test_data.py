"""Demonstrations and Preferences: every bad input gets a clear error."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from aihf_control import Demonstrations, Preferences

N, OBS, ACT, T = 6, 11, 3, 4
HOPPER_OBS = spaces.Box(-np.inf, np.inf, (OBS,), np.float64)
HOPPER_ACT = spaces.Box(-1.0, 1.0, (ACT,), np.float32)


def demo_arrays(n: int = N, obs_dim: int = OBS, act_dim: int = ACT) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return dict(
        obs=rng.normal(size=(n, obs_dim)),
        acts=rng.uniform(-1, 1, size=(n, act_dim)),
        next_obs=rng.normal(size=(n, obs_dim)),
        dones=np.zeros(n, dtype=bool),
    )


def pref_arrays(n: int = N, t: int = T, obs_dim: int = OBS, act_dim: int = ACT) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return dict(
        obs_1=rng.normal(size=(n, t, obs_dim)),
        acts_1=rng.uniform(-1, 1, size=(n, t, act_dim)),
        obs_2=rng.normal(size=(n, t, obs_dim)),
        acts_2=rng.uniform(-1, 1, size=(n, t, act_dim)),
        labels=rng.choice([0.0, 0.5, 1.0], size=n),
    )


# ---------------------------------------------------------------------------- valid data


def test_valid_demonstrations_round_trip_to_float32():
    arrays = demo_arrays()
    arrays["dones"] = np.array([0, 0, 1, 0, 0, 1])  # 0/1 integers are accepted
    demos = Demonstrations(**arrays)
    assert len(demos) == N
    for name in ("obs", "acts", "next_obs"):
        value = getattr(demos, name)
        assert isinstance(value, np.ndarray) and value.dtype == np.float32
        np.testing.assert_allclose(value, arrays[name], rtol=1e-6)
    assert demos.dones.dtype == np.bool_
    np.testing.assert_array_equal(demos.dones, [False, False, True, False, False, True])
    demos.check_spaces(HOPPER_OBS, HOPPER_ACT)  # no error


def test_valid_demonstrations_from_lists():
    demos = Demonstrations(obs=[[0.0, 1.0]], acts=[[0.5]], next_obs=[[1.0, 2.0]], dones=[False])
    assert demos.obs.dtype == np.float32 and demos.obs.shape == (1, 2)
    assert demos.acts.shape == (1, 1)


def test_valid_preferences_round_trip_to_float32():
    arrays = pref_arrays()
    rewards = np.random.default_rng(2).normal(size=(N, T))
    prefs = Preferences(**arrays, true_rewards_1=rewards, true_rewards_2=rewards * 2)
    assert len(prefs) == N
    assert prefs.segment_length == T
    for name, value in arrays.items():
        stored = getattr(prefs, name)
        assert isinstance(stored, np.ndarray) and stored.dtype == np.float32
        np.testing.assert_allclose(stored, value, rtol=1e-6)
    assert prefs.true_rewards_1.dtype == np.float32
    np.testing.assert_allclose(prefs.true_rewards_2, rewards * 2, rtol=1e-6)
    prefs.check_spaces(HOPPER_OBS, HOPPER_ACT)


def test_soft_and_boundary_labels_are_valid():
    arrays = pref_arrays(n=4)
    arrays["labels"] = np.array([0.0, 0.25, 0.5, 1.0])
    np.testing.assert_array_equal(Preferences(**arrays).labels, [0.0, 0.25, 0.5, 1.0])


def test_fixture_feedback_fits_hopper(hopper_demos, hopper_prefs):
    env = gym.make("Hopper-v5")
    hopper_demos.check_spaces(env.observation_space, env.action_space)
    hopper_prefs.check_spaces(env.observation_space, env.action_space)
    assert hopper_demos.obs.shape[1] == 11 and hopper_demos.acts.shape[1] == 3
    assert hopper_prefs.obs_1.shape[2] == 11 and set(np.unique(hopper_prefs.labels)) <= {0.0, 0.5, 1.0}


def test_feedback_factory_works_for_other_envs(feedback_factory):
    demos, prefs = feedback_factory("Pendulum-v1", n_demo_steps=50, n_pairs=3, segment_length=4)
    env = gym.make("Pendulum-v1")
    demos.check_spaces(env.observation_space, env.action_space)
    prefs.check_spaces(env.observation_space, env.action_space)
    assert len(demos) == 50 and len(prefs) == 3 and prefs.segment_length == 4


# ---------------------------------------------------------------------------- Demonstrations errors


def test_empty_demonstrations():
    with pytest.raises(ValueError, match="Demonstrations are empty"):
        Demonstrations(**demo_arrays(n=0))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_demo_observations(bad):
    arrays = demo_arrays()
    arrays["obs"][2, 5] = bad
    with pytest.raises(
        ValueError, match=r"Demonstrations\.obs contains 1 NaN/inf value\(s\), the first at index \(2, 5\)"
    ):
        Demonstrations(**arrays)


@pytest.mark.parametrize("field", ["acts", "next_obs"])
def test_nan_in_other_demo_arrays(field):
    arrays = demo_arrays()
    arrays[field][0, 0] = np.nan
    with pytest.raises(ValueError, match=rf"Demonstrations\.{field} contains .*NaN/inf"):
        Demonstrations(**arrays)


@pytest.mark.parametrize("dones", [np.array([0, 2, 0, 0, 0, 0]), np.array([0.0, 0.5, 0, 0, 0, 0])])
def test_non_boolean_dones(dones):
    with pytest.raises(ValueError, match=r"dones must hold booleans \(or 0/1\)"):
        Demonstrations(**{**demo_arrays(), "dones": dones})


def test_dones_wrong_ndim():
    with pytest.raises(ValueError, match=r"dones must have shape \(N,\)"):
        Demonstrations(**{**demo_arrays(), "dones": np.zeros((N, 1), bool)})


def test_obs_wrong_ndim():
    with pytest.raises(ValueError, match=r"Demonstrations\.obs must have 2 dimensions, got shape \(11,\)"):
        Demonstrations(**{**demo_arrays(), "obs": np.zeros(OBS)})


def test_acts_wrong_ndim():
    with pytest.raises(ValueError, match=r"Demonstrations\.acts must have 2 dimensions"):
        Demonstrations(**{**demo_arrays(), "acts": np.zeros((N, 1, ACT))})


@pytest.mark.parametrize("field, n", [("acts", N - 1), ("next_obs", N + 2), ("dones", 3)])
def test_mismatched_demo_lengths(field, n):
    arrays = demo_arrays()
    arrays[field] = arrays[field][:n] if n <= N else np.concatenate([arrays[field], arrays[field][: n - N]])
    with pytest.raises(ValueError, match="must have one length N"):
        Demonstrations(**arrays)


def test_next_obs_shape_differs_from_obs():
    with pytest.raises(ValueError, match=r"next_obs has shape .* they must match"):
        Demonstrations(**{**demo_arrays(), "next_obs": np.zeros((N, OBS + 1))})


def test_non_numeric_demonstrations():
    with pytest.raises(TypeError, match=r"Demonstrations\.obs must be a numeric array"):
        Demonstrations(**{**demo_arrays(), "obs": [["a", "b"]]})


def test_demo_check_spaces_observation_mismatch():
    demos = Demonstrations(**demo_arrays(obs_dim=10))
    with pytest.raises(ValueError, match=r"demonstrations have observation size 10.*size 11"):
        demos.check_spaces(HOPPER_OBS, HOPPER_ACT)


def test_demo_check_spaces_action_mismatch():
    demos = Demonstrations(**demo_arrays(act_dim=6))
    with pytest.raises(ValueError, match=r"demonstrations have action size 6.*size 3"):
        demos.check_spaces(HOPPER_OBS, HOPPER_ACT)


def test_demonstrations_are_frozen():
    demos = Demonstrations(**demo_arrays())
    with pytest.raises(AttributeError):
        demos.obs = np.zeros((N, OBS))


# ---------------------------------------------------------------------------- Preferences errors


def test_empty_preferences():
    with pytest.raises(ValueError, match="Preferences are empty"):
        Preferences(**pref_arrays(n=0))


@pytest.mark.parametrize("field", ["obs_1", "acts_1", "obs_2", "acts_2"])
def test_nan_in_preference_segments(field):
    arrays = pref_arrays()
    arrays[field][1, 2, 0] = np.nan
    with pytest.raises(
        ValueError, match=rf"Preferences\.{field} contains 1 NaN/inf value\(s\), the first at index \(1, 2, 0\)"
    ):
        Preferences(**arrays)


def test_nan_label():
    arrays = pref_arrays()
    arrays["labels"][3] = np.nan
    with pytest.raises(ValueError, match=r"Preferences\.labels contains .*NaN/inf"):
        Preferences(**arrays)


def test_nan_true_rewards():
    rewards = np.zeros((N, T))
    rewards[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"Preferences\.true_rewards_2 contains .*NaN/inf"):
        Preferences(**pref_arrays(), true_rewards_2=rewards)


@pytest.mark.parametrize("bad", [2.0, -1.0, 1.0001])
def test_labels_outside_unit_interval(bad):
    arrays = pref_arrays()
    arrays["labels"][0] = bad
    with pytest.raises(ValueError, match=r"labels must be probabilities .* in \[0, 1\]") as info:
        Preferences(**arrays)
    assert str(bad) in str(info.value) or repr(np.float32(bad).item()) in str(info.value)


def test_unequal_segment_lengths_within_pair():
    arrays = pref_arrays()
    arrays["obs_2"] = arrays["obs_2"][:, :3]
    arrays["acts_2"] = arrays["acts_2"][:, :3]
    with pytest.raises(ValueError, match="segments of unequal length within a pair: σ¹ has 4 steps, σ² has 3"):
        Preferences(**arrays)


def test_actions_and_observations_of_a_segment_differ_in_length():
    arrays = pref_arrays()
    arrays["acts_1"] = arrays["acts_1"][:, :2]
    with pytest.raises(ValueError, match=r"actions and observations of a segment must have the same \(N, T\)"):
        Preferences(**arrays)


@pytest.mark.parametrize("field", ["obs_1", "acts_1", "obs_2", "acts_2"])
def test_mismatched_number_of_pairs(field):
    arrays = pref_arrays()
    arrays[field] = arrays[field][:-1]
    with pytest.raises(ValueError, match=rf"Preferences\.{field} holds {N - 1} segments but there are {N} labels"):
        Preferences(**arrays)


def test_feature_sizes_differ_between_segments():
    arrays = pref_arrays()
    arrays["obs_2"] = np.zeros((N, T, OBS + 2))
    with pytest.raises(ValueError, match="both segments must have the same feature sizes"):
        Preferences(**arrays)


@pytest.mark.parametrize("field, shape", [("obs_1", (N, OBS)), ("labels", (N, 1))])
def test_preferences_wrong_ndim(field, shape):
    arrays = {**pref_arrays(), field: np.zeros(shape)}
    ndim = 1 if field == "labels" else 3
    with pytest.raises(ValueError, match=rf"Preferences\.{field} must have {ndim} dimensions"):
        Preferences(**arrays)


def test_true_rewards_wrong_shape():
    with pytest.raises(ValueError, match=r"true_rewards_1 must have shape \(N, T\) = \(6, 4\)"):
        Preferences(**pref_arrays(), true_rewards_1=np.zeros((N, T + 1)))


def test_pref_check_spaces_observation_mismatch():
    prefs = Preferences(**pref_arrays(obs_dim=17))
    with pytest.raises(ValueError, match=r"preference segments have observation size 17.*size 11"):
        prefs.check_spaces(HOPPER_OBS, HOPPER_ACT)


def test_pref_check_spaces_action_mismatch():
    prefs = Preferences(**pref_arrays(act_dim=6))
    with pytest.raises(ValueError, match=r"preference segments have action size 6.*size 3"):
        prefs.check_spaces(HOPPER_OBS, HOPPER_ACT)


# ---------------------------------------------------------------------------- action bounds


def test_demo_actions_far_outside_the_bounds_are_refused_with_the_bounds_and_the_range():
    arrays = demo_arrays()
    demos = Demonstrations(**{**arrays, "acts": arrays["acts"] * 100})
    with pytest.raises(ValueError, match=r"demonstrations have actions outside the env's action bounds") as raised:
        demos.check_spaces(HOPPER_OBS, HOPPER_ACT)
    message = str(raised.value)
    assert "allows [-1, 1]" in message
    low, high = demos.acts[:, 0].min(), demos.acts[:, 0].max()
    assert f"dimension 0 ranges over [{low:.4g}, {high:.4g}]" in message
    assert "clip_actions" in message


def test_float_noise_at_the_bounds_is_accepted_and_more_is_not():
    acts = np.zeros((N, ACT))
    acts[0, 0] = 1.0 + 0.5e-3 * 2  # half the tolerance: 0.1% of the range 2
    Demonstrations(**{**demo_arrays(), "acts": acts}).check_spaces(HOPPER_OBS, HOPPER_ACT)
    acts[0, 0] = 1.0 + 2e-3 * 2
    with pytest.raises(ValueError, match=r"dimension 0 ranges over \[0, 1.004\]"):
        Demonstrations(**{**demo_arrays(), "acts": acts}).check_spaces(HOPPER_OBS, HOPPER_ACT)


def test_unbounded_action_dimensions_are_not_checked():
    half_open = spaces.Box(np.array([-1, -np.inf, -1], np.float32), np.array([1, np.inf, np.inf], np.float32))
    acts = np.zeros((N, ACT))
    acts[:, 1], acts[:, 2] = 1e6, 50.0
    Demonstrations(**{**demo_arrays(), "acts": acts}).check_spaces(HOPPER_OBS, half_open)


def test_the_bounds_check_can_be_skipped_or_the_actions_clipped():
    arrays = demo_arrays()
    demos = Demonstrations(**{**arrays, "acts": arrays["acts"] * 3})
    demos.check_spaces(HOPPER_OBS, HOPPER_ACT, check_bounds=False)
    clipped = demos.clip_actions(HOPPER_ACT)
    clipped.check_spaces(HOPPER_OBS, HOPPER_ACT)
    np.testing.assert_array_equal(clipped.acts, np.clip(demos.acts, -1, 1))
    assert clipped.obs is demos.obs and len(clipped) == len(demos)


def test_preference_actions_outside_the_bounds_are_refused():
    arrays = pref_arrays()
    prefs = Preferences(**{**arrays, "acts_2": arrays["acts_2"] * 100})
    with pytest.raises(ValueError, match=r"preference segments \(acts_2\) have actions outside .* allows \[-1, 1\]"):
        prefs.check_spaces(HOPPER_OBS, HOPPER_ACT)
    prefs.check_spaces(HOPPER_OBS, HOPPER_ACT, check_bounds=False)
    prefs.clip_actions(HOPPER_ACT).check_spaces(HOPPER_OBS, HOPPER_ACT)


def test_absorbing_steps_are_not_checked_nor_clipped():
    space = spaces.Box(0.5, 1.0, (ACT,), np.float32)  # 0, the padded steps' action, is outside
    arrays = pref_arrays()
    absorbing = np.zeros((N, T), dtype=bool)
    absorbing[0, 2:] = True
    acts_1 = np.where(absorbing[..., None], 0.0, np.full((N, T, ACT), 0.75))
    prefs = Preferences(**{**arrays, "acts_1": acts_1, "acts_2": np.full_like(acts_1, 0.75)}, absorbing_1=absorbing)
    prefs.check_spaces(HOPPER_OBS, space)
    acts_1[1, 0, 0] = 3.0
    clipped = Preferences(
        **{**arrays, "acts_1": acts_1, "acts_2": np.full_like(acts_1, 0.75)}, absorbing_1=absorbing
    ).clip_actions(space)
    assert clipped.acts_1[1, 0, 0] == 1.0 and (clipped.acts_1[0, 2:] == 0).all()
