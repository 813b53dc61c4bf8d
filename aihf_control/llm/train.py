"""Command line: AIHF on a causal language model from JSONL demonstrations and preferences.

    python -m aihf_control.llm.train --policy EleutherAI/pythia-160m \\
        --demos demos.jsonl --prefs hh_pairs.jsonl --output-dir runs/aihf-160m --rounds 3

``--policy`` is any ``AutoModelForCausalLM`` path or hub name; a hub name (``EleutherAI/pythia-160m``,
``EleutherAI/pythia-1b``, ``EleutherAI/pythia-2.8b``, as in the paper) is read from the local Hugging Face cache
or downloaded by transformers (set ``HF_HUB_OFFLINE=1`` to forbid downloads). ``--reward-model`` switches to
the reward-model path (Bradley–Terry reward model + RLOO). Run with ``--help`` for every option.

Data parallel on N GPUs (batch sizes are per process), or N CPU processes with ``--device cpu``:

    accelerate launch --multi_gpu --num_processes N -m aihf_control.llm.train --policy ... [options]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from aihf_control.llm.data import read_demonstrations, read_preferences
from aihf_control.llm.trainer import AIHFConfig, AIHFTrainer

EPILOG = """\
Data formats (one JSON object per line):
  demonstrations  {"prompt": "...", "response": "..."}
  preferences     {"prompt": "...", "chosen": "...", "rejected": "...", "label": 1.0}   (label optional)
             or   {"chosen": "\\n\\nHuman: ...\\n\\nAssistant: ...", "rejected": "..."}   (Anthropic-HH form)

Special cases of the objective:
  --demo-weight 0                          DPO on the preferences
  --preference-weight 0 --refresh-reference SPIN (self-play on the demonstrations)
  --demo-weight 0 --preference-weight 0 --sft-weight 1   supervised fine-tuning

