"""AIHF, direct path, as a TRL trainer: :class:`AIHFTrainer` is TRL's ``DPOTrainer`` with a second kind of pair.

The objective (:func:`aihf_control.llm.losses.aihf_loss`) is ``demo_weight · L_SPIN + preference_weight · L_DPO``:

- preference pairs (chosen ≻ rejected) come from ``train_dataset``, in TRL's preference format, tokenized and
  batched by TRL exactly as for DPO;
- demonstration pairs (demonstration ≻ the policy's own sample for the same prompt, SPIN's form) are built from
  ``demo_dataset`` (TRL's prompt-completion format). At the start of every round (``steps_per_round`` optimiser
  steps; by default one pass over the preferences) the current policy samples one completion per demonstration
  prompt, as TRL's GRPO/RLOO trainers generate once every ``steps_per_generation`` steps;
- every micro-batch holds ``per_device_train_batch_size`` preference pairs and ``demo_batch_size`` demonstration
  pairs, all ``2 · (B_p + B_d)`` sequences in one forward pass, collated by TRL's ``DataCollatorForPreference``;
  the reference log-probabilities come from TRL's ``compute_ref_log_probs`` (a separate reference model, or the
  PEFT base with the adapter disabled).

``demo_weight=0`` is TRL's DPO, not a copy of it: the trainer then runs ``DPOTrainer``'s own collator and loss
unchanged (every ``loss_type``, ``precompute_ref_log_probs``, …), its loss multiplied by ``preference_weight``
(1 by default). The one exception is a ``label`` column with soft labels (P(chosen ≻ rejected) < 1), which TRL's
DPO has no notion of: those preferences take the AIHF path, whose preference term is the Bradley–Terry
cross-entropy of DPO's implicit rewards (cDPO), equal to TRL's ``sigmoid`` loss for label 1.

Everything else is TRL's and transformers': the optimiser and scheduler, gradient accumulation and clipping,
mixed precision (``bf16``/``fp16``), PEFT adapters (``peft_config``), gradient checkpointing, ``accelerate launch``
(DDP, DeepSpeed, FSDP), logging (``report_to``), checkpoints (``save_strategy``). ``refresh_reference=True``
(self-play, as SPIN) is TRL's ``sync_ref_model`` with ``ref_model_mixup_alpha=1`` once per round.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from trl import DPOTrainer
from trl.models import unwrap_model_for_generation
from trl.trainer.dpo_trainer import DataCollatorForPreference

from aihf_control.llm.aihf_config import AIHFConfig
from aihf_control.llm.generation import generate_responses
from aihf_control.llm.losses import aihf_loss_terms, implicit_rewards

# AIHFConfig and generate_responses lived here first and stay importable from here
__all__ = ["AIHFConfig", "AIHFTrainer", "generate_responses"]

# TRL options that change DPO's loss; the AIHF path implements DPO's default "sigmoid" loss only.
_DEFAULT_LOSS_OPTIONS = {
    "loss_type": ["sigmoid"],
    "f_divergence_type": "reverse_kl",
    "ld_alpha": None,
    "use_weighting": False,
    "label_smoothing": 0.0,
    "precompute_ref_log_probs": False,
}


def _identity(examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The AIHF path's data collator: the raw examples, collated with the round's samples in ``_prepare_inputs``."""
    return examples


class _Cycler:
    """Minibatches of indices from a reshuffled cycle over ``n`` items.

    Data parallel: every process holds the same generator state, each call draws ``num_shards`` minibatches and a
    process keeps the ``shard``-th, so the processes' minibatches of a step are disjoint.
    """

    def __init__(self, n: int, batch_size: int, generator: torch.Generator, shard: int = 0, num_shards: int = 1):
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.shard, self.num_shards = shard, num_shards
        self.order: list[int] = []

    def next(self) -> list[int]:
        out: list[int] = []
        while len(out) < self.batch_size * self.num_shards:
            if not self.order:
                self.order = torch.randperm(self.n, generator=self.generator).tolist()
            take = min(self.batch_size * self.num_shards - len(out), len(self.order))
            out += self.order[:take]
            self.order = self.order[take:]
        return out[self.shard * self.batch_size : (self.shard + 1) * self.batch_size]


