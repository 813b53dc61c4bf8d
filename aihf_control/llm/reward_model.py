"""AIHF's reward-model path on TRL: a Bradley–Terry reward model learned jointly from demonstrations and
preferences (TRL's ``RewardTrainer``), and a policy improved against it with TRL's ``RLOOTrainer``.

Each round of :class:`RewardModelAIHF`:

1. sample one completion per demonstration prompt from the current policy;
2. train the reward model with :class:`AIHFRewardTrainer` (``RewardTrainer`` with a loss over two kinds of pair)
   on ``demo_weight · BT(r(x, y_demo) ≻ r(x, y_π)) + preference_weight · BT(r(x, y_w) ≻ r(x, y_l); label)``
   (:func:`aihf_control.llm.losses.reward_model_loss`);
3. train the policy with ``RLOOTrainer`` against the reward model: ``num_generations`` completions per prompt
   (the prompts of both data sets), the reward minus ``beta`` times the sequence KL to the reference, each
   advantage the reward minus the mean of the other completions' (REINFORCE leave-one-out).

The trainers are TRL's, so each step has their settings, logging and launchers; ``RewardConfig`` and
``RLOOConfig`` are passed through unchanged. Each round builds both trainers afresh on the same model objects
(the reward model and policy keep their weights; the optimisers start again, as in SPIN's and iterative DPO's
reference implementations, which retrain per iteration). The reference of RLOO's KL term is the initial policy.

Pairs of both kinds are shuffled together in the reward model's batches; a batch's loss is the weighted sum of
the mean Bradley–Terry loss over each kind of pair it holds (a kind it lacks is left out), so with
``demo_weight=0`` and labels of 1 it is TRL's reward loss.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from trl import RewardConfig, RewardTrainer, RLOOConfig, RLOOTrainer
from trl.trainer.reward_trainer import DataCollatorForPreference as RewardCollator

from aihf_control.llm.data import join_completion
from aihf_control.llm.generation import generate_responses
from aihf_control.llm.losses import reward_model_loss

logger = logging.getLogger(__name__)

DEMO_KIND, PREFERENCE_KIND = 1, 0


@dataclass
class _KindCollator:
    """TRL's reward collator plus the ``pair_kind`` and ``label`` of each pair."""

    collator: RewardCollator

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        out = self.collator(examples)
        out["pair_kind"] = torch.tensor([int(e.get("pair_kind", PREFERENCE_KIND)) for e in examples])
        out["label"] = torch.tensor([float(e.get("label", 1.0)) for e in examples], dtype=torch.float32)
        return out


class AIHFRewardTrainer(RewardTrainer):
    """TRL's ``RewardTrainer`` on preference pairs and (demonstration ≻ policy sample) pairs jointly.

    The train dataset is TRL's preference format with two more columns: ``pair_kind`` (1 for a demonstration
    pair, 0 for a preference pair) and ``label`` (P(chosen ≻ rejected), 1 when absent).

    :param demo_weight: weight (>= 0) of the demonstration pairs' term
    :param preference_weight: weight (>= 0) of the preference pairs' term
    :param kwargs: ``RewardTrainer``'s arguments (``model``, ``args``, ``train_dataset``, ``processing_class``, …)
    """

    _tag_names: ClassVar[list[str]] = ["trl", "reward-trainer", "aihf"]

    def __init__(self, *args, demo_weight: float = 1.0, preference_weight: float = 1.0, **kwargs):
        if demo_weight < 0 or preference_weight < 0 or demo_weight == preference_weight == 0:
            raise ValueError(
                f"weights must be >= 0 and not both 0, got demo_weight={demo_weight}, "
                f"preference_weight={preference_weight}"
            )
        super().__init__(*args, **kwargs)
        self.demo_weight, self.preference_weight = demo_weight, preference_weight
        self.data_collator = _KindCollator(self.data_collator)

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        self._signature_columns = [*self._signature_columns, "pair_kind", "label"]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        kind, labels = inputs.pop("pair_kind"), inputs.pop("label")
        if self.args.center_rewards_coefficient is not None or "margin" in inputs:
            raise ValueError("the AIHF reward loss has no margin or centring term")
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], use_cache=False)
        chosen, rejected = outputs.logits.squeeze(-1).float().chunk(2)  # (B,), (B,)
        demo, pref = kind == DEMO_KIND, kind == PREFERENCE_KIND
        has_demo, has_pref = bool(demo.any()), bool(pref.any())
        loss = reward_model_loss(
            chosen[demo] if has_demo and self.demo_weight > 0 else None,
            rejected[demo] if has_demo else None,
            chosen[pref] if has_pref and self.preference_weight > 0 else None,
            rejected[pref] if has_pref else None,
            labels[pref].to(chosen.dtype) if has_pref else None,
            self.demo_weight,
            self.preference_weight,
        )
        with torch.no_grad():
            gather = self.accelerator.gather_for_metrics
            for name, mask, present in (("demo", demo, has_demo), ("preference", pref, has_pref)):
                if present:
                    accuracy = (chosen[mask] > rejected[mask]).float().mean()
                    self._metrics[mode][f"{name}_accuracy"].append(gather(accuracy).mean().item())
            self._metrics[mode]["margin"].append(gather((chosen - rejected).mean()).mean().item())
        return (loss, outputs) if return_outputs else loss


