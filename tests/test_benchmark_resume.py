"""A benchmark killed with SIGKILL mid-run goes on from its last checkpoint with ``--resume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.profiles import PROFILES
from benchmarks.run import main

ROOT = Path(__file__).resolve().parents[1]
RUN = "aihf_prefs100_seed0"


def test_a_killed_benchmark_resumes_without_a_gap_or_a_duplicate(tmp_path):
    env = {**os.environ, "MINARI_DATASETS_PATH": str(tmp_path / "store")}
    logdir = tmp_path / "out"
    argv = ["--profile", "smoke", "--methods", "aihf", "--timesteps", "3000", "--eval-freq", "500"]
    argv += ["--checkpoint-freq", "500", "--no-video", "--logdir", str(logdir)]
    first = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.hopper", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    pointer = logdir / "checkpoints" / RUN / "latest.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and first.poll() is None:
        if pointer.is_file() and json.loads(pointer.read_text())["num_timesteps"] >= 1_500:
            break
        time.sleep(0.05)
    assert first.poll() is None, f"the run ended before it could be killed: {first.stderr.read()[-2000:]}"
    first.send_signal(signal.SIGKILL)
    first.wait()
    newest_at_kill = json.loads(pointer.read_text())["num_timesteps"]
    assert 1_500 <= newest_at_kill < 3_000
    assert not (logdir / "runs" / f"{RUN}.json").exists()

    resumed = subprocess.run(
        [sys.executable, "-m", "benchmarks.hopper", "--resume", str(logdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # Lost: only the steps after the newest checkpoint, less than one checkpoint interval (500 steps).
    assert f"({newest_at_kill} env steps done)" in resumed.stdout
    record = json.loads((logdir / "runs" / f"{RUN}.json").read_text())
    assert record["steps"] == [500, 1000, 1500, 2000, 2500, 3000], "one evaluation per 500 steps, none twice"
    assert all(b > a for a, b in zip(record["wall_times"], record["wall_times"][1:], strict=False))
    assert record["wall_seconds"] > record["wall_times"][-1], "the wall time counts the seconds before the kill"
    assert not (logdir / "checkpoints" / RUN).exists(), "a finished run's checkpoints are removed"
    assert [p.name for p in (logdir / "tensorboard").iterdir()] == [f"{RUN}_1"], "one TensorBoard run, continued"
    assert (logdir / "results.json").is_file()


@pytest.mark.parametrize(
    "setup, argv, message",
    [
        (None, ["--resume", "{tmp}/none"], "no command.json there"),
        ("hopper", ["--resume", "{tmp}/run", "--seeds", "3"], "--resume takes no other options"),
        ("walker", ["--resume", "{tmp}/run"], "holds a Walker2d-v5 benchmark, not this one"),
        (None, ["--checkpoint-freq", "-5"], "--checkpoint-freq must be 0"),
    ],
)
def test_bad_resume_options_are_refused(tmp_path, setup, argv, message, capsys):
    if setup:
        (tmp_path / "run").mkdir()
        env_id = {"hopper": "Hopper-v5", "walker": "Walker2d-v5"}[setup]
        (tmp_path / "run" / "command.json").write_text(json.dumps({"env_id": env_id, "argv": []}))
    with pytest.raises(SystemExit):
        main("Hopper-v5", [a.format(tmp=tmp_path) for a in argv])
    assert message in capsys.readouterr().err


def test_profiles_checkpoint_long_runs_only():
    # A quick run loses at most a third of its steps to a crash, a paper run at most a tenth.
    assert PROFILES["smoke"].checkpoint_freq == 0
    assert 0 < PROFILES["quick"].checkpoint_freq <= PROFILES["quick"].timesteps // 3
    assert 0 < PROFILES["paper"].checkpoint_freq <= PROFILES["paper"].timesteps // 10


@pytest.mark.parametrize("method", ["rlhf-batches", "ipl-batches"])
def test_a_batches_baseline_resumes_with_the_demonstrations_in_its_minibatches(tmp_path, method):
    import gymnasium as gym
    from conftest import make_feedback

    from aihf_control import ResumableCheckpointCallback
    from aihf_control.sb3 import latest_checkpoint
    from benchmarks.profiles import build_parser, resolve_profile
    from benchmarks.run import RunSpec, build_model, resume_model

    parser = build_parser("Hopper-v5")
    profile = resolve_profile(parser.parse_args(["--profile", "smoke", "--demo-batch-fraction", "0.25"]), parser)
    spec = RunSpec("Hopper-v5", method, 100, 0, profile, str(tmp_path))
    env = gym.make("Hopper-v5")
    demos, prefs = make_feedback(env, n_demo_steps=100, n_pairs=8)
    model = build_model(spec, env, demos, prefs)
    model.learn(500, callback=ResumableCheckpointCallback(500, tmp_path / "checkpoints"))
    resumed = resume_model(spec, latest_checkpoint(tmp_path / "checkpoints"), gym.make("Hopper-v5"), demos, prefs)
    assert resumed.num_timesteps == 500 and resumed.demo_batch_fraction == 0.25
    assert resumed.replay_buffer.num_demo_rows(256) == 64, "a quarter of each minibatch from the demonstrations"
    resumed.learn(100, reset_num_timesteps=False)
