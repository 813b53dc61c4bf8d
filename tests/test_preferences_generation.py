"""Synthetic preferences: scripted teachers, segment cutting, generation and the preference file format."""

from __future__ import annotations

import json
import time
from dataclasses import fields, replace

import numpy as np
import pytest
import torch

from aihf_control import RewardNet, preference_loss
from aihf_control.data import Preferences, ScriptedTeacher, Trajectory, cut_segments, generate_preferences
from aihf_control.data.teachers import TEACHER_NAMES

OBS, ACT = 11, 3


def rewards_with_returns(returns: np.ndarray, t: int = 4) -> np.ndarray:
    """(N, t) rewards whose rows sum to ``returns``, spread evenly over the steps."""
    return np.repeat(np.asarray(returns, dtype=np.float64)[:, None] / t, t, axis=1)


def random_pool(num_episodes: int = 20, length: int = 100, seed: int = 0) -> list[Trajectory]:
    rng = np.random.default_rng(seed)
    return [
        Trajectory(rng.normal(size=(length, OBS)), rng.uniform(-1, 1, (length, ACT)), rng.normal(size=length), False)
        for _ in range(num_episodes)
    ]


def labelled_episodes(lengths: list[int]) -> list[Trajectory]:
    """Episodes whose obs[:, 0] is the episode number and obs[:, 1] the step number, rewards = step + 1000 · episode."""
    episodes = []
    for number, length in enumerate(lengths):
        obs = np.zeros((length, OBS))
        obs[:, 0], obs[:, 1] = number, np.arange(length)
        acts = np.full((length, ACT), float(number))
        episodes.append(Trajectory(obs, acts, np.arange(length) + 1000.0 * number, terminated=number % 2 == 0))
    return episodes


# ---------------------------------------------------------------------------- teachers on hand-made returns


def test_oracle_prefers_the_higher_return_and_calls_exact_ties_equal():
    labels, keep = ScriptedTeacher.oracle().label(
        rewards_with_returns([3.0, -1.0, 2.0, 0.0]),
        rewards_with_returns([1.0, 4.0, 2.0, -1e-3]),
        np.random.default_rng(0),
    )
    assert labels.dtype == np.float32 and keep.dtype == np.bool_
    np.testing.assert_array_equal(labels, [1.0, 0.0, 0.5, 1.0])
    assert keep.all()


def test_equal_teacher_labels_close_returns_half_and_the_rest_like_the_oracle():
    teacher = ScriptedTeacher(equal_threshold=1.0)
    labels, _ = teacher.label(
        rewards_with_returns([5.0, 5.0, 2.0, 0.0, -3.0]),
        rewards_with_returns([4.5, 3.0, 2.0, 0.99, -1.0]),
        np.random.default_rng(0),
    )
    np.testing.assert_array_equal(labels, [0.5, 1.0, 0.5, 0.5, 0.0])


def test_equal_and_skip_presets_resolve_bpref_fractions_to_absolute_thresholds():
    reference = np.array([10.0, -20.0, 30.0])  # mean |R| = 20
    assert ScriptedTeacher.equal(reference).equal_threshold == pytest.approx(2.0)
    assert ScriptedTeacher.skip(reference, fraction=0.5).skip_threshold == pytest.approx(10.0)
    named = ScriptedTeacher.named("equal", reference_returns=reference, fraction=0.25)
    assert named == ScriptedTeacher(equal_threshold=5.0)


def test_myopic_teacher_weighs_the_last_steps_most():
    early = np.array([[1.0, 0.0]])  # R = 1.0, all of it at the start
    late = np.array([[0.0, 0.9]])  # R = 0.9, all of it at the end
    rng = np.random.default_rng(0)
    assert ScriptedTeacher.oracle().label(early, late, rng)[0][0] == 1.0
    # γ = 0.5: the start counts half, 0.5 < 0.9
    assert ScriptedTeacher.myopic(gamma=0.5).label(early, late, rng)[0][0] == 0.0
    # B-Pref's default γ = 0.9 over 50 steps: a reward 49 steps back counts 0.9**49 ≈ 0.006
    long_early, long_late = np.zeros((1, 50)), np.zeros((1, 50))
    long_early[0, 0], long_late[0, -1] = 10.0, 1.0
    assert ScriptedTeacher.oracle().label(long_early, long_late, rng)[0][0] == 1.0
    assert ScriptedTeacher.myopic().label(long_early, long_late, rng)[0][0] == 0.0


