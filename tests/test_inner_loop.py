"""The inner loop: demonstrations in its batches (``demo_batch_fraction``) and the three inner learners."""

from __future__ import annotations

import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC

from aihf_control import AIHF, AIHFTQC, IPL, RLHF, AIHFCrossQ, Demonstrations, Preferences, load_checkpoint
from aihf_control.sb3.actor_rows import actor_gradient_from_own_rows
from aihf_control.sb3.checkpoint import save_checkpoint
from aihf_control.sb3.relabel_buffer import DemonstrationReplayBuffer, RelabelingReplayBuffer

OBS_SPACE = spaces.Box(-np.inf, np.inf, (3,), np.float32)
ACT_SPACE = spaces.Box(-1.0, 1.0, (2,), np.float32)
DEMO_MARK = 1_000.0  # demonstration observations start with this value, replayed ones with the step number


def filled_buffer(cls: type, n: int = 20) -> DemonstrationReplayBuffer:
    buffer = cls(100, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=1)
    for i in range(n):
        obs = np.full((1, 3), float(i), np.float32)
        buffer.add(obs, obs, np.zeros((1, 2), np.float32), np.array([7.0]), np.array([False]), [{}])
    return buffer


def demo_arrays(n: int = 10, terminated_every: int = 5) -> tuple[np.ndarray, ...]:
    obs = np.full((n, 3), DEMO_MARK, np.float32)
    obs[:, 1] = np.arange(n)
    acts = np.full((n, 2), 0.5, np.float32)
    terminated = (np.arange(n) % terminated_every == terminated_every - 1).astype(np.float32)
    return obs, acts, obs + 1, terminated


def on_hopper(cls: type, demos: Any, prefs: Any, **kwargs: Any) -> Any:
    """``cls`` on Hopper-v5 with the given feedback; ``kwargs`` are its other arguments."""
    return cls("MlpPolicy", "Hopper-v5", demonstrations=demos, preferences=prefs, **kwargs)


def test_a_batch_holds_the_asked_share_of_demonstrations():
    buffer = filled_buffer(DemonstrationReplayBuffer)
    buffer.set_demonstrations(*demo_arrays(), fraction=0.25)
    batch = buffer.sample(64)
    is_demo = batch.observations[:, 0] == DEMO_MARK
    assert batch.observations.shape == (64, 3) and int(is_demo.sum()) == 16
    # Demonstration rows carry their own next observations, actions and terminations, and no reward.
    torch.testing.assert_close(batch.next_observations[is_demo], batch.observations[is_demo] + 1)
    torch.testing.assert_close(batch.actions[is_demo], torch.full((16, 2), 0.5))
    expected_dones = (batch.observations[is_demo, 1] % 5 == 4).float()
    torch.testing.assert_close(batch.dones[is_demo].squeeze(-1), expected_dones)
    assert torch.isnan(batch.rewards[is_demo]).all() and (batch.rewards[~is_demo] == 7.0).all()


def test_no_demonstrations_or_share_zero_gives_plain_replay_batches():
    buffer = filled_buffer(DemonstrationReplayBuffer)
    assert (buffer.sample(32).observations[:, 0] < DEMO_MARK).all()
    buffer.set_demonstrations(*demo_arrays(), fraction=0.0)
    assert (buffer.sample(32).observations[:, 0] < DEMO_MARK).all()


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_a_share_outside_0_1_is_refused(fraction):
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        filled_buffer(DemonstrationReplayBuffer).set_demonstrations(*demo_arrays(), fraction=fraction)


def test_demonstration_rows_are_relabelled_by_the_same_reward_function():
    buffer = filled_buffer(RelabelingReplayBuffer)
    buffer.set_reward_fn(lambda obs, acts, terminated: obs[:, 1] + 100.0 * terminated)
    buffer.set_demonstrations(*demo_arrays(), fraction=0.5)
    batch = buffer.sample(40)
    expected = batch.observations[:, 1] + 100.0 * batch.dones.squeeze(-1)
    torch.testing.assert_close(batch.rewards.squeeze(-1), expected)
    assert int((batch.observations[:, 0] == DEMO_MARK).sum()) == 20


