"""Tokenising (prompt, response) pairs, padding them, and per-sequence response log-probabilities.

A sequence is ``prompt tokens + response tokens``; its log-probability ``log π(y|x)`` is the sum of the
next-token log-probabilities of the response tokens only. Prompts and responses are tokenised
separately and concatenated, so the prompt/response boundary is exact in tokens. Padding (left or right)
never changes a value: pads are masked out of attention, position ids count real tokens only, and
only positions marked in ``response_mask`` are summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class SequenceBatch:
    """A padded batch of prompt + response token sequences.

    :param input_ids: (B, T) token ids, padded with the pad token
    :param attention_mask: (B, T) 1 on real tokens, 0 on padding
    :param response_mask: (B, T) 1 on response tokens (the ones whose log-probability is summed)
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    response_mask: torch.Tensor

    def to(self, device: torch.device | str) -> SequenceBatch:
        return SequenceBatch(self.input_ids.to(device), self.attention_mask.to(device), self.response_mask.to(device))

    @property
    def num_response_tokens(self) -> torch.Tensor:
        """(B,) number of response tokens in each sequence."""
        return self.response_mask.sum(-1)

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def pad_sequences(
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    pad_token_id: int,
    padding_side: str = "right",
) -> SequenceBatch:
    """Concatenate each prompt with its response and pad the batch to the longest sequence.

    :param prompt_ids: B lists of prompt token ids
    :param response_ids: B lists of response token ids
    :param pad_token_id: the id written in padded positions (masked out everywhere)
    :param padding_side: "right" (training) or "left" (generation: every prompt ends at the same column)
    :return: the batch
    """
    if len(prompt_ids) != len(response_ids):
        raise ValueError(f"{len(prompt_ids)} prompts but {len(response_ids)} responses")
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    if len(prompt_ids) == 0:
        raise ValueError("cannot pad an empty batch")
    length = max(len(p) + len(r) for p, r in zip(prompt_ids, response_ids, strict=True))
    batch = len(prompt_ids)
    input_ids = torch.full((batch, length), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, length), dtype=torch.long)
    response_mask = torch.zeros((batch, length), dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids, strict=True)):
        n = len(p) + len(r)
        start = length - n if padding_side == "left" else 0
        input_ids[i, start : start + n] = torch.tensor(list(p) + list(r), dtype=torch.long)
        attention_mask[i, start : start + n] = 1
        response_mask[i, start + len(p) : start + n] = 1
    return SequenceBatch(input_ids, attention_mask, response_mask)


def tokenize_prompts(tokenizer, prompts: Sequence[str], max_prompt_length: int | None = None) -> list[list[int]]:
    """Token ids of each prompt (with the tokenizer's special tokens, e.g. a BOS), keeping the last
    ``max_prompt_length`` tokens of a longer prompt (the end of a dialogue matters most).

    :param tokenizer: a Hugging Face tokenizer
    :param prompts: B prompt strings
    :param max_prompt_length: keep at most this many tokens per prompt; None keeps all
    :return: B lists of token ids
    """
    if not prompts:
        return []
    ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    if max_prompt_length is not None:
        ids = [p[-max_prompt_length:] if len(p) > max_prompt_length else p for p in ids]
    return [list(p) for p in ids]


def tokenize_responses(
    tokenizer,
    responses: Sequence[str],
    add_eos: bool = True,
    max_response_length: int | None = None,
) -> list[list[int]]:
    """Token ids of each response (no special tokens), followed by EOS so that the policy learns to stop.

    :param tokenizer: a Hugging Face tokenizer with an ``eos_token_id`` when ``add_eos``
    :param responses: B response strings
    :param add_eos: append the EOS token
    :param max_response_length: keep the first this many tokens (EOS included); None keeps all
    :return: B lists of token ids
    """
    if not responses:
        return []
    ids = [list(r) for r in tokenizer(list(responses), add_special_tokens=False)["input_ids"]]
    if add_eos:
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no eos_token: pass add_eos=False or set tokenizer.eos_token")
        ids = [[*r, tokenizer.eos_token_id] for r in ids]
    if max_response_length is not None:
        ids = [r[:max_response_length] for r in ids]
    return ids


def position_ids_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counting real tokens only, so a left-padded sequence gets the positions it has unpadded.

    :param attention_mask: (B, T) 1 on real tokens
    :return: (B, T) position ids (0 on left padding)
    """
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def gather_response_logprobs(
    logits: torch.Tensor, input_ids: torch.Tensor, response_mask: torch.Tensor
) -> torch.Tensor:
    """Sum of ``log p(token_t | tokens_<t)`` over the positions t marked in ``response_mask``.

    :param logits: (B, T, V) next-token logits; logits[:, t] predicts input_ids[:, t + 1]
    :param input_ids: (B, T) token ids
    :param response_mask: (B, T) 1 on response tokens; position 0 cannot be a response token
    :return: (B,) summed log-probabilities, in float32
    """
    logits = logits[:, :-1].float()  # (B, T-1, V)
    targets = input_ids[:, 1:]  # (B, T-1)
    mask = response_mask[:, 1:].bool()  # (B, T-1)
    # gather - logsumexp: log_softmax at the targets only, without a second (B, T, V) tensor.
    token_logps = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)  # (B, T-1)
    # where (not a product with the mask) so that a non-finite value at a pad position cannot leak in.
    return torch.where(mask, token_logps, torch.zeros_like(token_logps)).sum(-1)


def sequence_logprobs(model, batch: SequenceBatch) -> torch.Tensor:
    """``log π(y|x)`` of each sequence of the batch: response tokens only, padding-invariant.

    :param model: a causal LM (``AutoModelForCausalLM``) on the batch's device
    :param batch: the sequences (left or right padded)
    :return: (B,) summed response log-probabilities, float32, differentiable w.r.t. the model
    """
    logits = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=position_ids_from_mask(batch.attention_mask),
        use_cache=False,
    ).logits  # (B, T, V)
    return gather_response_logprobs(logits, batch.input_ids, batch.response_mask)


@torch.no_grad()
def batched_sequence_logprobs(
    model,
    prompt_ids: Sequence[Sequence[int]],
    response_ids: Sequence[Sequence[int]],
    pad_token_id: int,
    batch_size: int,
) -> torch.Tensor:
    """:func:`sequence_logprobs` without gradient over many sequences, ``batch_size`` at a time (on CPU).

    :param model: a causal LM
    :param prompt_ids: N lists of prompt token ids
    :param response_ids: N lists of response token ids
    :param pad_token_id: the pad id
    :param batch_size: sequences per forward pass
    :return: (N,) log-probabilities on CPU
    """
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(prompt_ids), batch_size):
        sl = slice(start, start + batch_size)
        batch = pad_sequences(prompt_ids[sl], response_ids[sl], pad_token_id).to(device)
        out.append(sequence_logprobs(model, batch).float().cpu())
    return torch.cat(out) if out else torch.zeros(0)
