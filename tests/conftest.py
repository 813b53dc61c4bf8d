"""Shared fixtures: small, valid feedback data built from random rollouts.

The machine running CI is small, so everything here is tiny and single-threaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from aihf_control import Demonstrations, Preferences

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def cpu_unless_marked_gpu(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test marked ``gpu`` runs on a CUDA GPU and is skipped without one. Every other test runs on the CPU, also on
    a machine with a GPU: SB3's ``device="auto"`` (the default of ``load`` and of most constructors) then means the
    CPU, whose numbers the tolerances are for."""
    if request.node.get_closest_marker("gpu") is not None:
        if not torch.cuda.is_available():
            pytest.skip("needs a CUDA GPU")
    else:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


HOPPER_OBS_DIM = 11
HOPPER_ACT_DIM = 3

# Keyword arguments that keep an AIHF/SAC model on Hopper small and quick.
SMALL_AIHF_KWARGS = dict(
    learning_starts=100,
    alignment_steps=100,
    reward_gradient_steps=2,
    reward_batch_size=32,
    preference_batch_size=8,
    batch_size=32,
    buffer_size=1_000,
    policy_kwargs=dict(net_arch=[32, 32]),
    reward_net_arch=(32, 32),
    device="cpu",
)


def _rollout_episodes(env: gym.Env, n_steps: int, seed: int) -> list[dict[str, np.ndarray]]:
    """``n_steps`` random-action steps, split into episodes (each a dict of arrays)."""
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    episodes: list[dict[str, np.ndarray]] = []
    cur: dict[str, list] = {"obs": [], "acts": [], "next_obs": [], "rewards": [], "terminated": []}
    for step in range(n_steps):
        act = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(act)
        cur["obs"].append(obs)
        cur["acts"].append(act)
        cur["next_obs"].append(next_obs)
        cur["rewards"].append(reward)
        cur["terminated"].append(terminated)
        obs = next_obs
        if terminated or truncated or step == n_steps - 1:
            episodes.append({k: np.asarray(v) for k, v in cur.items()})
            cur = {k: [] for k in cur}
            obs, _ = env.reset()
    return episodes


def make_feedback(
    env: gym.Env | str,
    n_demo_steps: int = 200,
    n_pairs: int = 16,
    segment_length: int = 5,
    seed: int = 0,
) -> tuple[Demonstrations, Preferences]:
    """Random-but-valid ``Demonstrations`` and ``Preferences`` for any flat-Box env.

    Demonstrations are random-action transitions; preference segments are cut from inside
    random-action episodes (never across a termination) and labelled by their true return
    (1 / 0, or 0.5 on a tie), with the true rewards attached.
    """
    own_env = isinstance(env, str)
    env = gym.make(env) if own_env else env
    try:
        episodes = _rollout_episodes(env, n_demo_steps, seed)
        demos = Demonstrations(
            obs=np.concatenate([e["obs"] for e in episodes]),
            acts=np.concatenate([e["acts"] for e in episodes]),
            next_obs=np.concatenate([e["next_obs"] for e in episodes]),
            dones=np.concatenate([e["terminated"] for e in episodes]),
        )
        long_enough = [e for e in episodes if len(e["obs"]) >= segment_length]
        while len(long_enough) < 2:  # random Hopper episodes are ~20 steps; collect more if needed
            seed += 1000
            long_enough += [e for e in _rollout_episodes(env, 200, seed) if len(e["obs"]) >= segment_length]
        rng = np.random.default_rng(seed)

        def segment() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            ep = long_enough[rng.integers(len(long_enough))]
            start = rng.integers(0, len(ep["obs"]) - segment_length + 1)
            sl = slice(start, start + segment_length)
            return ep["obs"][sl], ep["acts"][sl], ep["rewards"][sl]

        segs_1 = [segment() for _ in range(n_pairs)]
        segs_2 = [segment() for _ in range(n_pairs)]
        r1 = np.stack([s[2] for s in segs_1])
        r2 = np.stack([s[2] for s in segs_2])
        ret_1, ret_2 = r1.sum(1), r2.sum(1)
        labels = np.where(ret_1 > ret_2, 1.0, np.where(ret_1 < ret_2, 0.0, 0.5))
        prefs = Preferences(
            obs_1=np.stack([s[0] for s in segs_1]),
            acts_1=np.stack([s[1] for s in segs_1]),
            obs_2=np.stack([s[0] for s in segs_2]),
            acts_2=np.stack([s[1] for s in segs_2]),
            labels=labels,
            true_rewards_1=r1,
            true_rewards_2=r2,
        )
    finally:
        if own_env:
            env.close()
    return demos, prefs


@pytest.fixture
def feedback_factory() -> Callable[..., tuple[Demonstrations, Preferences]]:
    """``make_feedback(env_or_id, n_demo_steps=..., n_pairs=..., segment_length=..., seed=...)``."""
    return make_feedback


@pytest.fixture(scope="session")
def hopper_feedback() -> tuple[Demonstrations, Preferences]:
    """(demos, prefs) for Hopper-v5 (obs 11, act 3). Shared: do not modify the arrays."""
    return make_feedback("Hopper-v5", n_demo_steps=200, n_pairs=16, segment_length=5, seed=0)


@pytest.fixture
def hopper_demos(hopper_feedback: tuple[Demonstrations, Preferences]) -> Demonstrations:
    return hopper_feedback[0]


@pytest.fixture
def hopper_prefs(hopper_feedback: tuple[Demonstrations, Preferences]) -> Preferences:
    return hopper_feedback[1]


@pytest.fixture
def small_aihf_kwargs() -> dict:
    """A fresh copy of keyword arguments for a small, quick AIHF model."""
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in SMALL_AIHF_KWARGS.items()}


def with_falls(prefs: Preferences, fall_step: int) -> Preferences:
    """``prefs`` whose second segments all fell after ``fall_step`` steps: padded with absorbing steps
    (zeros, marked in ``absorbing_2``), and the first segment labelled better."""
    n, t = prefs.obs_1.shape[:2]
    absorbing = np.zeros((n, t), dtype=bool)
    absorbing[:, fall_step:] = True
    return Preferences(
        prefs.obs_1,
        prefs.acts_1,
        np.where(absorbing[:, :, None], 0.0, prefs.obs_2),
        np.where(absorbing[:, :, None], 0.0, prefs.acts_2),
        np.ones(n),
        absorbing_2=absorbing,
    )


@pytest.fixture
def falls_factory() -> Callable[[Preferences, int], Preferences]:
    """``with_falls(prefs, fall_step)``."""
    return with_falls


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny GPT-NeoX causal LM (~5k parameters) and its word-level tokenizer (needs transformers)."""
    from aihf_control.llm.tiny import build_tiny_model, build_tiny_tokenizer

    directory = tmp_path_factory.mktemp("tiny-pythia")
    build_tiny_tokenizer(directory)
    build_tiny_model(directory)
    return directory
