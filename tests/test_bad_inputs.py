"""Bad input across the public API and the command lines: each case gets a clear error, never a wrong result.

Every case names what it feeds in, the error type and the words the message must contain (what is wrong,
and how to fix it). Add a case here when a new kind of input appears.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import SAC

from aihf_control import AIHF, BC, IPL, AIHFCrossQ, Demonstrations, Preferences, ResumableCheckpointCallback
from aihf_control.data import ScriptedTeacher, load_demonstrations
from aihf_control.llm.data import read_preferences


@dataclasses.dataclass
class Context:
    tmp: Path
    demos: Demonstrations  # Pendulum-v1: obs 3, act 1
    prefs: Preferences
    kwargs: dict


def _replace(data, **changes):
    return dataclasses.replace(data, **changes)


def _corrupt_dataset(c: Context) -> None:
    folder = c.tmp / "store" / "aihf" / "pendulum" / "broken-v0" / "data"
    folder.mkdir(parents=True)
    (folder / "metadata.json").write_text("{not json")
    (folder / "main_data.hdf5").write_bytes(b"\x89HDF\r\n truncated")
    load_demonstrations("aihf/pendulum/broken-v0")


def _saved_sac(c: Context) -> Path:
    sac = SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8]), buffer_size=100)
    sac.save(c.tmp / "sac.zip")
    return c.tmp / "sac.zip"


def _truncated_model(c: Context) -> None:
    model = AIHF("MlpPolicy", "Pendulum-v1", demonstrations=c.demos, **c.kwargs)
    model.save(c.tmp / "model.zip")
    (c.tmp / "model.zip").write_bytes((c.tmp / "model.zip").read_bytes()[:1000])
    AIHF.load(c.tmp / "model.zip")


def _benchmark(argv: list[str]) -> None:
    from benchmarks.run import main

    main("Hopper-v5", argv)


def _unwritable_logdir(c: Context) -> None:
    (c.tmp / "a-file").write_text("")
    _benchmark(["--profile", "smoke", "--logdir", str(c.tmp / "a-file" / "out")])


def _unwritable_checkpoints(c: Context) -> None:
    (c.tmp / "a-file").write_text("")
    model = AIHF("MlpPolicy", "Pendulum-v1", demonstrations=c.demos, **c.kwargs)
    model.learn(10, callback=ResumableCheckpointCallback(5, c.tmp / "a-file" / "ckpt"))


def _bad_jsonl(c: Context) -> None:
    (c.tmp / "prefs.jsonl").write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a", \n')
    read_preferences(c.tmp / "prefs.jsonl")


# (case, what it does, error type, text the message must contain)
CASES: list[tuple[str, Callable[[Context], object], type[BaseException], str]] = [
    (
        "demonstrations of another env (observation size)",
        lambda c: AIHF("MlpPolicy", "Hopper-v5", demonstrations=c.demos, **c.kwargs),
        ValueError,
        "the feedback data was recorded on a different environment",
    ),
    (
        "preferences with the wrong action size",
        lambda c: AIHF(
            "MlpPolicy",
            "Pendulum-v1",
            preferences=_replace(
                c.prefs,
                acts_1=np.zeros((*c.prefs.acts_1.shape[:2], 2), np.float32),
                acts_2=np.zeros((*c.prefs.acts_2.shape[:2], 2), np.float32),
            ),
            **c.kwargs,
        ),
        ValueError,
        "action",
    ),
    (
        "empty demonstrations",
        lambda c: Demonstrations(
            obs=np.zeros((0, 3)), acts=np.zeros((0, 1)), next_obs=np.zeros((0, 3)), dones=np.zeros(0)
        ),
        ValueError,
        "empty",
    ),
    (
        "missing dataset",
        lambda c: load_demonstrations("aihf/pendulum/nothing-v0"),
        FileNotFoundError,
        "aihf/pendulum/nothing-v0",
    ),
    ("corrupt dataset files", _corrupt_dataset, ValueError, "broken-v0"),
    (
        "preference labels outside [0, 1]",
        lambda c: _replace(c.prefs, labels=np.full(len(c.prefs), 2.0)),
        ValueError,
        "Preferences.labels must be probabilities",
    ),
    (
        "NaN in demonstration observations",
        lambda c: _replace(c.demos, obs=np.where(np.arange(len(c.demos))[:, None] == 3, np.nan, c.demos.obs)),
        ValueError,
        "NaN/inf value(s), the first at index (3, 0)",
    ),
    (
        "inf in preference actions",
        lambda c: _replace(c.prefs, acts_2=np.full_like(c.prefs.acts_2, np.inf)),
        ValueError,
        "NaN/inf",
    ),
    (
        "text where numbers belong",
        lambda c: Demonstrations(
            obs=np.array([["a", "b", "c"]]), acts=np.array([[0.0]]), next_obs=np.zeros((1, 3)), dones=np.zeros(1)
        ),
        TypeError,
        "must be a numeric array",
    ),
    (
        "zero preference budget",
        lambda c: AIHF("MlpPolicy", "Pendulum-v1", demonstrations=c.demos, preference_budget=0, **c.kwargs),
        ValueError,
        "preference_budget must be a positive integer, got 0",
    ),
    (
        "negative policy window",
        lambda c: AIHF("MlpPolicy", "Pendulum-v1", demonstrations=c.demos, policy_window=-5, **c.kwargs),
        ValueError,
        "policy_window must be a positive integer, got -5",
    ),
    (
        "negative feedback weight",
        lambda c: AIHF("MlpPolicy", "Pendulum-v1", demonstrations=c.demos, demo_weight=-1.0, **c.kwargs),
        ValueError,
        "must be >= 0",
    ),
    (
        "discrete actions",
        lambda c: AIHF("MlpPolicy", "CartPole-v1", demonstrations=c.demos, **c.kwargs),
        TypeError,
        "need continuous actions",
    ),
    (
        "env with no shipped data and no feedback",
        lambda c: AIHF("MlpPolicy", "Pendulum-v1", **c.kwargs),
        ValueError,
        "pass demonstrations=... and preferences=...",
    ),
    (
        "unknown benchmark method",
        lambda c: _benchmark(["--methods", "ppo"]),
        SystemExit,
        "invalid choice: 'ppo'",
    ),
    (
        "unknown teacher name",
        lambda c: ScriptedTeacher.named("genius"),
        ValueError,
        "genius",
    ),
    ("unwritable benchmark log dir", _unwritable_logdir, SystemExit, "cannot write to --logdir"),
    (
        "unwritable checkpoint folder",
        _unwritable_checkpoints,
        PermissionError,
        "cannot write checkpoints to",
    ),
    ("corrupt (truncated) model file", _truncated_model, ValueError, "not a zip archive"),
    (
        "model file of another algorithm",
        lambda c: AIHF.load(_saved_sac(c)),
        TypeError,
        "holds a SAC model, not a AIHF model",
    ),
    (
        "missing model file",
        lambda c: IPL.load(c.tmp / "nowhere.zip"),
        FileNotFoundError,
        "it is missing",
    ),
    (
        "preference file that is not one",
        lambda c: (c.tmp / "p.npz").write_text("hello") > 0 and Preferences.load(c.tmp / "p.npz"),
        ValueError,
        "not a readable preference file",
    ),
    (
        "predict_reward with mismatched shapes",
        lambda c: AIHF("MlpPolicy", "Pendulum-v1", demonstrations=c.demos, **c.kwargs).predict_reward(
            np.zeros((4, 3)), np.zeros((5, 1))
        ),
        ValueError,
        "predict_reward expects observations (..., 3) and actions (..., 1) with the same leading shape",
    ),
    ("malformed JSONL line (llm)", _bad_jsonl, ValueError, "prefs.jsonl"),
    (
        "zero checkpoint frequency",
        lambda c: ResumableCheckpointCallback(0, c.tmp),
        ValueError,
        "save_freq and keep must be positive integers",
    ),
    (
        "demonstration actions 100x outside the action bounds",
        lambda c: AIHF(
            "MlpPolicy", "Pendulum-v1", demonstrations=_replace(c.demos, acts=c.demos.acts * 100), **c.kwargs
        ),
        ValueError,
        "demonstrations have actions outside the env's action bounds: dimension 0 ranges over",
    ),
    (
        "preference actions 100x outside the action bounds",
        lambda c: IPL(
            "MlpPolicy",
            "Pendulum-v1",
            preferences=_replace(c.prefs, acts_1=c.prefs.acts_1 * 100),
            bc_steps=0,
            learning_starts=10,
            buffer_size=100,
            device="cpu",
        ),
        ValueError,
        "but the action space allows [-2, 2]",
    ),
    (
        "negative layer size in reward_net_arch",
        lambda c: AIHF("MlpPolicy", "Pendulum-v1", demonstrations=c.demos, **{**c.kwargs, "reward_net_arch": [-5]}),
        ValueError,
        "reward_net_arch (RewardNet's hidden_sizes) must hold positive integer layer sizes",
    ),
    (
        "negative layer size in a baseline's policy net_arch",
        lambda c: BC("MlpPolicy", "Pendulum-v1", demonstrations=c.demos, policy_kwargs=dict(net_arch=[-5])),
        ValueError,
        'policy_kwargs["net_arch"] must hold positive integer layer sizes',
    ),
    (
        "zero layer size in IPL's critic net_arch",
        lambda c: IPL(
            "MlpPolicy",
            "Pendulum-v1",
            preferences=c.prefs,
            bc_steps=0,
            buffer_size=100,
            device="cpu",
            policy_kwargs=dict(net_arch=dict(pi=[8], qf=[0])),
        ),
        ValueError,
        'policy_kwargs["net_arch"]["qf"] must hold positive integer layer sizes',
    ),
    (
        "negative layer size in AIHF's policy net_arch (CrossQ inner loop)",
        lambda c: AIHFCrossQ(
            "MlpPolicy", "Pendulum-v1", demonstrations=c.demos, **{**c.kwargs, "policy_kwargs": dict(net_arch=[-5])}
        ),
        ValueError,
        'policy_kwargs["net_arch"] must hold positive integer layer sizes',
    ),
    (
        "demonstration share of a batch of 1 or more",
        lambda c: AIHF("MlpPolicy", "Pendulum-v1", demonstrations=c.demos, demo_batch_fraction=1.0, **c.kwargs),
        ValueError,
        "demo_batch_fraction must be in [0, 1)",
    ),
]


@pytest.fixture(scope="module")
def pendulum_feedback():
    from conftest import make_feedback

    return make_feedback("Pendulum-v1", n_demo_steps=100, n_pairs=8, segment_length=5, seed=0)


def test_the_matrix_covers_at_least_15_kinds_of_bad_input():
    assert len({case[0] for case in CASES}) == len(CASES) >= 15


@pytest.mark.parametrize("case, call, error, message", CASES, ids=[case[0] for case in CASES])
def test_bad_input_gets_a_clear_error(
    case, call, error, message, tmp_path, pendulum_feedback, small_aihf_kwargs, monkeypatch, capsys
):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    context = Context(tmp_path, *pendulum_feedback, small_aihf_kwargs)
    with pytest.raises(error) as raised:
        call(context)
    text = capsys.readouterr().err if error is SystemExit else str(raised.value)
    assert message in text, f"{case}: the message does not say {message!r}:\n{text}"