def test_mistake_teacher_flips_about_eps_of_the_labels():
    rng = np.random.default_rng(0)
    returns_1, returns_2 = rng.normal(size=10_000), rng.normal(size=10_000)
    r1, r2 = rewards_with_returns(returns_1), rewards_with_returns(returns_2)
    truth, _ = ScriptedTeacher.oracle().label(r1, r2, rng)
    labels, keep = ScriptedTeacher.mistake(eps=0.1).label(r1, r2, np.random.default_rng(1))
    assert set(np.unique(labels)) <= {0.0, 1.0} and keep.all()
    flipped = np.mean(labels != truth)
    assert abs(flipped - 0.1) < 0.015, flipped  # std of the fraction is 0.003


def test_stochastic_teacher_matches_bradley_terry_frequencies():
    beta, per_gap = 1.0, 4_000
    gaps = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    difference = np.repeat(gaps, per_gap)
    labels, _ = ScriptedTeacher.stochastic(beta=beta).label(
        rewards_with_returns(difference), np.zeros((len(difference), 4)), np.random.default_rng(0)
    )
    assert set(np.unique(labels)) == {0.0, 1.0}  # sampled, never 0.5, even for the exact ties
    frequency = labels.reshape(len(gaps), per_gap).mean(axis=1)
    expected = 1 / (1 + np.exp(-beta * gaps))
    np.testing.assert_allclose(frequency, expected, atol=0.03)  # std ≤ 0.008


def test_stochastic_teacher_does_not_overflow_on_huge_return_gaps():
    labels, _ = ScriptedTeacher.stochastic(beta=10.0).label(
        rewards_with_returns([1e6, -1e6]), rewards_with_returns([0.0, 0.0]), np.random.default_rng(0)
    )
    np.testing.assert_array_equal(labels, [1.0, 0.0])


def test_skip_teacher_drops_pairs_whose_returns_are_both_below_the_threshold():
    teacher = ScriptedTeacher(skip_threshold=3.0)
    labels, keep = teacher.label(
        rewards_with_returns([5.0, 1.0, 2.9, 3.0, -10.0]),
        rewards_with_returns([1.0, 1.0, 3.5, 0.0, 2.0]),
        np.random.default_rng(0),
    )
    np.testing.assert_array_equal(keep, [True, False, True, True, False])
    np.testing.assert_array_equal(labels, [1.0, 0.5, 0.0, 1.0, 0.0])  # skipped pairs are labelled too


def test_teacher_labels_are_deterministic_given_the_seed():
    rng = np.random.default_rng(5)
    r1, r2 = rng.normal(size=(500, 10)), rng.normal(size=(500, 10))
    teacher = ScriptedTeacher(beta=2.0, gamma=0.95, eps_mistake=0.2, equal_threshold=0.1)
    first = teacher.label(r1, r2, np.random.default_rng(7))
    second = teacher.label(r1, r2, np.random.default_rng(7))
    other = teacher.label(r1, r2, np.random.default_rng(8))
    np.testing.assert_array_equal(first[0], second[0])
    assert not np.array_equal(first[0], other[0])


# ---------------------------------------------------------------------------- presets, validation and storage


def test_named_gives_each_preset():
    reference = np.array([10.0, 30.0])  # mean |R| = 20, so fraction 0.1 gives 2.0
    assert ScriptedTeacher.named("oracle") == ScriptedTeacher()
    assert ScriptedTeacher.named("stochastic") == ScriptedTeacher(beta=1.0)
    assert ScriptedTeacher.named("stochastic", beta=3.0) == ScriptedTeacher(beta=3.0)
    assert ScriptedTeacher.named("mistake") == ScriptedTeacher(eps_mistake=0.1)
    assert ScriptedTeacher.named("myopic", gamma=0.8) == ScriptedTeacher(gamma=0.8)
    assert ScriptedTeacher.named("skip", reference_returns=reference) == ScriptedTeacher(skip_threshold=2.0)
    assert ScriptedTeacher.named("equal", reference_returns=reference) == ScriptedTeacher(equal_threshold=2.0)
    assert TEACHER_NAMES == ("oracle", "stochastic", "mistake", "myopic", "skip", "equal")


def test_named_unknown_teacher_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown teacher 'orcale': valid names are oracle, stochastic, mistake"):
        ScriptedTeacher.named("orcale")


