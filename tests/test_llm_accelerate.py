"""The llm trainer through accelerate: a plain run is one process; ``accelerate launch`` with two CPU processes
(gloo) trains AIHF data-parallel through TRL/transformers' own DDP, and the processes draw disjoint
demonstration minibatches."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import socket
import subprocess
import sys

import pytest

pytest.importorskip("trl")

import torch

from aihf_control.llm import AIHFConfig, AIHFTrainer, preference_dataset, read_preferences, tiny_dataset_paths
from aihf_control.llm.trainer import _Cycler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_plain_run_is_one_process(tiny_dir, tmp_path):
    prefs = preference_dataset(read_preferences(tiny_dataset_paths()["prefs"]))
    config = AIHFConfig(
        output_dir=str(tmp_path), demo_weight=0.0, use_cpu=True, bf16=False, report_to="none", max_length=32
    )
    trainer = AIHFTrainer(str(tiny_dir), args=config, train_dataset=prefs)
    assert trainer.accelerator.num_processes == 1 and trainer.accelerator.is_main_process
    assert trainer.accelerator.device == torch.device("cpu")


def test_the_shards_of_a_step_are_the_parts_of_one_process_batch():
    whole = _Cycler(10, 4, torch.Generator().manual_seed(0))
    shards = [_Cycler(10, 2, torch.Generator().manual_seed(0), shard=k, num_shards=2) for k in range(2)]
    for _ in range(6):  # across reshuffles too
        assert whole.next() == shards[0].next() + shards[1].next()


def test_two_data_parallel_processes_train_aihf(tiny_dir, tmp_path):
    paths = tiny_dataset_paths()
    argv = ["--policy", str(tiny_dir), "--prefs", str(paths["prefs"]), "--demos", str(paths["demos"])]
    argv += ["--use_cpu", "--bf16", "false", "--report_to", "none", "--save_strategy", "no", "--disable_tqdm", "true"]
    argv += ["--rounds", "2", "--steps_per_round", "1", "--max_length", "32", "--max_completion_length", "4"]
    argv += ["--per_device_train_batch_size", "2", "--sample_prompts", "0", "--output_dir", str(tmp_path / "two")]
    argv += ["--gradient_checkpointing", "false", "--logging_steps", "1"]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    launch += ["--num_cpu_threads_per_process", "1", "--main_process_port", str(free_port())]
    two = subprocess.run(
        [*launch, "-m", "aihf_control.llm.train", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},  # CPU processes even where a GPU is
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("policy saved to") == 1, "the main process alone reports"
    assert (tmp_path / "two" / "model.safetensors").is_file()