Pythia models of the paper: EleutherAI/pythia-160m, EleutherAI/pythia-1b, EleutherAI/pythia-2.8b
(a Pythia reward model: --reward-model EleutherAI/pythia-160m, with a fresh 1-output head).
Checkpoints: OUTPUT_DIR/round-NNN/ (safetensors; from_pretrained loads them), each with trainer_state.json.
"""


def build_parser() -> argparse.ArgumentParser:
    defaults = AIHFConfig()
    p = argparse.ArgumentParser(
        prog="python -m aihf_control.llm.train",
        description="AIHF: align a causal language model with demonstrations and preferences jointly.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g = p.add_argument_group("models and data")
    g.add_argument("--policy", required=True, help="AutoModelForCausalLM path or hub name (e.g. EleutherAI/pythia-1b)")
    g.add_argument("--tokenizer", default=None, help="tokenizer path or name (default: the policy's)")
    g.add_argument("--reference", default=None, help="reference model path or name (default: a copy of the policy)")
    g.add_argument(
        "--reward-model",
        default=None,
        help="use the reward-model path: an AutoModelForSequenceClassification path or name (1 output)",
    )
    g.add_argument("--demos", type=Path, default=None, help="JSONL file of demonstrations")
    g.add_argument("--prefs", type=Path, default=None, help="JSONL file of preference pairs")
    g.add_argument("--num-demos", type=int, default=None, help="use only the first N demonstrations")
    g.add_argument("--num-prefs", type=int, default=None, help="use only the first N preference pairs")
    g.add_argument("--output-dir", default=None, help="checkpoints go to OUTPUT_DIR/round-NNN (default: none)")

    g = p.add_argument_group("objective")
    g.add_argument("--beta", type=float, default=defaults.beta, help="β of the implicit reward β·log(π/π_ref)")
    g.add_argument("--demo-weight", type=float, default=defaults.demo_weight, help="weight of demo ≻ sample")
    g.add_argument("--preference-weight", type=float, default=defaults.preference_weight, help="weight of DPO term")
    g.add_argument("--sft-weight", type=float, default=defaults.sft_weight, help="weight of an NLL term on demos")
    g.add_argument("--refresh-reference", action="store_true", help="reference := policy after each round")

    g = p.add_argument_group("optimisation")
    g.add_argument("--rounds", type=int, default=defaults.rounds)
    g.add_argument("--steps-per-round", type=int, default=None, help="default: one pass over the larger data set")
    g.add_argument("--demo-batch-size", type=int, default=defaults.demo_batch_size)
    g.add_argument("--preference-batch-size", type=int, default=defaults.preference_batch_size)
    g.add_argument("--gradient-accumulation-steps", type=int, default=defaults.gradient_accumulation_steps)
    g.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    g.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    g.add_argument("--max-grad-norm", type=float, default=defaults.max_grad_norm, help="0 = no clipping")

    g = p.add_argument_group("sequences and generation")
    g.add_argument("--max-prompt-length", type=int, default=defaults.max_prompt_length)
    g.add_argument("--max-length", type=int, default=defaults.max_length)
    g.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens)
    g.add_argument("--temperature", type=float, default=defaults.temperature)
    g.add_argument("--top-k", type=int, default=defaults.top_k, help="0 = off")
    g.add_argument("--top-p", type=float, default=defaults.top_p, help="1 = off")
    g.add_argument("--generation-batch-size", type=int, default=defaults.generation_batch_size)
    g.add_argument("--eval-batch-size", type=int, default=defaults.eval_batch_size)

    g = p.add_argument_group("reward-model path (with --reward-model)")
    g.add_argument("--reward-learning-rate", type=float, default=defaults.reward_learning_rate)
    g.add_argument("--reward-steps", type=int, default=None, help="default: one pass over the larger data set")
    g.add_argument("--policy-steps", type=int, default=defaults.policy_steps, help="RLOO steps per round")
    g.add_argument("--rloo-prompts", type=int, default=defaults.rloo_prompts, help="prompts per RLOO micro-batch")
    g.add_argument("--rloo-k", type=int, default=defaults.rloo_k, help="samples per prompt")
    g.add_argument("--kl-coef", type=float, default=defaults.kl_coef, help="KL penalty to the reference")

    g = p.add_argument_group("system")
    g.add_argument("--device", default=defaults.device, help="auto, cpu, cuda, cuda:1, ...")
    g.add_argument("--mixed-precision", default=defaults.mixed_precision, choices=["auto", "no", "bf16", "fp16"])
    g.add_argument("--seed", type=int, default=defaults.seed)
    g.add_argument("--log-every", type=int, default=defaults.log_every, help="steps between log lines (0 = rounds)")
    g.add_argument("--sample-prompts", type=int, default=3, help="print the final policy's answer to N prompts")
    return p


def config_from_args(args: argparse.Namespace) -> AIHFConfig:
    """The :class:`AIHFConfig` of parsed arguments (raises ``ValueError`` on impossible settings)."""
    return AIHFConfig(
        beta=args.beta,
        demo_weight=args.demo_weight,
        preference_weight=args.preference_weight,
        sft_weight=args.sft_weight,
        rounds=args.rounds,
        steps_per_round=args.steps_per_round,
        demo_batch_size=args.demo_batch_size,
        preference_batch_size=args.preference_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        max_grad_norm=args.max_grad_norm or None,
        refresh_reference=args.refresh_reference,
        max_prompt_length=args.max_prompt_length,
        max_length=args.max_length,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        generation_batch_size=args.generation_batch_size,
        eval_batch_size=args.eval_batch_size,
        reward_learning_rate=args.reward_learning_rate,
        reward_steps=args.reward_steps,
        policy_steps=args.policy_steps,
        rloo_prompts=args.rloo_prompts,
        rloo_k=args.rloo_k,
        kl_coef=args.kl_coef,
        device=args.device,
        mixed_precision=args.mixed_precision,
        seed=args.seed,
        output_dir=args.output_dir,
        log_every=args.log_every,
    )


def main(argv: Sequence[str] | None = None) -> list[dict[str, float]]:
    """Parse ``argv``, train, print one summary line per round; returns the round summaries."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.demos is None and args.prefs is None:
        parser.error("pass --demos, --prefs, or both")
    try:
        config = config_from_args(args)
        demos = read_demonstrations(args.demos, limit=args.num_demos) if args.demos is not None else None
        prefs = read_preferences(args.prefs, limit=args.num_prefs) if args.prefs is not None else None
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    if demos is None and config.demo_weight > 0:
        parser.error("--demo-weight > 0 needs --demos (or pass --demo-weight 0)")
    if prefs is None and config.preference_weight > 0:
        parser.error("--preference-weight > 0 needs --prefs (or pass --preference-weight 0)")

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    logging.getLogger("aihf_control.llm").setLevel(logging.INFO)
    if args.reward_model is not None:
        from aihf_control.llm.reward_model import RewardModelAIHFTrainer

        trainer = RewardModelAIHFTrainer(
            args.policy, args.reward_model, args.tokenizer or args.policy, demos, prefs, config, args.reference
        )
    else:
        trainer = AIHFTrainer(args.policy, args.tokenizer or args.policy, demos, prefs, config, args.reference)
    summaries = trainer.train()
    if not trainer.accelerator.is_main_process:  # under accelerate launch one process reports
        return summaries
    prompts = (demos.prompts if demos is not None else prefs.prompts)[: args.sample_prompts]
    if prompts:
        for prompt, answer in zip(prompts, trainer.generate_text(prompts, greedy=True), strict=True):
            print(json.dumps({"prompt": prompt, "policy": answer}, ensure_ascii=False))
    if config.output_dir is not None:
        print(f"checkpoints: {Path(config.output_dir).resolve()}/round-001 … round-{trainer.round:03d}")
    return summaries


if __name__ == "__main__":
    main()
