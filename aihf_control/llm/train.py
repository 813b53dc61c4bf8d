"""Command line: AIHF on a causal language model from JSONL demonstrations and preferences, on TRL.

    python -m aihf_control.llm.train --policy EleutherAI/pythia-160m \\
        --demos demos.jsonl --prefs hh_pairs.jsonl --output_dir runs/aihf-160m --rounds 3 --steps_per_round 100

Every option of TRL's ``DPOConfig`` (and so of ``transformers.TrainingArguments``) is accepted as TRL's own
command line spells it (``--learning_rate``, ``--per_device_train_batch_size``, ``--gradient_accumulation_steps``,
``--bf16``, ``--gradient_checkpointing``, ``--report_to``, ``--save_strategy``, ``--beta``, …; ``-`` works for ``_``),
plus AIHF's (:class:`~aihf_control.llm.aihf_config.AIHFConfig`: ``--demo_weight``, ``--preference_weight``,
``--demo_batch_size``, ``--steps_per_round``, ``--rounds``, ``--refresh_reference``, ``--max_completion_length``,
sampling) and this script's (:class:`ScriptArguments`: models, data files, LoRA, the reward-model path).
``--policy`` is any ``AutoModelForCausalLM`` path or hub name (set ``HF_HUB_OFFLINE=1`` to forbid downloads).

Data parallel, DeepSpeed or FSDP: ``accelerate launch [--config_file ...] -m aihf_control.llm.train ...``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EPILOG = """\
Data formats (one JSON object per line):
  demonstrations  {"prompt": "...", "response": "..."}
  preferences     {"prompt": "...", "chosen": "...", "rejected": "...", "label": 1.0}   (label optional)
             or   {"chosen": "\\n\\nHuman: ...\\n\\nAssistant: ...", "rejected": "..."}   (Anthropic-HH form)

Special cases of the objective:
  --demo_weight 0                              TRL's DPO on the preferences
  --preference_weight 0 --refresh_reference    SPIN (self-play on the demonstrations)
