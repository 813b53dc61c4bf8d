"""AIHF against DPO-only and SFT on a tiny offline language model, where the true reward is known.

    python -m benchmarks.llm                      # default: a few minutes on CPU
    python -m benchmarks.llm --num-prefs 16 64 256 --seeds 0 1 2 --out runs/llm/results.json

The task (:mod:`aihf_control.llm.tiny`): the prompt asks about a topic ("tell me about cats"); a response of at
most 4 words scores +1 for naming the topic, -1 for naming another topic and ±0.25 per positive/negative word
(best 1.75). Demonstrations are the rule's best responses; preference pairs are two uniformly random responses
labelled by the rule. All methods start from the same "pretrained" base, a tiny GPT-NeoX fitted (SFT, TRL's
SFTTrainer) to random responses, which is also the frozen reference; each gets the same number of rounds and
steps, and the same number of sequence pairs per step:

  aihf     demonstrations (SPIN form: demo ≻ own sample) + preferences (DPO form), half the batch each
  dpo      preferences only (DPO), the whole batch
  sft      supervised fine-tuning on the demonstrations only (no preferences)
  aihf-rm  optional: the reward-model path (Bradley–Terry reward model on both kinds of feedback + RLOO)

The score is the mean true reward of sampled responses (temperature 1) to every topic's prompt. The benchmark
also times one AIHF optimiser step against one DPO step with the same number of pairs (target ≤ 1.2×) and
reports the mean step, which includes AIHF's per-round generation. Results go to a
JSON file; a table is printed.

Every method runs on TRL: aihf on :class:`aihf_control.llm.AIHFTrainer` (TRL's DPOTrainer), dpo on the same
trainer with ``demo_weight=0`` (DPOTrainer's own loss), sft on TRL's SFTTrainer, aihf-rm on TRL's RewardTrainer +
RLOOTrainer. The results and the command that produced them are in docs/llm.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

METHODS = ("aihf", "dpo", "sft", "aihf-rm")
USES_PREFERENCES = {"aihf", "dpo", "aihf-rm"}


@dataclass
class Settings:
    """Every setting of a benchmark run (the command-line options)."""

    methods: list[str] = field(default_factory=lambda: ["aihf", "dpo", "sft"])
    num_prefs: list[int] = field(default_factory=lambda: [16, 64, 256])
    num_demos: int = 16
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    rounds: int = 4
    steps_per_round: int = 50
    pairs_per_step: int = 16
    beta: float = 0.5
    learning_rate: float = 3e-3
    refresh_reference: bool = True
    hidden_size: int = 32
    num_layers: int = 2
    pretrain_steps: int = 400
    eval_samples: int = 64
    timing_steps: int = 20
    out: str = "runs/llm/results.json"


def build_parser() -> argparse.ArgumentParser:
    d = Settings()
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.llm",
        description="AIHF vs DPO-only vs SFT on a tiny GPT-NeoX and a rule-scored text task (offline, CPU).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--methods", nargs="+", choices=METHODS, default=d.methods, help="methods to compare")
    p.add_argument("--num-prefs", nargs="+", type=int, default=d.num_prefs, help="preference budgets")
    p.add_argument("--num-demos", type=int, default=d.num_demos, help="demonstrations (all methods but dpo)")
    p.add_argument("--seeds", nargs="+", type=int, default=d.seeds)
    p.add_argument("--rounds", type=int, default=d.rounds, help="rounds of generate + optimise")
    p.add_argument("--steps-per-round", type=int, default=d.steps_per_round)
    p.add_argument("--pairs-per-step", type=int, default=d.pairs_per_step, help="sequence pairs per step (even)")
    p.add_argument("--beta", type=float, default=d.beta)
    p.add_argument("--learning-rate", type=float, default=d.learning_rate)
    p.add_argument(
        "--refresh-reference",
        action=argparse.BooleanOptionalAction,
        default=d.refresh_reference,
        help="reference := policy after each round (self-play), for every method",
    )
    p.add_argument("--hidden-size", type=int, default=d.hidden_size)
    p.add_argument("--num-layers", type=int, default=d.num_layers)
    p.add_argument("--pretrain-steps", type=int, default=d.pretrain_steps, help="SFT steps of the base on noise")
    p.add_argument("--eval-samples", type=int, default=d.eval_samples, help="sampled responses per topic")
    p.add_argument("--timing-steps", type=int, default=d.timing_steps, help="steps timed per method (0 = skip)")
    p.add_argument("--out", default=d.out, help="the JSON result file")
    return p


def settings_from(argv: Sequence[str] | None) -> Settings:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.pairs_per_step < 2 or args.pairs_per_step % 2:
        parser.error("--pairs-per-step must be an even number >= 2 (AIHF splits it between demos and preferences)")
    if min(args.num_prefs) < 1 or args.num_demos < 1:
        parser.error("--num-prefs and --num-demos must be >= 1")
    return Settings(**{k: v for k, v in vars(args).items()})


COMMON = dict(
    bf16=False,
    use_cpu=True,
    report_to="none",
    save_strategy="no",
    disable_tqdm=True,
    gradient_checkpointing=False,
    lr_scheduler_type="constant",
    logging_steps=50,
    max_length=32,
)


def _aihf_config(s: Settings, out: Path, seed: int, **overrides):
    from aihf_control.llm import AIHFConfig

    base = dict(
        output_dir=str(out),
        beta=s.beta,
        learning_rate=s.learning_rate,
        rounds=s.rounds,
        steps_per_round=s.steps_per_round,
        refresh_reference=s.refresh_reference,
        max_completion_length=5,
        generation_batch_size=256,
        seed=seed,
        **COMMON,
    )
    return AIHFConfig(**{**base, **overrides})


def _sft(model, tokenizer, records: list[dict], steps: int, batch_size: int, lr: float, seed: int, out: Path):
    """TRL's SFTTrainer on prompt-completion records (loss on completion tokens only)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=lr,
        seed=seed,
        completion_only_loss=True,
        **COMMON,
    )
    trainer = SFTTrainer(model, args=args, train_dataset=Dataset.from_list(records), processing_class=tokenizer)
    trainer.train()
    return trainer


