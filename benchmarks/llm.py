"""AIHF against DPO-only and SFT on a tiny offline language model, where the true reward is known.

    python -m benchmarks.llm                      # default: a few minutes on CPU
    python -m benchmarks.llm --num-prefs 16 64 256 --seeds 0 1 2 --out runs/llm/results.json

The task (:mod:`aihf_control.llm.tiny`): the prompt asks about a topic ("tell me about cats"); a response of at
most 4 words scores +1 for naming the topic, -1 for naming another topic and ±0.25 per positive/negative word
(best 1.75). Demonstrations are the rule's best responses; preference pairs are two uniformly random responses
labelled by the rule. All methods start from the same "pretrained" base, a tiny GPT-NeoX fitted (SFT) to
random responses, which is also the frozen reference; each gets the same number of rounds and steps, and the
same number of sequence pairs per step:

  aihf     demonstrations (SPIN form: demo ≻ own sample) + preferences (DPO form), half the batch each
  dpo      preferences only (DPO), the whole batch
  sft      supervised fine-tuning on the demonstrations only (no preferences)
  aihf-rm  optional: the reward-model path (Bradley–Terry reward model on both kinds of feedback + RLOO)

The score is the mean true reward of sampled responses (temperature 1) to every topic's prompt. The benchmark
also times one AIHF optimiser step against one DPO step with the same number of pairs (target ≤ 1.2×) and
reports the per-round generation AIHF needs in addition, amortised over the round's steps. Results go to a
JSON file; a table is printed.

``python -m benchmarks.llm`` (defaults, 3 seeds, 47 s on a busy 2-core CPU; true reward, mean ± std):

| method | 16 prefs | 64 prefs | 256 prefs |
|---|---:|---:|---:|
| base (reference) | -0.23 ± 0.05 | | |
| aihf | 0.36 ± 0.25 | 0.44 ± 0.11 | 0.77 ± 0.13 |
| dpo | 0.07 ± 0.11 | 0.34 ± 0.41 | 0.53 ± 0.25 |
| sft (no prefs) | 1.74 ± 0.00 | | |

AIHF beats DPO at every budget; SFT on the rule's best responses is near the optimum 1.75 on this task, where
the demonstrations are optimal and the contrastive demonstration term uses them less efficiently than likelihood.
One AIHF step costs 1.02× one DPO step with the same pairs (1.04× with its generation amortised).
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


def _config(s: Settings, **overrides):
    from aihf_control.llm import AIHFConfig

    base = dict(
        beta=s.beta,
        learning_rate=s.learning_rate,
        rounds=s.rounds,
        steps_per_round=s.steps_per_round,
        refresh_reference=s.refresh_reference,
        max_prompt_length=16,
        max_length=32,
        max_new_tokens=5,
        generation_batch_size=256,
        eval_batch_size=256,
        device="cpu",
        log_every=0,
    )
    return AIHFConfig(**{**base, **overrides})


def pretrain_base(s: Settings, seed: int, directory: Path) -> Path:
    """The shared starting point: a tiny GPT-NeoX fitted to uniformly random responses (a 'pretrained' LM
    that answers in the task's format but knows nothing of the reward)."""
    from aihf_control.llm import AIHFTrainer, TextDemonstrations
    from aihf_control.llm.tiny import TOPICS, build_tiny_model, build_tiny_tokenizer, make_prompt, random_response

    rng = random.Random(10_000 + seed)
    noise = [(make_prompt(rng.choice(TOPICS)), random_response(rng)) for _ in range(512)]
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_model(hidden_size=s.hidden_size, num_layers=s.num_layers, num_heads=4, seed=seed)
    config = _config(
        s,
        demo_weight=0.0,
        preference_weight=0.0,
        sft_weight=1.0,
        rounds=1,
        steps_per_round=s.pretrain_steps,
        refresh_reference=False,
        demo_batch_size=32,
        seed=seed,
    )
    trainer = AIHFTrainer(model, tokenizer, TextDemonstrations(*map(list, zip(*noise, strict=True))), None, config)
    trainer.train()
    trainer.policy.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def method_config(s: Settings, method: str, seed: int):
    half = s.pairs_per_step // 2
    if method == "aihf":
        return _config(s, demo_batch_size=half, preference_batch_size=half, seed=seed)
    if method == "dpo":
        return _config(s, demo_weight=0.0, preference_batch_size=s.pairs_per_step, seed=seed)
    if method == "sft":
        return _config(
            s, demo_weight=0.0, preference_weight=0.0, sft_weight=1.0, demo_batch_size=s.pairs_per_step, seed=seed
        )
    if method == "aihf-rm":
        return _config(
            s,
            demo_batch_size=half,
            preference_batch_size=half,
            reward_learning_rate=s.learning_rate,
            reward_steps=s.steps_per_round,
            policy_steps=s.steps_per_round,
            rloo_prompts=half // 2,
            rloo_k=4,
            kl_coef=0.05,
            seed=seed,
        )
    raise ValueError(method)


def make_trainer(s: Settings, method: str, base: Path, demos, prefs, seed: int):
    from aihf_control.llm import AIHFTrainer, RewardModelAIHFTrainer
    from aihf_control.llm.tiny import build_tiny_model

    config = method_config(s, method, seed)
    use_demos = method != "dpo"
    use_prefs = method in USES_PREFERENCES
    if method == "aihf-rm":
        reward_model = build_tiny_model(
            hidden_size=s.hidden_size, num_layers=s.num_layers, num_heads=4, seed=seed + 1, num_labels=1
        )
        return RewardModelAIHFTrainer(
            str(base), reward_model, None, demos if use_demos else None, prefs if use_prefs else None, config
        )
    return AIHFTrainer(str(base), None, demos if use_demos else None, prefs if use_prefs else None, config)


def true_score(trainer, samples_per_topic: int) -> dict[str, float]:
    """Mean true reward of sampled (and of greedy) responses to every topic's prompt."""
    from aihf_control.llm.tiny import BEST_REWARD, TOPICS, make_prompt, true_reward

    prompts = [make_prompt(topic) for topic in TOPICS]
    sampled = trainer.generate_text(prompts, num_samples=samples_per_topic)
    rewards = [true_reward(prompts[i // samples_per_topic], r) for i, r in enumerate(sampled)]
    greedy = trainer.generate_text(prompts, greedy=True)
    return {
        "true_reward": statistics.mean(rewards),
        "true_reward_greedy": statistics.mean(true_reward(p, r) for p, r in zip(prompts, greedy, strict=True)),
        "optimal_fraction": sum(r == BEST_REWARD for r in rewards) / len(rewards),
        "example": f"{prompts[0]} -> {greedy[0]}",
    }


def time_steps(s: Settings, base: Path, demos, prefs, seed: int) -> dict[str, float]:
    """Median wall time of one AIHF step and one DPO step with the same number of pairs per step, and the
    time AIHF's per-round generation adds per step."""
    out: dict[str, float] = {}
    for method in ("aihf", "dpo"):
        trainer = make_trainer(s, method, base, demos, prefs, seed)
        prep = trainer.prepare_round()
        demo_sampler, pref_sampler = trainer.samplers()
        for _ in range(3):  # warm-up
            trainer.train_step(demo_sampler, pref_sampler)
        times = []
        for _ in range(s.timing_steps):
            start = time.perf_counter()
            trainer.train_step(demo_sampler, pref_sampler)
            times.append(time.perf_counter() - start)
        out[f"{method}_step_seconds"] = statistics.median(times)
        out[f"{method}_round_overhead_seconds"] = prep["generation_seconds"] + prep["reference_seconds"]
    out["step_ratio"] = out["aihf_step_seconds"] / out["dpo_step_seconds"]
    per_step = {
        m: out[f"{m}_step_seconds"] + out[f"{m}_round_overhead_seconds"] / s.steps_per_round for m in ("aihf", "dpo")
    }
    out["step_ratio_with_generation"] = per_step["aihf"] / per_step["dpo"]
    return out


def run(s: Settings) -> dict:
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
            base_trainer = make_trainer(s, "sft", base, demos, None, seed)
            torch.manual_seed(seed)
            runs.append({"method": "base", "num_prefs": 0, "seed": seed, **true_score(base_trainer, s.eval_samples)})
            print(f"seed {seed}: base model true reward {runs[-1]['true_reward']:.3f}", flush=True)
            for method in s.methods:
                budgets = s.num_prefs if method in USES_PREFERENCES else [0]
                for n in budgets:
                    start = time.perf_counter()
                    trainer = make_trainer(s, method, base, demos, all_prefs.subset(n), seed)
                    trainer.train()
                    torch.manual_seed(seed)
                    score = true_score(trainer, s.eval_samples)
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
                timing = time_steps(s, base, demos, all_prefs, seed)
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

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}


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
            f"including AIHF's per-round generation amortised over {s['steps_per_round']} steps: "
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