Supervised fine-tuning is TRL's own: `trl sft` / SFTTrainer on the demonstrations.
"""


@dataclass
class ScriptArguments:
    """The options of this script that neither TRL nor AIHFConfig has.

    :param policy: ``AutoModelForCausalLM`` path or hub name
    :param tokenizer: tokenizer path or name; None = the policy's
    :param reference: reference model path or name; None = TRL's default (the initial policy)
    :param demos: JSONL file of demonstrations
    :param prefs: JSONL file of preference pairs
    :param num_demos: use only the first N demonstrations
    :param num_prefs: use only the first N preference pairs
    :param sample_prompts: print the final policy's greedy answer to N prompts
    :param lora_r: train a LoRA adapter of this rank (needs peft); 0 = full fine-tuning
    :param reward_model: use the reward-model path with this ``AutoModelForSequenceClassification`` (1 output)
    :param reward_learning_rate: reward-model learning rate (reward-model path)
    :param reward_steps: reward-model steps per round (reward-model path)
    :param policy_steps: RLOO steps per round (reward-model path)
    :param rloo_k: completions per prompt for RLOO (reward-model path)
    :param kl_coef: KL penalty to the reference in RLOO's reward (reward-model path)
    """

    policy: str = field(metadata={"help": "AutoModelForCausalLM path or hub name (e.g. EleutherAI/pythia-1b)"})
    tokenizer: str | None = field(default=None, metadata={"help": "tokenizer path or name (default: the policy's)"})
    reference: str | None = field(default=None, metadata={"help": "reference model (default: the initial policy)"})
    demos: str | None = field(default=None, metadata={"help": "JSONL file of demonstrations"})
    prefs: str | None = field(default=None, metadata={"help": "JSONL file of preference pairs"})
    num_demos: int | None = field(default=None, metadata={"help": "use only the first N demonstrations"})
    num_prefs: int | None = field(default=None, metadata={"help": "use only the first N preference pairs"})
    sample_prompts: int = field(default=3, metadata={"help": "print the final policy's answer to N prompts"})
    lora_r: int = field(default=0, metadata={"help": "train a LoRA adapter of this rank (needs peft); 0 = off"})
    reward_model: str | None = field(
        default=None, metadata={"help": "reward-model path: AutoModelForSequenceClassification path or name"}
    )
    reward_learning_rate: float = field(default=1e-5, metadata={"help": "reward-model learning rate"})
    reward_steps: int = field(default=50, metadata={"help": "reward-model steps per round"})
    policy_steps: int = field(default=8, metadata={"help": "RLOO steps per round"})
    rloo_k: int = field(default=2, metadata={"help": "completions per prompt for RLOO"})
    kl_coef: float = field(default=0.05, metadata={"help": "KL penalty to the reference in RLOO's reward"})


def build_parser():
    """The ``HfArgumentParser`` of :class:`ScriptArguments` and :class:`~aihf_control.llm.aihf_config.AIHFConfig`."""
    import argparse

    from transformers import HfArgumentParser

    from aihf_control.llm.aihf_config import AIHFConfig

    parser = HfArgumentParser(
        (ScriptArguments, AIHFConfig),
        prog="python -m aihf_control.llm.train",
        description="AIHF: align a causal language model with demonstrations and preferences jointly (on TRL).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def _load_data(script: ScriptArguments, parser):
    from aihf_control.llm.data import (
        demonstration_dataset,
        preference_dataset,
        read_demonstrations,
        read_preferences,
    )

    try:
        demos = read_demonstrations(script.demos, limit=script.num_demos) if script.demos else None
        prefs = read_preferences(script.prefs, limit=script.num_prefs) if script.prefs else None
    except (ValueError, FileNotFoundError) as e:
        parser.error(str(e))
    return (
        demos,
        prefs,
        demonstration_dataset(demos) if demos is not None else None,
        preference_dataset(prefs) if prefs is not None else None,
    )


def _reward_model_path(script: ScriptArguments, config, tokenizer, demo_ds, pref_ds):
    from trl import RewardConfig, RLOOConfig

    from aihf_control.llm.reward_model import RewardModelAIHF, RewardModelAIHFConfig

    common: dict[str, Any] = dict(
        seed=config.seed,
        bf16=config.bf16,
        fp16=config.fp16,
        use_cpu=config.use_cpu,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        logging_steps=config.logging_steps,
        report_to=config.report_to,
        save_strategy="no",
        gradient_checkpointing=config.gradient_checkpointing,
    )
    rm_config = RewardModelAIHFConfig(
        reward=RewardConfig(
            output_dir=str(Path(config.output_dir) / "reward"),
            max_steps=script.reward_steps,
            learning_rate=script.reward_learning_rate,
            max_length=config.max_length,
            **common,
        ),
        policy=RLOOConfig(
            output_dir=str(Path(config.output_dir) / "policy"),
            max_steps=script.policy_steps,
            learning_rate=config.learning_rate,
            num_generations=script.rloo_k,
            beta=script.kl_coef,
            max_completion_length=config.max_completion_length,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=config.top_k,
            **common,
        ),
        rounds=config.rounds or 1,
        demo_weight=config.demo_weight,
        preference_weight=config.preference_weight,
        generation_batch_size=config.generation_batch_size,
    )
    return RewardModelAIHF(script.policy, script.reward_model, tokenizer, rm_config, demo_ds, pref_ds)


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Parse ``argv``, train, save the policy to ``output_dir``, print sample answers; returns the log history
    (the reward-model path: one summary per round)."""
    parser = build_parser()
    try:
        script, config = parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None)
    except ValueError as e:
        parser.error(str(e))
    if script.demos is None and script.prefs is None:
        parser.error("pass --demos, --prefs, or both")
    if script.demos is None and config.demo_weight > 0:
        parser.error("--demo_weight > 0 needs --demos (or pass --demo_weight 0)")
    if script.prefs is None and config.preference_weight > 0:
        parser.error("--preference_weight > 0 needs --prefs (or pass --preference_weight 0)")
    demos, prefs, demo_ds, pref_ds = _load_data(script, parser)

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(script.tokenizer or script.policy)
    if script.reward_model is not None:
        runner = _reward_model_path(script, config, tokenizer, demo_ds, pref_ds)
        history = runner.train()
        runner.policy.save_pretrained(config.output_dir)
        tokenizer.save_pretrained(config.output_dir)
        policy = runner.policy
    else:
        from aihf_control.llm.trainer import AIHFTrainer

        peft_config = None
        if script.lora_r > 0:
            from peft import LoraConfig

            peft_config = LoraConfig(r=script.lora_r, lora_alpha=2 * script.lora_r, task_type="CAUSAL_LM")
        reference = AutoModelForCausalLM.from_pretrained(script.reference) if script.reference else None
        trainer = AIHFTrainer(
            script.policy,
            ref_model=reference,
            args=config,
            train_dataset=pref_ds if config.preference_weight > 0 else None,
            demo_dataset=demo_ds if config.demo_weight > 0 else None,
            processing_class=tokenizer,
            peft_config=peft_config,
        )
        trainer.train()
        trainer.save_model(config.output_dir)
        history = trainer.state.log_history
        if not trainer.accelerator.is_main_process:  # under accelerate launch one process reports
            return history
        policy = trainer.accelerator.unwrap_model(trainer.model)
    prompts = (demos.prompts if demos is not None else prefs.prompts)[: script.sample_prompts]
    if prompts:
        from aihf_control.llm.generation import generate_responses

        ids = generate_responses(
            policy,
            [list(p) for p in tokenizer(prompts)["input_ids"]],
            tokenizer.pad_token_id,
            tokenizer.eos_token_id,
            config.max_completion_length,
            do_sample=False,
        )
        for prompt, answer in zip(prompts, tokenizer.batch_decode(ids, skip_special_tokens=True), strict=True):
            print(json.dumps({"prompt": prompt, "policy": answer}, ensure_ascii=False))
    print(f"policy saved to {Path(config.output_dir).resolve()}")
    return history


if __name__ == "__main__":
    main()
