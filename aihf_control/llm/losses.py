"""The AIHF objective on language models, as pure functions of per-sequence log-probabilities.

Every log-probability here is ``log π(y | x)`` summed over the response tokens of y (the prompt tokens
x are masked out; see :func:`aihf_control.llm.logprobs.sequence_logprobs`). With the implicit reward
``r(x, y) = β · (log π(y|x) − log π_ref(y|x))`` of DPO (Rafailov et al. 2023):

- the preference term is DPO: the Bradley–Terry loss of r on (chosen ≻ rejected) pairs;
- the demonstration term is SPIN (Chen et al. 2024): the same loss on (demonstration ≻ response the
  current policy generated for the same prompt) pairs;
- the joint AIHF loss is ``demo_weight · L_demo + preference_weight · L_pref``.

With ``demo_weight=0`` the joint loss is exactly the DPO loss, with ``preference_weight=0`` exactly the
SPIN loss. Both terms call :func:`aihf_control.rewards.losses.preference_loss`, the Bradley–Terry loss the
control side of the package uses, so soft labels mean the same thing everywhere.

The reward-model path (:mod:`aihf_control.llm.reward_model`) uses :func:`reward_model_loss` (the same two
Bradley–Terry terms on a reward model's scalar scores) and :func:`rloo_loss` (REINFORCE leave-one-out with
a KL penalty to the reference, :func:`kl_penalised_rewards`).
"""

from __future__ import annotations

import torch

from aihf_control.rewards.losses import preference_loss


def _check_beta(beta: float) -> None:
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (the implicit reward is beta * log(pi / pi_ref)), got {beta}")


