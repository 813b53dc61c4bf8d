"""Online preferences: episodes from a replay buffer, query selection, and joining preference batches."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer

from aihf_control.data import Preferences, ScriptedTeacher, Trajectory
from aihf_control.data.online import OnlinePreferenceGatherer, disagreement, recent_trajectories

OBS, ACT = 3, 2


def make_buffer(size: int, n_envs: int = 1, **kwargs: object) -> ReplayBuffer:
    """A tiny CPU replay buffer; ``size`` is its total capacity, so each env gets ``size // n_envs`` slots."""
    box = spaces.Box(-np.inf, np.inf, (OBS,), np.float32)
    return ReplayBuffer(size, box, spaces.Box(-1, 1, (ACT,), np.float32), "cpu", n_envs=n_envs, **kwargs)


def fill(buffer: ReplayBuffer, num_steps: int, ends: list[dict[int, str]]) -> None:
    """Add ``num_steps`` steps; ``ends[env]`` maps a step number to "terminated" or "truncated".

    Step t of env e has obs [t, e, 1], actions [t, -e] and reward t + 100 e, so every stored value says where it
    came from.
    """
    n_envs = buffer.n_envs
    for t in range(num_steps):
        obs = np.array([[t, e, 1.0] for e in range(n_envs)], dtype=np.float32)
        action = np.array([[t, -e] for e in range(n_envs)], dtype=np.float32)
        reward = np.array([t + 100.0 * e for e in range(n_envs)], dtype=np.float32)
        kinds = [ends[e].get(t) for e in range(n_envs)]
        done = np.array([kind is not None for kind in kinds])
        infos = [{"TimeLimit.truncated": True} if kind == "truncated" else {} for kind in kinds]
        buffer.add(obs, obs + 1, action, reward, done, infos)


def summary(trajectories: list[Trajectory]) -> list[tuple[int, list[int], bool]]:
    """(env, step numbers, terminated) of each trajectory, read back from the observations."""
    return [(int(t.obs[0, 1]), t.obs[:, 0].astype(int).tolist(), t.terminated) for t in trajectories]


def check_contents(trajectories: list[Trajectory]) -> None:
    for t in trajectories:
        steps, env = t.obs[:, 0], t.obs[:, 1]
        np.testing.assert_array_equal(t.acts, np.stack([steps, -env], axis=1))
        np.testing.assert_array_equal(t.rewards, steps + 100 * env)  # the true rewards as stored


# ---------------------------------------------------------------------------- recent_trajectories


def test_recent_trajectories_split_at_terminations_and_truncations():
    buffer = make_buffer(20)
    fill(buffer, 12, [{3: "terminated", 7: "truncated"}])
    trajectories = recent_trajectories(buffer, 12)
    assert summary(trajectories) == [
        (0, [0, 1, 2, 3], True),
        (0, [4, 5, 6, 7], False),  # a time limit is no termination
        (0, [8, 9, 10, 11], False),  # still running
    ]
    check_contents(trajectories)
    assert all(t.obs.shape[1] == OBS and t.acts.shape[1] == ACT for t in trajectories)
    # a window that starts inside an episode keeps its partial first episode
    assert summary(recent_trajectories(buffer, 6)) == [(0, [6, 7], False), (0, [8, 9, 10, 11], False)]
    # a window that ends on a termination
    assert summary(recent_trajectories(buffer, 20))[0] == (0, [0, 1, 2, 3], True)  # at most what is stored


def test_recent_trajectories_of_a_wrapped_around_buffer():
    buffer = make_buffer(8)
    fill(buffer, 13, [{1: "terminated", 6: "terminated", 10: "truncated", 12: "terminated"}])
    assert buffer.full and buffer.pos == 5
    trajectories = recent_trajectories(buffer, 100)
    assert summary(trajectories) == [(0, [5, 6], True), (0, [7, 8, 9, 10], False), (0, [11, 12], True)]
    check_contents(trajectories)
    assert summary(recent_trajectories(buffer, 3)) == [(0, [10], False), (0, [11, 12], True)]


def test_recent_trajectories_read_each_env_of_a_vectorised_buffer():
    buffer = make_buffer(12, n_envs=2)  # 6 slots per env
    fill(buffer, 9, [{4: "terminated"}, {2: "truncated", 5: "terminated", 6: "terminated"}])
    trajectories = recent_trajectories(buffer, 5)
    assert summary(trajectories) == [
        (0, [4], True),
        (0, [5, 6, 7, 8], False),
        (1, [4, 5], True),
        (1, [6], True),
        (1, [7, 8], False),
    ]
    check_contents(trajectories)
    for env in (0, 1):  # exactly the last num_steps steps of each env
        assert sum(len(t) for t in trajectories if t.obs[0, 1] == env) == 5