def test_named_with_an_argument_the_preset_does_not_take():
    with pytest.raises(TypeError, match=r"named\('mistake', ...\).*the 'mistake' preset takes \(eps\); to combine"):
        ScriptedTeacher.named("mistake", beta=2.0)


def test_skip_preset_needs_reference_returns():
    with pytest.raises(TypeError, match=r"takes \(reference_returns, fraction\); pass reference_returns=\.\.\."):
        ScriptedTeacher.named("skip")
    with pytest.raises(ValueError, match="reference_returns is empty"):
        ScriptedTeacher.skip(np.array([]))
    with pytest.raises(ValueError, match="fraction must be ≥ 0"):
        ScriptedTeacher.equal(np.array([1.0]), fraction=-0.1)


@pytest.mark.parametrize(
    "settings, error, message",
    [
        (dict(beta=0.0), ValueError, r"beta must be > 0"),
        (dict(beta=-1), ValueError, r"B-Pref's teacher_beta=-1 is beta=None here"),
        (dict(beta="1"), TypeError, r"beta must be a real number, got str"),
        (dict(gamma=0.0), ValueError, r"gamma is a discount and must be in \(0, 1\]"),
        (dict(gamma=1.5), ValueError, r"gamma is a discount"),
        (dict(gamma=True), TypeError, r"gamma must be a real number, got bool"),
        (dict(eps_mistake=-0.1), ValueError, r"eps_mistake is a probability and must be in \[0, 1\]"),
        (dict(eps_mistake=1.5), ValueError, r"eps_mistake is a probability"),
        (dict(skip_threshold=-1.0), ValueError, r"skip_threshold must be ≥ 0"),
        (dict(equal_threshold=float("nan")), ValueError, r"equal_threshold must be finite"),
    ],
)
def test_invalid_teacher_settings(settings, error, message):
    with pytest.raises(error, match=message):
        ScriptedTeacher(**settings)


def test_teacher_fields_become_plain_floats():
    teacher = ScriptedTeacher(beta=np.float32(2.0), gamma=1, skip_threshold=np.int64(3))
    assert type(teacher.beta) is float and type(teacher.gamma) is float and type(teacher.skip_threshold) is float
    json.dumps(teacher.to_dict())  # JSON-serialisable


def test_teacher_dict_round_trip_through_json():
    teacher = ScriptedTeacher(beta=2.5, gamma=0.9, eps_mistake=0.1, skip_threshold=1.5, equal_threshold=0.25)
    settings = json.loads(json.dumps(teacher.to_dict()))
    assert settings == {"beta": 2.5, "gamma": 0.9, "eps_mistake": 0.1, "skip_threshold": 1.5, "equal_threshold": 0.25}
    assert ScriptedTeacher.from_dict(settings) == teacher
    assert ScriptedTeacher.from_dict({"gamma": 0.5}) == ScriptedTeacher(gamma=0.5)


def test_teacher_from_dict_rejects_unknown_settings():
    with pytest.raises(ValueError, match=r"unknown teacher settings \['teacher_beta'\]: ScriptedTeacher has beta"):
        ScriptedTeacher.from_dict({"teacher_beta": 1.0})
    with pytest.raises(TypeError, match="teacher settings must be a dict"):
        ScriptedTeacher.from_dict([("beta", 1.0)])


def test_label_input_errors():
    teacher, rng = ScriptedTeacher.oracle(), np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"rewards_1 \(3, 4\) and rewards_2 \(3, 5\) must have the same shape"):
        teacher.label(np.zeros((3, 4)), np.zeros((3, 5)), rng)
    with pytest.raises(ValueError, match="rewards_2 must have 2 dimensions"):
        teacher.label(np.zeros((3, 4)), np.zeros(3), rng)
    bad = np.zeros((3, 4))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"rewards_1 contains 1 NaN/inf value\(s\), the first at index \(1, 2\)"):
        teacher.label(bad, np.zeros((3, 4)), rng)
    with pytest.raises(TypeError, match=r"rng must be a numpy Generator such as np.random.default_rng\(0\), got int"):
        teacher.label(np.zeros((3, 4)), np.zeros((3, 4)), 0)


# ---------------------------------------------------------------------------- trajectories and segments


