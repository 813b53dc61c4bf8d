"""Checkpoints and resume, numerical guards, safe loading, and determinism across processes."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import SAC

import aihf_control.algos.aihf.reward_step as reward_step_module
from aihf_control import (
    AIHF,
    IPL,
    NonFiniteError,
    ResumableCheckpointCallback,
    TrueReturnEvalCallback,
    load_checkpoint,
)
from aihf_control.sb3 import latest_checkpoint, read_checkpoint_state, save_checkpoint

ENV = "Pendulum-v1"


@pytest.fixture
def pendulum_feedback(feedback_factory):
    return feedback_factory(ENV, n_demo_steps=200, n_pairs=16, segment_length=5, seed=0)


def make_model(feedback, kwargs, seed: int = 0, **overrides) -> AIHF:
    demos, prefs = feedback
    return AIHF("MlpPolicy", ENV, demonstrations=demos, preferences=prefs, seed=seed, **{**kwargs, **overrides})


def state_of(model: AIHF) -> dict[str, torch.Tensor]:
    return {
        **{f"policy.{k}": v.clone() for k, v in model.policy.state_dict().items()},
        **{f"reward.{k}": v.clone() for k, v in model.reward_net.state_dict().items()},
    }


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"parameters differ: {different[:5]}"


def test_checkpoints_are_written_pruned_and_point_to_the_newest(tmp_path, pendulum_feedback, small_aihf_kwargs):
    model = make_model(pendulum_feedback, small_aihf_kwargs)
    checkpoints = ResumableCheckpointCallback(100, tmp_path / "ckpt", keep=2, extra_state=lambda: {"note": 7})
    model.learn(500, callback=checkpoints)
    folders = sorted(p.name for p in (tmp_path / "ckpt").glob("step_*"))
    assert folders == ["step_000000000400", "step_000000000500"]  # keep=2: older ones deleted
    assert not list((tmp_path / "ckpt").glob(".staging-*"))
    latest = latest_checkpoint(tmp_path / "ckpt")
    assert latest.name == "step_000000000500"
    state = read_checkpoint_state(tmp_path / "ckpt")
    assert state["num_timesteps"] == 500 and state["algorithm"] == "AIHF" and state["extra"] == {"note": 7}
    assert {p.name for p in latest.iterdir()} == {"model.zip", "replay_buffer.npz", "state.json"}


def test_load_checkpoint_restores_parameters_buffer_counters_and_random_state(
    tmp_path, pendulum_feedback, small_aihf_kwargs
):
    model = make_model(pendulum_feedback, small_aihf_kwargs)
    model.learn(300)
    folder = save_checkpoint(model, tmp_path / "ckpt")
    numpy_draw, torch_draw = np.random.rand(), torch.rand(1)  # the next draws after the save
    resumed = load_checkpoint(
        AIHF, folder, gym.make(ENV), demonstrations=pendulum_feedback[0], preferences=pendulum_feedback[1]
    )
    assert np.random.rand() == numpy_draw and torch.equal(torch.rand(1), torch_draw)
    assert_same_state(state_of(model), state_of(resumed))
    assert resumed.num_timesteps == 300 and resumed.reward_updates == model.reward_updates
    assert resumed._next_reward_update == model._next_reward_update
    size = model.replay_buffer.pos
    assert resumed.replay_buffer.pos == size and size == 300
    np.testing.assert_array_equal(resumed.replay_buffer.observations[:size], model.replay_buffer.observations[:size])
    np.testing.assert_array_equal(resumed.replay_buffer.actions[:size], model.replay_buffer.actions[:size])
    # The reward optimiser's Adam moments came back too.
    saved = model.reward_optimizer.state_dict()["state"]
    loaded = resumed.reward_optimizer.state_dict()["state"]
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k]["exp_avg"], loaded[k]["exp_avg"]) for k in saved)


def test_resuming_twice_from_one_checkpoint_gives_the_same_model(tmp_path, pendulum_feedback, small_aihf_kwargs):
    model = make_model(pendulum_feedback, small_aihf_kwargs)
    model.learn(300, callback=ResumableCheckpointCallback(300, tmp_path / "ckpt"))
    states = []
    for _ in range(2):
        env = gym.make(ENV)
        resumed = load_checkpoint(
            AIHF, tmp_path / "ckpt", env, demonstrations=pendulum_feedback[0], preferences=pendulum_feedback[1]
        )
        resumed.learn(200, reset_num_timesteps=False)
        assert resumed.num_timesteps == 500
        states.append(state_of(resumed))
    assert_same_state(*states)
    assert any(not torch.equal(states[0][k], state_of(model)[k]) for k in states[0])  # it went on learning


def test_resume_continues_the_reward_schedule_and_the_tensorboard_run(tmp_path, pendulum_feedback, small_aihf_kwargs):
    model = make_model(pendulum_feedback, small_aihf_kwargs, tensorboard_log=str(tmp_path / "tb"))
    model.learn(300, callback=ResumableCheckpointCallback(300, tmp_path / "ckpt"), tb_log_name="run")
    updates = model.reward_updates
    resumed = load_checkpoint(
        AIHF, tmp_path / "ckpt", gym.make(ENV), demonstrations=pendulum_feedback[0], preferences=pendulum_feedback[1]
    )
    resumed.learn(200, reset_num_timesteps=False, tb_log_name="run")
    # learning_starts 100, alignment every 100 steps: updates at 100..500, none repeated or skipped.
    assert (updates, resumed.reward_updates) == (2, 4)
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["run_1"]  # one run, continued


def test_a_save_killed_halfway_leaves_the_previous_checkpoint(tmp_path, pendulum_feedback, small_aihf_kwargs):
    model = make_model(pendulum_feedback, small_aihf_kwargs)
    callback = ResumableCheckpointCallback(200, tmp_path / "ckpt")
    model.learn(200, callback=callback)
    # What a process killed while writing the next checkpoint leaves: a partial staging folder.
    partial = tmp_path / "ckpt" / ".staging-step_000000000400-999999"
    partial.mkdir()
    (partial / "model.zip").write_bytes(b"PK\x03\x04 truncated")
    assert latest_checkpoint(tmp_path / "ckpt").name == "step_000000000200"
    resumed = load_checkpoint(
        AIHF, tmp_path / "ckpt", gym.make(ENV), demonstrations=pendulum_feedback[0], preferences=pendulum_feedback[1]
    )
    assert resumed.num_timesteps == 200
    # latest.json is replaced atomically; even a stale pointer falls back to the newest complete folder.
    (tmp_path / "ckpt" / "latest.json").write_text(json.dumps({"checkpoint": "step_000000000400"}))
    assert latest_checkpoint(tmp_path / "ckpt").name == "step_000000000200"
    resumed.learn(200, reset_num_timesteps=False, callback=ResumableCheckpointCallback(200, tmp_path / "ckpt"))
    assert not partial.exists()  # the next save cleans up what the killed one left
    assert latest_checkpoint(tmp_path / "ckpt").name == "step_000000000400"


def test_checkpoint_of_another_algorithm_or_corrupt_is_refused(tmp_path, pendulum_feedback, small_aihf_kwargs):
    model = make_model(pendulum_feedback, small_aihf_kwargs)
    model.learn(150, callback=ResumableCheckpointCallback(150, tmp_path / "aihf"))
    with pytest.raises(TypeError, match="checkpoint of AIHF, not of IPL"):
        load_checkpoint(IPL, tmp_path / "aihf", gym.make(ENV))
    sac = SAC("MlpPolicy", ENV, learning_starts=50, policy_kwargs=dict(net_arch=[16]), buffer_size=500)
    sac.learn(100, callback=ResumableCheckpointCallback(100, tmp_path / "sac"))
    with pytest.raises(TypeError, match="checkpoint of SAC, not of AIHF"):
        load_checkpoint(AIHF, tmp_path / "sac", gym.make(ENV))
    with pytest.raises(TypeError, match="holds a SAC model, not a AIHF model"):
        AIHF.load(latest_checkpoint(tmp_path / "sac") / "model.zip")
    folder = latest_checkpoint(tmp_path / "aihf")
    (folder / "model.zip").write_bytes((folder / "model.zip").read_bytes()[:500])  # truncated on disk
    with pytest.raises(ValueError, match="not a model file: it is not a zip archive"):
        load_checkpoint(AIHF, folder, gym.make(ENV))
    (folder / "state.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(AIHF, folder, gym.make(ENV))
    with pytest.raises(FileNotFoundError, match="no checkpoint in"):
        load_checkpoint(AIHF, tmp_path / "nothing-here", gym.make(ENV))


class _Payload:
    """Unpickling this runs a command: what a malicious model file would carry."""

    def __reduce__(self):
        return (os.system, ("echo pwned > PWNED",))


def test_a_pickled_payload_in_a_model_file_is_refused(tmp_path, pendulum_feedback, small_aihf_kwargs, monkeypatch):
    model = make_model(pendulum_feedback, small_aihf_kwargs)
    model.save(tmp_path / "model.zip")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(tmp_path / "model.zip") as source, zipfile.ZipFile(evil, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "reward_net.pth":
                data = pickle.dumps({"weight": _Payload()})  # torch.load would run it without weights_only
            target.writestr(item, data)
    monkeypatch.chdir(tmp_path)  # where the payload would write
    with pytest.raises(ValueError, match=r"refusing to load .*pickled Python objects that are not tensors"):
        AIHF.load(evil)
    assert not (tmp_path / "PWNED").exists()


def test_nan_loss_stops_training_and_saves_the_last_good_state(
    tmp_path, pendulum_feedback, small_aihf_kwargs, monkeypatch
):
    model = make_model(pendulum_feedback, small_aihf_kwargs)
    model.learn(250)
    reward_before = {k: v.clone() for k, v in model.reward_net.state_dict().items()}
    monkeypatch.setattr(reward_step_module, "aihf_loss", lambda *args: torch.tensor(float("nan")))
    with pytest.raises(NonFiniteError, match=r"reward loss became nan at reward update 2, gradient step 0 \(env step"):
        model.learn(  # the checkpoint callback is found inside a list of callbacks too
            100,
            reset_num_timesteps=False,
            callback=[
                TrueReturnEvalCallback(gym.make(ENV), eval_freq=1_000),
                ResumableCheckpointCallback(1_000, tmp_path / "ckpt"),
            ],
        )
    # The reward net is as the last good update left it (no reward update since step 201).
    assert all(torch.equal(v, reward_before[k]) for k, v in model.reward_net.state_dict().items())
    folder = latest_checkpoint(tmp_path / "ckpt")
    assert folder is not None and folder.name == f"step_{model.num_timesteps:012d}"
    resumed = load_checkpoint(
        AIHF, folder, gym.make(ENV), demonstrations=pendulum_feedback[0], preferences=pendulum_feedback[1]
    )
    assert_same_state(state_of(model), state_of(resumed))


def test_nan_gradient_stops_training_before_the_step(pendulum_feedback, small_aihf_kwargs):
    model = make_model(pendulum_feedback, small_aihf_kwargs)
    before = state_of(model)
    first = next(model.reward_net.parameters())
    first.register_hook(lambda grad: grad * float("nan"))
    with pytest.raises(NonFiniteError, match=r"gradient of the reward net's .* became NaN/inf at reward update 0") as e:
        model.learn(200)
    assert "No checkpoint was kept: pass ResumableCheckpointCallback" in str(e.value)
    assert all(torch.equal(v, before[f"reward.{k}"]) for k, v in model.reward_net.state_dict().items())


def test_nan_reward_output_names_the_step_and_the_last_checkpoint(tmp_path, pendulum_feedback, small_aihf_kwargs):
    model = make_model(pendulum_feedback, small_aihf_kwargs, alignment_steps=1_000)  # no reward update after 101
    callback = ResumableCheckpointCallback(200, tmp_path / "ckpt")
    model.learn(200, callback=callback)
    with torch.no_grad():
        next(model.reward_net.parameters()).fill_(float("nan"))  # as if an update had diverged
    with pytest.raises(NonFiniteError, match=r"learned reward .* NaN/inf at env step 201: the reward net's param") as e:
        model.learn(100, reset_num_timesteps=False, callback=callback)
    assert "The last good checkpoint is" in str(e.value) and "step_000000000200" in str(e.value)


def test_nan_observations_from_the_env_are_named(pendulum_feedback, small_aihf_kwargs):
    class NaNAfter(gym.Wrapper):
        def step(self, action):
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.steps = getattr(self, "steps", 0) + 1
            return (obs * np.nan if self.steps > 150 else obs), reward, terminated, truncated, info

    demos, prefs = pendulum_feedback
    model = AIHF(
        "MlpPolicy", NaNAfter(gym.make(ENV)), demonstrations=demos, preferences=prefs, seed=0, **small_aihf_kwargs
    )
    with pytest.raises(NonFiniteError, match=r"the env returned a NaN/inf observation at env step 151 .env index 0"):
        model.learn(300)


DETERMINISM_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys
    import gymnasium as gym, numpy as np, torch
    sys.path.insert(0, sys.argv[1])
    from conftest import SMALL_AIHF_KWARGS, make_feedback
    from aihf_control import AIHF, TrueReturnEvalCallback
    torch.set_num_threads(1)
    demos, prefs = make_feedback("Pendulum-v1", n_demo_steps=200, n_pairs=16, segment_length=5, seed=0)
    model = AIHF("MlpPolicy", "Pendulum-v1", demonstrations=demos, preferences=prefs, seed=3, **SMALL_AIHF_KWARGS)
    eval_env = gym.make("Pendulum-v1")
    eval_env.reset(seed=5)
    evaluation = TrueReturnEvalCallback(eval_env, eval_freq=200, n_eval_episodes=1)
    model.learn(400, callback=evaluation)
    digest = hashlib.sha256()
    for value in model.reward_net.state_dict().values():
        digest.update(value.cpu().numpy().tobytes())
    print(json.dumps({"reward": digest.hexdigest(), "returns": [r for _, r, _ in evaluation.curve]}))
    """
)


def test_same_seed_same_results_in_two_processes(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(DETERMINISM_SCRIPT)
    tests = str(Path(__file__).parent)
    outputs = [
        json.loads(
            subprocess.run(
                [sys.executable, str(script), tests], capture_output=True, text=True, check=True, cwd=tmp_path
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        for _ in range(2)
    ]
    assert outputs[0] == outputs[1]
    assert len(outputs[0]["returns"]) == 2


def test_checkpoint_folder_that_cannot_be_written_is_a_clear_error(tmp_path, pendulum_feedback, small_aihf_kwargs):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    model = make_model(pendulum_feedback, small_aihf_kwargs)
    with pytest.raises(PermissionError, match=r"cannot write checkpoints to .*a-file/ckpt"):
        model.learn(100, callback=ResumableCheckpointCallback(50, blocker / "ckpt"))
