"""aihf_control.llm on a tiny GPT-NeoX (Pythia's architecture) built offline in a temporary directory: JSONL
readers and TRL datasets, response log-probs under padding, generation, the TRL trainers (AIHFTrainer on
DPOTrainer; the reward-model path on RewardTrainer + RLOOTrainer) and the CLI. No hub downloads."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

import json

import pytest

pytest.importorskip("trl")

import torch

from aihf_control.llm import (
    AIHFConfig,
    AIHFTrainer,
    TextDemonstrations,
    TextPreferences,
    aihf_loss,
    demonstration_dataset,
    dpo_loss,
    generate_responses,
    pad_sequences,
    preference_dataset,
    read_demonstrations,
    read_preferences,
    reward_model_loss,
    sequence_logprobs,
    split_hh,
    tiny_dataset_paths,
)
from aihf_control.llm.logprobs import SequenceBatch, tokenize_prompts, tokenize_responses
from aihf_control.llm.tiny import build_tiny_model, make_prompt

torch.set_num_threads(1)

BETA = 0.5


def small_kwargs(tmp_path, **overrides) -> dict:
    """Settings of a quick CPU run (float32, no checkpoints, no reports), shared by TRL's configs and ours."""
    base = dict(
        output_dir=str(tmp_path / "out"),
        bf16=False,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        gradient_checkpointing=False,
        max_length=32,
        learning_rate=1e-2,
        beta=BETA,
        per_device_train_batch_size=4,
        logging_steps=1,
        seed=0,
    )
    return {**base, **overrides}


def small_config(tmp_path, **overrides) -> AIHFConfig:
    """A quick CPU AIHFConfig."""
    return AIHFConfig(**small_kwargs(tmp_path, **{"max_completion_length": 4, **overrides}))


@pytest.fixture(scope="module")
def tokenizer(tiny_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_dir))


@pytest.fixture
def model(tiny_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_dir)).eval()


@pytest.fixture(scope="module")
def demos() -> TextDemonstrations:
    return read_demonstrations(tiny_dataset_paths()["demos"])


@pytest.fixture(scope="module")
def prefs() -> TextPreferences:
    return read_preferences(tiny_dataset_paths()["prefs"])


def params_of(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


# ---------------------------------------------------------------------------- data


def test_shipped_tiny_data_reads_in_both_preference_forms(demos, prefs):
    paths = tiny_dataset_paths()
    assert len(demos) == 16 and len(prefs) == 16
    assert demos.prompts[0].startswith("tell me about") and demos.responses[0]
    assert prefs.labels == [1.0] * 16
    hh = read_preferences(paths["hh_prefs"])
    assert len(hh) == 8
    assert hh.prompts[0].startswith("\n\nHuman: tell me about") and hh.prompts[0].endswith("\n\nAssistant:")
    assert not hh.chosen[0].startswith("\n\nAssistant")
    assert read_demonstrations(paths["demos"], limit=3).prompts == demos.prompts[:3]


def test_split_hh_cuts_at_the_last_assistant_turn():
    dialogue = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?\n\nAssistant: bye"
    assert split_hh(dialogue) == ("\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?\n\nAssistant:", " bye")
    with pytest.raises(ValueError, match="not an HH dialogue"):
        split_hh("no turns here")


@pytest.mark.parametrize(
    "lines, reader, message",
    [
        (['{"prompt": "a", "response": "b"}', '{"prompt": "c"}'], read_demonstrations, r":2: missing field 'response'"),
        (['{"prompt": "a", "response": 3}'], read_demonstrations, r":1: field 'response' must be a string"),
        (["{not json"], read_demonstrations, r":1: not valid JSON"),
        (["[1, 2]"], read_demonstrations, r":1: expected a JSON object"),
        ([""], read_demonstrations, r"no demonstrations \(the file is empty\)"),
        (['{"prompt": "a", "chosen": "b"}'], read_preferences, r":1: missing field 'rejected'"),
        (['{"prompt": "a", "chosen": "b", "rejected": "c", "label": 2}'], read_preferences, r"'label' must be"),
        (['{"chosen": "x", "rejected": "y"}'], read_preferences, r":1: no 'prompt' field and not an HH dialogue"),
        (
            ['{"chosen": "\\n\\nHuman: a\\n\\nAssistant: b", "rejected": "\\n\\nHuman: z\\n\\nAssistant: b"}'],
            read_preferences,
            r"differ before their last",
        ),
        ([], read_preferences, r"no preference pairs"),
    ],
)
def test_readers_name_the_line_and_field_of_bad_records(tmp_path, lines, reader, message):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message):
        reader(path)


