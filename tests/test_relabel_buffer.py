"""RelabelingReplayBuffer: rewards come from r_θ at sample time, never from storage."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from aihf_control import AIHF, RelabelingReplayBuffer, RewardNet

OBS_DIM, ACT_DIM = 4, 2
OBS_SPACE = spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
ACT_SPACE = spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float32)
TRUE_REWARD = 1234.5


def make_buffer(size: int = 50) -> RelabelingReplayBuffer:
    return RelabelingReplayBuffer(size, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=1)


def fill(buffer: RelabelingReplayBuffer, n: int, seed: int = 0, start: int = 0) -> None:
    """Add ``n`` transitions; observation[0] is the step number, the true reward is TRUE_REWARD."""
    rng = np.random.default_rng(seed)
    for i in range(start, start + n):
        obs = rng.normal(size=(1, OBS_DIM)).astype(np.float32)
        obs[0, 0] = i
        buffer.add(
            obs,
            obs + 1,
            rng.uniform(-1, 1, size=(1, ACT_DIM)).astype(np.float32),
            np.array([TRUE_REWARD]),
            np.array([False]),
            [{}],
        )


@pytest.fixture
def net() -> RewardNet:
    torch.manual_seed(0)
    return RewardNet(OBS_DIM, ACT_DIM, hidden_sizes=(16,), reward_bound=3.0)


def test_samples_carry_learned_not_true_rewards(net):
    buffer = make_buffer()
    fill(buffer, 20)
    buffer.set_reward_fn(lambda obs, acts, term: net(obs, acts))
    batch = buffer.sample(32)
    assert batch.rewards.shape == (32, 1)
    with torch.no_grad():
        expected = net(batch.observations, batch.actions).reshape(-1, 1)
    torch.testing.assert_close(batch.rewards, expected)
    assert (batch.rewards.abs() < 3.0).all()
    assert not torch.any(batch.rewards == TRUE_REWARD)
    assert not batch.rewards.requires_grad  # computed without gradient


def test_reward_fn_gets_terminated_without_timeouts():
    buffer = make_buffer()
    # step 0: ordinary ; step 1: true termination ; step 2: time-limit truncation
    for i, (done, info) in enumerate([(False, {}), (True, {}), (True, {"TimeLimit.truncated": True})]):
        obs = np.full((1, OBS_DIM), float(i), np.float32)
        buffer.add(obs, obs, np.zeros((1, ACT_DIM), np.float32), np.array([0.0]), np.array([done]), [info])
    seen = {}

    def reward_fn(obs, acts, terminated):
        seen["shape"] = terminated.shape
        return 100.0 * obs[:, 0] + terminated  # encodes which row had which flag

    buffer.set_reward_fn(reward_fn)
    batch = buffer._get_samples(np.arange(3))
    assert seen["shape"] == (3,)
    torch.testing.assert_close(batch.rewards.squeeze(-1), torch.tensor([0.0, 101.0, 200.0]))


def test_parameter_change_shows_in_the_very_next_sample(net):
    buffer = make_buffer()
    fill(buffer, 10)
    buffer.set_reward_fn(lambda obs, acts, term: net(obs, acts))
    idx = np.arange(10)
    before = buffer._get_samples(idx).rewards.clone()

    # an optimizer step that pushes r up on these transitions
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    batch = buffer._get_samples(idx)
    loss = -net(batch.observations, batch.actions).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    after_step = buffer._get_samples(idx).rewards.clone()
    assert after_step.mean() > before.mean()
    with torch.no_grad():
        torch.testing.assert_close(after_step.squeeze(-1), net(batch.observations, batch.actions))

    # and a direct overwrite of the weights: an all-zero net gives 0 everywhere
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    torch.testing.assert_close(buffer._get_samples(idx).rewards, torch.zeros(10, 1))


def test_stored_true_rewards_are_untouched(net):
    buffer = make_buffer()
    fill(buffer, 15)
    stored = buffer.rewards.copy()
    buffer.set_reward_fn(lambda obs, acts, term: net(obs, acts))
    for _ in range(3):
        buffer.sample(8)
    np.testing.assert_array_equal(buffer.rewards, stored)
    assert (buffer.rewards[:15] == TRUE_REWARD).all()


def test_sampling_without_reward_fn_raises():
    buffer = make_buffer()
    fill(buffer, 5)
    with pytest.raises(RuntimeError, match="set_reward_fn"):
        buffer.sample(4)


def test_recent_indices_order_and_wraparound():
    buffer = make_buffer(size=5)
    fill(buffer, 3)  # steps 0, 1, 2 in slots 0, 1, 2
    np.testing.assert_array_equal(buffer.recent_indices(2), [1, 2])
    np.testing.assert_array_equal(buffer.recent_indices(10), [0, 1, 2])  # capped at the size
    assert len(buffer.recent_indices(0)) == 0

    fill(buffer, 4, start=3)  # steps 3..6: slots 3, 4, then 0, 1 (overwritten); pos = 2
    assert buffer.full and buffer.pos == 2
    idx = buffer.recent_indices(3)
    np.testing.assert_array_equal(idx, [4, 0, 1])
    np.testing.assert_array_equal(buffer.observations[idx, 0, 0], [4.0, 5.0, 6.0])  # oldest first
    all_idx = buffer.recent_indices(100)
    np.testing.assert_array_equal(buffer.observations[all_idx, 0, 0], [2.0, 3.0, 4.0, 5.0, 6.0])


def test_pickling_drops_reward_fn(net):
    buffer = make_buffer()
    fill(buffer, 5)
    buffer.set_reward_fn(lambda obs, acts, term: net(obs, acts))  # a lambda cannot be pickled at all
    restored = pickle.loads(pickle.dumps(buffer))
    assert restored.reward_fn is None
    assert buffer.reward_fn is not None  # the original keeps it
    np.testing.assert_array_equal(restored.observations, buffer.observations)
    np.testing.assert_array_equal(restored.rewards, buffer.rewards)
    with pytest.raises(RuntimeError, match="set_reward_fn"):
        restored.sample(2)
    restored.set_reward_fn(lambda obs, acts, term: net(obs, acts))
    torch.testing.assert_close(restored._get_samples(np.arange(5)).rewards, buffer._get_samples(np.arange(5)).rewards)


def test_aihf_buffer_adds_absorbing_term_only_on_true_terminations(hopper_demos, small_aihf_kwargs):
    env = gym.make("Hopper-v5")
    model = AIHF("MlpPolicy", env, demonstrations=hopper_demos, seed=0, **small_aihf_kwargs)
    buffer = model.replay_buffer
    assert isinstance(buffer, RelabelingReplayBuffer)
    rng = np.random.default_rng(1)
    # rows: 0 ordinary, 1 true termination, 2 time-limit truncation, 3 ordinary, 4 true termination
    flags = [(False, {}), (True, {}), (True, {"TimeLimit.truncated": True}), (False, {}), (True, {})]
    for done, info in flags:
        obs = rng.normal(size=(1, 11)).astype(np.float32)
        act = rng.uniform(-1, 1, size=(1, 3)).astype(np.float32)
        buffer.add(obs, obs, act, np.array([1e6]), np.array([done]), [info])
    batch = buffer._get_samples(np.arange(5))
    net = model.reward_net
    with torch.no_grad():
        plain = net(batch.observations, batch.actions)
        r_abs = net.absorbing_reward().item()
    assert abs(r_abs) > 1e-4, "a zero absorbing reward would make this test vacuous"
    extra = (batch.rewards.squeeze(-1) - plain).numpy()
    term_value = model.gamma / (1 - model.gamma) * r_abs
    np.testing.assert_allclose(extra, [0.0, term_value, 0.0, 0.0, term_value], rtol=1e-4, atol=1e-5)
    # SAC's target still sees the time-limit row as not done, and the true termination as done
    np.testing.assert_array_equal(batch.dones.squeeze(-1).numpy(), [0, 1, 0, 0, 1])

    model.absorbing_state = False
    batch = buffer._get_samples(np.arange(5))
    with torch.no_grad():
        torch.testing.assert_close(batch.rewards.squeeze(-1), net(batch.observations, batch.actions))
