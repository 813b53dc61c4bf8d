"""Sampling responses of a causal LM to tokenized prompts: batched, left-padded ``model.generate``.

The AIHF trainer samples the policy's side of each demonstration pair with it; the reward-model path, the
command line and the benchmark sample evaluation responses with it. It needs transformers only when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from aihf_control.llm.logprobs import pad_sequences


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
    was_training = model.training
    model.eval()
    try:
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
    finally:
        model.train(was_training)
    return responses