def test_reader_refuses_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_demonstrations(tmp_path / "absent.jsonl")


# ---------------------------------------------------------------------------- tokens and log-probs


def test_tokenising_adds_eos_and_keeps_the_end_of_long_prompts(tokenizer):
    (prompt,) = tokenize_prompts(tokenizer, ["tell me about cats"], max_prompt_length=2)
    assert tokenizer.convert_ids_to_tokens(prompt) == ["about", "cats"]
    (response,) = tokenize_responses(tokenizer, ["cats are great"])
    assert response[-1] == tokenizer.eos_token_id and len(response) == 4
    batch = pad_sequences([prompt], [response], tokenizer.pad_token_id, padding_side="left")
    assert batch.response_mask.tolist() == [[0, 0, 1, 1, 1, 1]]


def test_response_logprobs_are_padding_invariant_and_mask_the_prompt(model, tokenizer):
    prompts = tokenize_prompts(tokenizer, ["tell me about cats", "about dogs", "tell me about the fish fish"])
    responses = tokenize_responses(tokenizer, ["cats are great", "bad", "fish so very nice happy"])
    pad = tokenizer.pad_token_id
    # By hand: one unpadded sequence at a time, log-softmax of the full logits at the response positions.
    expected = []
    with torch.no_grad():
        for p, r in zip(prompts, responses, strict=True):
            ids = torch.tensor([p + r])
            logp = model(input_ids=ids).logits[0].log_softmax(-1)  # (T, V)
            expected.append(sum(logp[len(p) + j - 1, tok].item() for j, tok in enumerate(r)))
        right = sequence_logprobs(model, pad_sequences(prompts, responses, pad, "right"))
        left = sequence_logprobs(model, pad_sequences(prompts, responses, pad, "left"))
    torch.testing.assert_close(right, torch.tensor(expected), rtol=0, atol=1e-5)
    torch.testing.assert_close(left, torch.tensor(expected), rtol=0, atol=1e-5)


def test_left_padded_logprobs_have_finite_gradients(model, tokenizer):
    prompts = tokenize_prompts(tokenizer, ["tell me about cats", "cats"])
    responses = tokenize_responses(tokenizer, ["good", "so very nice happy"])
    sequence_logprobs(model, pad_sequences(prompts, responses, tokenizer.pad_token_id, "left")).sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_batched_left_padded_generation_matches_one_prompt_at_a_time(model, tokenizer):
    prompts = tokenize_prompts(tokenizer, ["tell me about cats", "dogs", "tell me about fish"])
    kwargs = dict(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, max_new_tokens=6)
    batched = generate_responses(model, prompts, do_sample=False, batch_size=3, **kwargs)
    single = [generate_responses(model, [p], do_sample=False, **kwargs)[0] for p in prompts]
    assert batched == single
    for response in batched:
        assert 1 <= len(response) <= 6
        assert tokenizer.eos_token_id not in response[:-1], "responses are cut after their first EOS"
    samples = generate_responses(model, prompts[:2], num_samples=3, **kwargs)
    assert len(samples) == 6


def test_trl_datasets_join_prompt_and_completion_with_one_space(prefs, demos, tokenizer):
    ds = preference_dataset(prefs)
    assert ds.column_names == ["prompt", "chosen", "rejected", "label"]
    assert ds[0]["chosen"] == " " + prefs.chosen[0] and ds[0]["label"] == 1.0
    hh = preference_dataset(read_preferences(tiny_dataset_paths()["hh_prefs"]))
    assert hh[0]["prompt"].endswith("Assistant:") and hh[0]["chosen"].startswith(" ") and hh[0]["chosen"][1] != " "
    demo_ds = demonstration_dataset(demos)
    assert demo_ds.column_names == ["prompt", "completion"]
    # The word-level tokenizer splits the joined text into known words only (no <unk> from fused words).
    ids = tokenizer(demo_ds[0]["prompt"] + demo_ds[0]["completion"])["input_ids"]
    assert tokenizer.unk_token_id not in ids