@dataclass
class RewardModelAIHFConfig:
    """Settings of :class:`RewardModelAIHF`: TRL's configs of its two trainers and AIHF's own.

    :param reward: TRL's ``RewardConfig`` of each round's reward-model training (``max_steps`` = reward steps per
        round, ``learning_rate``, ``per_device_train_batch_size``, …)
    :param policy: TRL's ``RLOOConfig`` of each round's policy training (``max_steps`` = policy steps per round,
        ``num_generations`` = k, ``beta`` = the KL coefficient, ``max_completion_length``, sampling, …)
    :param rounds: rounds of (sample, reward model, policy)
    :param demo_weight: weight (>= 0) of the (demonstration ≻ policy sample) pairs in the reward loss
    :param preference_weight: weight (>= 0) of the preference pairs in the reward loss
    :param generation_batch_size: prompts per ``generate`` call when sampling the demonstration pairs' negatives
    """

    reward: RewardConfig
    policy: RLOOConfig
    rounds: int = 1
    demo_weight: float = 1.0
    preference_weight: float = 1.0
    generation_batch_size: int = field(default=16)

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        if self.demo_weight < 0 or self.preference_weight < 0:
            raise ValueError("demo_weight and preference_weight must be >= 0")
        if self.demo_weight == 0 and self.preference_weight == 0:
            raise ValueError("demo_weight and preference_weight are both 0: the reward model has nothing to learn")
        if self.generation_batch_size < 1:
            raise ValueError(f"generation_batch_size must be >= 1, got {self.generation_batch_size}")