def test_segments_stay_in_one_episode_and_run_past_a_termination_only_as_padding():
    # labelled_episodes terminates the even episodes: they give a window at each step (60, 150, 50),
    # padded past the fall; the odd ones were cut by a time limit: 7 and 49 give none, 80 gives 31.
    lengths = [60, 7, 150, 49, 50, 80]
    obs, acts, rewards, absorbing = cut_segments(labelled_episodes(lengths), 50, 20_000, np.random.default_rng(0))
    assert obs.shape == (20_000, 50, OBS) and acts.shape == (20_000, 50, ACT) and rewards.shape == (20_000, 50)
    assert obs.dtype == acts.dtype == rewards.dtype == np.float32 and absorbing.dtype == np.bool_
    assert not absorbing[:, 0].any(), "a segment must start with a real step"
    episode, first_step = obs[:, 0, 0].astype(int), obs[:, 0, 1]
    step = first_step[:, None] + np.arange(50)  # (K, T) the step each position would have in its episode
    real = ~absorbing
    assert ((obs[:, :, 0] == episode[:, None]) | absorbing).all(), "a segment mixes episodes"
    assert ((obs[:, :, 1] == step) | absorbing).all(), "real steps are not consecutive"
    assert ((acts == episode[:, None, None]) | absorbing[:, :, None]).all()
    assert ((rewards == step + 1000 * episode[:, None]) | absorbing).all()
    # Padding starts exactly where the episode ended, only in terminated episodes, and holds zeros.
    np.testing.assert_array_equal(absorbing, step >= np.asarray(lengths)[episode][:, None])
    assert not absorbing[episode % 2 == 1].any()
    assert (obs[absorbing] == 0).all() and (acts[absorbing] == 0).all() and (rewards[absorbing] == 0).all()
    assert absorbing.any() and real.sum() > absorbing.sum()
    # Every window is equally likely.
    windows = np.array([60, 0, 150, 0, 50, 31])
    counts = np.bincount(episode, minlength=len(lengths))
    np.testing.assert_allclose(counts / 20_000, windows / windows.sum(), atol=0.01)
    np.testing.assert_array_equal(np.unique(first_step[episode == 2]), np.arange(150))  # every start reachable


def test_a_pool_of_short_falls_still_gives_segments():
    # Early in training a Hopper falls within a few dozen steps: those episodes must not be dropped.
    falls = [replace(t, terminated=True) for t in labelled_episodes([12, 20, 31])]
    prefs = generate_preferences(falls, 300, ScriptedTeacher.oracle(), segment_length=50, seed=0)
    assert prefs.absorbing_1.sum(axis=1).min() >= 50 - 31
    real_1 = (~prefs.absorbing_1).sum(axis=1)
    np.testing.assert_array_equal(prefs.true_rewards_1[prefs.absorbing_1], 0)
    assert prefs.metadata["pool_steps"] == 12 + 20 + 31
    assert set(np.unique(real_1)) <= set(range(1, 32))


def test_cut_segments_is_deterministic_given_the_rng():
    pool = random_pool()
    first = cut_segments(pool, 10, 100, np.random.default_rng(3))
    second = cut_segments(pool, 10, 100, np.random.default_rng(3))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_cut_segments_when_no_episode_is_long_enough_names_the_longest():
    cut_short = [replace(t, terminated=False) for t in labelled_episodes([10, 30, 20])]
    with pytest.raises(ValueError, match="no trajectory gives a segment of 50 steps: none terminated, and the longest"):
        cut_segments(cut_short, 50, 5, np.random.default_rng(0))


@pytest.mark.parametrize(
    "trajectories, segment_length, num_segments, error, message",
    [
        ([], 5, 1, ValueError, "trajectories must be a non-empty list of Trajectory"),
        ([{"obs": np.zeros((5, 2))}], 5, 1, TypeError, r"trajectories\[0\] is a dict, not a Trajectory"),
        (labelled_episodes([10]), 0, 1, ValueError, "segment_length must be a positive integer, got 0"),
        (labelled_episodes([10]), 2.5, 1, ValueError, "segment_length must be a positive integer, got 2.5"),
        (labelled_episodes([10]), 5, 0, ValueError, "num_segments must be a positive integer, got 0"),
    ],
)
def test_cut_segments_input_errors(trajectories, segment_length, num_segments, error, message):
    with pytest.raises(error, match=message):
        cut_segments(trajectories, segment_length, num_segments, np.random.default_rng(0))


