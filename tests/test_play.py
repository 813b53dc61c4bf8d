"""Videos and the play command: headless MP4 and GIF of a tiny model, every algorithm's saved model loaded
without feedback, ``python -m aihf_control.play`` end to end, its errors, and the benchmark's model and video."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from stable_baselines3 import PPO, SAC

from aihf_control import AIHF, BC, IPL, RLHF
from aihf_control.play import load_model, main
from aihf_control.video import default_gl_backend, record_video

ENV_ID = "InvertedPendulum-v5"  # MuJoCo, 25 steps a second and ~5 ms a frame: quick to render
TINY = dict(policy_kwargs=dict(net_arch=[8]), buffer_size=1_000, device="cpu")

needs_rendering = pytest.mark.skipif(
    default_gl_backend() is None and "MUJOCO_GL" not in os.environ,
    reason="no offscreen OpenGL for MuJoCo: apt install libegl1 (MUJOCO_GL=egl) or libosmesa6 (MUJOCO_GL=osmesa)",
)


@pytest.fixture(scope="module")
def sac_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained, tiny SAC model of ``ENV_ID``, saved."""
    path = tmp_path_factory.mktemp("models") / "sac.zip"
    SAC("MlpPolicy", ENV_ID, seed=0, **TINY).save(path)
    return path


def read_frames(path: Path) -> np.ndarray:
    """(frames, height, width, 3) decoded from an MP4 or a GIF."""
    plugin = "FFMPEG" if path.suffix == ".mp4" else "pillow"
    frames = iio.imread(path, index=None, plugin=plugin)
    return frames[..., :3]


@needs_rendering
@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_record_video_writes_the_frames_of_a_rollout(sac_zip, tmp_path, suffix):
    model = SAC.load(sac_zip, device="cpu")
    path = tmp_path / "new folder" / f"pendulum{suffix}"
    video = record_video(model, ENV_ID, path, seconds=1.0, every=1, size=(64, 48))
    assert video.path.stat().st_size > 0
    assert (video.frames, video.width, video.height, video.fps) == (25, 64, 48, 25.0), "1 s at the env's 25 fps"
    frames = read_frames(video.path)
    assert frames.shape == (25, 48, 64, 3)
    assert frames.std() > 0 and np.abs(np.diff(frames.astype(float), axis=0)).max() > 0, "a scene that moves"


def test_every_algorithm_is_recognised_and_acts_after_loading_without_feedback(tmp_path, feedback_factory):
    demos, prefs = feedback_factory(ENV_ID, n_demo_steps=100, n_pairs=8, segment_length=5)
    reward = dict(reward_net_arch=(8,))
    models = [
        AIHF("MlpPolicy", ENV_ID, demonstrations=demos, preferences=prefs, **reward, **TINY),
        RLHF("MlpPolicy", ENV_ID, demos, prefs, **reward, **TINY),
        IPL("MlpPolicy", ENV_ID, prefs, demos, **TINY),
        BC("MlpPolicy", ENV_ID, demonstrations=demos, **TINY),
        SAC("MlpPolicy", ENV_ID, **TINY),
    ]
    obs = demos.obs[:5]
    for model in models:
        path = tmp_path / f"{type(model).__name__}.zip"
        model.save(path)
        loaded = load_model(path)
        assert type(loaded) is type(model)
        acts = [m.predict(obs, deterministic=True)[0] for m in (loaded, model)]
        np.testing.assert_allclose(*acts, err_msg="the same weights")


@needs_rendering
def test_play_prints_the_return_and_writes_a_video(sac_zip, tmp_path, capsys):
    argv = [str(sac_zip), "--env", ENV_ID, "--episodes", "2", "--video", str(tmp_path / "play.gif"), "--seconds", "0.4"]
    result = main([*argv, "--size", "32", "32"])
    out = capsys.readouterr().out
    assert f"SAC model {sac_zip} on {ENV_ID}: return {result['mean_return']:.1f} ± " in out
    assert result["mean_return"] > 0, "InvertedPendulum pays 1 a step"
    assert read_frames(tmp_path / "play.gif").shape == (10, 32, 32, 3)


