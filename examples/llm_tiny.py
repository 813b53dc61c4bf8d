"""Worked example: AIHF on a tiny GPT-NeoX (Pythia's architecture), offline, in about half a minute on CPU.

    python -m examples.llm_tiny

1. Build a word-level tokenizer and a ~19k-parameter GPT-NeoX in a temporary directory (nothing is downloaded).
2. Read the shipped tiny data set: 16 demonstrations (the best responses of a rule-scored task) and 16
   preference pairs, with :func:`aihf_control.llm.read_demonstrations` / :func:`read_preferences`.
3. Train with :class:`aihf_control.llm.AIHFTrainer`: each round samples a response per demonstration prompt,
   then optimises ``L_SPIN(demo ≻ sample) + L_DPO(chosen ≻ rejected)``; the reference is refreshed each round
   (self-play) and a checkpoint is written per round.
4. Load the last checkpoint back with ``from_pretrained`` and compare the true reward before and after.
5. The same run from the command line: ``python -m aihf_control.llm.train --policy DIR --demos F --prefs F``.

With a real model, replace the temporary directory with a Pythia name (e.g. ``EleutherAI/pythia-160m``, read
from your Hugging Face cache) and the tiny files with your own JSONL data.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import torch

from aihf_control.llm import (
    AIHFConfig,
    AIHFTrainer,
    latest_checkpoint,
    load_checkpoint,
    read_demonstrations,
    read_preferences,
    tiny_dataset_paths,
)
from aihf_control.llm.tiny import TOPICS, build_tiny_model, build_tiny_tokenizer, make_prompt, true_reward


def mean_true_reward(trainer: AIHFTrainer, samples: int = 32) -> float:
    prompts = [make_prompt(topic) for topic in TOPICS]
    answers = trainer.generate_text(prompts, num_samples=samples)
    return statistics.mean(true_reward(prompts[i // samples], a) for i, a in enumerate(answers))


def main() -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir, out_dir = Path(tmp) / "tiny-pythia", Path(tmp) / "run"
        build_tiny_tokenizer(model_dir)
        build_tiny_model(model_dir, hidden_size=32, num_heads=4)

        paths = tiny_dataset_paths()
        demos = read_demonstrations(paths["demos"])
        prefs = read_preferences(paths["prefs"])
        print(f"{len(demos)} demonstrations, e.g. {demos.prompts[0]!r} -> {demos.responses[0]!r}")
        print(f"{len(prefs)} preference pairs, e.g. {prefs.chosen[0]!r} ≻ {prefs.rejected[0]!r}")

        config = AIHFConfig(
            beta=0.5,
            demo_weight=1.0,
            preference_weight=1.0,
            rounds=3,
            steps_per_round=40,
            demo_batch_size=8,
            preference_batch_size=8,
            learning_rate=3e-3,
            refresh_reference=True,
            max_prompt_length=16,
            max_length=32,
            max_new_tokens=5,
            output_dir=str(out_dir),
            log_every=0,
        )
        trainer = AIHFTrainer(str(model_dir), None, demos, prefs, config)
        torch.manual_seed(0)
        print(f"true reward before: {mean_true_reward(trainer):+.3f} (best 1.75)")
        for summary in trainer.train():
            print(
                f"round {summary['round']}: loss {summary['loss']:.3f} (demo {summary['demo_loss']:.3f}, "
                f"preference {summary['preference_loss']:.3f}), demo accuracy {summary['demo_accuracy']:.2f}"
            )
        torch.manual_seed(0)
        print(f"true reward after:  {mean_true_reward(trainer):+.3f}")
        for prompt, answer in zip(
            ["tell me about cats", "tell me about fish"],
            trainer.generate_text(["tell me about cats", "tell me about fish"], greedy=True),
            strict=True,
        ):
            print(f"  {prompt!r} -> {answer!r}")

        checkpoint = latest_checkpoint(out_dir)
        policy, _, state = load_checkpoint(checkpoint)
        same = all(torch.equal(p, q) for p, q in zip(policy.parameters(), trainer.policy.parameters(), strict=True))
        print(f"checkpoint {checkpoint.name}: round {state['round']}, weights identical to the trainer's: {same}")

        print("\nthe same kind of run from the command line (one round, a few steps):")
        from aihf_control.llm.train import main as train_main

        argv = ["--policy", str(model_dir), "--demos", str(paths["demos"]), "--prefs", str(paths["hh_prefs"])]
        argv += ["--beta", "0.5", "--learning-rate", "3e-3", "--steps-per-round", "5", "--max-new-tokens", "5"]
        argv += ["--max-prompt-length", "16", "--max-length", "32", "--log-every", "0", "--sample-prompts", "1"]
        print("python -m aihf_control.llm.train " + " ".join(argv))
        train_main(argv)


if __name__ == "__main__":
    main()