def test_cut_segments_rejects_a_pool_from_two_environments():
    pool = [*labelled_episodes([10]), Trajectory(np.zeros((10, OBS + 1)), np.zeros((10, ACT)), np.zeros(10))]
    with pytest.raises(ValueError, match=r"trajectories\[1\] has observation size 12.*must come from the same env"):
        cut_segments(pool, 5, 3, np.random.default_rng(0))


@pytest.mark.parametrize(
    "arrays, error, message",
    [
        (dict(obs=np.zeros((5, 2)), acts=np.zeros((4, 1)), rewards=np.zeros(5)), ValueError, "one length T"),
        (dict(obs=np.zeros((0, 2)), acts=np.zeros((0, 1)), rewards=np.zeros(0)), ValueError, "Trajectory is empty"),
        (dict(obs=np.zeros(5), acts=np.zeros((5, 1)), rewards=np.zeros(5)), ValueError, "obs must have 2 dimensions"),
        (
            dict(obs=np.zeros((5, 2)), acts=np.zeros((5, 1)), rewards=np.zeros((5, 1))),
            ValueError,
            "rewards must have 1",
        ),
        (
            dict(obs=np.zeros((5, 2)), acts=np.zeros((5, 1)), rewards=np.array([0, 0, np.inf, 0, 0])),
            ValueError,
            r"Trajectory\.rewards contains 1 NaN/inf value\(s\), the first at index \(2,\)",
        ),
        (
            dict(obs=np.zeros((5, 2)), acts=np.zeros((5, 1)), rewards=np.zeros(5), terminated="yes"),
            TypeError,
            "terminated must be a bool, got str",
        ),
    ],
)
def test_invalid_trajectories(arrays, error, message):
    with pytest.raises(error, match=message):
        Trajectory(**arrays)


def test_trajectory_stores_float32_arrays_and_a_bool():
    trajectory = Trajectory([[0.0, 1.0]] * 3, [[0.5]] * 3, [1, 2, 3], terminated=np.bool_(True))
    assert trajectory.obs.dtype == trajectory.acts.dtype == trajectory.rewards.dtype == np.float32
    assert trajectory.terminated is True and len(trajectory) == 3


# ---------------------------------------------------------------------------- generation


def test_generate_preferences_fills_labels_true_rewards_and_teacher_metadata():
    pool = random_pool()
    prefs = generate_preferences(pool, 300, ScriptedTeacher.oracle(), segment_length=10, seed=1)
    assert len(prefs) == 300 and prefs.segment_length == 10
    assert prefs.obs_1.shape == (300, 10, OBS) and prefs.acts_2.shape == (300, 10, ACT)
    expected, _ = ScriptedTeacher.oracle().label(prefs.true_rewards_1, prefs.true_rewards_2, np.random.default_rng(0))
    np.testing.assert_array_equal(prefs.labels, expected)
    assert prefs.metadata == {
        "teacher": ScriptedTeacher.oracle().to_dict(),
        "segment_length": 10,
        "seed": 1,
        "pool_steps": 2_000,
        "pairs_drawn": 300,
    }
    assert ScriptedTeacher.from_dict(prefs.metadata["teacher"]) == ScriptedTeacher.oracle()


def test_generate_preferences_true_rewards_belong_to_the_segments():
    prefs = generate_preferences(labelled_episodes([60, 80, 100]), 200, ScriptedTeacher.oracle(), 20, seed=0)
    for obs, rewards in ((prefs.obs_1, prefs.true_rewards_1), (prefs.obs_2, prefs.true_rewards_2)):
        np.testing.assert_array_equal(rewards, obs[:, :, 1] + 1000 * obs[:, :, 0])