def test_play_gives_each_episodes_return_and_with_stochastic_the_sampled_policys_too(sac_zip, capsys):
    import gymnasium as gym
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import DummyVecEnv

    result = main([str(sac_zip), "--env", ENV_ID, "--episodes", "3", "--seed", "4", "--stochastic", "--quiet"])
    assert set(result["returns"]) == {"deterministic", "stochastic"}
    assert all(len(returns) == 3 for returns in result["returns"].values())
    env = DummyVecEnv([lambda: gym.make(ENV_ID)])
    env.seed(4)
    expected, _ = evaluate_policy(SAC.load(sac_zip), env, 3, deterministic=True, return_episode_rewards=True)
    assert result["returns"]["deterministic"] == pytest.approx(expected)
    assert result["mean_return"] == pytest.approx(np.mean(expected))
    out = capsys.readouterr().out
    assert "(deterministic policy, seed 4); per episode: " + ", ".join(f"{r:.0f}" for r in expected) in out
    assert "(stochastic policy, seed 4); per episode: " in out


@needs_rendering
def test_play_runs_as_a_module_and_sets_up_headless_rendering_itself(sac_zip, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM")}
    video = tmp_path / "pendulum.mp4"
    command = [sys.executable, "-m", "aihf_control.play", str(sac_zip), "--env", ENV_ID, "--episodes", "1"]
    done = subprocess.run(
        [*command, "--video", str(video), "--seconds", "0.4"], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "return" in done.stdout and f"wrote {video}: 10 frames" in done.stdout
    assert read_frames(video).shape[0] == 10


def write_zip_without_data(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a model")


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing model", "missing"),
        ("not a zip", "not a model file"),
        ("zip without data", "not a model saved by Stable-Baselines3"),
        ("PPO model", "play loads AIHF, AIHFTQC, AIHFCrossQ, RLHF, IPL, BC, SAC, AveragedSAC"),
        ("another env", "was trained on another env than Hopper-v5"),
        ("video under a file", "is a file, not a folder"),
        ("unwritable video folder", "cannot be created or written to"),
        ("unknown video suffix", "unknown suffix '.avi'; use one of .mp4, .gif"),
    ],
)
def test_play_errors_name_the_file_and_what_to_do(case, message, sac_zip, tmp_path, capsys, monkeypatch):
    model, env_id, video, named = sac_zip, ENV_ID, None, None
    if case == "missing model":
        model = named = tmp_path / "missing.zip"
    elif case == "not a zip":
        model = named = tmp_path / "notes.zip"
        model.write_text("hello")
    elif case == "zip without data":
        model = named = tmp_path / "other.zip"
        write_zip_without_data(model)
    elif case == "PPO model":
        model = named = tmp_path / "ppo.zip"
        PPO("MlpPolicy", ENV_ID, n_steps=64, batch_size=64, policy_kwargs=dict(net_arch=[8]), device="cpu").save(model)
    elif case == "another env":
        env_id, named = "Hopper-v5", sac_zip
    elif case == "video under a file":
        (tmp_path / "results.json").write_text("{}")
        video, named = tmp_path / "results.json" / "run.mp4", tmp_path / "results.json"
    elif case == "unwritable video folder":
        video, named = tmp_path / "videos" / "run.mp4", tmp_path / "videos"

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")  # as a read-only folder would (root ignores chmod)

        monkeypatch.setattr("aihf_control.video.tempfile.TemporaryFile", refuse)
    elif case == "unknown video suffix":
        video = named = tmp_path / "run.avi"
    argv = [str(model), "--env", env_id] + ([] if video is None else ["--video", str(video)])
    with pytest.raises(SystemExit):
        main(argv)
    captured = capsys.readouterr()
    assert message in captured.err and str(named) in captured.err
    assert "return" not in captured.out, "refused before evaluating"


@needs_rendering
def test_benchmark_saves_each_final_model_and_a_video_of_it(tmp_path, monkeypatch, capsys):
    from benchmarks.profiles import build_parser, resolve_profile
    from benchmarks.run import main as benchmark_main

    parser = build_parser("Hopper-v5")
    assert not resolve_profile(parser.parse_args(["--profile", "smoke"]), parser).video, "quick CI"
    assert resolve_profile(parser.parse_args([]), parser).video
    assert not resolve_profile(parser.parse_args(["--no-video"]), parser).video

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))  # the shipped datasets install here
    argv = ["--profile", "smoke", "--methods", "sac-true", "--timesteps", "500", "--eval-freq", "500", "--video"]
    benchmark_main("Hopper-v5", [*argv, "--logdir", str(tmp_path / "out")])
    assert f"python -m aihf_control.play {tmp_path / 'out' / 'models'}/<run>.zip" in capsys.readouterr().out
    # 0.5 s of Hopper (125 steps a second, rendered every 4th step: ~30 frames a second) at 240x240
    assert read_frames(tmp_path / "out" / "videos" / "sac-true_seed0.mp4").shape == (16, 240, 240, 3)
    assert isinstance(load_model(tmp_path / "out" / "models" / "sac-true_seed0.zip"), SAC)