def test_recent_trajectories_skip_the_overwritten_slot_of_a_memory_optimised_buffer():
    buffer = make_buffer(6, optimize_memory_usage=True, handle_timeout_termination=False)
    fill(buffer, 10, [{}])
    trajectories = recent_trajectories(buffer, 6)
    assert summary(trajectories) == [(0, [5, 6, 7, 8, 9], False)]  # slot 4 holds step 9's next observation
    check_contents(trajectories)


def test_recent_trajectories_errors():
    buffer = make_buffer(10)
    with pytest.raises(ValueError, match="the replay buffer holds no steps yet; gather preferences after the first"):
        recent_trajectories(buffer, 5)
    fill(buffer, 3, [{}])
    with pytest.raises(ValueError, match=r"num_steps must be a positive integer .*, got 0"):
        recent_trajectories(buffer, 0)
    with pytest.raises(TypeError, match="buffer must be a stable_baselines3 ReplayBuffer, got list"):
        recent_trajectories([], 5)


# ---------------------------------------------------------------------------- gathering


def random_pool(seed: int = 0, marked_every: int = 0, short_falls: int = 0) -> list[Trajectory]:
    """20 episodes of 30 steps (obs[:, 0] = 1 on every ``marked_every``-th, else -1) and some 3-step falls."""
    rng = np.random.default_rng(seed)
    pool = []
    for i in range(20):
        obs = rng.normal(size=(30, OBS))
        obs[:, 0] = 1.0 if marked_every and i % marked_every == 0 else -1.0
        pool.append(Trajectory(obs, rng.uniform(-1, 1, (30, ACT)), rng.normal(size=30), terminated=False))
    pool += [Trajectory(rng.normal(size=(3, OBS)), np.zeros((3, ACT)), np.ones(3), True) for _ in range(short_falls)]
    return pool


def test_gather_asks_exactly_the_queries_and_labels_them_like_the_oracle():
    gatherer = OnlinePreferenceGatherer(ScriptedTeacher.oracle(), segment_length=10)
    prefs = gatherer.gather(random_pool(), 37, np.random.default_rng(0))
    assert len(prefs) == 37 and prefs.segment_length == 10
    returns_1, returns_2 = prefs.true_rewards_1.sum(axis=1), prefs.true_rewards_2.sum(axis=1)
    np.testing.assert_array_equal(prefs.labels, np.where(returns_1 > returns_2, 1.0, 0.0))
    assert prefs.metadata == {
        "teacher": ScriptedTeacher.oracle().to_dict(),
        "segment_length": 10,
        "selection": "uniform",
        "queries_asked": 37,
        "queries_kept": 37,
    }


def test_gather_keeps_short_falls_as_padded_segments():
    gatherer = OnlinePreferenceGatherer(ScriptedTeacher.oracle(), segment_length=10)
    # 20 long episodes give 21 windows each, 20 falls of 3 steps 3 each (one per step, padded): 60 of 480
    prefs = gatherer.gather(random_pool(short_falls=20), 200, np.random.default_rng(0))
    absorbing = np.concatenate([prefs.absorbing_1, prefs.absorbing_2])  # (2N, T)
    padded = absorbing.any(axis=1)
    assert 0.07 < padded.mean() < 0.2  # about 0.125, std 0.017
    assert (absorbing.sum(axis=1)[padded] >= 7).all()  # a fall of 3 steps leaves at most 3 real steps
    obs = np.concatenate([prefs.obs_1, prefs.obs_2])
    rewards = np.concatenate([prefs.true_rewards_1, prefs.true_rewards_2])
    assert (obs[absorbing] == 0).all() and (rewards[absorbing] == 0).all()


def test_gather_from_a_replay_buffer_end_to_end():
    buffer = make_buffer(400, n_envs=2)
    fill(buffer, 300, [{200: "terminated", 249: "truncated"}, {t: "terminated" for t in range(4, 300, 5)}])
    pool = recent_trajectories(buffer, 150)
    prefs = OnlinePreferenceGatherer(ScriptedTeacher.oracle(), segment_length=8).gather(
        pool, 20, np.random.default_rng(1)
    )
    assert len(prefs) == 20
    prefs.check_spaces(buffer.observation_space, buffer.action_space, check_bounds=False)  # actions mark steps
    assert prefs.absorbing_1.any() or prefs.absorbing_2.any()  # env 1 falls every 5 steps


