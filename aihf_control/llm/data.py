"""Text feedback for language models: demonstrations (prompt, response) and preferences (prompt, chosen,
rejected), read from JSONL files.

Demonstrations, one JSON object per line::

    {"prompt": "...", "response": "..."}

Preferences, either with an explicit prompt::

    {"prompt": "...", "chosen": "...", "rejected": "...", "label": 1.0}

or in Anthropic-HH form, where ``chosen`` and ``rejected`` are whole dialogues that share everything up to
the last ``"\\n\\nAssistant:"``; that shared part is the prompt (ending with ``"\\n\\nAssistant:"``)::

    {"chosen": "\\n\\nHuman: hi\\n\\nAssistant: hello!", "rejected": "\\n\\nHuman: hi\\n\\nAssistant: go away"}

``label`` is optional: P(chosen ≻ rejected) in [0, 1], 1 by default (soft labels as in
:func:`aihf_control.rewards.losses.preference_loss`). A missing or non-string field, a line that is not a JSON
object, or a file with no record raises ``ValueError`` naming the file, the line and the field.

The trainers take TRL's dataset formats (:mod:`datasets`): :func:`preference_dataset` turns preferences into
TRL's preference format (``prompt``, ``chosen``, ``rejected``, plus our optional ``label``) and
:func:`demonstration_dataset` demonstrations into TRL's prompt-completion format (``prompt``, ``completion``).
TRL tokenizes ``prompt + completion`` as one string, so a completion that does not start with whitespace after a
prompt that does not end with it is given one leading space (``"tell me about cats"`` + ``"cats are great"``).

The package ships a tiny synthetic data set (:func:`tiny_dataset_paths`) for tests and the worked example.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HH_ASSISTANT = "\n\nAssistant:"
_DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass
class TextDemonstrations:
    """Demonstrations: for each prompt, a response to imitate.

    :param prompts: N prompts
    :param responses: N demonstrated responses
    """

    prompts: list[str]
    responses: list[str]

    def __post_init__(self) -> None:
        if len(self.prompts) != len(self.responses):
            raise ValueError(f"{len(self.prompts)} prompts but {len(self.responses)} responses")

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, n: int) -> TextDemonstrations:
        """The first ``n`` demonstrations."""
        return TextDemonstrations(self.prompts[:n], self.responses[:n])


@dataclass
class TextPreferences:
    """Preference pairs: for each prompt, a chosen and a rejected response.

    :param prompts: N prompts
    :param chosen: N preferred responses
    :param rejected: N dispreferred responses
    :param labels: N probabilities P(chosen ≻ rejected); empty means all 1
    """

    prompts: list[str]
    chosen: list[str]
    rejected: list[str]
    labels: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.labels:
            self.labels = [1.0] * len(self.prompts)
        n = len(self.prompts)
        if not (len(self.chosen) == len(self.rejected) == len(self.labels) == n):
            raise ValueError(
                f"lengths differ: {n} prompts, {len(self.chosen)} chosen, {len(self.rejected)} rejected, "
                f"{len(self.labels)} labels"
            )
        bad = [y for y in self.labels if not 0.0 <= y <= 1.0]
        if bad:
            raise ValueError(f"labels must be probabilities in [0, 1], got {bad[0]}")

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, n: int) -> TextPreferences:
        """The first ``n`` pairs."""
        return TextPreferences(self.prompts[:n], self.chosen[:n], self.rejected[:n], self.labels[:n])


def _records(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: not valid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            yield number, record


def _text(record: dict, key: str, path: str | Path, number: int) -> str:
    if key not in record:
        raise ValueError(f"{path}:{number}: missing field {key!r} (fields present: {sorted(record)})")
    value = record[key]
    if not isinstance(value, str):
        raise ValueError(f"{path}:{number}: field {key!r} must be a string, got {type(value).__name__}")
    return value


def split_hh(dialogue: str) -> tuple[str, str]:
    """Split an Anthropic-HH dialogue into (prompt, response) at its last ``"\\n\\nAssistant:"``.

    The prompt keeps the ``"\\n\\nAssistant:"`` marker; the response is the text after it.

    :param dialogue: ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``
    :return: (prompt, response)
    """
    cut = dialogue.rfind(HH_ASSISTANT)
    if cut < 0:
        raise ValueError(f"not an HH dialogue: no {HH_ASSISTANT!r} in {dialogue[:80]!r}")
    cut += len(HH_ASSISTANT)
    return dialogue[:cut], dialogue[cut:]


def read_demonstrations(
    path: str | Path, prompt_field: str = "prompt", response_field: str = "response", limit: int | None = None
) -> TextDemonstrations:
    """Read demonstrations from a JSONL file of ``{"prompt": ..., "response": ...}`` objects.

    :param path: the JSONL file
    :param prompt_field: name of the prompt field
    :param response_field: name of the response field
    :param limit: read at most this many records; None reads all
    :return: the demonstrations
    """
    prompts, responses = [], []
    for number, record in _records(path):
        if limit is not None and len(prompts) >= limit:
            break
        prompts.append(_text(record, prompt_field, path, number))
        responses.append(_text(record, response_field, path, number))
    if not prompts:
        raise ValueError(f"{path}: no demonstrations (the file is empty)")
    return TextDemonstrations(prompts, responses)


def read_preferences(path: str | Path, limit: int | None = None) -> TextPreferences:
    """Read preference pairs from a JSONL file, with an explicit ``prompt`` field or in Anthropic-HH form.

    A record with a ``prompt`` field is read as (prompt, chosen, rejected); one without is read as HH
    dialogues, split with :func:`split_hh`; their prompts must then be identical. ``label`` is optional.

    :param path: the JSONL file
    :param limit: read at most this many records; None reads all
    :return: the preference pairs
    """
    prompts, chosen, rejected, labels = [], [], [], []
    for number, record in _records(path):
        if limit is not None and len(prompts) >= limit:
            break
        c, r = _text(record, "chosen", path, number), _text(record, "rejected", path, number)
        if "prompt" in record:
            prompt = _text(record, "prompt", path, number)
        else:
            try:
                prompt, c = split_hh(c)
                prompt_r, r = split_hh(r)
            except ValueError as e:
                raise ValueError(f"{path}:{number}: no 'prompt' field and {e}") from None
            if prompt != prompt_r:
                raise ValueError(
                    f"{path}:{number}: no 'prompt' field, and 'chosen' and 'rejected' differ before their last "
                    f"{HH_ASSISTANT!r}: add an explicit 'prompt' field"
                )
        label = record.get("label", 1.0)
        if isinstance(label, bool) or not isinstance(label, (int, float)) or not 0.0 <= label <= 1.0:
            raise ValueError(f"{path}:{number}: field 'label' must be a number in [0, 1], got {label!r}")
        prompts.append(prompt)
        chosen.append(c)
        rejected.append(r)
        labels.append(float(label))
    if not prompts:
        raise ValueError(f"{path}: no preference pairs (the file is empty)")
    return TextPreferences(prompts, chosen, rejected, labels)


def write_jsonl(path: str | Path, records: list[dict]) -> Path:
    """Write records one JSON object per line (the format the readers read)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def tiny_dataset_paths() -> dict[str, Path]:
    """Paths of the shipped tiny synthetic data set (for tests and the worked example, not for learning).

    :return: ``{"demos": ..., "prefs": ..., "hh_prefs": ...}``: demonstrations, preferences with a prompt
        field, and the same kind of preferences in Anthropic-HH form
    """
    return {
        "demos": _DATA_DIR / "tiny_demos.jsonl",
        "prefs": _DATA_DIR / "tiny_prefs.jsonl",
        "hh_prefs": _DATA_DIR / "tiny_hh_prefs.jsonl",
    }


