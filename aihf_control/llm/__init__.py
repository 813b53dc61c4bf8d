"""AIHF on causal language models (e.g. Pythia) with Hugging Face transformers.

- :mod:`~aihf_control.llm.losses`: the objective on per-sequence log-probs: DPO (preferences), SPIN
  (demonstrations ≻ self-generated responses), their weighted sum (AIHF); the reward-model and RLOO losses.
- :mod:`~aihf_control.llm.logprobs`: tokenising, padding, response log-probs (prompt masked).
- :mod:`~aihf_control.llm.data`: JSONL readers of demonstrations and (HH-style) preferences.
- :mod:`~aihf_control.llm.trainer`: :class:`AIHFTrainer`, the direct path, in rounds of generate + optimise.
- :mod:`~aihf_control.llm.reward_model`: :class:`RewardModelAIHFTrainer`, a Bradley–Terry reward model
  trained on both kinds of feedback and a policy trained against it with RLOO.
- :mod:`~aihf_control.llm.tiny`: a tiny offline GPT-NeoX, tokenizer and rule-scored task for tests.
- ``python -m aihf_control.llm.train --help``: the command line.

transformers is needed only when a model is loaded or generates (``pip install aihf-control[llm]``);
importing this package does not import it.
"""

from aihf_control.llm.data import (
    TextDemonstrations,
    TextPreferences,
    read_demonstrations,
    read_preferences,
    split_hh,
    tiny_dataset_paths,
)
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
from aihf_control.llm.reward_model import RewardModelAIHFTrainer, load_reward_checkpoint, sequence_scores
from aihf_control.llm.trainer import AIHFConfig, AIHFTrainer, generate_responses, latest_checkpoint, load_checkpoint

__all__ = [
    "AIHFConfig",
    "AIHFTrainer",
    "RewardModelAIHFTrainer",
    "SequenceBatch",
    "TextDemonstrations",
    "TextPreferences",
    "aihf_loss",
    "aihf_loss_terms",
    "dpo_loss",
    "generate_responses",
    "implicit_rewards",
    "kl_penalised_rewards",
    "latest_checkpoint",
    "load_checkpoint",
    "load_reward_checkpoint",
    "pad_sequences",
    "read_demonstrations",
    "read_preferences",
    "reward_model_loss",
    "rloo_advantages",
    "rloo_loss",
    "sequence_logprobs",
    "sequence_scores",
    "sft_loss",
    "spin_loss",
    "split_hh",
    "tiny_dataset_paths",
]
