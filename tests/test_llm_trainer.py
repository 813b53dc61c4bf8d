"""aihf_control.llm on a tiny GPT-NeoX (Pythia's architecture) built offline in a temporary directory:
JSONL readers, response log-probs under padding, generation, both trainers, checkpoints and the CLI."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

import torch

from aihf_control.llm import (
    AIHFConfig,
    AIHFTrainer,
    RewardModelAIHFTrainer,
    TextDemonstrations,
    TextPreferences,
    dpo_loss,
    generate_responses,
    latest_checkpoint,
    load_checkpoint,
    load_reward_checkpoint,
    pad_sequences,
    read_demonstrations,
    read_preferences,
    sequence_logprobs,
    sequence_scores,
    split_hh,
    tiny_dataset_paths,
)
from aihf_control.llm.logprobs import tokenize_prompts, tokenize_responses
from aihf_control.llm.tiny import build_tiny_model, build_tiny_tokenizer, make_prompt

torch.set_num_threads(1)

SMALL = dict(
    max_prompt_length=16,
    max_length=32,
    max_new_tokens=5,
    learning_rate=1e-2,
    reward_learning_rate=1e-2,
    device="cpu",
    log_every=0,
)


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


# ---------------------------------------------------------------------------- the direct trainer


def test_a_few_aihf_steps_change_the_policy_and_lower_the_loss(tiny_dir, demos, prefs):
    trainer = AIHFTrainer(str(tiny_dir), None, demos, prefs, AIHFConfig(**SMALL, beta=0.5))
    trainer.prepare_round()
    everything = (list(range(len(demos))), list(range(len(prefs))))
    with torch.no_grad():
        before = trainer.loss_on(*everything)
    assert before["loss"].item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item(), abs=1e-5), (
        "policy = reference: both terms are log 2"
    )
    params = params_of(trainer.policy)
    demo_sampler, pref_sampler = trainer.samplers()
    for _ in range(8):
        row = trainer.train_step(demo_sampler, pref_sampler)
        assert all(torch.isfinite(torch.tensor(v)) for v in row.values())
    with torch.no_grad():
        after = trainer.loss_on(*everything)
    assert changed(params, trainer.policy)
    assert not changed(params_of(trainer.reference), trainer.reference) and torch.equal(
        params[0], next(trainer.reference.parameters())
    ), "the reference stays frozen"
    assert after["loss"] < before["loss"] - 0.05
    assert after["demo_loss"] < before["demo_loss"] and after["preference_loss"] < before["preference_loss"]


def test_with_demo_weight_zero_the_trainer_computes_exactly_dpo(tiny_dir, prefs):
    config = AIHFConfig(**SMALL, beta=0.3, demo_weight=0.0)
    trainer = AIHFTrainer(str(tiny_dir), None, None, prefs, config)
    trainer.prepare_round()
    assert trainer.generated_ids == [], "DPO needs no generation"
    with torch.no_grad():
        for p in trainer.policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    index = [0, 3, 5]
    terms = trainer.loss_on(None, index)
    pad = trainer.pad_id
    with torch.no_grad():
        policy = [
            sequence_logprobs(trainer.policy, pad_sequences([trainer.pref_prompt_ids[i] for i in index], ids, pad))
            for ids in ([trainer.chosen_ids[i] for i in index], [trainer.rejected_ids[i] for i in index])
        ]
        reference = [
            sequence_logprobs(trainer.reference, pad_sequences([trainer.pref_prompt_ids[i] for i in index], ids, pad))
            for ids in ([trainer.chosen_ids[i] for i in index], [trainer.rejected_ids[i] for i in index])
        ]
    expected = dpo_loss(policy[0], policy[1], reference[0], reference[1], beta=0.3)
    assert terms["loss"].item() == pytest.approx(expected.item(), abs=1e-6)
    assert "demo_loss" not in terms


def test_rounds_checkpoint_atomically_and_load_back(tiny_dir, demos, prefs, tmp_path):
    out = tmp_path / "run"
    config = AIHFConfig(**SMALL, rounds=2, steps_per_round=2, refresh_reference=True, output_dir=str(out))
    trainer = AIHFTrainer(str(tiny_dir), None, demos, prefs, config)
    summaries = trainer.train()
    assert [s["round"] for s in summaries] == [1, 2] and all(s["steps"] == 2 for s in summaries)
    assert sorted(p.name for p in out.iterdir()) == ["round-001", "round-002"], "no temporary directory is left"
    assert latest_checkpoint(out) == out / "round-002"
    assert (out / "round-002" / "model.safetensors").is_file()
    policy, tokenizer, state = load_checkpoint(out / "round-002")
    assert state["round"] == 2 and state["config"]["refresh_reference"] is True
    for p, q in zip(policy.parameters(), trainer.policy.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    for p, q in zip(trainer.reference.parameters(), trainer.policy.parameters(), strict=True):
        assert torch.equal(p, q), "refresh_reference: the reference is the last round's policy"
    assert tokenizer("tell me about cats")["input_ids"] == trainer.tokenizer("tell me about cats")["input_ids"]
    trainer.save_checkpoint(out / "round-002")  # overwriting an existing checkpoint works
    assert sorted(p.name for p in out.iterdir()) == ["round-001", "round-002"]


def test_sft_only_and_gradient_accumulation(tiny_dir, demos):
    config = AIHFConfig(
        **SMALL,
        demo_weight=0.0,
        preference_weight=0.0,
        sft_weight=1.0,
        steps_per_round=3,
        gradient_accumulation_steps=2,
    )
    trainer = AIHFTrainer(str(tiny_dir), None, demos, None, config)
    (summary,) = trainer.train()
    assert summary["steps"] == 3 and len(trainer.history) == 3
    assert trainer.history[-1]["sft_loss"] < trainer.history[0]["sft_loss"]


def test_a_tokenizer_without_pad_token_pads_with_eos(tiny_dir, demos, prefs):
    tok = build_tiny_tokenizer()
    tok.pad_token = None
    assert tok.pad_token_id is None
    trainer = AIHFTrainer(build_tiny_model(), tok, demos, prefs, AIHFConfig(**SMALL, steps_per_round=1))
    assert tok.pad_token_id == tok.eos_token_id == trainer.pad_id
    trainer.train()


@pytest.mark.parametrize(
    "kwargs, data, message",
    [
        (dict(beta=-1.0), "both", "beta must be > 0"),
        (dict(demo_weight=0.0, preference_weight=0.0), "both", "all 0"),
        (dict(mixed_precision="fp8"), "both", "mixed_precision"),
        (dict(max_prompt_length=64, max_length=32), "both", "max_prompt_length"),
        ({}, "prefs-only", "needs demonstrations"),
        ({}, "demos-only", "needs preferences"),
        ({}, "empty-demos", "demonstrations are empty"),
    ],
)
def test_trainer_refuses_impossible_settings(tiny_dir, demos, prefs, kwargs, data, message):
    with pytest.raises(ValueError, match=message):
        config = AIHFConfig(**{**SMALL, **kwargs})
        d = {"both": demos, "prefs-only": None, "demos-only": demos, "empty-demos": TextDemonstrations([], [])}[data]
        p = None if data == "demos-only" else prefs
        AIHFTrainer(str(tiny_dir), None, d, p, config)


# ---------------------------------------------------------------------------- the reward-model path


def test_reward_scores_are_padding_invariant(tokenizer):
    reward_model = build_tiny_model(num_labels=1, seed=3)
    prompts = tokenize_prompts(tokenizer, ["tell me about cats", "dogs"])
    responses = tokenize_responses(tokenizer, ["cats great", "so very bad awful"])
    with torch.no_grad():
        left = sequence_scores(reward_model, pad_sequences(prompts, responses, tokenizer.pad_token_id, "left"))
        right = sequence_scores(reward_model, pad_sequences(prompts, responses, tokenizer.pad_token_id, "right"))
        alone = torch.cat(
            [
                sequence_scores(reward_model, pad_sequences([p], [r], tokenizer.pad_token_id))
                for p, r in zip(prompts, responses, strict=True)
            ]
        )
    torch.testing.assert_close(left, alone, rtol=0, atol=1e-5)
    torch.testing.assert_close(right, alone, rtol=0, atol=1e-5)


def test_reward_model_path_trains_both_models_and_checkpoints_the_reward_model(tiny_dir, demos, prefs, tmp_path):
    reward_model = build_tiny_model(num_labels=1, seed=1)
    config = AIHFConfig(**SMALL, reward_steps=3, policy_steps=2, rloo_k=2, rloo_prompts=2, output_dir=str(tmp_path))
    trainer = RewardModelAIHFTrainer(str(tiny_dir), reward_model, None, demos, prefs, config)
    policy_before, reward_before = params_of(trainer.policy), params_of(trainer.reward_model)
    (summary,) = trainer.train()
    assert changed(policy_before, trainer.policy) and changed(reward_before, trainer.reward_model)
    assert len(trainer.history) == 5
    assert trainer.history[3]["kl"] == pytest.approx(0.0, abs=1e-5), "the first RLOO step starts at π = π_ref"
    assert {"reward_loss", "reward_demo_accuracy", "reward_preference_accuracy", "policy_loss", "kl"} <= set(summary)
    loaded = load_reward_checkpoint(tmp_path / "round-001")
    for p, q in zip(loaded.parameters(), trainer.reward_model.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_reward_model_loss_falls_over_reward_steps(tiny_dir, demos, prefs):
    config = AIHFConfig(**SMALL, reward_steps=12, policy_steps=1, rloo_prompts=1)
    trainer = RewardModelAIHFTrainer(str(tiny_dir), build_tiny_model(num_labels=1, seed=2), None, demos, prefs, config)
    trainer.train()
    losses = [row["reward_loss"] for row in trainer.history if "reward_loss" in row]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3


# ---------------------------------------------------------------------------- command line


def test_cli_help_documents_the_pythia_models(capsys):
    from aihf_control.llm.train import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "EleutherAI/pythia-1b" in text and "--demo-weight" in text and "--reward-model" in text


def test_cli_trains_from_jsonl_and_writes_checkpoints(tiny_dir, tmp_path, capsys):
    from aihf_control.llm.train import main

    paths = tiny_dataset_paths()
    argv = ["--policy", str(tiny_dir), "--demos", str(paths["demos"]), "--prefs", str(paths["hh_prefs"])]
    argv += ["--output-dir", str(tmp_path), "--steps-per-round", "2", "--max-new-tokens", "4", "--device", "cpu"]
    argv += ["--max-prompt-length", "16", "--max-length", "32", "--learning-rate", "1e-3", "--sample-prompts", "2"]
    (summary,) = main(argv)
    assert summary["steps"] == 2
    assert (tmp_path / "round-001" / "trainer_state.json").is_file()
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(answers) == 2 and answers[0]["prompt"] == make_prompt("fish")


def test_cli_refuses_missing_data_and_bad_files(tiny_dir, tmp_path, capsys):
    from aihf_control.llm.train import main

    with pytest.raises(SystemExit):
        main(["--policy", str(tiny_dir)])
    assert "pass --demos, --prefs, or both" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--policy", str(tiny_dir), "--prefs", str(tiny_dataset_paths()["prefs"])])
    assert "--demo-weight > 0 needs --demos" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    with pytest.raises(SystemExit):
        main(["--policy", str(tiny_dir), "--demos", str(bad), "--preference-weight", "0"])
    assert "bad.jsonl:1: missing field 'response'" in capsys.readouterr().err


def test_same_seed_same_policy(tiny_dir, demos, prefs):
    def run() -> list[torch.Tensor]:
        trainer = AIHFTrainer(str(tiny_dir), None, demos, prefs, AIHFConfig(**SMALL, steps_per_round=2, seed=7))
        trainer.train()
        return params_of(trainer.policy)

    assert all(torch.equal(a, b) for a, b in zip(run(), run(), strict=True))


def test_bf16_autocast_runs_with_a_bf16_reference(tiny_dir, demos, prefs):
    config = AIHFConfig(**SMALL, steps_per_round=2, mixed_precision="bf16")
    trainer = AIHFTrainer(str(tiny_dir), None, demos, prefs, config)
    assert next(trainer.reference.parameters()).dtype == torch.bfloat16
    assert next(trainer.policy.parameters()).dtype == torch.float32, "weights stay float32 under autocast"
    (summary,) = trainer.train()
    assert torch.isfinite(torch.tensor(summary["loss"]))


def test_benchmark_smoke_writes_results_and_a_table(tmp_path, capsys):
    from benchmarks.llm import main as benchmark_main

    out = tmp_path / "llm.json"
    argv = ["--num-prefs", "4", "--seeds", "0", "--rounds", "1", "--steps-per-round", "2", "--pretrain-steps", "2"]
    argv += ["--eval-samples", "2", "--timing-steps", "1", "--hidden-size", "16", "--out", str(out)]
    result = benchmark_main(argv)
    saved = json.loads(out.read_text())
    assert {(r["method"], r["num_prefs"]) for r in saved["runs"]} == {("base", 0), ("aihf", 4), ("dpo", 4), ("sft", 0)}
    assert saved["timing"]["step_ratio"] > 0 and result["summary"] == saved["summary"]
    assert "| aihf | 4 |" in capsys.readouterr().out