def test_generate_preferences_is_deterministic_given_the_seed():
    pool, teacher = random_pool(), ScriptedTeacher(beta=1.0, eps_mistake=0.1)
    first = generate_preferences(pool, 200, teacher, segment_length=10, seed=4)
    second = generate_preferences(pool, 200, teacher, segment_length=10, seed=4)
    other = generate_preferences(pool, 200, teacher, segment_length=10, seed=5)
    for name in ("obs_1", "acts_1", "obs_2", "acts_2", "labels", "true_rewards_1", "true_rewards_2"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert not np.array_equal(first.obs_1, other.obs_1)


def test_generate_preferences_replaces_skipped_pairs():
    pool = random_pool()
    reference = cut_segments(pool, 10, 1_000, np.random.default_rng(0))[2].sum(axis=1)
    teacher = ScriptedTeacher.skip(reference, fraction=1.0)  # keeps about a third of the pairs
    prefs = generate_preferences(pool, 500, teacher, segment_length=10, seed=0)
    assert len(prefs) == 500
    best = np.maximum(prefs.true_rewards_1.sum(axis=1), prefs.true_rewards_2.sum(axis=1))
    assert (best >= np.float32(teacher.skip_threshold) - 1e-5).all()
    assert prefs.metadata["pairs_drawn"] > 500
    assert prefs.metadata["teacher"]["skip_threshold"] == teacher.skip_threshold


def test_generate_preferences_errors_when_the_teacher_skips_everything():
    with pytest.raises(ValueError, match=r"the teacher skipped all 50 pairs drawn: .* lower skip_threshold"):
        generate_preferences(random_pool(), 50, ScriptedTeacher(skip_threshold=1e6), segment_length=10)


def test_generate_preferences_errors_when_the_teacher_keeps_almost_nothing():
    # Only the 10 windows (of 4,641) over one high-reward step let a pair through: about 0.4 % of pairs,
    # so the first 2,000 pairs keep a few (the "kept only" path) but 100 × 2,000 draws keep too few.
    pool = random_pool(num_episodes=50, length=100)
    rewards = np.zeros(100)
    rewards[50] = 100.0
    pool = [Trajectory(t.obs, t.acts, np.zeros(100)) for t in pool] + [Trajectory(pool[0].obs, pool[0].acts, rewards)]
    with pytest.raises(ValueError, match=r"the teacher kept only \d+ of 200000 pairs drawn, fewer than the 2000"):
        generate_preferences(pool, 2_000, ScriptedTeacher(skip_threshold=50.0), segment_length=10)


def test_generate_preferences_input_errors():
    pool = random_pool()
    with pytest.raises(TypeError, match="teacher must be a ScriptedTeacher, got str"):
        generate_preferences(pool, 10, "oracle")
    with pytest.raises(ValueError, match="num_pairs must be a positive integer, got 0"):
        generate_preferences(pool, 0, ScriptedTeacher.oracle())
    with pytest.raises(TypeError, match="seed must be an int or None, got float"):
        generate_preferences(pool, 10, ScriptedTeacher.oracle(), segment_length=10, seed=1.5)
    with pytest.raises(ValueError, match="the longest has 100 steps"):
        generate_preferences(pool, 10, ScriptedTeacher.oracle(), segment_length=101)


def test_generate_20k_pairs_of_50_steps_from_200k_transitions():
    """The B-Pref scale: 20,000 pairs of 50 steps from a pool of 200 episodes × 1,000 steps.

    Measured on the 2-core dev machine with both cores busy: generation takes 0.1–0.3 s for any of
    the oracle, stochastic, mistake and myopic teachers (best of 3), and this whole test, pool
    included, 0.3 s (``pytest --durations``). No timing assertion: shared CI machines vary.
    """
    pool = random_pool(num_episodes=200, length=1_000)
    start = time.perf_counter()
    prefs = generate_preferences(pool, 20_000, ScriptedTeacher.mistake(), segment_length=50, seed=0)
    elapsed = time.perf_counter() - start
    assert len(prefs) == 20_000 and prefs.obs_1.shape == (20_000, 50, OBS)
    print(f"generated 20k pairs in {elapsed:.2f} s")


# ---------------------------------------------------------------------------- the preference file format


def assert_same(a: Preferences, b: Preferences) -> None:
    names = [f.name for f in fields(Preferences) if f.name != "metadata"]
    for name in names:
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None and y is None) or (np.array_equal(x, y) and x.dtype == y.dtype), name
    assert a.metadata == b.metadata


def test_save_load_round_trip_is_exact(tmp_path):
    pool = [*random_pool(2), *(replace(t, terminated=True) for t in labelled_episodes([3, 5]))]  # some padding
    prefs = generate_preferences(pool, 100, ScriptedTeacher.stochastic(beta=0.5), segment_length=10, seed=3)
    assert prefs.absorbing_1.any() or prefs.absorbing_2.any()
    prefs = replace(prefs, metadata={**prefs.metadata, "user": {"env": "Hopper-v5", "pool": ["random", "expert"]}})
    path = tmp_path / "prefs.data"  # no .npz suffix: the file keeps exactly this name
    prefs.save(path)
    assert path.is_file() and not (tmp_path / "prefs.data.npz").exists()
    loaded = Preferences.load(path)
    assert_same(prefs, loaded)
    assert loaded.metadata["teacher"] == {
        "beta": 0.5,
        "gamma": 1.0,
        "eps_mistake": 0.0,
        "skip_threshold": 0.0,
        "equal_threshold": 0.0,
    }