class RewardModelAIHF:
    """AIHF with an explicit reward model: per round, TRL's ``RewardTrainer`` (both kinds of feedback), then
    TRL's ``RLOOTrainer`` (the policy against that reward model).

    :param policy: an ``AutoModelForCausalLM`` or its path; trained in place. As TRL does, RLOO's reference is
        loaded from ``policy.config._name_or_path``: pass a path, or a model saved and loaded from one
    :param reward_model: an ``AutoModelForSequenceClassification`` with one output, or its path; trained in place
    :param tokenizer: the tokenizer of both models (the reward model reads the policy's text)
    :param config: the settings
    :param demo_dataset: demonstrations in TRL's prompt-completion format, or None
    :param preference_dataset: preference pairs in TRL's preference format (optional ``label``), or None
    """

    def __init__(
        self,
        policy,
        reward_model,
        tokenizer,
        config: RewardModelAIHFConfig,
        demo_dataset=None,
        preference_dataset=None,
    ):
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

        if config.demo_weight > 0 and demo_dataset is None:
            raise ValueError("demo_weight > 0 needs a demo_dataset, or set demo_weight=0")
        if config.preference_weight > 0 and preference_dataset is None:
            raise ValueError("preference_weight > 0 needs a preference_dataset, or set preference_weight=0")
        self.config = config
        self.tokenizer = tokenizer
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if isinstance(policy, (str, os.PathLike)):
            policy = AutoModelForCausalLM.from_pretrained(str(policy), dtype=torch.float32)
        if isinstance(reward_model, (str, os.PathLike)):
            reward_model = AutoModelForSequenceClassification.from_pretrained(
                str(reward_model), num_labels=1, dtype=torch.float32
            )
        if getattr(reward_model.config, "num_labels", 1) != 1:
            raise ValueError(
                f"a reward model has one output (num_labels=1), this one has {reward_model.config.num_labels}"
            )
        reward_model.config.pad_token_id = tokenizer.pad_token_id
        self.policy, self.reward_model = policy, reward_model
        self.demo_dataset = demo_dataset if config.demo_weight > 0 else None
        self.preference_dataset = preference_dataset if config.preference_weight > 0 else None
        prompts: dict[str, None] = {}
        for dataset in (self.demo_dataset, self.preference_dataset):
            if dataset is not None:
                prompts.update(dict.fromkeys(dataset["prompt"]))
        self.prompts = list(prompts)
        self.round = 0
        self.history: list[dict[str, Any]] = []

    def sample_completions(self, prompts: list[str]) -> list[str]:
        """One completion of the current policy per prompt, decoded (special tokens dropped).

        :param prompts: prompt strings
        :return: the completions, in order
        """
        ids = [list(p) for p in self.tokenizer(prompts)["input_ids"]]
        device = next(self.policy.parameters()).device
        with torch.no_grad():
            out = generate_responses(
                self.policy.to(device),
                ids,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
                max_new_tokens=self.config.policy.max_completion_length,
                temperature=self.config.policy.temperature,
                top_k=self.config.policy.top_k or 0,
                top_p=self.config.policy.top_p,
                batch_size=self.config.generation_batch_size,
            )
        return self.tokenizer.batch_decode(out, skip_special_tokens=True)

    def reward_dataset(self):
        """This round's reward-model pairs: the preferences and (demonstration ≻ fresh policy sample) pairs."""
        from datasets import Dataset, concatenate_datasets

        parts = []
        if self.preference_dataset is not None:
            prefs = self.preference_dataset
            labels = prefs["label"] if "label" in prefs.column_names else [1.0] * len(prefs)
            parts.append(
                Dataset.from_dict(
                    {
                        "prompt": prefs["prompt"],
                        "chosen": prefs["chosen"],
                        "rejected": prefs["rejected"],
                        "label": [float(y) for y in labels],
                        "pair_kind": [PREFERENCE_KIND] * len(prefs),
                    }
                )
            )
        if self.demo_dataset is not None:
            prompts = list(self.demo_dataset["prompt"])
            samples = self.sample_completions(prompts)
            parts.append(
                Dataset.from_dict(
                    {
                        "prompt": prompts,
                        "chosen": list(self.demo_dataset["completion"]),
                        "rejected": [join_completion(p, s) for p, s in zip(prompts, samples, strict=True)],
                        "label": [1.0] * len(prompts),
                        "pair_kind": [DEMO_KIND] * len(prompts),
                    }
                )
            )
        return concatenate_datasets(parts) if len(parts) > 1 else parts[0]

    def train_round(self) -> dict[str, Any]:
        """One round: sample, train the reward model, train the policy; returns both trainers' last logs."""
        from datasets import Dataset

        self.round += 1
        cfg = self.config
        reward_args = copy.deepcopy(cfg.reward)
        reward_args.output_dir = os.path.join(cfg.reward.output_dir, f"round-{self.round:03d}")
        reward_trainer = AIHFRewardTrainer(
            model=self.reward_model,
            args=reward_args,
            train_dataset=self.reward_dataset(),
            processing_class=self.tokenizer,
            demo_weight=cfg.demo_weight,
            preference_weight=cfg.preference_weight,
        )
        reward_result = reward_trainer.train()
        self.reward_model.eval().requires_grad_(False)
        policy_args = copy.deepcopy(cfg.policy)
        policy_args.output_dir = os.path.join(cfg.policy.output_dir, f"round-{self.round:03d}")
        policy_trainer = RLOOTrainer(
            model=self.policy,
            reward_funcs=self.reward_model,
            args=policy_args,
            train_dataset=Dataset.from_dict({"prompt": self.prompts}),
            processing_class=self.tokenizer,
            reward_processing_classes=self.tokenizer,
        )
        policy_result = policy_trainer.train()
        self.reward_model.requires_grad_(True)
        summary = {
            "round": self.round,
            "reward_loss": reward_result.training_loss,
            "policy_loss": policy_result.training_loss,
            "reward_log": reward_trainer.state.log_history,
            "policy_log": policy_trainer.state.log_history,
        }
        self.history.append(summary)
        logger.info(
            "round %d: reward loss %.4g, policy loss %.4g", self.round, summary["reward_loss"], summary["policy_loss"]
        )
        return summary

    def train(self) -> list[dict[str, Any]]:
        """Run ``config.rounds`` rounds; returns one summary per round."""
        return [self.train_round() for _ in range(self.config.rounds)]
