"""The llm trainer through accelerate: ``accelerate launch`` with two CPU processes (gloo) trains data-parallel,
taking the same optimiser steps as one process with twice the batch; a plain run is one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import torch

from aihf_control.llm import AIHFConfig, AIHFTrainer, load_checkpoint, read_preferences, tiny_dataset_paths
from aihf_control.llm.train import main
from aihf_control.llm.trainer import _Cycler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_plain_run_is_one_process_through_an_accelerator(tiny_dir):
    prefs = read_preferences(tiny_dataset_paths()["prefs"])
    config = AIHFConfig(demo_weight=0.0, max_prompt_length=16, max_length=32, max_new_tokens=4, device="cpu")
    trainer = AIHFTrainer(str(tiny_dir), None, None, prefs, config)
    assert trainer.accelerator.num_processes == 1 and trainer.accelerator.is_main_process
    assert trainer.device == torch.device("cpu")


def test_the_shards_of_a_step_are_the_parts_of_one_process_batch():
    whole = _Cycler(10, 4, torch.Generator().manual_seed(0))
    shards = [_Cycler(10, 2, torch.Generator().manual_seed(0), shard=k, num_shards=2) for k in range(2)]
    for _ in range(6):  # across reshuffles too
        assert whole.next() == shards[0].next() + shards[1].next()


def test_two_data_parallel_processes_step_like_one_process_with_twice_the_batch(tiny_dir, tmp_path):
    # DPO only (no sampling, which differs between processes): process k of 2 takes pairs [2k, 2k+2) of the
    # 4 that one process with batch 4 takes, and the gradients are averaged, so both take the same steps.
    argv = ["--policy", str(tiny_dir), "--prefs", str(tiny_dataset_paths()["prefs"]), "--demo-weight", "0"]
    argv += ["--device", "cpu", "--steps-per-round", "3", "--learning-rate", "1e-3", "--max-prompt-length", "16"]
    argv += ["--max-length", "32", "--max-new-tokens", "4", "--sample-prompts", "0", "--log-every", "0"]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--num_cpu_threads_per_process", "1", "--main_process_port", str(free_port())]
    two = subprocess.run(
        [
            *launch,
            "-m",
            "aihf_control.llm.train",
            *argv,
            "--preference-batch-size",
            "2",
            "--output-dir",
            str(tmp_path / "two"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},  # CPU processes even where a GPU is
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("round 1:") == 1, "the main process alone logs"
    main([*argv, "--preference-batch-size", "4", "--output-dir", str(tmp_path / "one")])

    states = {n: json.loads((tmp_path / n / "round-001" / "trainer_state.json").read_text()) for n in ("one", "two")}
    for key in ("loss", "preference_loss", "grad_norm", "preference_accuracy"):
        assert states["two"]["summary"][key] == pytest.approx(states["one"]["summary"][key], rel=1e-4, abs=1e-6), key
    one, _, _ = load_checkpoint(tmp_path / "one" / "round-001")
    two_policy, _, _ = load_checkpoint(tmp_path / "two" / "round-001")
    for p, q in zip(one.parameters(), two_policy.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