def test_gather_is_deterministic_given_the_rng():
    gatherer = OnlinePreferenceGatherer(ScriptedTeacher(beta=1.0, eps_mistake=0.2), segment_length=5)
    pool = random_pool()
    first = gatherer.gather(pool, 30, np.random.default_rng(3))
    second = gatherer.gather(pool, 30, np.random.default_rng(3))
    other = gatherer.gather(pool, 30, np.random.default_rng(4))
    for name in ("obs_1", "acts_1", "obs_2", "acts_2", "labels", "absorbing_1"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert not np.array_equal(first.obs_1, other.obs_1)


def test_gather_returns_none_when_the_teacher_skips_every_query():
    gatherer = OnlinePreferenceGatherer(ScriptedTeacher(skip_threshold=1e9), segment_length=5)
    assert gatherer.gather(random_pool(), 10, np.random.default_rng(0)) is None


def test_gather_never_returns_more_than_asked_and_counts_skipped_queries():
    pool = random_pool()
    # skip about half: the pairs whose returns are both below the median segment return
    teacher = ScriptedTeacher(skip_threshold=float(np.median([t.rewards[:5].sum() for t in pool])))
    prefs = OnlinePreferenceGatherer(teacher, segment_length=5).gather(pool, 40, np.random.default_rng(0))
    assert 0 < len(prefs) < 40
    assert prefs.metadata["queries_asked"] == 40 and prefs.metadata["queries_kept"] == len(prefs)


# ---------------------------------------------------------------------------- disagreement


def marked(obs: np.ndarray) -> np.ndarray:
    """(K,) True for segments of marked episodes (obs[..., 0] > 0)."""
    return obs[:, 0, 0] > 0


def marker_ensemble(calls: list) -> object:
    """Five members that agree (all returns 0) except on marked segments, to which each gives its own offset."""
    offsets = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])[:, None]  # (E, 1)

    def ensemble_returns(obs: np.ndarray, acts: np.ndarray, absorbing: np.ndarray) -> np.ndarray:
        calls.append((obs.shape, acts.shape, absorbing.shape, absorbing.dtype))
        return offsets * marked(obs)[None, :]  # (E, K)

    return ensemble_returns


def test_disagreement_selection_prefers_pairs_the_ensemble_disputes():
    # A pair is disputed when exactly one of its segments is marked (two marked ones get the same offset).
    pool = random_pool(marked_every=5)  # 1 episode in 5 marked: 2 · 0.2 · 0.8 = 32 % of random pairs disputed
    calls: list = []
    results = {}
    for selection in ("uniform", "disagreement"):
        gatherer = OnlinePreferenceGatherer(ScriptedTeacher.oracle(), 5, selection, candidates_per_query=10)
        prefs = gatherer.gather(pool, 100, np.random.default_rng(0), marker_ensemble(calls))
        assert len(prefs) == 100 and prefs.metadata["selection"] == selection
        results[selection] = np.mean(marked(prefs.obs_1) != marked(prefs.obs_2))
    assert results["uniform"] < 0.45  # about 0.32; its std over 100 pairs is 0.05
    assert results["disagreement"] > 0.95  # about 320 of the 1000 candidates are disputed, 100 asked
    assert calls == [((2000, 5, OBS), (2000, 5, ACT), (2000, 5), np.bool_)]  # only disagreement asks the ensemble


def test_disagreement_by_hand():
    returns_1 = np.array([[0.0, 1.0, 3.0], [2.0, 1.0, 3.0]])
    returns_2 = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    sigmoid_2 = 1 / (1 + np.exp(-2.0))
    # member 0: P = [0.5, 0.5, σ(3)]; member 1: [σ(2), 0.5, σ(3)]
    np.testing.assert_allclose(disagreement(returns_1, returns_2), [(sigmoid_2 - 0.5) / 2, 0.0, 0.0], atol=1e-12)


def test_disagreement_is_stable_on_huge_return_gaps():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        spread = disagreement(np.array([[1e6, 1.7e308], [-1e6, -1.7e308]]), np.zeros((2, 2)))
    np.testing.assert_array_equal(spread, [0.5, 0.5])  # one member sure of σ¹, the other of σ²


