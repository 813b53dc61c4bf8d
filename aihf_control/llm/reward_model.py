"""AIHF's reward-model path: a Bradley–Terry reward model learned jointly from demonstrations and preferences,
and a policy improved against it with RLOO, KL-regularised to the reference.

Each round of :class:`RewardModelAIHFTrainer`:

1. sample one response per demonstration prompt from the current policy;
2. ``reward_steps`` reward-model steps on
   ``demo_weight · BT(r(x, y_demo) ≻ r(x, y_π)) + preference_weight · BT(r(x, y_w) ≻ r(x, y_l))``
   (:func:`aihf_control.llm.losses.reward_model_loss`);
3. ``policy_steps`` RLOO steps: ``rloo_k`` responses per prompt (prompts of both data sets), rewarded
   ``r(x, y) - kl_coef · (log π(y|x) - log π_ref(y|x))`` (:func:`~aihf_control.llm.losses.kl_penalised_rewards`),
   each advantage the reward minus the mean of the other samples' (:func:`~aihf_control.llm.losses.rloo_loss`).

The reward model is an ``AutoModelForSequenceClassification`` with one label that shares the policy's
tokenizer (as Pythia's reward and policy models do); its score of a sequence is its head applied to the last
real token's hidden state (:func:`sequence_scores`), whatever the padding side.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from aihf_control.llm.logprobs import SequenceBatch, pad_sequences, position_ids_from_mask
from aihf_control.llm.losses import kl_penalised_rewards, reward_model_loss, rloo_loss
from aihf_control.llm.trainer import BaseRoundTrainer, _mean_metrics, _Optimiser

SCORE_HEADS = ("score", "classifier")


def load_reward_model(reward_model_or_path, pad_token_id: int | None = None):
    """A reward model as given, or ``AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)``.

    :param reward_model_or_path: a sequence classifier with one output, or its path / hub name
    :param pad_token_id: written into the model's config when it has none
    :return: the model (float32 when loaded here)
    """
    if isinstance(reward_model_or_path, (str, os.PathLike)):
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(str(reward_model_or_path), num_labels=1).float()
    else:
        model = reward_model_or_path
    if getattr(model.config, "num_labels", 1) != 1:
        raise ValueError(f"a reward model has one output (num_labels=1), this one has {model.config.num_labels}")
    if pad_token_id is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = pad_token_id
    return model


def sequence_scores(reward_model, batch: SequenceBatch) -> torch.Tensor:
    """Scalar reward of each sequence: the classification head on the hidden state of its last real token.

    Pooling is done here from the attention mask (not from pad-token ids as ``forward`` does), so left and right
    padding agree, and a pad token equal to EOS (Pythia) is still scored at the final EOS.

    :param reward_model: an ``AutoModelForSequenceClassification`` with one label and a ``score`` (or
        ``classifier``) linear head
    :param batch: the sequences
    :return: (B,) scores in float32
    """
    head = next((getattr(reward_model, n) for n in SCORE_HEADS if hasattr(reward_model, n)), None)
    if head is None:
        raise TypeError(
            f"{type(reward_model).__name__} has no {' or '.join(SCORE_HEADS)} head: use an "
            "AutoModelForSequenceClassification of a decoder (GPT-NeoX/Pythia, Llama, GPT-2, ...)"
        )
    hidden = reward_model.base_model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=position_ids_from_mask(batch.attention_mask),
        use_cache=False,
    )[0]  # (B, T, H)
    length = batch.attention_mask.shape[1]
    positions = torch.arange(length, device=hidden.device)  # (T,)
    last = (positions * batch.attention_mask).argmax(-1)  # (B,) index of the last real token
    pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, H)
    return head(pooled).squeeze(-1).float()


class RewardModelAIHFTrainer(BaseRoundTrainer):
    """AIHF with an explicit reward model: BT reward learning on demonstrations and preferences, then RLOO.

    :param policy: an ``AutoModelForCausalLM`` or its path / hub name
    :param reward_model: an ``AutoModelForSequenceClassification`` (1 label) or its path / hub name; it must
        use the policy's tokenizer
    :param tokenizer: a tokenizer or its path; None = the policy's path
    :param demonstrations: (prompt, response) pairs, or None
    :param preferences: (prompt, chosen, rejected) pairs, or None
    :param config: the settings (``reward_*``, ``policy_steps``, ``rloo_*`` and ``kl_coef`` are used here;
        ``beta`` and ``sft_weight`` are not)
    :param reference: the frozen reference; None = a copy of the policy
    """

    def __init__(
        self,
        policy,
        reward_model,
        tokenizer=None,
        demonstrations=None,
        preferences=None,
        config=None,
        reference=None,
    ):
        super().__init__(policy, tokenizer, demonstrations, preferences, config, reference)
        cfg = self.config
        if cfg.sft_weight > 0:
            raise ValueError("sft_weight is only used by the direct path (AIHFTrainer); set it to 0 here")
        if cfg.demo_weight == 0 and cfg.preference_weight == 0:
            raise ValueError("demo_weight and preference_weight are both 0: the reward model has nothing to learn")
        self.reward_model = load_reward_model(reward_model, self.pad_id).to(self.device).eval()
        self.reward_optimiser = _Optimiser(
            self.reward_model.parameters(),
            cfg.reward_learning_rate,
            cfg.weight_decay,
            cfg.max_grad_norm,
            self._fp16,
            self.accelerator,
        )
        # RLOO prompts: every distinct prompt of both data sets, in first-seen order.
        seen: dict[tuple[int, ...], None] = {}
        if self.demonstrations is not None:
            seen.update(dict.fromkeys(tuple(p) for p in self.demo_prompt_ids))
        if self.preferences is not None:
            seen.update(dict.fromkeys(tuple(p) for p in self.pref_prompt_ids))
        self.rl_prompt_ids = [list(p) for p in seen]
        self.sample_ids: list[list[int]] = []

    def scores(self, prompt_ids, response_ids) -> torch.Tensor:
        """(N,) reward-model scores, with gradient, in one forward pass."""
        batch = pad_sequences(prompt_ids, response_ids, self.pad_id).to(self.device)
        with self.autocast():
            return sequence_scores(self.reward_model, batch)

    def reward_loss_on(self, demo_index: list[int] | None, pref_index: list[int] | None) -> dict[str, torch.Tensor]:
        """Reward-model loss of one micro-batch and detached accuracies."""
        cfg = self.config
        prompts, responses, sizes = [], [], []
        if demo_index is not None:
            prompts += [self.demo_prompt_ids[i] for i in demo_index] * 2
            responses += [self.demo_response_ids[i] for i in demo_index] + [self.sample_ids[i] for i in demo_index]
            sizes += [len(demo_index)] * 2
        if pref_index is not None:
            prompts += [self.pref_prompt_ids[i] for i in pref_index] * 2
            responses += [self.chosen_ids[i] for i in pref_index] + [self.rejected_ids[i] for i in pref_index]
            sizes += [len(pref_index)] * 2
        parts = list(torch.split(self.scores(prompts, responses), sizes))
        demo_s = sample_s = chosen_s = rejected_s = labels = None
        if demo_index is not None:
            demo_s, sample_s = parts.pop(0), parts.pop(0)
        if pref_index is not None:
            chosen_s, rejected_s = parts
            labels = self.pref_labels[torch.tensor(pref_index)].to(self.device)
        loss = reward_model_loss(demo_s, sample_s, chosen_s, rejected_s, labels, cfg.demo_weight, cfg.preference_weight)
        out = {"reward_loss": loss}
        with torch.no_grad():
            if demo_s is not None:
                out["reward_demo_accuracy"] = (demo_s > sample_s).float().mean()
            if chosen_s is not None:
                out["reward_preference_accuracy"] = (
                    torch.where(labels >= 0.5, chosen_s > rejected_s, rejected_s > chosen_s).float().mean()
                )
        return out

    def policy_loss_on(self, prompt_index: list[int]) -> dict[str, torch.Tensor]:
        """RLOO loss of one micro-batch: ``rloo_k`` fresh samples for each indexed prompt."""
        cfg = self.config
        prompts = [self.rl_prompt_ids[i] for i in prompt_index]
        responses = self.generate(prompts, num_samples=cfg.rloo_k)  # P·K, samples of a prompt consecutive
        expanded = [p for p in prompts for _ in range(cfg.rloo_k)]
        logps, _ = self.policy_logprobs(expanded, responses)  # (P·K,)
        with torch.no_grad():
            ref_logps = self.reference_logprobs(expanded, responses).to(self.device)  # (P·K,)
            scores = self.scores(expanded, responses)  # (P·K,)
        rewards = kl_penalised_rewards(scores, logps.detach(), ref_logps, cfg.kl_coef)  # (P·K,)
        shape = (len(prompts), cfg.rloo_k)
        loss = rloo_loss(logps.view(shape), rewards.view(shape))
        kl = (logps.detach() - ref_logps).mean()
        return {"policy_loss": loss, "score": scores.mean(), "kl": kl, "penalised_reward": rewards.mean()}

    def _accumulate(self, optimiser: _Optimiser, loss_fn, key: str) -> dict[str, float]:
        accumulation = self.config.gradient_accumulation_steps
        rows = []
        for _ in range(accumulation):
            terms = loss_fn()
            optimiser.backward(terms[key] / accumulation)
            rows.append({k: float(v.detach()) for k, v in terms.items()})
        row = _mean_metrics(rows)
        row[f"{key}_grad_norm"] = optimiser.step()
        return row

    def default_reward_steps(self) -> int:
        cfg = self.config
        micro = 1
        if self.demonstrations is not None and self.uses_demo_pairs:
            micro = max(micro, -(-len(self.demonstrations) // cfg.demo_batch_size))
        if self.preferences is not None and self.uses_preferences:
            micro = max(micro, -(-len(self.preferences) // cfg.preference_batch_size))
        return max(1, -(-micro // (cfg.gradient_accumulation_steps * self.accelerator.num_processes)))

    def train_round(self) -> dict[str, float]:
        cfg = self.config
        start = time.perf_counter()
        if self.uses_demo_pairs:
            self.sample_ids = self.generate_across_processes(self.demo_prompt_ids)
        summary = {"generation_seconds": time.perf_counter() - start}

        demo_sampler = pref_sampler = None
        if self.uses_demo_pairs:
            demo_sampler = self.cycler(len(self.demonstrations), cfg.demo_batch_size)
        if self.uses_preferences:
            pref_sampler = self.cycler(len(self.preferences), cfg.preference_batch_size)
        reward_rows = []
        start = time.perf_counter()
        self.reward_model.requires_grad_(True)
        for _ in range(cfg.reward_steps or self.default_reward_steps()):
            row = self._accumulate(
                self.reward_optimiser,
                lambda: self.reward_loss_on(
                    demo_sampler.next() if demo_sampler else None, pref_sampler.next() if pref_sampler else None
                ),
                "reward_loss",
            )
            reward_rows.append(self._record(row))
        self.reward_model.requires_grad_(False)
        summary["reward_seconds"] = time.perf_counter() - start

        prompt_sampler = self.cycler(len(self.rl_prompt_ids), cfg.rloo_prompts)
        policy_rows = []
        start = time.perf_counter()
        for _ in range(cfg.policy_steps):
            row = self._accumulate(self.optimiser, lambda: self.policy_loss_on(prompt_sampler.next()), "policy_loss")
            policy_rows.append(self._record(row))
        summary["policy_seconds"] = time.perf_counter() - start
        return {**_mean_metrics(reward_rows), **_mean_metrics(policy_rows), **summary}

    def _save_extra(self, directory: Path) -> None:
        self.reward_model.save_pretrained(str(directory / "reward_model"))


def load_reward_checkpoint(path: str | Path, device: str = "cpu"):
    """The reward model saved in a ``round-NNN`` checkpoint of :class:`RewardModelAIHFTrainer`."""
    from transformers import AutoModelForSequenceClassification

    directory = Path(path) / "reward_model"
    if not directory.is_dir():
        raise FileNotFoundError(f"{path} has no reward_model/: not a reward-model-path checkpoint")
    return AutoModelForSequenceClassification.from_pretrained(str(directory)).float().to(device).eval()
