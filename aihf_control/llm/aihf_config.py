"""Settings of :class:`~aihf_control.llm.trainer.AIHFTrainer`: TRL's ``DPOConfig`` with AIHF's fields.

Apart from the trainer, as TRL keeps ``DPOConfig`` apart from ``DPOTrainer``: the command line builds its parser
from this class without importing the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import DPOConfig


@dataclass
class AIHFConfig(DPOConfig):
    """Settings of :class:`~aihf_control.llm.trainer.AIHFTrainer`: TRL's ``DPOConfig`` (every field of it, with
    its defaults) and AIHF's own.

    :param demo_weight: weight (>= 0) of the demonstration term (demonstration ≻ policy sample); 0 is TRL's DPO
    :param preference_weight: weight (>= 0) of the preference term (chosen ≻ rejected)
    :param demo_batch_size: demonstration pairs per micro-batch and device, besides ``per_device_train_batch_size``
        preference pairs; None = ``per_device_train_batch_size``
    :param steps_per_round: optimiser steps between two generations of the policy's samples; None = one pass over
        the preference pairs (the driving data set)
    :param rounds: train for ``rounds · steps_per_round`` steps (sets ``max_steps``); None = TRL's ``max_steps`` /
        ``num_train_epochs``
    :param refresh_reference: copy the policy into the reference at the end of every round (self-play, as SPIN);
        TRL's ``sync_ref_model`` with ``ref_model_mixup_alpha=1`` and ``ref_model_sync_steps=steps_per_round``
    :param max_completion_length: tokens sampled at most per completion
    :param temperature: sampling temperature (1 samples the policy itself)
    :param top_k: top-k sampling; 0 = off
    :param top_p: nucleus sampling; 1 = off
    :param generation_batch_size: prompts per ``generate`` call
    """

    demo_weight: float = field(default=1.0, metadata={"help": "Weight of the demonstration term (0 = TRL's DPO)."})
    preference_weight: float = field(default=1.0, metadata={"help": "Weight of the preference (DPO) term."})
    demo_batch_size: int | None = field(
        default=None,
        metadata={"help": "Demonstration pairs per micro-batch and device (default: per_device_train_batch_size)."},
    )
    steps_per_round: int | None = field(
        default=None,
        metadata={"help": "Optimiser steps between generations of the policy's samples (default: one epoch)."},
    )
    rounds: int | None = field(
        default=None, metadata={"help": "Train rounds * steps_per_round steps (sets max_steps)."}
    )
    refresh_reference: bool = field(
        default=False, metadata={"help": "Reference := policy after each round (SPIN's self-play)."}
    )
    max_completion_length: int = field(default=64, metadata={"help": "Tokens sampled at most per completion."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    top_k: int = field(default=0, metadata={"help": "Top-k sampling (0 = off)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling (1 = off)."})
    generation_batch_size: int = field(default=16, metadata={"help": "Prompts per generate call."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.beta > 0:
            raise ValueError(f"beta must be > 0 (the implicit reward is beta * log(pi / pi_ref)), got {self.beta}")
        for name in ("demo_weight", "preference_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.demo_weight == 0 and self.preference_weight == 0:
            raise ValueError("demo_weight and preference_weight are both 0: there is nothing to learn from")
        for name in ("demo_batch_size", "steps_per_round", "rounds"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {getattr(self, name)}")
        for name in ("max_completion_length", "generation_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.rounds is not None:
            if self.steps_per_round is None:
                raise ValueError("rounds needs steps_per_round (a round is steps_per_round optimiser steps)")
            if self.max_steps > 0 and self.max_steps != self.rounds * self.steps_per_round:
                raise ValueError(
                    f"max_steps={self.max_steps} contradicts rounds * steps_per_round = "
                    f"{self.rounds * self.steps_per_round}: set one of them"
                )
            self.max_steps = self.rounds * self.steps_per_round
        if self.refresh_reference:
            if self.sync_ref_model and self.ref_model_mixup_alpha != 1.0:
                raise ValueError(
                    "refresh_reference is sync_ref_model with ref_model_mixup_alpha=1 once per round; "
                    f"it contradicts ref_model_mixup_alpha={self.ref_model_mixup_alpha}: set one of them"
                )
            self.sync_ref_model = True
            self.ref_model_mixup_alpha = 1.0
            if self.steps_per_round is not None:
                self.ref_model_sync_steps = self.steps_per_round