# ---------------------------------------------------------------------------- AIHF = DPO + demonstration pairs


def _dpo_trainer(tiny_dir, tokenizer, prefs, tmp_path, **overrides):
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**small_kwargs(tmp_path, output_dir=str(tmp_path / "dpo"), **overrides))
    return DPOTrainer(str(tiny_dir), args=args, train_dataset=preference_dataset(prefs), processing_class=tokenizer)


def _batch(trainer, n: int = 4) -> dict:
    rows = [trainer.train_dataset[i] for i in range(n)]
    return trainer._pair_collator(rows) if hasattr(trainer, "_pair_collator") else trainer.data_collator(rows)


def test_demo_weight_zero_loss_equals_trls_dpo_loss_on_identical_logits(tiny_dir, tokenizer, prefs, demos, tmp_path):
    dpo = _dpo_trainer(tiny_dir, tokenizer, prefs, tmp_path)
    batch = _batch(dpo)
    with torch.no_grad():
        trl_loss = dpo.compute_loss(dpo.model, dict(batch))
        # The same sequences' log-probs from the full logits, then the package's pure loss with demo_weight=0.
        seqs = SequenceBatch(batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
        policy = sequence_logprobs(dpo.model, seqs).chunk(2)
        reference = sequence_logprobs(dpo.ref_model, seqs).chunk(2)
    ours = aihf_loss(None, (policy[0], policy[1], reference[0], reference[1]), beta=BETA, demo_weight=0.0)
    assert abs(trl_loss.item() - ours.item()) < 1e-5
    assert abs(trl_loss.item() - dpo_loss(policy[0], policy[1], reference[0], reference[1], BETA).item()) < 1e-5

    # AIHFTrainer's own (AIHF-path) loss on the same preference pairs is TRL's DPO loss too.
    aihf = AIHFTrainer(
        str(tiny_dir),
        args=small_config(tmp_path),
        train_dataset=preference_dataset(prefs),
        demo_dataset=demonstration_dataset(demos),
        processing_class=tokenizer,
    )
    assert aihf._aihf_path
    inputs = {**_batch(dpo), "preference_labels": torch.ones(4), "num_preference_pairs": 4}
    with torch.no_grad():
        aihf_path_loss = aihf.compute_loss(aihf.model, inputs)
    assert abs(trl_loss.item() - aihf_path_loss.item()) < 1e-5


def test_demo_weight_zero_trains_exactly_as_trls_dpo_trainer(tiny_dir, tokenizer, prefs, tmp_path):
    dpo = _dpo_trainer(tiny_dir, tokenizer, prefs, tmp_path, max_steps=3)
    dpo.train()
    aihf = AIHFTrainer(
        str(tiny_dir),
        args=small_config(tmp_path, max_steps=3, demo_weight=0.0),
        train_dataset=preference_dataset(prefs),
        processing_class=tokenizer,
    )
    assert not aihf._aihf_path, "demo_weight=0 with hard labels runs DPOTrainer's own collator and loss"
    before = params_of(aihf.model)
    aihf.train()
    assert changed(before, aihf.model)
    for p, q in zip(dpo.model.parameters(), aihf.model.parameters(), strict=True):
        assert torch.equal(p, q)
    losses = [row["loss"] for row in aihf.state.log_history if "loss" in row]
    assert losses == [row["loss"] for row in dpo.state.log_history if "loss" in row]


def test_aihf_trains_in_rounds_and_regenerates_the_policys_samples(tiny_dir, tokenizer, prefs, demos, tmp_path):
    config = small_config(tmp_path, rounds=2, steps_per_round=2, demo_batch_size=3)
    trainer = AIHFTrainer(
        str(tiny_dir),
        args=config,
        train_dataset=preference_dataset(prefs),
        demo_dataset=demonstration_dataset(demos),
        processing_class=tokenizer,
    )
    before = params_of(trainer.model)
    seen = []
    original = trainer._new_round

    def spy():
        original()
        seen.append([list(s) for s in trainer._generated_ids])

    trainer._new_round = spy
    trainer.train()
    assert trainer.state.global_step == 4 and trainer.round == 2 and len(seen) == 2
    assert all(len(samples) == len(demos) for samples in seen)
    assert all(1 <= len(s) <= 4 for s in seen[0])
    assert changed(before, trainer.model)
    logs = [row for row in trainer.state.log_history if "loss" in row]
    assert len(logs) == 4
    for row in logs:
        assert torch.isfinite(torch.tensor(row["loss"]))
        # loss = demo term + preference term (weights 1)
        assert row["loss"] == pytest.approx(row["aihf/demo_loss"] + row["aihf/preference_loss"], rel=1e-5)


def test_refresh_reference_makes_the_reference_the_policy_after_each_round(tiny_dir, tokenizer, prefs, demos, tmp_path):
    config = small_config(tmp_path, rounds=1, steps_per_round=2, refresh_reference=True)
    assert config.sync_ref_model and config.ref_model_mixup_alpha == 1.0 and config.ref_model_sync_steps == 2
    trainer = AIHFTrainer(
        str(tiny_dir),
        args=config,
        train_dataset=preference_dataset(prefs),
        demo_dataset=demonstration_dataset(demos),
        processing_class=tokenizer,
    )
    reference_before = params_of(trainer.ref_model)
    trainer.train()
    assert changed(reference_before, trainer.ref_model)
    for p, q in zip(trainer.model.parameters(), trainer.ref_model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_spin_alone_is_driven_by_the_demonstrations(tiny_dir, tokenizer, demos, tmp_path):
    trainer = AIHFTrainer(
        str(tiny_dir),
        args=small_config(tmp_path, preference_weight=0.0, max_steps=2),
        demo_dataset=demonstration_dataset(demos),
        processing_class=tokenizer,
    )
    before = params_of(trainer.model)
    trainer.train()
    assert changed(before, trainer.model)
    logs = [row for row in trainer.state.log_history if "loss" in row]
    assert all("aihf/demo_loss" in row and "aihf/preference_loss" not in row for row in logs)


def test_soft_labels_take_the_aihf_path_with_demo_weight_zero(tiny_dir, tokenizer, prefs, tmp_path):
    soft = TextPreferences(prefs.prompts, prefs.chosen, prefs.rejected, [0.75] * len(prefs))
    trainer = AIHFTrainer(
        str(tiny_dir),
        args=small_config(tmp_path, demo_weight=0.0, max_steps=1),
        train_dataset=preference_dataset(soft),
        processing_class=tokenizer,
    )
    assert trainer._aihf_path
    rows = [trainer.train_dataset[i] for i in range(4)]
    inputs = trainer._prepare_inputs(rows)
    assert inputs["preference_labels"].tolist() == [0.75] * 4
    trainer.train()
    assert torch.isfinite(torch.tensor(trainer.state.log_history[0]["loss"]))


def test_same_seed_same_policy(tiny_dir, tokenizer, prefs, demos, tmp_path):
    def run() -> list[torch.Tensor]:
        trainer = AIHFTrainer(
            str(tiny_dir),
            args=small_config(tmp_path, rounds=2, steps_per_round=1, seed=7),
            train_dataset=preference_dataset(prefs),
            demo_dataset=demonstration_dataset(demos),
            processing_class=tokenizer,
        )
        trainer.train()
        return params_of(trainer.model)

    assert all(torch.equal(a, b) for a, b in zip(run(), run(), strict=True))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(beta=0.0), "beta must be > 0"),
        (dict(demo_weight=0.0, preference_weight=0.0), "both 0"),
        (dict(demo_weight=-1.0), "demo_weight must be >= 0"),
        (dict(rounds=2), "rounds needs steps_per_round"),
        (dict(rounds=2, steps_per_round=3, max_steps=5), "contradicts"),
        (dict(temperature=0.0), "temperature must be > 0"),
        (dict(steps_per_round=0), "steps_per_round must be >= 1"),
        (dict(refresh_reference=True, sync_ref_model=True, ref_model_mixup_alpha=0.5), "mixup_alpha"),
    ],
)
def test_config_refuses_bad_settings(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        small_config(tmp_path, **overrides)


def test_trainer_refuses_missing_data_and_unsupported_loss_options(tiny_dir, tokenizer, prefs, demos, tmp_path):
    with pytest.raises(ValueError, match="needs a demo_dataset"):
        AIHFTrainer(str(tiny_dir), args=small_config(tmp_path), train_dataset=preference_dataset(prefs))
    with pytest.raises(ValueError, match="needs a train_dataset"):
        AIHFTrainer(str(tiny_dir), args=small_config(tmp_path), demo_dataset=demonstration_dataset(demos))
    with pytest.raises(ValueError, match=r"not supported here.*ipo"):
        AIHFTrainer(
            str(tiny_dir),
            args=small_config(tmp_path, loss_type=["ipo"]),
            train_dataset=preference_dataset(prefs),
            demo_dataset=demonstration_dataset(demos),
            processing_class=tokenizer,
        )
    with pytest.raises(ValueError, match="prompt-completion"):
        AIHFTrainer(
            str(tiny_dir),
            args=small_config(tmp_path),
            train_dataset=preference_dataset(prefs),
            demo_dataset=preference_dataset(prefs),
            processing_class=tokenizer,
        )
    with pytest.raises(TypeError, match="AIHFConfig"):
        from trl import DPOConfig

        AIHFTrainer(str(tiny_dir), args=DPOConfig(**small_kwargs(tmp_path)), train_dataset=preference_dataset(prefs))


# ---------------------------------------------------------------------------- reward-model path


def test_aihf_reward_loss_is_the_joint_bradley_terry_loss_and_trls_without_demos(tiny_dir, tokenizer, prefs, tmp_path):
    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer

    from aihf_control.llm import AIHFRewardTrainer

    args = RewardConfig(
        output_dir=str(tmp_path / "rm"), bf16=False, use_cpu=True, report_to="none", gradient_checkpointing=False
    )
    rows = preference_dataset(prefs).select(range(4)).to_dict()
    rows["pair_kind"] = [0, 1, 0, 1]
    rows["label"] = [1.0, 1.0, 0.75, 1.0]
    ours = AIHFRewardTrainer(
        model=build_tiny_model(num_labels=1, seed=1),
        args=args,
        train_dataset=Dataset.from_dict(rows),
        processing_class=tokenizer,
        demo_weight=2.0,
        preference_weight=0.5,
    )
    examples = [ours.train_dataset[i] for i in range(4)]
    batch = ours.data_collator(examples)
    with torch.no_grad():
        scores = ours.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
        chosen, rejected = scores.chunk(2)
        expected = reward_model_loss(
            chosen[[1, 3]], rejected[[1, 3]], chosen[[0, 2]], rejected[[0, 2]], torch.tensor([1.0, 0.75]), 2.0, 0.5
        )
        assert ours.compute_loss(ours.model, dict(batch)).item() == pytest.approx(expected.item(), rel=1e-6)
        # Preferences only, labels 1, demo_weight 0: TRL's reward loss.
        trl = RewardTrainer(
            model=ours.model, args=args, train_dataset=Dataset.from_dict(rows), processing_class=tokenizer
        )
        pref_batch = ours.data_collator([examples[0], examples[0]])
        ours.demo_weight, ours.preference_weight = 0.0, 1.0
        trl_loss = trl.compute_loss(trl.model, {k: pref_batch[k] for k in ("input_ids", "attention_mask")})
        assert ours.compute_loss(ours.model, dict(pref_batch)).item() == pytest.approx(trl_loss.item(), rel=1e-6)


def test_reward_model_path_trains_both_models_a_round(tiny_dir, tokenizer, prefs, demos, tmp_path):
    from trl import RewardConfig, RLOOConfig

    from aihf_control.llm import RewardModelAIHF, RewardModelAIHFConfig

    common = dict(bf16=False, use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True)
    common.update(gradient_checkpointing=False, logging_steps=1, learning_rate=1e-2)
    config = RewardModelAIHFConfig(
        reward=RewardConfig(output_dir=str(tmp_path / "rm"), max_steps=2, per_device_train_batch_size=4, **common),
        policy=RLOOConfig(
            output_dir=str(tmp_path / "pol"),
            max_steps=2,
            per_device_train_batch_size=4,
            num_generations=2,
            max_completion_length=4,
            **common,
        ),
    )
    runner = RewardModelAIHF(
        str(tiny_dir),
        build_tiny_model(num_labels=1, seed=1),
        tokenizer,
        config,
        demonstration_dataset(demos),
        preference_dataset(prefs),
    )
    policy_before, reward_before = params_of(runner.policy), params_of(runner.reward_model)
    (summary,) = runner.train()
    assert summary["round"] == 1 and torch.isfinite(torch.tensor(summary["reward_loss"]))
    assert changed(policy_before, runner.policy) and changed(reward_before, runner.reward_model)
    kinds = runner.reward_dataset()["pair_kind"]
    assert kinds.count(1) == len(demos) and kinds.count(0) == len(prefs)
    with pytest.raises(ValueError, match="both 0"):
        RewardModelAIHFConfig(reward=config.reward, policy=config.policy, demo_weight=0.0, preference_weight=0.0)


# ---------------------------------------------------------------------------- command line


def _cli_argv(tiny_dir, tmp_path) -> list[str]:
    argv = ["--output_dir", str(tmp_path / "cli"), "--use_cpu", "--bf16", "false", "--report_to", "none"]
    argv += ["--save_strategy", "no", "--disable_tqdm", "true", "--gradient_checkpointing", "false"]
    return ["--policy", str(tiny_dir), *argv, "--max_length", "32", "--max_completion_length", "4"]


def test_cli_help_lists_aihf_and_trl_options(capsys):
    from aihf_control.llm.train import main

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for option in ("--demo_weight", "--steps_per_round", "--reward_model", "--per_device_train_batch_size", "--beta"):
        assert option in text, option


def test_cli_trains_from_jsonl_and_saves_the_policy(tiny_dir, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    from aihf_control.llm.train import main

    paths = tiny_dataset_paths()
    argv = [*_cli_argv(tiny_dir, tmp_path), "--demos", str(paths["demos"]), "--prefs", str(paths["hh_prefs"])]
    argv += ["--rounds", "2", "--steps-per-round", "1", "--learning_rate", "1e-3", "--sample_prompts", "2"]
    argv += ["--logging_steps", "1"]
    history = main(argv)
    assert [row["step"] for row in history if "loss" in row] == [1, 2]
    assert AutoModelForCausalLM.from_pretrained(str(tmp_path / "cli")) is not None
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"prompt"')]
    assert len(answers) == 2 and answers[0]["prompt"] == make_prompt("fish")


def test_cli_refuses_missing_data_and_bad_files(tiny_dir, tmp_path, capsys):
    from aihf_control.llm.train import main

    argv = _cli_argv(tiny_dir, tmp_path)
    with pytest.raises(SystemExit):
        main(argv)
    assert "pass --demos, --prefs, or both" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--prefs", str(tiny_dataset_paths()["prefs"])])
    assert "--demo_weight > 0 needs --demos" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    with pytest.raises(SystemExit):
        main([*argv, "--demos", str(bad), "--preference_weight", "0"])
    assert "bad.jsonl:1: missing field 'response'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--demos", str(tiny_dataset_paths()["demos"]), "--preference_weight", "0", "--beta", "0"])
    assert "beta must be > 0" in capsys.readouterr().err


def test_benchmark_smoke_writes_results_and_a_table(tmp_path, capsys):
    from benchmarks.llm import main as benchmark_main

    out = tmp_path / "llm.json"
    argv = ["--num-prefs", "4", "--seeds", "0", "--rounds", "1", "--steps-per-round", "2", "--pretrain-steps", "2"]
    argv += ["--eval-samples", "2", "--timing-steps", "2", "--hidden-size", "16", "--out", str(out)]
    result = benchmark_main(argv)
    saved = json.loads(out.read_text())
    assert {(r["method"], r["num_prefs"]) for r in saved["runs"]} == {("base", 0), ("aihf", 4), ("dpo", 4), ("sft", 0)}
    assert saved["timing"]["step_ratio"] > 0 and result["summary"] == saved["summary"]
    assert saved["versions"]["trl"]
    assert "| aihf | 4 |" in capsys.readouterr().out