def test_save_load_round_trip_without_optional_fields(tmp_path):
    rng = np.random.default_rng(0)
    prefs = Preferences(
        rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 1)), rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 1)),
        np.array([0.0, 0.25, 1.0]),
    )  # fmt: skip
    assert prefs.metadata is None and prefs.true_rewards_1 is None and prefs.absorbing_1 is None
    prefs.save(str(tmp_path / "small.npz"))
    assert_same(prefs, Preferences.load(str(tmp_path / "small.npz")))


def test_load_a_missing_file(tmp_path):
    path = tmp_path / "nowhere.npz"
    with pytest.raises(
        FileNotFoundError, match=rf"cannot load preferences from {path}: it is missing.*Preferences\.save"
    ):
        Preferences.load(path)
    with pytest.raises(FileNotFoundError, match="it is a folder, not a file"):
        Preferences.load(tmp_path)


def test_load_a_corrupt_file(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"\x00\x01 this is not a preference file \xff" * 10)
    with pytest.raises(ValueError, match=rf"{path} is not a readable preference file .*write it again .*not an \.npz"):
        Preferences.load(path)


def test_load_a_truncated_file(tmp_path):
    path = tmp_path / "prefs.npz"
    generate_preferences(random_pool(), 50, ScriptedTeacher.oracle(), segment_length=10).save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="is not a readable preference file"):
        Preferences.load(path)


def test_load_files_of_other_formats(tmp_path):
    npy = tmp_path / "array.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match=r"it holds a single array, not the \.npz archive"):
        Preferences.load(npy)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ValueError, match=r"it has no 'header' entry \(it holds \['x'\]\)"):
        Preferences.load(other)


def rewrite_header(path, **changes) -> None:
    with np.load(path) as data:
        arrays = dict(data)
    header = {**json.loads(str(arrays.pop("header"))), **changes}
    with open(path, "wb") as file:
        np.savez_compressed(file, header=np.array(json.dumps(header)), **arrays)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(format_version=2), r"format version 2, but this aihf_control reads version 1; upgrade aihf_control"),
        (dict(format_version=0), r"format version 0, .* write it again with Preferences\.save"),
        (dict(format="imitation.Preferences"), r"header says format 'imitation.Preferences', expected"),
        (dict(segment_length=7), r"header says 20 pairs of 7 steps, its arrays hold 20 pairs of 10 steps"),
    ],
)
def test_load_a_file_with_a_wrong_header(tmp_path, changes, message):
    path = tmp_path / "prefs.npz"
    generate_preferences(random_pool(), 20, ScriptedTeacher.oracle(), segment_length=10).save(path)
    rewrite_header(path, **changes)
    with pytest.raises(ValueError, match=message):
        Preferences.load(path)


@pytest.mark.parametrize(
    "absorbing, error, message",
    [
        (np.zeros((3, 4)), TypeError, r"absorbing_1 must be a bool array .* got float64"),
        (np.zeros((3, 5), dtype=bool), ValueError, r"absorbing_1 must have shape \(N, T\) = \(3, 4\), got \(3, 5\)"),
        (np.eye(3, 4, dtype=bool), ValueError, r"absorbing_1\[0\] is padding from its first step"),
        (np.array([[0, 0, 1, 0]] * 3, dtype=bool), ValueError, r"absorbing_1\[0\] has a real step after a padded"),
    ],
)
def test_invalid_absorbing_masks(absorbing, error, message):
    rng = np.random.default_rng(0)
    segments = [rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 1))] * 2
    with pytest.raises(error, match=message):
        Preferences(*segments, np.array([0.0, 0.5, 1.0]), absorbing_1=absorbing)


def test_existing_positional_construction_still_works():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(2, 3, 1)) for _ in range(4)]
    prefs = Preferences(*arrays, np.array([1.0, 0.0]), np.zeros((2, 3)), np.ones((2, 3)))
    assert prefs.metadata is None and prefs.true_rewards_2.sum() == 6


