"""A tiny, offline stand-in for Pythia, and a text task whose true reward is known by construction.

Used by the tests, ``examples/llm_tiny.py`` and ``benchmarks/llm.py``; nothing here downloads anything.

- :func:`build_tiny_tokenizer`: a word-level ``tokenizers`` tokenizer over :data:`VOCAB`, wrapped in
  ``PreTrainedTokenizerFast`` (pad ``<pad>``, EOS ``<eos>``).
- :func:`build_tiny_model`: a ``GPTNeoXForCausalLM`` (Pythia's architecture) with a few thousand parameters.
- The *topic task*: the prompt asks about a topic ("tell me about cats"); a response of at most
  :data:`MAX_WORDS` words scores :func:`true_reward` = +1 if it names the prompt's topic, -1 if it names
  another topic, +0.25 per positive word and -0.25 per negative word. The best responses are the topic
  and three positive words (score 1.75); a uniformly random response scores about -0.2 on average.
"""

from __future__ import annotations

import random
from pathlib import Path

TOPICS = ("cats", "dogs", "birds", "fish")
POSITIVE = ("good", "great", "nice", "happy")
NEGATIVE = ("bad", "awful", "sad", "ugly")
NEUTRAL = ("are", "very", "so", "the")
RESPONSE_WORDS = TOPICS + POSITIVE + NEGATIVE + NEUTRAL
PROMPT_WORDS = ("tell", "me", "about", "Human:", "Assistant:")
SPECIAL_TOKENS = ("<pad>", "<eos>", "<unk>")
VOCAB = SPECIAL_TOKENS + PROMPT_WORDS + RESPONSE_WORDS
MAX_WORDS = 4
BEST_REWARD = 1.75


def build_tiny_tokenizer(save_dir: str | Path | None = None):
    """A word-level tokenizer over :data:`VOCAB` (whitespace-split; unknown words become ``<unk>``).

    :param save_dir: if given, the tokenizer is saved there (``AutoTokenizer.from_pretrained`` reads it back)
    :return: a ``PreTrainedTokenizerFast``
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )
    if save_dir is not None:
        tokenizer.save_pretrained(str(save_dir))
    return tokenizer


def build_tiny_model(
    save_dir: str | Path | None = None,
    hidden_size: int = 16,
    num_layers: int = 2,
    num_heads: int = 2,
    seed: int = 0,
    num_labels: int | None = None,
):
    """A randomly initialised GPT-NeoX (Pythia's architecture) over :data:`VOCAB`.

    The defaults give about 5,000 parameters. With ``num_labels`` the model is a
    ``GPTNeoXForSequenceClassification`` (a reward model for ``num_labels=1``) instead of a causal LM.

    :param save_dir: if given, the model is saved there (safetensors)
    :param hidden_size: width of the residual stream
    :param num_layers: number of transformer blocks
    :param num_heads: attention heads (must divide ``hidden_size``)
    :param seed: torch seed of the initialisation
    :param num_labels: build a sequence classifier with this many outputs
    :return: the model, in eval mode
    """
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, GPTNeoXForSequenceClassification

    config = GPTNeoXConfig(
        vocab_size=len(VOCAB),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=64,
        rotary_pct=0.5,
        pad_token_id=VOCAB.index("<pad>"),
        eos_token_id=VOCAB.index("<eos>"),
        bos_token_id=VOCAB.index("<eos>"),
        tie_word_embeddings=False,
        num_labels=num_labels or 2,
    )
    torch.manual_seed(seed)
    model = GPTNeoXForCausalLM(config) if num_labels is None else GPTNeoXForSequenceClassification(config)
    model.eval()
    if save_dir is not None:
        model.save_pretrained(str(save_dir))
    return model


# ---------------------------------------------------------------------------- the topic task


def make_prompt(topic: str, hh: bool = False) -> str:
    """The prompt asking about ``topic``; in Anthropic-HH form when ``hh``."""
    return f"\n\nHuman: tell me about {topic}\n\nAssistant:" if hh else f"tell me about {topic}"


def prompt_topic(prompt: str) -> str | None:
    """The topic a prompt asks about (the last topic word in it), or None."""
    topics = [w for w in prompt.split() if w in TOPICS]
    return topics[-1] if topics else None


def true_reward(prompt: str, response: str) -> float:
    """The rule's score of a response: +1 for the prompt's topic, -1 for another topic, ±0.25 per
    positive/negative word; only the first :data:`MAX_WORDS` words count (each topic counted once)."""
    topic = prompt_topic(prompt)
    words = response.split()[:MAX_WORDS]
    score = float(topic in words) - float(any(w in TOPICS and w != topic for w in words))
    return score + 0.25 * (sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words))


def best_response(topic: str, rng: random.Random) -> str:
    """One of the rule's best responses for ``topic``: the topic and three positive words, shuffled."""
    words = [topic, *rng.sample(POSITIVE, MAX_WORDS - 1)]
    rng.shuffle(words)
    return " ".join(words)


def random_response(rng: random.Random) -> str:
    """A uniformly random response: 1 to :data:`MAX_WORDS` words drawn from :data:`RESPONSE_WORDS`."""
    return " ".join(rng.choice(RESPONSE_WORDS) for _ in range(rng.randint(1, MAX_WORDS)))


def make_demonstrations(n: int, seed: int = 0) -> list[dict]:
    """``n`` records ``{"prompt", "response"}`` with best responses to random topics."""
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        topic = rng.choice(TOPICS)
        records.append({"prompt": make_prompt(topic), "response": best_response(topic, rng)})
    return records


def make_preferences(n: int, seed: int = 0, hh: bool = False) -> list[dict]:
    """``n`` records ``{"prompt", "chosen", "rejected"}`` (or HH dialogues when ``hh``) of two random
    responses, the one with the higher :func:`true_reward` chosen (ties are redrawn)."""
    rng = random.Random(seed)
    records = []
    while len(records) < n:
        topic = rng.choice(TOPICS)
        prompt = make_prompt(topic, hh=hh)
        a, b = random_response(rng), random_response(rng)
        ra, rb = true_reward(prompt, a), true_reward(prompt, b)
        if ra == rb:
            continue
        chosen, rejected = (a, b) if ra > rb else (b, a)
        if hh:
            records.append({"chosen": f"{prompt} {chosen}", "rejected": f"{prompt} {rejected}"})
        else:
            records.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return records


def write_tiny_dataset(directory: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write the shipped tiny data set (16 demonstrations, 16 pairs, 8 HH pairs) into ``directory``.

    ``aihf_control/llm/data/tiny_*.jsonl`` were written by ``write_tiny_dataset("aihf_control/llm/data")``.
    """
    from aihf_control.llm.data import write_jsonl

    directory = Path(directory)
    return {
        "demos": write_jsonl(directory / "tiny_demos.jsonl", make_demonstrations(16, seed)),
        "prefs": write_jsonl(directory / "tiny_prefs.jsonl", make_preferences(16, seed + 1)),
        "hh_prefs": write_jsonl(directory / "tiny_hh_prefs.jsonl", make_preferences(8, seed + 2, hh=True)),
    }
