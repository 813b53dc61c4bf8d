"""The GPU path: every learner trains, saves, checkpoints and reloads with its tensors on CUDA.

The rest of the suite runs on the CPU wherever it runs (tests/conftest.py); these tests, marked ``gpu``, run
where torch sees a GPU and are skipped elsewhere (CI has none). A model trained on CUDA must load on a CPU-only
machine, and a checkpoint written on one device must resume on the other.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from aihf_control import AIHF, BC, IPL, RLHF, AIHFCrossQ, ResumableCheckpointCallback, load_checkpoint

pytestmark = pytest.mark.gpu  # skipped without a GPU (tests/conftest.py)


def on_cuda(module: torch.nn.Module) -> bool:
    return all(p.device.type == "cuda" for p in module.parameters())


def cuda_kwargs(small_aihf_kwargs: dict) -> dict:
    return {**small_aihf_kwargs, "device": "cuda"}


def test_auto_device_picks_the_gpu_for_policy_reward_and_feedback(hopper_demos, hopper_prefs, small_aihf_kwargs):
    kwargs = {**small_aihf_kwargs, "device": "auto"}
    model = AIHF("MlpPolicy", "Hopper-v5", hopper_demos, hopper_prefs, seed=0, **kwargs)
    assert model.device.type == "cuda" and on_cuda(model.policy) and on_cuda(model.reward_net)
    model.learn(300)
    feedback = [v for v in vars(model._feedback).values() if isinstance(v, torch.Tensor)]
    assert feedback and all(t.device.type == "cuda" for t in feedback)
    assert model.reward_updates > 0
    filled = model.replay_buffer.rewards[: model.replay_buffer.pos]
    assert np.isfinite(filled).all()


@pytest.mark.parametrize("algorithm", [AIHF, AIHFCrossQ])
def test_a_model_trained_on_the_gpu_loads_on_the_cpu(
    tmp_path, hopper_demos, hopper_prefs, small_aihf_kwargs, algorithm
):
    model = algorithm("MlpPolicy", "Hopper-v5", hopper_demos, hopper_prefs, seed=0, **cuda_kwargs(small_aihf_kwargs))
    model.learn(300)
    assert model.reward_updates > 0 and on_cuda(model.reward_net)
    model.save(tmp_path / "model.zip")
    loaded = algorithm.load(tmp_path / "model.zip", env=gym.make("Hopper-v5"), device="cpu")
    assert not on_cuda(loaded.reward_net) and not on_cuda(loaded.policy)
    obs, acts = hopper_demos.obs[:8], hopper_demos.acts[:8]
    np.testing.assert_allclose(model.predict_reward(obs, acts), loaded.predict_reward(obs, acts), atol=1e-5)
    np.testing.assert_allclose(
        model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0], atol=1e-5
    )


@pytest.mark.parametrize("resume_on", ["cuda", "cpu"])
def test_a_gpu_checkpoint_resumes_on_either_device(tmp_path, hopper_demos, hopper_prefs, small_aihf_kwargs, resume_on):
    model = AIHF("MlpPolicy", "Hopper-v5", hopper_demos, hopper_prefs, seed=0, **cuda_kwargs(small_aihf_kwargs))
    model.learn(300, callback=ResumableCheckpointCallback(300, tmp_path / "ckpt"))
    resumed = load_checkpoint(
        AIHF,
        tmp_path / "ckpt",
        gym.make("Hopper-v5"),
        demonstrations=hopper_demos,
        preferences=hopper_prefs,
        device=resume_on,
    )
    assert resumed.device.type == resume_on and resumed.num_timesteps == 300
    np.testing.assert_array_equal(resumed.replay_buffer.observations[:300], model.replay_buffer.observations[:300])
    updates = resumed.reward_updates
    resumed.learn(200, reset_num_timesteps=False)
    assert resumed.num_timesteps == 500 and resumed.reward_updates > updates


def test_the_baselines_train_on_the_gpu(tmp_path, hopper_demos, hopper_prefs, small_aihf_kwargs):
    kwargs = cuda_kwargs(small_aihf_kwargs)
    rlhf = RLHF("MlpPolicy", "Hopper-v5", hopper_demos, hopper_prefs, bc_steps=5, seed=0, **kwargs).learn(300)
    assert rlhf.bc_done and rlhf.reward_updates > 0 and on_cuda(rlhf.reward_net)
    ipl_kwargs = {k: kwargs[k] for k in ("learning_starts", "batch_size", "buffer_size", "policy_kwargs", "device")}
    ipl = IPL("MlpPolicy", "Hopper-v5", hopper_prefs, hopper_demos, bc_steps=5, seed=0, **ipl_kwargs).learn(300)
    assert ipl.bc_done and on_cuda(ipl.critic)
    bc = BC("MlpPolicy", "Hopper-v5", demonstrations=hopper_demos, device="cuda", seed=0).learn(300)
    assert on_cuda(bc.actor)
    for model in (rlhf, ipl, bc):
        model.save(tmp_path / "m.zip")
        loaded = type(model).load(tmp_path / "m.zip", env=gym.make("Hopper-v5"), device="cpu")
        np.testing.assert_allclose(
            model.predict(hopper_demos.obs[:4], deterministic=True)[0],
            loaded.predict(hopper_demos.obs[:4], deterministic=True)[0],
            atol=1e-5,
        )


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("method", ["aihf", "rlhf-batches", "ipl-batches", "sac-true"])
def test_a_benchmark_run_resumes_on_the_device_it_started_on(tmp_path, hopper_demos, hopper_prefs, method, device):
    from aihf_control.sb3 import latest_checkpoint
    from benchmarks.profiles import build_parser, resolve_profile
    from benchmarks.run import RunSpec, build_model, resume_model

    parser = build_parser("Hopper-v5")
    profile = resolve_profile(parser.parse_args(["--profile", "smoke", "--device", device]), parser)
    spec = RunSpec("Hopper-v5", method, 16, 0, profile, str(tmp_path))
    model = build_model(spec, gym.make("Hopper-v5"), hopper_demos, hopper_prefs)
    model.learn(500, callback=ResumableCheckpointCallback(500, tmp_path / "checkpoints"))
    checkpoint = latest_checkpoint(tmp_path / "checkpoints")
    resumed = resume_model(spec, checkpoint, gym.make("Hopper-v5"), hopper_demos, hopper_prefs)
    assert model.device.type == device and resumed.device.type == device  # not SB3's "auto", which is the GPU here
    resumed.learn(100, reset_num_timesteps=False)