class AIHFTrainer(DPOTrainer):
    """AIHF, direct path: TRL's ``DPOTrainer`` on preference pairs plus SPIN-form demonstration pairs.

    :param model: the policy: a model id / path, a ``PreTrainedModel`` or a ``PeftModel`` (as ``DPOTrainer``)
    :param ref_model: the frozen reference; None = TRL's default (the initial policy, or the PEFT base)
    :param args: the settings; None = ``AIHFConfig`` with TRL's defaults
    :param train_dataset: preference pairs in TRL's preference format (standard or conversational; an optional
        ``label`` column holds P(chosen ≻ rejected)); None only with ``preference_weight=0``
    :param demo_dataset: demonstrations in TRL's prompt-completion format (``prompt``, ``completion``); needed when
        ``demo_weight > 0``
    :param eval_dataset: preference pairs to evaluate on (the preference term and TRL's metrics)
    :param processing_class: the tokenizer; None = the model's
    :param callbacks: transformers ``TrainerCallback`` s
    :param optimizers: (optimizer, scheduler), as for ``transformers.Trainer``
    :param peft_config: a ``peft.PeftConfig`` to train an adapter
    :param data_collator: only with ``demo_weight=0`` (TRL's DPO path); the AIHF path collates itself
    """

    _tag_names: ClassVar[list[str]] = ["trl", "dpo", "aihf"]
    _name = "AIHF"

    def __init__(
        self,
        model,
        ref_model=None,
        args: AIHFConfig | None = None,
        train_dataset=None,
        demo_dataset=None,
        eval_dataset=None,
        processing_class=None,
        callbacks=None,
        optimizers=(None, None),
        peft_config=None,
        data_collator=None,
    ):
        if args is None:
            args = AIHFConfig(output_dir="aihf-output")
        if not isinstance(args, AIHFConfig):
            raise TypeError(f"args must be an AIHFConfig (a DPOConfig with AIHF's fields), got {type(args).__name__}")
        if args.demo_weight > 0 and demo_dataset is None:
            raise ValueError("demo_weight > 0 needs a demo_dataset (prompt, completion), or set demo_weight=0 (DPO)")
        if args.preference_weight > 0 and train_dataset is None:
            raise ValueError("preference_weight > 0 needs a train_dataset of preference pairs, or set it to 0")
        if args.preference_weight == 0 and train_dataset is not None:
            raise ValueError("preference_weight=0 leaves the preference pairs unused: pass train_dataset=None")
        soft = train_dataset is not None and _has_soft_labels(train_dataset)
        self._aihf_path = args.demo_weight > 0 or soft
        if self._aihf_path:
            changed = {k: getattr(args, k) for k, v in _DEFAULT_LOSS_OPTIONS.items() if getattr(args, k) != v}
            if changed:
                why = "demo_weight > 0" if args.demo_weight > 0 else "soft labels in the 'label' column"
                raise ValueError(
                    f"with {why} the AIHF loss is DPO's sigmoid loss on both kinds of pair; these DPOConfig options "
                    f"change it and are not supported here: {changed}"
                )
            if data_collator is not None:
                raise ValueError("the AIHF path collates its own batches: pass no data_collator")
            data_collator = _identity
        self._demo_source = demo_dataset
        if args.preference_weight == 0:
            # SPIN alone: the demonstrations drive the loop, one demonstration pair per row.
            train_dataset = demo_dataset.map(
                lambda row, i: {"chosen": row["completion"], "rejected": row["completion"], "demo_index": i},
                with_indices=True,
                remove_columns=[c for c in demo_dataset.column_names if c != "prompt"],
            )
        super().__init__(
            model,
            ref_model=ref_model,
            args=args,
            data_collator=data_collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            callbacks=callbacks,
            optimizers=optimizers,
            peft_config=peft_config,
        )
        self.demo_weight, self.preference_weight = args.demo_weight, args.preference_weight
        self.round = 0
        self._micro_step = 0
        self._steps_per_round = args.steps_per_round or self._steps_per_epoch()
        if args.refresh_reference:
            args.ref_model_sync_steps = self._steps_per_round
        self._demo_prompt_ids: list[list[int]] = []
        self._demo_completion_ids: list[list[int]] = []
        self._demo_position: dict[int, int] = {}
        self._generated_ids: list[list[int]] = []
        if self._aihf_path:
            self._pair_collator = DataCollatorForPreference(
                pad_token_id=self._tokenizer.pad_token_id,
                max_length=args.max_length,
                truncation_mode=args.truncation_mode,
                pad_to_multiple_of=args.pad_to_multiple_of,
            )
        if self._aihf_path and self.demo_weight > 0:
            self._tokenize_demonstrations(demo_dataset)
            self._demo_cycler = _Cycler(
                len(self._demo_prompt_ids),
                args.demo_batch_size or args.per_device_train_batch_size,
                torch.Generator().manual_seed(args.seed),
                self.accelerator.process_index,
                self.accelerator.num_processes,
            )

    # ------------------------------------------------------------------ setup

    def _steps_per_epoch(self) -> int:
        """Optimiser steps of one pass over the driving data set (as ``transformers.Trainer`` counts them)."""
        try:
            n = len(self.train_dataset)
        except TypeError:
            raise ValueError("an iterable train_dataset has no length: set steps_per_round") from None
        per_batch = self.args.per_device_train_batch_size * self.accelerator.num_processes
        batches = n // per_batch if self.args.dataloader_drop_last else math.ceil(n / per_batch)
        return max(1, math.ceil(batches / self.args.gradient_accumulation_steps))

    def _tokenize_demonstrations(self, demo_dataset) -> None:
        """Token ids of the demonstrations' prompts and completions, tokenized by TRL's DPO preprocessing (chat
        templates, EOS, the prompt/completion boundary) as a pair whose two completions are the demonstration."""
        missing = {"prompt", "completion"} - set(demo_dataset.column_names)
        if missing:
            raise ValueError(
                f"demo_dataset needs TRL's prompt-completion columns; missing {sorted(missing)} "
                f"(columns: {demo_dataset.column_names})"
            )
        if len(demo_dataset) == 0:
            raise ValueError("demo_dataset is empty")
        pairs = demo_dataset.map(
            lambda row, i: {"chosen": row["completion"], "rejected": row["completion"], "demo_index": i},
            with_indices=True,
            remove_columns=[c for c in demo_dataset.column_names if c != "prompt"],
        )
        tokenized = self._prepare_dataset(pairs, self.processing_class, self.args, "demonstration")
        if len(tokenized) == 0:
            raise ValueError(f"every demonstration prompt fills max_length={self.args.max_length}: none is left")
        self._demo_prompt_ids = [list(p) for p in tokenized["prompt_ids"]]
        self._demo_completion_ids = [list(c) for c in tokenized["chosen_ids"]]
        # row of demo_dataset -> position here (TRL drops demonstrations whose prompt alone fills max_length)
        self._demo_position = {int(i): k for k, i in enumerate(tokenized["demo_index"])}

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if self._aihf_path:
            self._signature_columns = [*self._signature_columns, "label", "demo_index"]

    # ------------------------------------------------------------------ rounds: the policy's samples

    def _new_round(self) -> None:
        """Sample one completion per demonstration prompt from the current policy (split across processes)."""
        self.round += 1
        start = time.perf_counter()
        accelerator = self.accelerator
        indices = list(range(len(self._demo_prompt_ids)))
        with accelerator.split_between_processes(indices) as share:
            with (
                unwrap_model_for_generation(
                    self.model_wrapped,
                    accelerator,
                    gradient_checkpointing_kwargs=self.args.gradient_checkpointing_kwargs,
                ) as unwrapped,
                accelerator.autocast(),
            ):
                samples = self.generate(unwrapped, [self._demo_prompt_ids[i] for i in share])
        if accelerator.num_processes > 1:
            from accelerate.utils import gather_object

            samples = gather_object(samples)
        self._generated_ids = samples
        self._metrics["train"]["aihf/round"].append(float(self.round))
        self._metrics["train"]["aihf/generation_seconds"].append(time.perf_counter() - start)

    def generate(self, model, prompt_ids: Sequence[Sequence[int]], num_samples: int = 1, greedy: bool = False):
        """Completions (token ids) of ``model`` to tokenized prompts, with the config's sampling settings.

        :param model: an unwrapped causal LM
        :param prompt_ids: P lists of prompt token ids
        :param num_samples: completions per prompt (consecutive in the result)
        :param greedy: decode greedily instead of sampling
        :return: P · num_samples lists of completion token ids, each cut after its EOS
        """
        args = self.args
        return generate_responses(
            model,
            prompt_ids,
            pad_token_id=self._tokenizer.pad_token_id,
            eos_token_id=self._tokenizer.eos_token_id,
            max_new_tokens=args.max_completion_length,
            num_samples=num_samples,
            do_sample=not greedy,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            batch_size=args.generation_batch_size,
        )

    def generate_text(self, prompts: Sequence[str], num_samples: int = 1, greedy: bool = False) -> list[str]:
        """The policy's completions to prompt strings, decoded without special tokens.

        :param prompts: P prompts (tokenized as TRL tokenizes standard prompts)
        :param num_samples: completions per prompt (consecutive in the result)
        :param greedy: decode greedily instead of sampling
        :return: P · num_samples strings
        """
        prompt_ids = [list(p) for p in self._tokenizer(list(prompts))["input_ids"]]
        model = self.accelerator.unwrap_model(self.model)
        with torch.no_grad():
            ids = self.generate(model, prompt_ids, num_samples, greedy)
        return self._tokenizer.batch_decode(ids, skip_special_tokens=True)

    # ------------------------------------------------------------------ batches and loss

    def _prepare_inputs(self, inputs):
        if not self._aihf_path or not isinstance(inputs, list):
            return super()._prepare_inputs(inputs)
        training = self.model.training
        if training and self.demo_weight > 0:
            if self._micro_step % (self._steps_per_round * self.args.gradient_accumulation_steps) == 0:
                self._new_round()
            self._micro_step += 1
        preferences = [e for e in inputs if e.get("demo_index") is None]
        examples = [
            {"prompt_ids": e["prompt_ids"], "chosen_ids": e["chosen_ids"], "rejected_ids": e["rejected_ids"]}
            for e in preferences
        ]
        labels = [float(e.get("label", 1.0)) for e in preferences]
        demo_index = [self._demo_position[e["demo_index"]] for e in inputs if e.get("demo_index") is not None]
        if not demo_index and training and self.demo_weight > 0:
            demo_index = self._demo_cycler.next()
        if self._generated_ids:
            examples += [
                {
                    "prompt_ids": self._demo_prompt_ids[i],
                    "chosen_ids": self._demo_completion_ids[i],
                    "rejected_ids": self._generated_ids[i],
                }
                for i in demo_index
            ]
        if not examples:
            raise ValueError("a batch with no pair to learn from (no preference pair and no policy sample yet)")
        batch = self._pair_collator(examples)
        batch["preference_labels"] = torch.tensor(labels, dtype=torch.float32)
        batch["num_preference_pairs"] = len(preferences)
        return super()._prepare_inputs(batch)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self._aihf_path:  # TRL's DPO, untouched
            out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            if self.preference_weight == 1.0:
                return out
            if return_outputs:
                return self.preference_weight * out[0], out[1]
            return self.preference_weight * out
        return self._aihf_loss(model, inputs, return_outputs)

    def _aihf_loss(self, model, inputs: dict[str, Any], return_outputs: bool = False):
        """The joint loss of a collated batch ``[chosen…, rejected…]`` whose first ``num_preference_pairs`` pairs are
        preferences and the rest (demonstration, policy sample) pairs: one policy forward pass, one reference pass."""
        mode = "train" if self.model.training else "eval"
        n_pref = inputs["num_preference_pairs"]
        model_inputs = {k: inputs[k] for k in ("input_ids", "attention_mask", "completion_mask")}
        completion_mask = model_inputs["completion_mask"]
        seq_len = completion_mask.size(1) - 1
        token_labels = model_inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        outputs = model(
            input_ids=model_inputs["input_ids"],
            attention_mask=model_inputs["attention_mask"],
            use_cache=False,
            labels=token_labels,
            fused_lm_head=True,
        )
        logps = outputs.log_probs[:, -seq_len:].sum(1)  # (2B,) summed over completion tokens
        chosen, rejected = logps.chunk(2)  # (B,), (B,)
        ref_chosen, ref_rejected = self.compute_ref_log_probs(
            self.ref_model if self.ref_model is not None else self.model, model_inputs
        )
        groups = {
            "preference": slice(0, n_pref),
            "demo": slice(n_pref, chosen.shape[0]),
        }
        parts = {
            name: (chosen[sl], rejected[sl], ref_chosen[sl], ref_rejected[sl])
            for name, sl in groups.items()
            if sl.stop > sl.start
        }
        terms = aihf_loss_terms(
            parts.get("demo"),
            parts.get("preference"),
            inputs["preference_labels"].to(logps.dtype) if "preference" in parts else None,
            self.beta,
            self.demo_weight,
            self.preference_weight,
        )
        loss = terms["loss"]
        self._log_pair_metrics(mode, terms, parts)
        if return_outputs:
            with torch.no_grad():
                outputs = model(input_ids=model_inputs["input_ids"], attention_mask=model_inputs["attention_mask"])
            return loss, outputs
        return loss

    def _log_pair_metrics(self, mode: str, terms: dict[str, torch.Tensor], parts: dict[str, tuple]) -> None:
        """TRL's reward metrics (``rewards/*``, ``logps/*``) for the preference pairs, ``demo_rewards/*`` for the
        demonstration pairs, and each term of the loss."""
        gather = self.accelerator.gather_for_metrics
        metrics = self._metrics[mode]
        for name in ("demo_loss", "preference_loss"):
            if name in terms:
                metrics[f"aihf/{name}"].append(gather(terms[name].detach()).mean().item())
        for group, prefix, (first, second) in (
            ("preference", "rewards", ("chosen", "rejected")),
            ("demo", "demo_rewards", ("demo", "sample")),
        ):
            if group not in parts:
                continue
            pc, pr, rc, rr = (t.detach() for t in parts[group])
            r_first, r_second = implicit_rewards(pc, rc, self.beta), implicit_rewards(pr, rr, self.beta)
            metrics[f"{prefix}/{first}"].append(gather(r_first).mean().item())
            metrics[f"{prefix}/{second}"].append(gather(r_second).mean().item())
            metrics[f"{prefix}/margins"].append(gather(r_first - r_second).mean().item())
            metrics[f"{prefix}/accuracies"].append(gather((r_first > r_second).float()).mean().item())
            metrics[f"logps/{first}"].append(gather(pc).mean().item())
            metrics[f"logps/{second}"].append(gather(pr).mean().item())


def _has_soft_labels(dataset) -> bool:
    """Whether a preference dataset has a ``label`` column with a value other than 1 (checked: in [0, 1])."""
    if "label" not in (dataset.column_names or []):
        return False
    labels = [float(y) for y in dataset["label"]]
    bad = [y for y in labels if not 0.0 <= y <= 1.0]
    if bad:
        raise ValueError(f"the 'label' column holds P(chosen ≻ rejected) in [0, 1]; got {bad[0]}")
    return any(y != 1.0 for y in labels)
