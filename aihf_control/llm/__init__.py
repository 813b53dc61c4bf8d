"""AIHF on causal language models (e.g. Pythia), built on TRL.

- :mod:`~aihf_control.llm.losses`: the objective on per-sequence log-probs: DPO (preferences), SPIN
  (demonstrations ≻ self-generated responses), their weighted sum (AIHF); the reward-model and RLOO losses.
- :mod:`~aihf_control.llm.logprobs`: padding and response log-probs (prompt masked), for tests and evaluation.
- :mod:`~aihf_control.llm.data`: JSONL readers of demonstrations and (HH-style) preferences, and their conversion
  to TRL's dataset formats.
- :mod:`~aihf_control.llm.trainer`: :class:`AIHFTrainer`, the direct path: TRL's ``DPOTrainer`` with SPIN-form
  demonstration pairs regenerated every round; its settings, :class:`AIHFConfig` (TRL's ``DPOConfig`` with AIHF's
  fields), in :mod:`~aihf_control.llm.aihf_config`.
- :mod:`~aihf_control.llm.generation`: :func:`generate_responses`, batched sampling of responses to prompts.
- :mod:`~aihf_control.llm.reward_model`: :class:`RewardModelAIHF`, a Bradley–Terry reward model trained on both
  kinds of feedback (on TRL's ``RewardTrainer``) and a policy trained against it with TRL's ``RLOOTrainer``.
- :mod:`~aihf_control.llm.tiny`: a tiny offline GPT-NeoX, tokenizer and rule-scored task for tests.
- ``python -m aihf_control.llm.train --help``: the command line.

TRL, transformers and datasets are needed only when a trainer is used (``pip install aihf-control[llm]``);
importing this package does not import them.
"""

from __future__ import annotations

import importlib
from typing import Any

from aihf_control.llm.data import (
    TextDemonstrations,
    TextPreferences,
    demonstration_dataset,
    preference_dataset,
    read_demonstrations,
    read_preferences,
    split_hh,
    tiny_dataset_paths,
)
from aihf_control.llm.generation import generate_responses
from aihf_control.llm.logprobs import SequenceBatch, pad_sequences, sequence_logprobs
from aihf_control.llm.losses import (
    aihf_loss,
    aihf_loss_terms,
    dpo_loss,
    implicit_rewards,
    kl_penalised_rewards,
    reward_model_loss,
    rloo_advantages,
    rloo_loss,
    sft_loss,
    spin_loss,
)

# Imported on first use: these modules import TRL (and with it transformers, datasets, accelerate).
_LAZY = {
    "AIHFConfig": "aihf_control.llm.aihf_config",
    "AIHFTrainer": "aihf_control.llm.trainer",
    "RewardModelAIHF": "aihf_control.llm.reward_model",
    "RewardModelAIHFConfig": "aihf_control.llm.reward_model",
    "AIHFRewardTrainer": "aihf_control.llm.reward_model",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AIHFConfig",
    "AIHFRewardTrainer",
    "AIHFTrainer",
    "RewardModelAIHF",
    "RewardModelAIHFConfig",
    "SequenceBatch",
    "TextDemonstrations",
    "TextPreferences",
    "aihf_loss",
    "aihf_loss_terms",
    "demonstration_dataset",
    "dpo_loss",
    "generate_responses",
    "implicit_rewards",
    "kl_penalised_rewards",
    "pad_sequences",
    "preference_dataset",
    "read_demonstrations",
    "read_preferences",
    "reward_model_loss",
    "rloo_advantages",
    "rloo_loss",
    "sequence_logprobs",
    "sft_loss",
    "spin_loss",
    "split_hh",
    "tiny_dataset_paths",
]
