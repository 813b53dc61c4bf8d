"""AIHF on a causal language model, in rounds: generate, then optimise the joint loss.

:class:`AIHFTrainer` is the direct (reward-free) path. Each round it

1. samples one response per demonstration prompt from the current policy (batched, left-padded);
2. computes the frozen reference's log-probabilities of every sequence the round uses (once per round);
3. takes ``steps_per_round`` optimiser steps on
   ``demo_weight · L_SPIN(demo ≻ generated) + preference_weight · L_DPO(chosen ≻ rejected) + sft_weight · NLL(demo)``
   (:mod:`aihf_control.llm.losses`), each step ``gradient_accumulation_steps`` micro-batches of
   ``demo_batch_size`` demonstration pairs and ``preference_batch_size`` preference pairs, all sequences of a
   micro-batch in one forward pass;
4. optionally copies the policy into the reference (``refresh_reference``: self-play, as SPIN), and
5. writes a checkpoint ``output_dir/round-NNN`` (policy, tokenizer, ``trainer_state.json``) atomically.

``demo_weight=0`` is DPO, ``preference_weight=0`` is SPIN (with ``refresh_reference=True``), and
``demo_weight=preference_weight=0, sft_weight=1`` is supervised fine-tuning on the demonstrations. The
reward-model path (:class:`aihf_control.llm.reward_model.RewardModelAIHFTrainer`) shares the loop.

The models are kept in eval mode (no dropout: the policy's and the reference's log-probabilities of the same
sequence must agree before the first step). Weights stay in float32; on a GPU the forward passes run under
``torch.autocast`` in bf16 (fp16 with a gradient scaler where bf16 is unsupported), and the frozen
reference is stored in that dtype.

Data parallel: ``accelerate launch --multi_gpu --num_processes N -m aihf_control.llm.train ...`` (with
``--device auto``, each process on its own GPU; ``--device cpu`` runs N CPU processes over gloo) trains one
policy on N processes. Each optimiser step every process takes its own micro-batches (batch sizes are per
process: an optimiser step sees N times as many pairs), the gradients are averaged across processes before
clipping, and every process applies the same step, so the copies of the policy stay identical. Generation of
the demonstration prompts' responses is split between the processes; metrics are averaged over them, and the
main process alone logs and writes checkpoints. A plain ``python -m aihf_control.llm.train`` is one process,
as before.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from aihf_control.llm.data import TextDemonstrations, TextPreferences
from aihf_control.llm.logprobs import (
    batched_sequence_logprobs,
    pad_sequences,
    sequence_logprobs,
    tokenize_prompts,
    tokenize_responses,
)
from aihf_control.llm.losses import aihf_loss_terms, implicit_rewards, sft_loss

logger = logging.getLogger(__name__)

MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
WORLD_SIZE_VARIABLES = ["PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "WORLD_SIZE"]  # launchers' names


@dataclass
class AIHFConfig:
    """Settings of :class:`AIHFTrainer` and :class:`~aihf_control.llm.reward_model.RewardModelAIHFTrainer`.

    :param beta: β > 0 of the implicit reward β · log(π / π_ref) (direct path)
    :param demo_weight: weight of the demonstration term (demo ≻ policy sample)
    :param preference_weight: weight of the preference term (chosen ≻ rejected)
    :param sft_weight: weight of an extra NLL term on the demonstrations (direct path only; 0 = off)
    :param rounds: rounds of (generate, optimise)
    :param steps_per_round: optimiser steps per round; None = one pass over the larger data set
    :param demo_batch_size: demonstration pairs per micro-batch
    :param preference_batch_size: preference pairs per micro-batch
    :param gradient_accumulation_steps: micro-batches per optimiser step
    :param learning_rate: AdamW learning rate of the policy
    :param weight_decay: AdamW weight decay
    :param max_grad_norm: gradient clipping norm; None = no clipping
    :param refresh_reference: copy the policy into the reference after each round (self-play)
    :param max_prompt_length: prompts keep their last this many tokens
    :param max_length: prompt + response tokens at most (responses are cut)
    :param max_new_tokens: tokens generated per response
    :param temperature: sampling temperature (1 samples the policy itself)
    :param top_k: top-k sampling; 0 = off
    :param top_p: nucleus sampling; 1 = off
    :param generation_batch_size: prompts per ``generate`` call
    :param eval_batch_size: sequences per forward pass when computing reference log-probs
    :param reward_learning_rate: AdamW learning rate of the reward model (reward-model path)
    :param reward_steps: reward-model steps per round; None = one pass over the larger data set
    :param policy_steps: RLOO policy steps per round (reward-model path)
    :param rloo_prompts: prompts per RLOO micro-batch
    :param rloo_k: responses sampled per prompt for RLOO (>= 2)
    :param kl_coef: KL penalty to the reference in the RLOO reward
    :param device: "auto" (cuda when available), "cpu", "cuda", "cuda:1", ...
    :param mixed_precision: "auto" (bf16/fp16 on GPU, none on CPU), "no", "bf16" or "fp16"
    :param seed: seed of torch (sampling, minibatch order)
    :param output_dir: where checkpoints ``round-NNN`` go; None = no checkpoints
    :param log_every: log every this many optimiser steps (0 = round summaries only)
    """

    beta: float = 0.1
    demo_weight: float = 1.0
    preference_weight: float = 1.0
    sft_weight: float = 0.0
    rounds: int = 1
    steps_per_round: int | None = None
    demo_batch_size: int = 4
    preference_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    learning_rate: float = 1e-6
    weight_decay: float = 0.0
    max_grad_norm: float | None = 1.0
    refresh_reference: bool = False
    max_prompt_length: int = 256
    max_length: int = 512
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    generation_batch_size: int = 16
    eval_batch_size: int = 16
    reward_learning_rate: float = 1e-5
    reward_steps: int | None = None
    policy_steps: int = 8
    rloo_prompts: int = 4
    rloo_k: int = 2
    kl_coef: float = 0.05
    device: str = "auto"
    mixed_precision: str = "auto"
    seed: int = 0
    output_dir: str | None = None
    log_every: int = 10

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` on settings that cannot work."""
        if not self.beta > 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")
        for name in ("demo_weight", "preference_weight", "sft_weight", "kl_coef", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.demo_weight == 0 and self.preference_weight == 0 and self.sft_weight == 0:
            raise ValueError("demo_weight, preference_weight and sft_weight are all 0: there is nothing to learn from")
        for name in (
            "rounds",
            "demo_batch_size",
            "preference_batch_size",
            "gradient_accumulation_steps",
            "max_prompt_length",
            "max_length",
            "max_new_tokens",
            "generation_batch_size",
            "eval_batch_size",
            "policy_steps",
            "rloo_prompts",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("steps_per_round", "reward_steps"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {getattr(self, name)}")
        if self.max_prompt_length >= self.max_length:
            raise ValueError(f"max_prompt_length ({self.max_prompt_length}) must be < max_length ({self.max_length})")
        if self.max_new_tokens > self.max_length - self.max_prompt_length:
            raise ValueError(
                f"max_new_tokens ({self.max_new_tokens}) must be <= max_length - max_prompt_length "
                f"({self.max_length - self.max_prompt_length}): generated responses must fit in a training sequence"
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.rloo_k < 2:
            raise ValueError(f"rloo_k must be >= 2 (RLOO's baseline is the other samples), got {self.rloo_k}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AIHFConfig:
        """A config from a dict (e.g. ``trainer_state.json``'s ``config``); unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown AIHFConfig fields: {sorted(unknown)}")
        return cls(**values)


# ---------------------------------------------------------------------------- loading and generation


def resolve_device(device: str) -> torch.device:
    """``"auto"`` is cuda when available, else cpu."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def make_accelerator(device: str):
    """The ``accelerate.Accelerator`` of this process: data parallel under ``accelerate launch``, else one process.

    :param device: the config's device; a CPU device under a multi-process launch makes accelerate join the
        processes over gloo (without ``cpu=True`` it would start no process group on a machine without GPU, and
        each process would train alone)
    """
    from accelerate import Accelerator
    from accelerate.utils import get_int_from_env

    # The same test as accelerate's; outside a launch cpu stays False, because accelerate's state is one per
    # process and refuses a later cpu=True once a trainer has put it on a GPU.
    launched = "LOCAL_RANK" in os.environ or get_int_from_env(WORLD_SIZE_VARIABLES, 1) > 1
    return Accelerator(cpu=launched and resolve_device(device).type == "cpu")


def load_tokenizer(tokenizer_or_path):
    """A tokenizer object as given, or ``AutoTokenizer.from_pretrained(path_or_name)``."""
    if isinstance(tokenizer_or_path, (str, os.PathLike)):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(tokenizer_or_path))
    return tokenizer_or_path


def load_policy(policy_or_path):
    """A causal LM as given, or ``AutoModelForCausalLM.from_pretrained(path_or_name)`` in float32."""
    if isinstance(policy_or_path, (str, os.PathLike)):
        from transformers import AutoModelForCausalLM

        # .float(): recent transformers load a checkpoint in its stored dtype (fp16 for Pythia).
        return AutoModelForCausalLM.from_pretrained(str(policy_or_path)).float()
    return policy_or_path


def ensure_pad_token(tokenizer, *models) -> None:
    """Give a tokenizer without a pad token its EOS token as pad (Pythia's tokenizer has none), and tell the
    models. This is safe here: every padded position is masked explicitly, never recognised by its id.

    :raises ValueError: the tokenizer has neither a pad nor an EOS token
    """
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has neither a pad token nor an EOS token: set tokenizer.pad_token")
        logger.info("the tokenizer has no pad token: using its EOS token %r as pad", tokenizer.eos_token)
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token: responses could never end; set tokenizer.eos_token")
    for model in models:
        if model is not None and getattr(model.config, "pad_token_id", None) is None:
            model.config.pad_token_id = tokenizer.pad_token_id


@torch.no_grad()
def generate_responses(
    model,
    prompt_ids: Sequence[Sequence[int]],
    pad_token_id: int,
    eos_token_id: int,
    max_new_tokens: int,
    num_samples: int = 1,
    do_sample: bool = True,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    batch_size: int = 16,
) -> list[list[int]]:
    """Sample responses to prompts: batched, left-padded ``model.generate``; each response is cut after its
    first EOS (kept) and is at most ``max_new_tokens`` long.

    :param model: a causal LM
    :param prompt_ids: P lists of prompt token ids
    :param pad_token_id: the pad id
    :param eos_token_id: the EOS id
    :param max_new_tokens: tokens generated at most
    :param num_samples: responses per prompt; the result lists the samples of a prompt consecutively
    :param do_sample: sample (True) or decode greedily (False)
    :param temperature: sampling temperature
    :param top_k: top-k filter, 0 = off
    :param top_p: nucleus filter, 1 = off
    :param batch_size: sequences per ``generate`` call
    :return: P · num_samples lists of response token ids
    """
    from transformers import GenerationConfig

    options: dict[str, Any] = dict(max_new_tokens=max_new_tokens, pad_token_id=pad_token_id, eos_token_id=eos_token_id)
    if do_sample:
        options.update(do_sample=True, temperature=temperature, top_k=top_k, top_p=top_p)
    else:
        options.update(do_sample=False)
    generation_config = GenerationConfig(**options)
    device = next(model.parameters()).device
    expanded = [p for p in prompt_ids for _ in range(num_samples)]
    responses: list[list[int]] = []
    for start in range(0, len(expanded), batch_size):
        chunk = expanded[start : start + batch_size]
        batch = pad_sequences(chunk, [[] for _ in chunk], pad_token_id, padding_side="left").to(device)
        out = model.generate(
            input_ids=batch.input_ids, attention_mask=batch.attention_mask, generation_config=generation_config
        )  # (b, T + new)
        for row in out[:, batch.input_ids.shape[1] :].tolist():
            if eos_token_id in row:
                row = row[: row.index(eos_token_id) + 1]
            responses.append(row)
    return responses


class _Cycler:
    """Minibatches of indices from a reshuffled cycle over ``n`` items.

    Data parallel: every process holds the same generator state, each call draws ``num_shards`` minibatches
    and a process keeps the ``shard``-th, so the processes' minibatches of a step are disjoint.
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


class _Optimiser:
    """AdamW with gradient clipping, for fp16 a gradient scaler, and the mean of the gradients over the
    processes of a data-parallel launch.

    :param accelerator: the trainer's ``accelerate.Accelerator`` (its backward pass, its processes)
    """

    def __init__(self, params, lr: float, weight_decay: float, max_grad_norm: float | None, fp16: bool, accelerator):
        self.params = [p for p in params if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay)
        self.max_grad_norm = max_grad_norm
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None
        self.accelerator = accelerator

    def backward(self, loss: torch.Tensor) -> None:
        self.accelerator.backward(self.scaler.scale(loss) if self.scaler is not None else loss)

    def average_gradients(self) -> None:
        """Replace each gradient by its mean over the processes (a no-op in one process).

        Done here, after the last micro-batch, rather than by wrapping the models in DistributedDataParallel:
        it needs no ``no_sync`` for gradient accumulation, and the reward model's forward pass (its base model
        and head called apart, see :func:`~aihf_control.llm.reward_model.sequence_scores`) needs no wrapper.
        """
        if self.accelerator.num_processes == 1:
            return
        for p in self.params:
            if p.grad is None:  # unused by this process's micro-batches: it still takes part in the mean
                p.grad = torch.zeros_like(p)
            p.grad.copy_(self.accelerator.reduce(p.grad, "mean"))

    def step(self) -> float:
        """One optimiser step; returns the gradient norm before clipping (NaN if not computed)."""
        self.average_gradients()  # before unscaling: an inf on any process then skips the step on all
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        norm = float("nan")
        if self.max_grad_norm is not None:
            norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm))
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm


def _mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for row in rows for k in row}
    return {k: sum(r[k] for r in rows if k in r) / sum(k in r for r in rows) for k in sorted(keys)}


# ---------------------------------------------------------------------------- the round loop


class BaseRoundTrainer:
    """The loop shared by both AIHF paths: loading, tokenising, generation, reference, rounds, checkpoints.

    Subclasses implement :meth:`train_round`.

    :param policy: an ``AutoModelForCausalLM`` or its path / hub name (loaded in float32); a model object is
        trained in place, in its own dtype
    :param tokenizer: a tokenizer or its path; None = the policy's path
    :param demonstrations: (prompt, response) pairs, or None
    :param preferences: (prompt, chosen, rejected) pairs, or None
    :param config: the settings; None = ``AIHFConfig()``
    :param reference: the frozen reference model; None = a copy of the policy as given
    """

    def __init__(
        self,
        policy,
        tokenizer=None,
        demonstrations: TextDemonstrations | None = None,
        preferences: TextPreferences | None = None,
        config: AIHFConfig | None = None,
        reference=None,
    ):
        self.config = cfg = config if config is not None else AIHFConfig()
        cfg.validate()
        if tokenizer is None:
            if not isinstance(policy, (str, os.PathLike)):
                raise ValueError("pass a tokenizer (or the policy as a path, where the tokenizer is read from)")
            tokenizer = policy
        self.accelerator = make_accelerator(cfg.device)
        if cfg.device == "auto":
            self.device = self.accelerator.device  # under a launch: this process's GPU
        else:
            self.device = resolve_device(cfg.device)
            if self.accelerator.num_processes > 1 and self.device.type != "cpu":
                raise ValueError(
                    f"device={cfg.device!r} puts every process on one device: use device='auto' under accelerate "
                    "launch (each process gets its own GPU), or 'cpu'"
                )
        self.amp_dtype = self._resolve_amp_dtype()
        torch.manual_seed(cfg.seed)
        self.generator = torch.Generator().manual_seed(cfg.seed)

        self.tokenizer = load_tokenizer(tokenizer)
        self.policy = load_policy(policy).to(self.device).eval()
        self.reference = (load_policy(reference) if reference is not None else copy.deepcopy(self.policy)).to(
            self.device
        )
        if self.amp_dtype is not None:
            self.reference.to(self.amp_dtype)
        self.reference.eval().requires_grad_(False)
        ensure_pad_token(self.tokenizer, self.policy, self.reference)
        self.pad_id, self.eos_id = self.tokenizer.pad_token_id, self.tokenizer.eos_token_id

        self.demonstrations, self.preferences = self._check_data(demonstrations, preferences)
        max_response = cfg.max_length - cfg.max_prompt_length
        if self.demonstrations is not None:
            self.demo_prompt_ids = tokenize_prompts(self.tokenizer, self.demonstrations.prompts, cfg.max_prompt_length)
            self.demo_response_ids = tokenize_responses(
                self.tokenizer, self.demonstrations.responses, max_response_length=max_response
            )
        if self.preferences is not None:
            self.pref_prompt_ids = tokenize_prompts(self.tokenizer, self.preferences.prompts, cfg.max_prompt_length)
            self.chosen_ids = tokenize_responses(
                self.tokenizer, self.preferences.chosen, max_response_length=max_response
            )
            self.rejected_ids = tokenize_responses(
                self.tokenizer, self.preferences.rejected, max_response_length=max_response
            )
            self.pref_labels = torch.tensor(self.preferences.labels, dtype=torch.float32)

        self.optimiser = _Optimiser(
            self.policy.parameters(),
            cfg.learning_rate,
            cfg.weight_decay,
            cfg.max_grad_norm,
            self._fp16,
            self.accelerator,
        )
        self.round = 0
        self.global_step = 0
        self.history: list[dict[str, float]] = []  # one row per optimiser step
        self.round_history: list[dict[str, float]] = []  # one row per round

    # ------------------------------------------------------------------ setup helpers

    def _resolve_amp_dtype(self) -> torch.dtype | None:
        mode = self.config.mixed_precision
        if mode == "auto":
            if self.device.type != "cuda":
                return None
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if mode == "fp16" and self.device.type != "cuda":
            raise ValueError("mixed_precision='fp16' needs a CUDA device; use 'bf16' or 'no' on CPU")
        return {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]

    @property
    def _fp16(self) -> bool:
        return self.amp_dtype == torch.float16

    def autocast(self):
        """The mixed-precision context of every forward pass (a no-op in float32)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _check_data(
        self, demos: TextDemonstrations | None, prefs: TextPreferences | None
    ) -> tuple[TextDemonstrations | None, TextPreferences | None]:
        cfg = self.config
        if demos is not None and len(demos) == 0:
            raise ValueError("the demonstrations are empty")
        if prefs is not None and len(prefs) == 0:
            raise ValueError("the preferences are empty")
        if (cfg.demo_weight > 0 or cfg.sft_weight > 0) and demos is None:
            raise ValueError("demo_weight or sft_weight > 0 needs demonstrations (or set both weights to 0)")
        if cfg.preference_weight > 0 and prefs is None:
            raise ValueError("preference_weight > 0 needs preferences (or set preference_weight=0)")
        return demos, prefs

    @property
    def uses_demo_pairs(self) -> bool:
        return self.config.demo_weight > 0

    @property
    def uses_preferences(self) -> bool:
        return self.config.preference_weight > 0

    # ------------------------------------------------------------------ generation and log-probs

    def generate(
        self, prompt_ids: Sequence[Sequence[int]], num_samples: int = 1, greedy: bool = False, model=None
    ) -> list[list[int]]:
        """Responses (token ids) of the policy (or ``model``) to tokenised prompts; see :func:`generate_responses`."""
        cfg = self.config
        with self.autocast():
            return generate_responses(
                model if model is not None else self.policy,
                prompt_ids,
                pad_token_id=self.pad_id,
                eos_token_id=self.eos_id,
                max_new_tokens=cfg.max_new_tokens,
                num_samples=num_samples,
                do_sample=not greedy,
                temperature=cfg.temperature,
                top_k=cfg.top_k,
                top_p=cfg.top_p,
                batch_size=cfg.generation_batch_size,
            )

    def generate_text(self, prompts: Sequence[str], num_samples: int = 1, greedy: bool = False) -> list[str]:
        """The policy's responses to prompts, decoded without special tokens (samples of a prompt consecutive)."""
        ids = self.generate(
            tokenize_prompts(self.tokenizer, prompts, self.config.max_prompt_length), num_samples, greedy
        )
        return self.tokenizer.batch_decode(ids, skip_special_tokens=True)

    def generate_across_processes(self, prompt_ids: Sequence[Sequence[int]]) -> list[list[int]]:
        """One sampled response per prompt, in order; under a data-parallel launch each process generates a
        contiguous share of the prompts and every process gets all responses."""
        if self.accelerator.num_processes == 1:
            return self.generate(prompt_ids)
        from accelerate.utils import gather_object

        with self.accelerator.split_between_processes(list(prompt_ids)) as share:
            return gather_object(self.generate(share))

    def cycler(self, n: int, batch_size: int) -> _Cycler:
        """A minibatch sampler over ``n`` items; each process of a data-parallel launch gets its own minibatches."""
        return _Cycler(n, batch_size, self.generator, self.accelerator.process_index, self.accelerator.num_processes)

    def reference_logprobs(self, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]]):
        """(N,) log π_ref(y|x) without gradient, on CPU."""
        with self.autocast():
            return batched_sequence_logprobs(
                self.reference, prompt_ids, response_ids, self.pad_id, self.config.eval_batch_size
            )

    def policy_logprobs(self, prompt_ids, response_ids) -> tuple[torch.Tensor, torch.Tensor]:
        """(log π(y|x) with gradient, number of response tokens), both (N,), one forward pass."""
        batch = pad_sequences(prompt_ids, response_ids, self.pad_id).to(self.device)
        with self.autocast():
            return sequence_logprobs(self.policy, batch), batch.num_response_tokens

    def refresh_reference(self) -> None:
        """Copy the policy's weights into the reference (self-play: the next round's π_ref is this π)."""
        self.reference.load_state_dict(self.policy.state_dict())
        self._on_reference_refreshed()

    def _on_reference_refreshed(self) -> None:
        pass

    # ------------------------------------------------------------------ rounds and checkpoints

    def train_round(self) -> dict[str, float]:
        raise NotImplementedError

    def train(self, rounds: int | None = None) -> list[dict[str, float]]:
        """Run ``rounds`` rounds (default ``config.rounds``); returns one summary dict per round."""
        cfg = self.config
        for _ in range(cfg.rounds if rounds is None else rounds):
            self.round += 1
            start = time.perf_counter()
            summary = {"round": self.round, **self.train_round()}
            summary["round_seconds"] = time.perf_counter() - start
            if cfg.refresh_reference:
                self.refresh_reference()
            if cfg.output_dir is not None:
                self.save_checkpoint(Path(cfg.output_dir) / f"round-{self.round:03d}", summary)
            self.round_history.append(summary)
            if self.accelerator.is_main_process:
                logger.info("round %d: %s", self.round, _format(summary))
        return self.round_history[-(cfg.rounds if rounds is None else rounds) :]

    def _record(self, row: dict[str, float]) -> dict[str, float]:
        """Count one optimiser step and keep (and log) its metrics; returns them, averaged over processes."""
        if self.accelerator.num_processes > 1:
            names = sorted(row)
            values = torch.tensor([row[name] for name in names], dtype=torch.float64, device=self.device)
            row = dict(zip(names, self.accelerator.reduce(values, "mean").tolist(), strict=True))
        self.global_step += 1
        self.history.append({"round": self.round, "step": self.global_step, **row})
        if self.accelerator.is_main_process and self.config.log_every and self.global_step % self.config.log_every == 0:
            logger.info("step %d: %s", self.global_step, _format(self.history[-1]))
        return row

    def _save_extra(self, directory: Path) -> None:
        """Hook: write more into a checkpoint directory (the reward-model path saves its reward model)."""

    def save_checkpoint(self, path: str | Path, summary: dict[str, float] | None = None) -> Path:
        """Save the policy (safetensors), tokenizer and ``trainer_state.json`` to ``path`` atomically: everything
        is written into a temporary sibling directory that then replaces ``path`` with ``os.replace``.

        Under a data-parallel launch the main process writes, and every process waits for it.

        :param path: the checkpoint directory
        :param summary: metrics to store in ``trainer_state.json``
        :return: ``path``
        """
        path = Path(path)
        if self.accelerator.is_main_process:
            self._write_checkpoint(path, summary)
        self.accelerator.wait_for_everyone()
        return path

    def _write_checkpoint(self, path: Path, summary: dict[str, float] | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            self.policy.save_pretrained(str(tmp))
            self.tokenizer.save_pretrained(str(tmp))
            self._save_extra(tmp)
            state = {
                "round": self.round,
                "global_step": self.global_step,
                "trainer": type(self).__name__,
                "config": asdict(self.config),
                "summary": summary or {},
            }
            (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2, default=str))
            if path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
                os.replace(path, old / path.name)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _format(row: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


def load_checkpoint(path: str | Path, device: str = "cpu"):
    """Load a checkpoint written by a trainer.

    :param path: a ``round-NNN`` directory
    :param device: where the model goes
    :return: (policy, tokenizer, state), state being ``trainer_state.json`` as a dict
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    state_file = path / "trainer_state.json"
    if not state_file.is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint: no trainer_state.json")
    policy = AutoModelForCausalLM.from_pretrained(str(path)).float().to(device).eval()
    return policy, AutoTokenizer.from_pretrained(str(path)), json.loads(state_file.read_text())


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The ``round-NNN`` directory with the highest round in ``output_dir``, or None."""
    rounds = sorted(p for p in Path(output_dir).glob("round-[0-9][0-9][0-9]*") if p.is_dir())
    return rounds[-1] if rounds else None


class AIHFTrainer(BaseRoundTrainer):
    """AIHF, direct path: the joint SPIN + DPO loss on the policy's log-probabilities (no reward model).

    Parameters: see :class:`BaseRoundTrainer`. After construction, :meth:`train` runs the rounds.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._reference_cache: dict[str, torch.Tensor] = {}
        self.generated_ids: list[list[int]] = []

    def _on_reference_refreshed(self) -> None:
        self._reference_cache.clear()

    def _cached_reference(self, name: str, prompt_ids, response_ids) -> torch.Tensor:
        if name not in self._reference_cache:
            self._reference_cache[name] = self.reference_logprobs(prompt_ids, response_ids)
        return self._reference_cache[name]

    def default_steps_per_round(self) -> int:
        """One pass over the larger data set (in micro-batches), divided into optimiser steps."""
        cfg = self.config
        micro = 1
        if self.demonstrations is not None and (self.uses_demo_pairs or cfg.sft_weight > 0):
            micro = max(micro, math.ceil(len(self.demonstrations) / cfg.demo_batch_size))
        if self.preferences is not None and self.uses_preferences:
            micro = max(micro, math.ceil(len(self.preferences) / cfg.preference_batch_size))
        # the processes of a data-parallel launch take their micro-batches side by side
        return max(1, math.ceil(micro / (cfg.gradient_accumulation_steps * self.accelerator.num_processes)))

    def prepare_round(self) -> dict[str, float]:
        """Generate this round's responses to the demonstration prompts and the reference log-probs."""
        start = time.perf_counter()
        if self.uses_demo_pairs:
            self.generated_ids = self.generate_across_processes(self.demo_prompt_ids)
        generation_seconds = time.perf_counter() - start
        start = time.perf_counter()
        if self.uses_demo_pairs:
            self.ref_demo = self._cached_reference("demo", self.demo_prompt_ids, self.demo_response_ids)
            self.ref_generated = self.reference_logprobs(self.demo_prompt_ids, self.generated_ids)
        if self.uses_preferences:
            self.ref_chosen = self._cached_reference("chosen", self.pref_prompt_ids, self.chosen_ids)
            self.ref_rejected = self._cached_reference("rejected", self.pref_prompt_ids, self.rejected_ids)
        return {"generation_seconds": generation_seconds, "reference_seconds": time.perf_counter() - start}

    def loss_on(self, demo_index: list[int] | None, pref_index: list[int] | None) -> dict[str, torch.Tensor]:
        """The loss of one micro-batch (all its sequences in one forward pass) and detached metrics.

        :param demo_index: indices of demonstrations (paired with this round's generated responses), or None
        :param pref_index: indices of preference pairs, or None
        :return: ``{"loss": differentiable scalar, other names: detached scalars}``
        """
        cfg = self.config
        prompts: list[list[int]] = []
        responses: list[list[int]] = []
        sizes: list[int] = []
        if demo_index is not None:
            prompts += [self.demo_prompt_ids[i] for i in demo_index]
            responses += [self.demo_response_ids[i] for i in demo_index]
            sizes.append(len(demo_index))
            if self.uses_demo_pairs:
                prompts += [self.demo_prompt_ids[i] for i in demo_index]
                responses += [self.generated_ids[i] for i in demo_index]
                sizes.append(len(demo_index))
        if pref_index is not None:
            prompts += [self.pref_prompt_ids[i] for i in pref_index] * 2
            responses += [self.chosen_ids[i] for i in pref_index] + [self.rejected_ids[i] for i in pref_index]
            sizes += [len(pref_index), len(pref_index)]
        logps, num_tokens = self.policy_logprobs(prompts, responses)  # (N,), (N,)
        parts = list(torch.split(logps, sizes))
        token_parts = list(torch.split(num_tokens, sizes))
        out: dict[str, torch.Tensor] = {}
        demo_logps = pref_logps = labels = None
        if demo_index is not None:
            policy_demo = parts.pop(0)
            demo_tokens = token_parts.pop(0)
            if self.uses_demo_pairs:
                policy_generated = parts.pop(0)
                token_parts.pop(0)
                d = torch.tensor(demo_index)
                demo_logps = (
                    policy_demo,
                    policy_generated,
                    self.ref_demo[d].to(self.device),
                    self.ref_generated[d].to(self.device),
                )
        if pref_index is not None:
            p = torch.tensor(pref_index)
            pref_logps = (parts[0], parts[1], self.ref_chosen[p].to(self.device), self.ref_rejected[p].to(self.device))
            labels = self.pref_labels[p].to(self.device)
        loss = None
        if demo_logps is not None or pref_logps is not None:
            terms = aihf_loss_terms(demo_logps, pref_logps, labels, cfg.beta, cfg.demo_weight, cfg.preference_weight)
            loss = terms.pop("loss")
            out.update({k: v.detach() for k, v in terms.items()})
        if cfg.sft_weight > 0 and demo_index is not None:
            out["sft_loss"] = sft_loss(policy_demo, demo_tokens)
            loss = cfg.sft_weight * out["sft_loss"] if loss is None else loss + cfg.sft_weight * out["sft_loss"]
            out["sft_loss"] = out["sft_loss"].detach()
        with torch.no_grad():
            for name, group in (("demo", demo_logps), ("preference", pref_logps)):
                if group is not None:
                    margin = implicit_rewards(group[0], group[2], cfg.beta) - implicit_rewards(
                        group[1], group[3], cfg.beta
                    )
                    out[f"{name}_margin"] = margin.mean()
                    out[f"{name}_accuracy"] = (margin > 0).float().mean()
        out["loss"] = loss
        return out

    def train_step(self, demo_sampler: _Cycler | None, pref_sampler: _Cycler | None) -> dict[str, float]:
        """One optimiser step of ``gradient_accumulation_steps`` micro-batches; returns the mean metrics."""
        accumulation = self.config.gradient_accumulation_steps
        rows = []
        for _ in range(accumulation):
            terms = self.loss_on(
                demo_sampler.next() if demo_sampler is not None else None,
                pref_sampler.next() if pref_sampler is not None else None,
            )
            self.optimiser.backward(terms["loss"] / accumulation)
            rows.append({k: float(v.detach()) for k, v in terms.items()})
        row = _mean_metrics(rows)
        row["grad_norm"] = self.optimiser.step()
        return row

    def samplers(self) -> tuple[_Cycler | None, _Cycler | None]:
        """Minibatch index samplers of the demonstrations and the preferences (None where unused)."""
        cfg = self.config
        demo_sampler = pref_sampler = None
        if self.demonstrations is not None and (self.uses_demo_pairs or cfg.sft_weight > 0):
            demo_sampler = self.cycler(len(self.demonstrations), cfg.demo_batch_size)
        if self.preferences is not None and self.uses_preferences:
            pref_sampler = self.cycler(len(self.preferences), cfg.preference_batch_size)
        return demo_sampler, pref_sampler

    def train_round(self) -> dict[str, float]:
        summary = self.prepare_round()
        demo_sampler, pref_sampler = self.samplers()
        rows = []
        start = time.perf_counter()
        for _ in range(self.config.steps_per_round or self.default_steps_per_round()):
            rows.append(self._record(self.train_step(demo_sampler, pref_sampler)))
        summary["optimisation_seconds"] = time.perf_counter() - start
        summary["steps"] = len(rows)
        return {**_mean_metrics(rows), **summary}