def test_demonstrations_are_not_pickled_with_the_buffer():
    buffer = filled_buffer(RelabelingReplayBuffer)
    buffer.set_demonstrations(*demo_arrays(), fraction=0.5)
    restored = pickle.loads(pickle.dumps(buffer))
    assert restored.demo_rows is None and restored.num_demo_rows(64) == 0


def test_aihf_batches_carry_scaled_demonstrations_rewarded_by_r_theta(feedback_factory, small_aihf_kwargs):
    # Pendulum's actions are in [-2, 2]: the buffer holds them scaled to [-1, 1], the reward sees env units.
    demos, _ = feedback_factory("Pendulum-v1", n_demo_steps=200, n_pairs=8, segment_length=5, seed=0)
    model = AIHF("MlpPolicy", "Pendulum-v1", demonstrations=demos, demo_batch_fraction=0.5, **small_aihf_kwargs)
    model.learn(150)
    batch = model.replay_buffer.sample(32)
    demo_rows = model.replay_buffer.demo_rows
    assert len(demo_rows.observations) == len(demos)
    torch.testing.assert_close(demo_rows.actions, torch.as_tensor(demos.acts / 2.0))
    with torch.no_grad():
        expected = model._buffer_reward(batch.observations, batch.actions, batch.dones.squeeze(-1))
    torch.testing.assert_close(batch.rewards.squeeze(-1), expected)
    is_demo = (batch.observations[:, None, :] == demo_rows.observations[None]).all(-1).any(-1)
    assert int(is_demo.sum()) == 16  # random-action rollouts never repeat a demonstrated state exactly


def test_the_absorbing_term_reaches_terminal_demonstration_rows(hopper_demos, small_aihf_kwargs):
    terminated = np.zeros(len(hopper_demos), np.float32)
    terminated[::2] = 1.0  # half the demonstrated transitions end in a fall
    demos = Demonstrations(hopper_demos.obs, hopper_demos.acts, hopper_demos.next_obs, terminated.astype(bool))
    model = AIHF("MlpPolicy", "Hopper-v5", demonstrations=demos, demo_batch_fraction=0.5, **small_aihf_kwargs)
    model.learn(150)
    batch = model.replay_buffer.sample(64)
    net = model.reward_net
    env_acts = torch.as_tensor(model.policy.unscale_action(batch.actions.numpy()))
    with torch.no_grad():
        plain = net(batch.observations, env_acts)
        term = model.gamma / (1 - model.gamma) * net.absorbing_reward()
    torch.testing.assert_close(batch.rewards.squeeze(-1), plain + batch.dones.squeeze(-1) * term, rtol=1e-4, atol=1e-4)
    assert batch.dones[32:].sum() > 0  # some demonstration rows are terminal, and got the term