def bradley_terry_loss(
    scores_1: torch.Tensor, scores_2: torch.Tensor, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Bradley–Terry loss ``-[y log σ(s¹ - s²) + (1 - y) log σ(s² - s¹)]`` averaged over pairs.

    :param scores_1: (B,) score of the first response of each pair
    :param scores_2: (B,) score of the second response
    :param labels: (B,) y = P(first ≻ second) in [0, 1]; None means 1 (the first is preferred)
    :return: scalar loss
    """
    if labels is None:
        labels = torch.ones_like(scores_1)
    return preference_loss(scores_1, scores_2, labels.to(scores_1.dtype))


def implicit_rewards(policy_logps: torch.Tensor, reference_logps: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO's implicit reward ``β · (log π(y|x) - log π_ref(y|x))``.

    :param policy_logps: (B,) log π(y|x), summed over response tokens
    :param reference_logps: (B,) log π_ref(y|x)
    :param beta: β > 0, the strength of the KL regularisation towards π_ref
    :return: (B,) implicit rewards
    """
    _check_beta(beta)
    return beta * (policy_logps - reference_logps)


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    reference_chosen_logps: torch.Tensor,
    reference_rejected_logps: torch.Tensor,
    beta: float = 0.1,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """DPO loss ``-log σ(β[(log π(y_w|x) - log π_ref(y_w|x)) - (log π(y_l|x) - log π_ref(y_l|x))])``, averaged.

    With soft labels y it is the Bradley–Terry cross-entropy of the implicit rewards (as in cDPO).

    :param policy_chosen_logps: (B,) log π(y_w|x)
    :param policy_rejected_logps: (B,) log π(y_l|x)
    :param reference_chosen_logps: (B,) log π_ref(y_w|x)
    :param reference_rejected_logps: (B,) log π_ref(y_l|x)
    :param beta: β > 0
    :param labels: (B,) P(y_w ≻ y_l); None means 1
    :return: scalar loss
    """
    return bradley_terry_loss(
        implicit_rewards(policy_chosen_logps, reference_chosen_logps, beta),
        implicit_rewards(policy_rejected_logps, reference_rejected_logps, beta),
        labels,
    )


def spin_loss(
    policy_demo_logps: torch.Tensor,
    policy_generated_logps: torch.Tensor,
    reference_demo_logps: torch.Tensor,
    reference_generated_logps: torch.Tensor,
    beta: float = 0.1,
) -> torch.Tensor:
    """The demonstration term in SPIN form: DPO with y_w = the demonstration, y_l = a self-generated response.

    :param policy_demo_logps: (B,) log π(y_demo|x)
    :param policy_generated_logps: (B,) log π(y_gen|x), y_gen sampled from the current policy (or π_ref)
    :param reference_demo_logps: (B,) log π_ref(y_demo|x)
    :param reference_generated_logps: (B,) log π_ref(y_gen|x)
    :param beta: β > 0
    :return: scalar loss
    """
    return dpo_loss(policy_demo_logps, policy_generated_logps, reference_demo_logps, reference_generated_logps, beta)


def _check_weights(demo_weight: float, preference_weight: float) -> None:
    if demo_weight < 0 or preference_weight < 0:
        raise ValueError(f"weights must be >= 0, got demo_weight={demo_weight}, preference_weight={preference_weight}")
    if demo_weight == 0 and preference_weight == 0:
        raise ValueError("demo_weight and preference_weight are both 0: there is nothing to learn from")


def aihf_loss_terms(
    demo_logps: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None,
    preference_logps: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None,
    labels: torch.Tensor | None = None,
    beta: float = 0.1,
    demo_weight: float = 1.0,
    preference_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The joint AIHF loss and its two terms; see :func:`aihf_loss`.

    :return: ``{"loss": ..., "demo_loss": ..., "preference_loss": ...}``; a term that is left out is absent
    """
    _check_beta(beta)
    _check_weights(demo_weight, preference_weight)
    terms: dict[str, torch.Tensor] = {}
    if demo_weight != 0 and demo_logps is not None:
        terms["demo_loss"] = spin_loss(*demo_logps, beta=beta)
    if preference_weight != 0 and preference_logps is not None:
        terms["preference_loss"] = dpo_loss(*preference_logps, beta=beta, labels=labels)
    if not terms:
        raise ValueError("aihf_loss got no term to compute: pass demo log-probs, preference log-probs, or both")
    loss = None
    if "demo_loss" in terms:
        loss = demo_weight * terms["demo_loss"]
    if "preference_loss" in terms:
        weighted = preference_weight * terms["preference_loss"]
        loss = weighted if loss is None else loss + weighted
    terms["loss"] = loss
    return terms


def aihf_loss(
    demo_logps: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None,
    preference_logps: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None,
    labels: torch.Tensor | None = None,
    beta: float = 0.1,
    demo_weight: float = 1.0,
    preference_weight: float = 1.0,
) -> torch.Tensor:
    """The joint AIHF loss ``demo_weight · L_SPIN + preference_weight · L_DPO`` on sequence log-probs.

    A term whose weight is 0 or whose log-probs are None is left out (not multiplied by 0), so
    ``aihf_loss(None, p, y, beta, demo_weight=0)`` is exactly ``dpo_loss(*p, beta, y)`` and
    ``aihf_loss(d, None, beta=beta, preference_weight=0)`` exactly ``spin_loss(*d, beta)``.

    :param demo_logps: (policy_demo, policy_generated, reference_demo, reference_generated), each (B_d,),
        or None
    :param preference_logps: (policy_chosen, policy_rejected, reference_chosen, reference_rejected), each
        (B_p,), or None
    :param labels: (B_p,) P(chosen ≻ rejected); None means 1
    :param beta: β > 0 of the implicit reward β · log(π / π_ref)
    :param demo_weight: weight (>= 0) of the demonstration term
    :param preference_weight: weight (>= 0) of the preference term
    :return: scalar loss
    """
    return aihf_loss_terms(demo_logps, preference_logps, labels, beta, demo_weight, preference_weight)["loss"]


def reward_model_loss(
    demo_scores: torch.Tensor | None,
    sample_scores: torch.Tensor | None,
    chosen_scores: torch.Tensor | None,
    rejected_scores: torch.Tensor | None,
    labels: torch.Tensor | None = None,
    demo_weight: float = 1.0,
    preference_weight: float = 1.0,
) -> torch.Tensor:
    """Joint Bradley–Terry loss of a reward model on (demonstration ≻ policy sample) and (chosen ≻ rejected).

    ``demo_weight · BT(r(x, y_demo), r(x, y_π)) + preference_weight · BT(r(x, y_w), r(x, y_l); labels)``;
    a term whose weight is 0 or whose scores are None is left out.

    :param demo_scores: (B_d,) r(x, y_demo), or None
    :param sample_scores: (B_d,) r(x, y_π) for a response sampled from the policy on the same prompts
    :param chosen_scores: (B_p,) r(x, y_w), or None
    :param rejected_scores: (B_p,) r(x, y_l)
    :param labels: (B_p,) P(y_w ≻ y_l); None means 1
    :param demo_weight: weight (>= 0) of the demonstration term
    :param preference_weight: weight (>= 0) of the preference term
    :return: scalar loss
    """
    _check_weights(demo_weight, preference_weight)
    loss = None
    if demo_weight != 0 and demo_scores is not None and sample_scores is not None:
        loss = demo_weight * bradley_terry_loss(demo_scores, sample_scores)
    if preference_weight != 0 and chosen_scores is not None and rejected_scores is not None:
        weighted = preference_weight * bradley_terry_loss(chosen_scores, rejected_scores, labels)
        loss = weighted if loss is None else loss + weighted
    if loss is None:
        raise ValueError("reward_model_loss got no term to compute: pass demo scores, preference scores, or both")
    return loss


def sft_loss(policy_logps: torch.Tensor, num_tokens: torch.Tensor) -> torch.Tensor:
    """Supervised fine-tuning loss: negative log-likelihood per response token, ``-Σ log π(y|x) / Σ |y|``.

    :param policy_logps: (B,) log π(y|x), summed over response tokens
    :param num_tokens: (B,) number of response tokens of each sequence
    :return: scalar loss
    """
    return -policy_logps.sum() / num_tokens.sum().clamp(min=1)


def kl_penalised_rewards(
    scores: torch.Tensor, policy_logps: torch.Tensor, reference_logps: torch.Tensor, kl_coef: float
) -> torch.Tensor:
    """Rewards ``r(x, y) - kl_coef · (log π(y|x) - log π_ref(y|x))``, the per-sequence KL estimate subtracted.

    The log-ratio of a sampled y is an unbiased single-sample estimate of KL(π(·|x) ‖ π_ref(·|x)). It is
    detached: the penalty enters the policy gradient through the advantage, as in RLOO and PPO-style RLHF.

    :param scores: (...,) reward-model scores r(x, y)
    :param policy_logps: (...,) log π(y|x), summed over response tokens
    :param reference_logps: (...,) log π_ref(y|x)
    :param kl_coef: weight (>= 0) of the KL penalty
    :return: (...,) penalised rewards, detached
    """
    if kl_coef < 0:
        raise ValueError(f"kl_coef must be >= 0, got {kl_coef}")
    return (scores - kl_coef * (policy_logps - reference_logps)).detach()


def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """REINFORCE leave-one-out advantages ``A_i = r_i - mean_{j≠i} r_j`` over the K samples of each prompt.

    :param rewards: (P, K) rewards of K >= 2 responses sampled for each of P prompts
    :return: (P, K) advantages
    """
    k = rewards.shape[-1]
    if k < 2:
        raise ValueError(f"RLOO needs at least 2 samples per prompt, got {k}")
    baseline = (rewards.sum(-1, keepdim=True) - rewards) / (k - 1)  # (P, K)
    return rewards - baseline


def rloo_loss(policy_logps: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """RLOO policy-gradient loss ``-mean_{p,i} A_{p,i} · log π(y_{p,i}|x_p)`` (Ahmadian et al. 2024).

    Its gradient is the leave-one-out REINFORCE estimate of ``-∇ E_π[r]``; with rewards from
    :func:`kl_penalised_rewards` it is that of ``-∇ (E_π[r] - kl_coef · KL(π ‖ π_ref))``.

    :param policy_logps: (P, K) log π(y|x) of the sampled responses, with gradient
    :param rewards: (P, K) rewards of the same responses (no gradient is taken through them)
    :return: scalar loss
    """
    advantages = rloo_advantages(rewards.detach())  # (P, K)
    return -(advantages * policy_logps).mean()