def test_disagreement_errors():
    with pytest.raises(ValueError, match="disagreement needs an ensemble of at least 2 reward models"):
        disagreement(np.zeros((1, 4)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"returns_1 \(2, 4\) and returns_2 \(2, 3\) must have the same shape"):
        disagreement(np.zeros((2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="returns_2 must have shape"):
        disagreement(np.zeros((2, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="returns_1 contains 1 NaN/inf"):
        disagreement(np.array([[0.0], [np.nan]]), np.zeros((2, 1)))


# ---------------------------------------------------------------------------- gatherer errors


def test_gatherer_errors():
    oracle = ScriptedTeacher.oracle()
    with pytest.raises(ValueError, match="unknown selection 'random': valid selections are uniform, disagreement"):
        OnlinePreferenceGatherer(oracle, selection="random")
    with pytest.raises(ValueError, match="candidates_per_query must be a positive integer, got 0"):
        OnlinePreferenceGatherer(oracle, selection="disagreement", candidates_per_query=0)
    with pytest.raises(ValueError, match="segment_length must be a positive integer"):
        OnlinePreferenceGatherer(oracle, segment_length=0)
    with pytest.raises(TypeError, match="teacher must be a ScriptedTeacher, got str"):
        OnlinePreferenceGatherer("oracle")
    pool, rng = random_pool(), np.random.default_rng(0)
    for num_queries in (0, -3):
        with pytest.raises(ValueError, match=f"num_queries must be a positive integer, got {num_queries}"):
            OnlinePreferenceGatherer(oracle, 5).gather(pool, num_queries, rng)
    disputed = OnlinePreferenceGatherer(oracle, 5, "disagreement")
    with pytest.raises(ValueError, match=r"selection='disagreement' needs ensemble_returns"):
        disputed.gather(pool, 4, rng)
    with pytest.raises(ValueError, match=r"ensemble_returns returned shape \(3, 7\), expected \(E members, 80\)"):
        disputed.gather(pool, 4, rng, lambda obs, acts, absorbing: np.zeros((3, 7)))
    with pytest.raises(ValueError, match="disagreement needs an ensemble of at least 2 reward models"):
        disputed.gather(pool, 4, rng, lambda obs, acts, absorbing: np.zeros((1, len(obs))))
    with pytest.raises(ValueError, match="no trajectory gives a segment of 50 steps"):  # cut_segments' error
        OnlinePreferenceGatherer(oracle).gather(pool, 4, rng)


# ---------------------------------------------------------------------------- Preferences.concatenate


def plain_preferences(n: int, t: int = 5, obs: int = OBS, value: float = 7.0, **fields: object) -> Preferences:
    """n pairs without the optional arrays, every observation ``value``."""
    zeros = np.zeros((n, t, ACT))
    return Preferences(np.full((n, t, obs), value), zeros, np.zeros((n, t, obs)), zeros, np.full(n, 0.5), **fields)


def test_concatenate_keeps_every_pair_in_order():
    gatherer = OnlinePreferenceGatherer(ScriptedTeacher.oracle(), segment_length=5)
    pool = random_pool(short_falls=5)
    parts = [gatherer.gather(pool, n, np.random.default_rng(n)) for n in (3, 4)]
    joined = Preferences.concatenate([*parts, plain_preferences(2)])
    assert len(joined) == 9 and joined.segment_length == 5
    for name in ("obs_1", "acts_1", "obs_2", "acts_2", "labels"):
        expected = np.concatenate([getattr(parts[0], name), getattr(parts[1], name)])
        np.testing.assert_array_equal(getattr(joined, name)[:7], expected)
    assert (joined.obs_1[7:] == 7.0).all()
    # the plain part has no true rewards, so none are kept; it has no padding, so its masks are all False
    assert joined.true_rewards_1 is None and joined.true_rewards_2 is None
    np.testing.assert_array_equal(joined.absorbing_1[:7], np.concatenate([p.absorbing_1 for p in parts]))
    assert not joined.absorbing_1[7:].any() and not joined.absorbing_2[7:].any()
    assert joined.metadata == {"parts": [parts[0].metadata, parts[1].metadata, None]}
    # parts that all have true rewards keep them; parts without metadata or masks give None
    both = Preferences.concatenate(parts)
    np.testing.assert_array_equal(both.true_rewards_2, np.concatenate([p.true_rewards_2 for p in parts]))
    plain = Preferences.concatenate([plain_preferences(2), plain_preferences(1)])
    assert len(plain) == 3 and plain.metadata is None and plain.absorbing_1 is None


def test_concatenate_errors():
    with pytest.raises(ValueError, match=r"Preferences\.concatenate needs a non-empty list of Preferences"):
        Preferences.concatenate([])
    with pytest.raises(TypeError, match=r"parts\[1\] is a str, not a Preferences"):
        Preferences.concatenate([plain_preferences(1), "prefs"])
    with pytest.raises(ValueError, match=r"parts\[1\] has segments of 6 steps, .* but parts\[0\] has 5"):
        Preferences.concatenate([plain_preferences(1), plain_preferences(1, t=6)])
    with pytest.raises(ValueError, match=r"parts\[1\] has segments of 5 steps, observation size 4 .* one environment"):
        Preferences.concatenate([plain_preferences(1), plain_preferences(1, obs=4)])


def test_repeated_concatenation_keeps_metadata_flat():
    rng = np.random.default_rng(0)

    def part(tag: int) -> Preferences:
        segments = [rng.normal(size=(2, 3, 2)), rng.normal(size=(2, 3, 1))] * 2
        return Preferences(*segments, np.array([1.0, 0.0]), metadata={"round": tag})

    joined = Preferences.concatenate([part(0), part(1)])
    joined = Preferences.concatenate([joined, part(2)])
    assert joined.metadata == {"parts": [{"round": 0}, {"round": 1}, {"round": 2}]} and len(joined) == 6