@pytest.mark.parametrize(
    "metadata, error, message",
    [
        ({"order": (1, 2)}, ValueError, "changes on a JSON round trip.*lists instead of tuples"),
        ({1: "a"}, ValueError, "changes on a JSON round trip.*str keys"),
        ({"beta": np.float32(1.0)}, ValueError, "must be plain JSON data"),
        ({"score": float("nan")}, ValueError, "must be plain JSON data"),
        (["teacher"], TypeError, "metadata must be a dict or None, got list"),
    ],
)
def test_metadata_must_be_plain_json(metadata, error, message):
    arrays = [np.zeros((1, 2, 1))] * 4
    with pytest.raises(error, match=message):
        Preferences(*arrays, np.array([1.0]), metadata=metadata)


def test_metadata_is_copied_on_construction():
    metadata = {"teacher": {"beta": None}}
    prefs = Preferences(*[np.zeros((1, 2, 1))] * 4, np.array([1.0]), metadata=metadata)
    metadata["teacher"]["beta"] = 5.0
    assert prefs.metadata == {"teacher": {"beta": None}}


# ---------------------------------------------------------------------------- learning from generated preferences


def hopper_like_pool(num_episodes: int, length: int, seed: int) -> list[Trajectory]:
    """Random-action episodes of a linear system the size of Hopper (obs 11, act 3).

    The true reward has Hopper's form: forward velocity (obs[5]) + 1 alive bonus - 0.1 |a|².
    Each episode has its own velocity drift, so the pool mixes better and worse behaviour.
    """
    rng = np.random.default_rng(seed)
    dynamics = 0.9 * np.eye(OBS) + 0.02 * rng.normal(size=(OBS, OBS))
    control = 0.3 * rng.normal(size=(ACT, OBS))
    drift = np.zeros((num_episodes, OBS))
    drift[:, 5] = rng.normal(scale=0.2, size=num_episodes)
    obs = np.empty((num_episodes, length, OBS))
    acts = rng.uniform(-1, 1, size=(num_episodes, length, ACT))
    state = rng.normal(scale=0.5, size=(num_episodes, OBS))
    for t in range(length):
        obs[:, t] = state
        state = state @ dynamics.T + acts[:, t] @ control + drift + 0.1 * rng.normal(size=state.shape)
    rewards = obs[:, :, 5] + 1.0 - 0.1 * (acts**2).sum(axis=-1)
    return [Trajectory(obs[e], acts[e], rewards[e], terminated=False) for e in range(num_episodes)]


def test_reward_net_learns_from_generated_oracle_preferences():
    """RewardNet + preference_loss on 2,000 generated oracle pairs ranks held-out pairs well above chance."""
    torch.manual_seed(0)
    train = generate_preferences(hopper_like_pool(40, 200, seed=0), 2_000, ScriptedTeacher.oracle(), 20, seed=0)
    test = generate_preferences(hopper_like_pool(20, 200, seed=1), 1_000, ScriptedTeacher.oracle(), 20, seed=1)
    net = RewardNet(OBS, ACT, hidden_sizes=(32, 32))
    all_obs = np.concatenate([train.obs_1, train.obs_2]).reshape(-1, OBS)
    net.set_observation_stats(all_obs.mean(axis=0), all_obs.std(axis=0))
    tensors = {name: torch.as_tensor(getattr(train, name)) for name in ("obs_1", "acts_1", "obs_2", "acts_2", "labels")}
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(300):
        batch = torch.randint(len(train), (128,), generator=generator)
        returns_1 = net(tensors["obs_1"][batch], tensors["acts_1"][batch]).sum(dim=1)  # (B,)
        returns_2 = net(tensors["obs_2"][batch], tensors["acts_2"][batch]).sum(dim=1)
        loss = preference_loss(returns_1, returns_2, tensors["labels"][batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        returns_1 = net(torch.as_tensor(test.obs_1), torch.as_tensor(test.acts_1)).sum(dim=1).numpy()
        returns_2 = net(torch.as_tensor(test.obs_2), torch.as_tensor(test.acts_2)).sum(dim=1).numpy()
    strict = test.labels != 0.5
    accuracy = np.mean((returns_1 > returns_2)[strict] == (test.labels == 1.0)[strict])
    assert accuracy > 0.8, f"held-out preference accuracy {accuracy:.3f} (chance 0.5)"
