"""Worked example: AIHF on a tiny GPT-NeoX (Pythia's architecture) with TRL, offline, in under a minute on CPU.

    python -m examples.llm_tiny

1. Build a word-level tokenizer and a ~19k-parameter GPT-NeoX in a temporary directory (nothing is downloaded).
2. Read the shipped tiny data set (16 demonstrations of a rule-scored task, 16 preference pairs) and turn it into
   TRL's dataset formats with :func:`aihf_control.llm.demonstration_dataset` / :func:`preference_dataset`.
3. Train with :class:`aihf_control.llm.AIHFTrainer` (TRL's DPOTrainer plus SPIN-form demonstration pairs): each
   round samples a completion per demonstration prompt, then optimises ``L_SPIN(demo ≻ sample) + L_DPO(chosen ≻
   rejected)``; the reference is refreshed each round (self-play).
4. Save the policy, load it back with ``from_pretrained`` and compare the true reward before and after.

With a real model, replace the temporary directory with a Pythia name (e.g. ``EleutherAI/pythia-160m``, read
from your Hugging Face cache) and the tiny files with your own JSONL data or any TRL preference dataset.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

import torch

from aihf_control.llm import (
    AIHFConfig,
    AIHFTrainer,
    demonstration_dataset,
    generate_responses,
    preference_dataset,
    read_demonstrations,
    read_preferences,
    tiny_dataset_paths,
)
from aihf_control.llm.tiny import TOPICS, build_tiny_model, build_tiny_tokenizer, make_prompt, true_reward


def mean_true_reward(model, tokenizer, samples: int = 32) -> float:
    prompts = [make_prompt(topic) for topic in TOPICS]
    ids = generate_responses(
        model,
        [list(p) for p in tokenizer(prompts)["input_ids"]],
        tokenizer.pad_token_id,
        tokenizer.eos_token_id,
        max_new_tokens=5,
        num_samples=samples,
    )
    answers = tokenizer.batch_decode(ids, skip_special_tokens=True)
    return statistics.mean(true_reward(prompts[i // samples], a) for i, a in enumerate(answers))


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, out_dir = Path(tmp) / "tiny-pythia", Path(tmp) / "run"
        tokenizer = build_tiny_tokenizer(model_dir)
        build_tiny_model(model_dir, hidden_size=32, num_heads=4)

        paths = tiny_dataset_paths()
        demos = demonstration_dataset(read_demonstrations(paths["demos"]))
        prefs = preference_dataset(read_preferences(paths["prefs"]))
        print(f"{len(demos)} demonstrations, e.g. {demos[0]}")
        print(f"{len(prefs)} preference pairs, e.g. {prefs[0]}")

        config = AIHFConfig(
            output_dir=str(out_dir),
            beta=0.5,
            rounds=3,
            steps_per_round=40,
            per_device_train_batch_size=8,
            demo_batch_size=8,
            learning_rate=3e-3,
            lr_scheduler_type="constant",
            refresh_reference=True,
            max_length=32,
            max_completion_length=5,
            bf16=False,
            use_cpu=True,
            gradient_checkpointing=False,
            report_to="none",
            save_strategy="no",
            logging_steps=40,
        )
        trainer = AIHFTrainer(
            str(model_dir), args=config, train_dataset=prefs, demo_dataset=demos, processing_class=tokenizer
        )
        torch.manual_seed(0)
        print(f"true reward before: {mean_true_reward(trainer.model, tokenizer):+.3f} (best 1.75)")
        trainer.train()
        for row in trainer.state.log_history:
            if "loss" in row:
                print(
                    f"step {row['step']}: loss {row['loss']:.3f} (demo {row['aihf/demo_loss']:.3f}, "
                    f"preference {row['aihf/preference_loss']:.3f}), demo accuracy "
                    f"{row['demo_rewards/accuracies']:.2f}"
                )
        trainer.save_model(str(out_dir))
        from transformers import AutoModelForCausalLM

        policy = AutoModelForCausalLM.from_pretrained(str(out_dir))
        torch.manual_seed(0)
        print(f"true reward after:  {mean_true_reward(policy, tokenizer):+.3f}")
        print(f"greedy: {trainer.generate_text(['tell me about cats', 'tell me about fish'], greedy=True)}")


if __name__ == "__main__":
    main()