@pytest.mark.parametrize("cls, base", [(AIHF, SAC), (AIHFTQC, TQC), (AIHFCrossQ, CrossQ)])
def test_each_inner_learner_learns_saves_loads_and_resumes(
    tmp_path, cls, base, hopper_demos, hopper_prefs, small_aihf_kwargs
):
    model = on_hopper(cls, hopper_demos, hopper_prefs, demo_batch_fraction=0.5, seed=0, **small_aihf_kwargs)
    assert isinstance(model, base)
    reward_before = [p.clone() for p in model.reward_net.parameters()]
    model.learn(300)
    assert model.reward_updates >= 2 and model.num_timesteps == 300
    assert any(not torch.equal(a, b) for a, b in zip(reward_before, model.reward_net.parameters(), strict=True))
    model.save(tmp_path / "model")
    loaded = cls.load(tmp_path / "model", env=gym.make("Hopper-v5"), demonstrations=hopper_demos)
    assert loaded.demo_batch_fraction == 0.5 and loaded.replay_buffer.num_demo_rows(32) == 16
    obs = np.asarray(hopper_demos.obs[:8])
    np.testing.assert_allclose(loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    np.testing.assert_allclose(
        loaded.predict_reward(obs, hopper_demos.acts[:8]), model.predict_reward(obs, hopper_demos.acts[:8])
    )
    folder = save_checkpoint(model, tmp_path / "ckpt")
    resumed = load_checkpoint(cls, folder, gym.make("Hopper-v5"), demonstrations=hopper_demos, preferences=hopper_prefs)
    assert resumed.replay_buffer.num_demo_rows(32) == 16 and resumed.replay_buffer.size() == model.replay_buffer.size()
    resumed.learn(100, reset_num_timesteps=False)
    assert resumed.num_timesteps == 400


@pytest.mark.parametrize("cls", [AIHF, AIHFCrossQ])
def test_same_seed_same_result_with_demonstration_batches(cls, hopper_demos, hopper_prefs, small_aihf_kwargs):
    def run(seed: int) -> list[torch.Tensor]:
        model = on_hopper(cls, hopper_demos, hopper_prefs, demo_batch_fraction=0.5, seed=seed, **small_aihf_kwargs)
        model.learn(250)
        return [p.detach().clone() for p in (*model.policy.parameters(), *model.reward_net.parameters())]

    first, again, other = run(1), run(1), run(2)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_load_replay_buffer_gets_the_reward_and_the_demonstrations_again(tmp_path, hopper_demos, small_aihf_kwargs):
    model = AIHF("MlpPolicy", "Hopper-v5", demonstrations=hopper_demos, demo_batch_fraction=0.5, **small_aihf_kwargs)
    model.learn(150)
    model.save_replay_buffer(tmp_path / "buffer")
    model.load_replay_buffer(tmp_path / "buffer")
    batch = model.replay_buffer.sample(32)  # would raise without a reward function
    assert model.replay_buffer.num_demo_rows(32) == 16 and torch.isfinite(batch.rewards).all()


def test_rlhf_and_ipl_put_their_bc_demonstrations_into_batches_only_when_asked(
    hopper_demos, hopper_prefs, small_aihf_kwargs
):
    kwargs = {k: v for k, v in small_aihf_kwargs.items() if k not in ("reward_net_arch",)}
    rlhf = on_hopper(
        RLHF, hopper_demos, hopper_prefs, bc_steps=10, demo_batch_fraction=0.5, reward_net_arch=(32, 32), **kwargs
    )
    assert rlhf.replay_buffer.num_demo_rows(64) == 32
    assert (
        on_hopper(
            RLHF, hopper_demos, hopper_prefs, bc_steps=10, reward_net_arch=(32, 32), **kwargs
        ).replay_buffer.num_demo_rows(64)
        == 0
    )  # the paper's protocol
    rlhf.learn(200)
    ipl_kwargs = {
        k: v for k, v in kwargs.items() if k not in ("alignment_steps", "reward_gradient_steps", "reward_batch_size")
    }
    ipl = on_hopper(IPL, hopper_demos, hopper_prefs, bc_steps=10, demo_batch_fraction=0.5, **ipl_kwargs)
    assert isinstance(ipl.replay_buffer, DemonstrationReplayBuffer) and ipl.replay_buffer.num_demo_rows(64) == 32
    ipl.learn(200)
    assert all(torch.isfinite(p).all() for p in ipl.policy.parameters())


def test_a_loaded_rlhf_or_ipl_gets_its_demonstration_batches_back_with_set_demonstrations(
    tmp_path, hopper_demos, hopper_prefs, small_aihf_kwargs
):
    kwargs = {k: v for k, v in small_aihf_kwargs.items() if k not in ("reward_net_arch",)}
    ipl_kwargs = {
        k: v for k, v in kwargs.items() if k not in ("alignment_steps", "reward_gradient_steps", "reward_batch_size")
    }
    for cls, extra in ((RLHF, {"reward_net_arch": (32, 32), **kwargs}), (IPL, ipl_kwargs)):
        model = on_hopper(cls, hopper_demos, hopper_prefs, bc_steps=10, demo_batch_fraction=0.5, **extra)
        model.learn(120)
        model.save(tmp_path / cls.__name__)
        loaded = (
            cls.load(tmp_path / cls.__name__, env=gym.make("Hopper-v5"), preferences=hopper_prefs)
            if cls is RLHF
            else cls.load(tmp_path / cls.__name__, env=gym.make("Hopper-v5"))
        )
        assert loaded.replay_buffer.num_demo_rows(64) == 0  # feedback is not saved with a model
        loaded.set_demonstrations(hopper_demos)
        assert loaded.replay_buffer.num_demo_rows(64) == 32 and loaded.bc_done
        with pytest.raises(ValueError, match="observation"):
            loaded.set_demonstrations(
                Demonstrations(np.zeros((4, 3)), np.zeros((4, 3)), np.zeros((4, 3)), np.zeros(4, dtype=bool))
            )


def test_aihf_crossq_leaves_batch_statistics_after_5k_updates_unless_told_otherwise():
    def warmups(model: AIHFCrossQ) -> set[int]:
        return {m.warmup_steps for m in model.policy.modules() if hasattr(m, "warmup_steps")}

    kwargs = {"policy_kwargs": {"net_arch": [16, 16]}, "reward_net_arch": (16, 16), "preference_weight": 0.0}
    demos = Demonstrations(np.zeros((8, 3)), np.zeros((8, 1)), np.zeros((8, 3)), np.zeros(8, dtype=bool))
    assert warmups(AIHFCrossQ("MlpPolicy", "Pendulum-v1", demonstrations=demos, **kwargs)) == {5_000}
    kwargs["policy_kwargs"]["renorm_warmup_steps"] = 100_000  # sb3-contrib's own default, when asked for
    assert warmups(AIHFCrossQ("MlpPolicy", "Pendulum-v1", demonstrations=demos, **kwargs)) == {100_000}


@pytest.mark.parametrize("cls", [AIHF, AIHFCrossQ])
def test_the_actor_gradient_comes_from_the_own_rows_alone_when_asked(cls, hopper_demos, small_aihf_kwargs):
    model = on_hopper(cls, hopper_demos, None, demo_batch_fraction=0.25, seed=0, **small_aihf_kwargs)
    model.learn(150)
    batch = model.replay_buffer.sample(32)
    own = 32 - model.replay_buffer.num_demo_rows(32)
    assert own == 24

    def actor_gradient(rows: slice, own_rows_only: bool) -> list[torch.Tensor]:
        # The actor's loss as SAC, TQC and CrossQ write it, with the same noise each time.
        model.actor.zero_grad()
        torch.manual_seed(0)
        if own_rows_only:
            with actor_gradient_from_own_rows(model.actor, model.replay_buffer):
                actions, log_prob = model.actor.action_log_prob(batch.observations)
        else:
            actions, log_prob = model.actor.action_log_prob(batch.observations)
        q = torch.cat(model.critic(batch.observations, actions), dim=1).min(dim=1).values
        (0.1 * log_prob[rows] - q[rows]).sum().backward()
        return [p.grad.clone() for p in model.actor.parameters() if p.grad is not None]

    cut = actor_gradient(slice(None), own_rows_only=True)
    own_alone = actor_gradient(slice(0, own), own_rows_only=False)
    every_row = actor_gradient(slice(None), own_rows_only=False)
    for a, b in zip(cut, own_alone, strict=True):
        torch.testing.assert_close(a, b)
    assert not all(torch.allclose(a, b) for a, b in zip(cut, every_row, strict=True))
    assert "action_log_prob" not in vars(model.actor)  # the actor's own method again after the block


@pytest.mark.parametrize("cls", [AIHF, AIHFTQC, AIHFCrossQ])
def test_each_inner_learner_trains_its_actor_on_own_rows_saves_and_loads(
    tmp_path, cls, hopper_demos, hopper_prefs, small_aihf_kwargs
):
    def run(actor_feedback_rows: bool) -> Any:
        model = on_hopper(
            cls, hopper_demos, hopper_prefs, actor_feedback_rows=actor_feedback_rows, seed=0, **small_aihf_kwargs
        )
        model.learn(250)
        return model

    own_rows, every_row = run(False), run(True)
    assert "action_log_prob" not in vars(own_rows.actor)
    pairs = zip(own_rows.actor.parameters(), every_row.actor.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in pairs)
    own_rows.save(tmp_path / "model")
    loaded = cls.load(tmp_path / "model", env=gym.make("Hopper-v5"), demonstrations=hopper_demos)
    assert loaded.actor_feedback_rows is False
    loaded.learn(50)
    assert all(torch.isfinite(p).all() for p in loaded.actor.parameters())


def test_preference_segments_give_their_transitions_with_a_fall_as_a_termination():
    obs = np.arange(2 * 4 * 3, dtype=np.float32).reshape(2, 4, 3)  # two pairs of 4-step segments
    acts = np.ones((2, 4, 2), np.float32)
    absorbing_2 = np.zeros((2, 4), bool)
    absorbing_2[0, 2:] = True  # the first pair's second segment fell after two real steps
    prefs = Preferences(obs, acts, obs + 100, acts, np.array([1.0, 0.5]), absorbing_2=absorbing_2)
    rows_obs, rows_acts, rows_next, terminated = prefs.transitions()
    # 3 transitions in each full segment (the last step has no successor), 2 in the one that fell.
    assert rows_obs.shape == (3 + 3 + 2 + 3, 3) and rows_acts.shape == (11, 2)
    assert terminated.tolist() == [False] * 6 + [False, True] + [False] * 3  # first segments, then second ones
    np.testing.assert_array_equal(rows_next[:3], obs[0, 1:])  # s_{t+1} within a segment
    np.testing.assert_array_equal(rows_obs[6:8], obs[0, :2] + 100)
    np.testing.assert_array_equal(rows_next[7], obs[0, 1] + 100)  # the fall's step: s_t stands in, unused


def test_a_batch_holds_own_then_demonstration_then_segment_rows():
    buffer = filled_buffer(RelabelingReplayBuffer)
    buffer.set_reward_fn(lambda obs, acts, terminated: obs[:, 0] + 100.0 * terminated)
    buffer.set_demonstrations(*demo_arrays(), fraction=0.25)
    segment_obs = np.full((6, 3), 2 * DEMO_MARK, np.float32)
    terminated = np.array([0, 0, 1, 0, 0, 1], np.float32)
    buffer.set_segments(segment_obs, np.zeros((6, 2), np.float32), segment_obs, terminated, fraction=0.5)
    batch = buffer.sample(32)
    marks = batch.observations[:, 0]
    assert (marks[:8] < DEMO_MARK).all() and (marks[8:16] == DEMO_MARK).all() and (marks[16:] == 2 * DEMO_MARK).all()
    assert buffer.num_feedback_rows(32) == 24
    torch.testing.assert_close(batch.rewards.squeeze(-1), marks + 100.0 * batch.dones.squeeze(-1))
    with pytest.raises(ValueError, match=r"add up to 1\.0"):
        buffer.set_segments(segment_obs, np.zeros((6, 2), np.float32), segment_obs, terminated, fraction=0.75)
    restored = pickle.loads(pickle.dumps(buffer))
    assert restored.segment_rows is None and restored.num_feedback_rows(32) == 0


def test_aihf_offers_its_preference_segments_to_the_critic_when_asked(
    tmp_path, hopper_demos, hopper_prefs, small_aihf_kwargs
):
    model = on_hopper(AIHFCrossQ, hopper_demos, hopper_prefs, segment_batch_fraction=0.25, **small_aihf_kwargs)
    model.learn(150)
    buffer = model.replay_buffer
    assert buffer.num_demo_rows(64) == 32 and buffer.num_segment_rows(64) == 16
    segment_obs, segment_acts, _, _ = hopper_prefs.transitions()
    assert len(buffer.segment_rows.observations) == len(segment_obs)
    torch.testing.assert_close(buffer.segment_rows.actions, torch.as_tensor(model.policy.scale_action(segment_acts)))
    batch = buffer.sample(64)
    with torch.no_grad():
        expected = model._buffer_reward(batch.observations, batch.actions, batch.dones.squeeze(-1))
    torch.testing.assert_close(batch.rewards.squeeze(-1), expected)
    model.save(tmp_path / "model")
    loaded = AIHFCrossQ.load(tmp_path / "model", env=gym.make("Hopper-v5"), preferences=hopper_prefs)
    assert loaded.segment_batch_fraction == 0.25 and loaded.replay_buffer.num_segment_rows(64) == 16
    with pytest.raises(ValueError, match="segment_batch_fraction"):
        on_hopper(AIHFCrossQ, hopper_demos, hopper_prefs, segment_batch_fraction=0.5, **small_aihf_kwargs)