def join_completion(prompt: str, completion: str) -> str:
    """The completion as TRL should append it to the prompt: with one leading space where neither side has
    whitespace at the join (TRL tokenizes ``prompt + completion``; without it two words would fuse).

    :param prompt: the prompt text
    :param completion: the response text
    :return: the completion, possibly with a leading space
    """
    if prompt and completion and not prompt[-1].isspace() and not completion[0].isspace():
        return " " + completion
    return completion


def preference_dataset(preferences: TextPreferences):
    """Preferences as a ``datasets.Dataset`` in TRL's preference format: ``prompt``, ``chosen``, ``rejected`` and
    ``label`` (P(chosen ≻ rejected); TRL's DPO has no such column, AIHF's trainer reads it).

    :param preferences: the pairs
    :return: the dataset, one row per pair
    """
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "prompt": list(preferences.prompts),
            "chosen": [join_completion(p, c) for p, c in zip(preferences.prompts, preferences.chosen, strict=True)],
            "rejected": [join_completion(p, r) for p, r in zip(preferences.prompts, preferences.rejected, strict=True)],
            "label": [float(y) for y in preferences.labels],
        }
    )


def demonstration_dataset(demonstrations: TextDemonstrations):
    """Demonstrations as a ``datasets.Dataset`` in TRL's prompt-completion format: ``prompt``, ``completion``.

    :param demonstrations: the (prompt, response) pairs
    :return: the dataset, one row per demonstration
    """
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "prompt": list(demonstrations.prompts),
            "completion": [
                join_completion(p, r) for p, r in zip(demonstrations.prompts, demonstrations.responses, strict=True)
            ],
        }
    )