def pretrain_base(s: Settings, seed: int, directory: Path) -> Path:
    """The shared starting point: a tiny GPT-NeoX fitted (TRL's SFTTrainer) to uniformly random responses (a
    'pretrained' LM that answers in the task's format but knows nothing of the reward)."""
    from aihf_control.llm.data import join_completion
    from aihf_control.llm.tiny import TOPICS, build_tiny_model, build_tiny_tokenizer, make_prompt, random_response

    rng = random.Random(10_000 + seed)
    noise = []
    for _ in range(512):
        prompt = make_prompt(rng.choice(TOPICS))
        noise.append({"prompt": prompt, "completion": join_completion(prompt, random_response(rng))})
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(hidden_size=s.hidden_size, num_layers=s.num_layers, num_heads=4, seed=seed)
    trainer = _sft(model, tokenizer, noise, s.pretrain_steps, 32, s.learning_rate, seed, directory / "sft-run")
    trainer.model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


class StepTimer:
    """A ``TrainerCallback`` that keeps the wall time of every optimiser step (its forward, backward, optimiser
    step and, for AIHF, the batch's collation and any round's generation)."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        timer = self

        class _Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                timer._start = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                timer.seconds.append(time.perf_counter() - timer._start)

        self.seconds: list[float] = []
        self._start = 0.0
        self.callback = _Callback()


def make_trainer(s: Settings, method: str, base: Path, demos, prefs, seed: int, out: Path, callbacks=None):
    """The trainer of one method: AIHFTrainer (aihf; dpo = demo_weight 0, TRL's DPO), or RewardModelAIHF."""
    from transformers import AutoTokenizer

    from aihf_control.llm import AIHFTrainer, demonstration_dataset, preference_dataset

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    half = s.pairs_per_step // 2
    if method == "aihf":
        args = _aihf_config(s, out, seed, per_device_train_batch_size=half, demo_batch_size=half)
        return AIHFTrainer(
            str(base),
            args=args,
            train_dataset=preference_dataset(prefs),
            demo_dataset=demonstration_dataset(demos),
            processing_class=tokenizer,
            callbacks=callbacks,
        )
    if method == "dpo":
        args = _aihf_config(s, out, seed, demo_weight=0.0, per_device_train_batch_size=s.pairs_per_step)
        return AIHFTrainer(
            str(base),
            args=args,
            train_dataset=preference_dataset(prefs),
            processing_class=tokenizer,
            callbacks=callbacks,
        )
    if method == "aihf-rm":
        from trl import RewardConfig, RLOOConfig

        from aihf_control.llm import RewardModelAIHF, RewardModelAIHFConfig
        from aihf_control.llm.tiny import build_tiny_model

        common = dict(COMMON, lr_scheduler_type="constant", seed=seed)
        config = RewardModelAIHFConfig(
            reward=RewardConfig(
                output_dir=str(out / "reward"),
                max_steps=s.steps_per_round,
                per_device_train_batch_size=s.pairs_per_step,
                learning_rate=s.learning_rate,
                **common,
            ),
            policy=RLOOConfig(
                output_dir=str(out / "policy"),
                max_steps=s.steps_per_round,
                per_device_train_batch_size=s.pairs_per_step,
                num_generations=4,
                max_completion_length=5,
                learning_rate=s.learning_rate,
                beta=0.05,
                **{k: v for k, v in common.items() if k != "max_length"},
            ),
            rounds=s.rounds,
        )
        reward_model = build_tiny_model(
            hidden_size=s.hidden_size, num_layers=s.num_layers, num_heads=4, seed=seed + 1, num_labels=1
        )
        return RewardModelAIHF(
            str(base), reward_model, tokenizer, config, demonstration_dataset(demos), preference_dataset(prefs)
        )
    raise ValueError(method)


def sample_texts(model, tokenizer, prompts: list[str], num_samples: int = 1, greedy: bool = False) -> list[str]:
    """Completions of ``model`` to prompt strings (TRL's tokenization of standard prompts)."""
    from aihf_control.llm import generate_responses

    ids = generate_responses(
        model,
        [list(p) for p in tokenizer(prompts)["input_ids"]],
        tokenizer.pad_token_id,
        tokenizer.eos_token_id,
        max_new_tokens=5,
        num_samples=num_samples,
        do_sample=not greedy,
        batch_size=256,
    )
    return tokenizer.batch_decode(ids, skip_special_tokens=True)


def true_score(model, tokenizer, samples_per_topic: int) -> dict[str, float]:
    """Mean true reward of sampled (and of greedy) responses to every topic's prompt."""
    from aihf_control.llm.tiny import BEST_REWARD, TOPICS, make_prompt, true_reward

    prompts = [make_prompt(topic) for topic in TOPICS]
    sampled = sample_texts(model, tokenizer, prompts, num_samples=samples_per_topic)
    rewards = [true_reward(prompts[i // samples_per_topic], r) for i, r in enumerate(sampled)]
    greedy = sample_texts(model, tokenizer, prompts, greedy=True)
    return {
        "true_reward": statistics.mean(rewards),
        "true_reward_greedy": statistics.mean(true_reward(p, r) for p, r in zip(prompts, greedy, strict=True)),
        "optimal_fraction": sum(r == BEST_REWARD for r in rewards) / len(rewards),
        "example": f"{prompts[0]} -> {greedy[0]}",
    }


def train_method(s: Settings, method: str, base: Path, demos, prefs, seed: int, out: Path):
    """Train one method from the base; returns (policy, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if method == "sft":
        from aihf_control.llm.data import join_completion

        records = [
            {"prompt": p, "completion": join_completion(p, r)}
            for p, r in zip(demos.prompts, demos.responses, strict=True)
        ]
        tokenizer = AutoTokenizer.from_pretrained(str(base))
        model = AutoModelForCausalLM.from_pretrained(str(base))
        trainer = _sft(
            model, tokenizer, records, s.rounds * s.steps_per_round, s.pairs_per_step, s.learning_rate, seed, out
        )
        return trainer.model, tokenizer
    trainer = make_trainer(s, method, base, demos, prefs, seed, out)
    trainer.train()
    if method == "aihf-rm":
        return trainer.policy, trainer.tokenizer
    return trainer.accelerator.unwrap_model(trainer.model), trainer.processing_class


def time_steps(s: Settings, base: Path, demos, prefs, seed: int, out: Path) -> dict[str, float]:
    """Median wall time of one AIHF step and one TRL DPO step with the same number of pairs per step (the mean
    includes AIHF's per-round generation)."""
    out_times: dict[str, float] = {}
    for method in ("aihf", "dpo"):
        timer = StepTimer()
        trainer = make_trainer(s, method, base, demos, prefs, seed, out / f"timing-{method}", [timer.callback])
        trainer.args.max_steps = 3 + s.timing_steps
        trainer.train()
        times = timer.seconds[3:]  # after a warm-up of 3 steps
        out_times[f"{method}_step_seconds"] = statistics.median(times)
        out_times[f"{method}_mean_step_seconds"] = statistics.mean(times)
    out_times["step_ratio"] = out_times["aihf_step_seconds"] / out_times["dpo_step_seconds"]
    out_times["step_ratio_with_generation"] = out_times["aihf_mean_step_seconds"] / out_times["dpo_mean_step_seconds"]
    return out_times


def run(s: Settings) -> dict:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from aihf_control.llm import TextDemonstrations, TextPreferences
    from aihf_control.llm.tiny import make_demonstrations, make_preferences

    torch.set_num_threads(1)
    started = time.perf_counter()
    runs = []
    timing = None
    with tempfile.TemporaryDirectory() as tmp:
        for seed in s.seeds:
            base = pretrain_base(s, seed, Path(tmp) / f"base-{seed}")
            demo_records = make_demonstrations(s.num_demos, seed)
            demos = TextDemonstrations([r["prompt"] for r in demo_records], [r["response"] for r in demo_records])
            pref_records = make_preferences(max(s.num_prefs), seed + 1)
            all_prefs = TextPreferences(
                [r["prompt"] for r in pref_records],
                [r["chosen"] for r in pref_records],
                [r["rejected"] for r in pref_records],
            )
            from transformers import AutoModelForCausalLM, AutoTokenizer

            torch.manual_seed(seed)
            base_model = AutoModelForCausalLM.from_pretrained(str(base))
            score = true_score(base_model, AutoTokenizer.from_pretrained(str(base)), s.eval_samples)
            runs.append({"method": "base", "num_prefs": 0, "seed": seed, **score})
            print(f"seed {seed}: base model true reward {runs[-1]['true_reward']:.3f}", flush=True)
            for method in s.methods:
                budgets = s.num_prefs if method in USES_PREFERENCES else [0]
                for n in budgets:
                    start = time.perf_counter()
                    out = Path(tmp) / f"{method}-{n}-{seed}"
                    policy, tokenizer = train_method(s, method, base, demos, all_prefs.subset(n), seed, out)
                    torch.manual_seed(seed)
                    score = true_score(policy, tokenizer, s.eval_samples)
                    runs.append(
                        {
                            "method": method,
                            "num_prefs": n,
                            "seed": seed,
                            **score,
                            "seconds": time.perf_counter() - start,
                        }
                    )
                    print(
                        f"seed {seed}: {method:8s} prefs={n:4d} true reward {score['true_reward']:.3f} "
                        f"({runs[-1]['seconds']:.1f}s)  {score['example']}",
                        flush=True,
                    )
            if timing is None and s.timing_steps > 0:
                timing = time_steps(s, base, demos, all_prefs, seed, Path(tmp))
    summary = summarise(runs)
    return {
        "settings": asdict(s),
        "runs": runs,
        "summary": summary,
        "timing": timing,
        "seconds": time.perf_counter() - started,
        "versions": versions(),
    }


def summarise(runs: list[dict]) -> list[dict]:
    rows: dict[tuple[str, int], list[float]] = {}
    for r in runs:
        rows.setdefault((r["method"], r["num_prefs"]), []).append(r["true_reward"])
    return [
        {
            "method": m,
            "num_prefs": n,
            "true_reward_mean": statistics.mean(v),
            "true_reward_std": statistics.stdev(v) if len(v) > 1 else 0.0,
            "seeds": len(v),
        }
        for (m, n), v in rows.items()
    ]


def versions() -> dict[str, str]:
    import transformers
    import trl

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
    }


def table(result: dict) -> str:
    from aihf_control.llm.tiny import BEST_REWARD

    s = result["settings"]
    lines = [
        f"True reward of sampled responses (best {BEST_REWARD}; mean ± std over {len(s['seeds'])} seed(s)); "
        f"{s['num_demos']} demonstrations, {s['rounds']} rounds × {s['steps_per_round']} steps, "
        f"{s['pairs_per_step']} pairs per step",
        "",
        "| method | prefs | true reward |",
        "|---|---:|---:|",
    ]
    for row in result["summary"]:
        prefs = "-" if row["method"] in ("base", "sft") else str(row["num_prefs"])
        lines.append(f"| {row['method']} | {prefs} | {row['true_reward_mean']:.3f} ± {row['true_reward_std']:.3f} |")
    t = result["timing"]
    if t:
        lines += [
            "",
            f"one AIHF step / one DPO step ({s['pairs_per_step']} pairs each): {t['step_ratio']:.2f}× "
            f"({1e3 * t['aihf_step_seconds']:.1f} ms vs {1e3 * t['dpo_step_seconds']:.1f} ms; target ≤ 1.2×)",
            f"mean step with AIHF's per-round generation (every {s['steps_per_round']} steps): "
            f"{t['step_ratio_with_generation']:.2f}×",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict:
    s = settings_from(argv)
    result = run(s)
    out = Path(s.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print()
    print(table(result))
    print(f"\nresults: {out} ({result['seconds']:.0f}s)")
    return result


if __name__ == "__main__":
    main()
