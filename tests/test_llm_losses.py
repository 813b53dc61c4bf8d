"""The language-model form of the AIHF objective (DPO, SPIN, joint, reward model, RLOO) against numbers
computed by hand. Pure tensor functions: no model and no transformers needed."""

from __future__ import annotations

import math

import pytest
import torch

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
from aihf_control.rewards.losses import preference_loss


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def neg_log_sigmoid(z: float) -> float:
    return math.log1p(math.exp(-z))


# Two pairs. Policy / reference log-probs of chosen (w) and rejected (l) responses, β = 0.5:
#   pair 1: β[(-1 - -2) - (-3 - -2)] = 0.5 · (1 + 1)   = 1.0
#   pair 2: β[(-4 - -3) - (-2 - -2.5)] = 0.5 · (-1 - 0.5) = -0.75
PC, PR, RC, RR = t(-1.0, -4.0), t(-3.0, -2.0), t(-2.0, -3.0), t(-2.0, -2.5)
BETA = 0.5
Z = (1.0, -0.75)
DPO_BY_HAND = (neg_log_sigmoid(1.0) + neg_log_sigmoid(-0.75)) / 2  # (0.313262 + 1.136871) / 2

# Demonstration pairs (demo ≻ generated), same β:
#   pair 1: 0.5[(-2 - -2) - (-1 - -3)] = 0.5 · (0 - 2) = -1.0
#   pair 2: 0.5[(-5 - -6) - (-4 - -4)] = 0.5 · (1 - 0) = 0.5
PD, PG, RD, RG = t(-2.0, -5.0), t(-1.0, -4.0), t(-2.0, -6.0), t(-3.0, -4.0)
SPIN_BY_HAND = (neg_log_sigmoid(-1.0) + neg_log_sigmoid(0.5)) / 2


def test_implicit_rewards_are_beta_times_the_log_ratio():
    torch.testing.assert_close(implicit_rewards(PC, RC, BETA), t(0.5, -0.5))


def test_dpo_loss_hand_computed():
    loss = dpo_loss(PC, PR, RC, RR, beta=BETA)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(DPO_BY_HAND, rel=1e-12)
    assert DPO_BY_HAND == pytest.approx(0.725066, abs=1e-6)


def test_dpo_loss_with_soft_labels_is_the_bradley_terry_cross_entropy():
    # y = P(chosen ≻ rejected): -[y log σ(z) + (1 - y) log σ(-z)]
    y = (0.25, 1.0)
    by_hand = sum(yi * neg_log_sigmoid(zi) + (1 - yi) * neg_log_sigmoid(-zi) for yi, zi in zip(y, Z, strict=True)) / 2
    assert dpo_loss(PC, PR, RC, RR, BETA, labels=t(*y)).item() == pytest.approx(by_hand, rel=1e-12)
    # A label of 0 swaps the roles of the two responses.
    assert dpo_loss(PC, PR, RC, RR, BETA, labels=t(0.0, 0.0)).item() == pytest.approx(
        dpo_loss(PR, PC, RR, RC, BETA).item(), rel=1e-12
    )


def test_dpo_loss_is_the_shared_preference_loss_on_implicit_rewards():
    y = t(1.0, 0.5)
    shared = preference_loss(implicit_rewards(PC, RC, BETA), implicit_rewards(PR, RR, BETA), y)
    assert dpo_loss(PC, PR, RC, RR, BETA, y).item() == shared.item()


def test_dpo_loss_is_log2_when_the_policy_is_the_reference():
    assert dpo_loss(PC, PR, PC, PR, beta=3.0).item() == pytest.approx(math.log(2))


def test_spin_loss_hand_computed():
    assert spin_loss(PD, PG, RD, RG, beta=BETA).item() == pytest.approx(SPIN_BY_HAND, rel=1e-12)


def test_aihf_loss_hand_computed_and_its_terms():
    terms = aihf_loss_terms((PD, PG, RD, RG), (PC, PR, RC, RR), None, BETA, demo_weight=0.3, preference_weight=2.0)
    assert terms["demo_loss"].item() == pytest.approx(SPIN_BY_HAND, rel=1e-12)
    assert terms["preference_loss"].item() == pytest.approx(DPO_BY_HAND, rel=1e-12)
    assert terms["loss"].item() == pytest.approx(0.3 * SPIN_BY_HAND + 2.0 * DPO_BY_HAND, rel=1e-12)
    loss = aihf_loss((PD, PG, RD, RG), (PC, PR, RC, RR), None, BETA, demo_weight=0.3, preference_weight=2.0)
    assert loss.item() == terms["loss"].item()


def test_aihf_loss_reduces_exactly_to_dpo_and_to_spin():
    y = t(0.9, 1.0)
    dpo = dpo_loss(PC, PR, RC, RR, BETA, y)
    spin = spin_loss(PD, PG, RD, RG, BETA)
    assert aihf_loss((PD, PG, RD, RG), (PC, PR, RC, RR), y, BETA, demo_weight=0.0).item() == dpo.item()
    assert aihf_loss(None, (PC, PR, RC, RR), y, BETA).item() == dpo.item()
    assert aihf_loss((PD, PG, RD, RG), (PC, PR, RC, RR), y, BETA, preference_weight=0.0).item() == spin.item()
    assert aihf_loss((PD, PG, RD, RG), None, None, BETA).item() == spin.item()
    # A term with weight 0 is left out, not multiplied by 0: a non-finite demo term cannot leak in.
    bad = (t(float("-inf"), 0.0), PG, RD, RG)
    assert aihf_loss(bad, (PC, PR, RC, RR), y, BETA, demo_weight=0.0).item() == dpo.item()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(beta=-0.1), "beta must be > 0"),
        (dict(beta=0.0), "beta must be > 0"),
        (dict(demo_weight=0.0, preference_weight=0.0), "both 0"),
        (dict(demo_weight=-1.0), "weights must be >= 0"),
    ],
)
def test_aihf_loss_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        aihf_loss((PD, PG, RD, RG), (PC, PR, RC, RR), **kwargs)


def test_aihf_loss_needs_a_term():
    with pytest.raises(ValueError, match="no term"):
        aihf_loss(None, None)
    with pytest.raises(ValueError, match="no term"):
        aihf_loss((PD, PG, RD, RG), None, demo_weight=0.0)


def test_dpo_gradient_raises_the_chosen_and_lowers_the_rejected_log_prob():
    pc, pr = PC.clone().requires_grad_(True), PR.clone().requires_grad_(True)
    dpo_loss(pc, pr, RC, RR, BETA).backward()
    # dL/dz = -(1 - σ(z)) / B; dz/dpc = β, dz/dpr = -β
    expected = t(*[-(1 - 1 / (1 + math.exp(-z))) * BETA / 2 for z in Z])
    torch.testing.assert_close(pc.grad, expected)
    torch.testing.assert_close(pr.grad, -expected)
    assert (pc.grad < 0).all() and (pr.grad > 0).all()


def test_reward_model_loss_hand_computed_and_reductions():
    demo, sample = t(2.0, 0.0), t(1.0, 1.0)  # differences 1, -1
    chosen, rejected = t(0.5), t(1.5)  # difference -1
    y = t(0.75)
    demo_term = (neg_log_sigmoid(1.0) + neg_log_sigmoid(-1.0)) / 2
    pref_term = 0.75 * neg_log_sigmoid(-1.0) + 0.25 * neg_log_sigmoid(1.0)
    loss = reward_model_loss(demo, sample, chosen, rejected, y, demo_weight=2.0, preference_weight=0.5)
    assert loss.item() == pytest.approx(2.0 * demo_term + 0.5 * pref_term, rel=1e-12)
    assert reward_model_loss(demo, sample, chosen, rejected, y, demo_weight=0.0).item() == pytest.approx(pref_term)
    assert reward_model_loss(demo, sample, chosen, rejected, y, preference_weight=0.0).item() == pytest.approx(
        demo_term
    )
    with pytest.raises(ValueError, match="both 0"):
        reward_model_loss(demo, sample, chosen, rejected, y, demo_weight=0.0, preference_weight=0.0)


def test_sft_loss_is_the_token_averaged_negative_log_likelihood():
    # (-3 - 1) summed over 2 + 2 tokens -> 4 / 4
    assert sft_loss(t(-3.0, -1.0), torch.tensor([2, 2])).item() == pytest.approx(1.0)


def test_kl_penalised_rewards_hand_computed():
    rewards = kl_penalised_rewards(t(1.0, 2.0), t(-1.0, -2.0), t(-2.0, -2.0), kl_coef=0.5)
    torch.testing.assert_close(rewards, t(0.5, 2.0))  # 1 - 0.5 · 1, 2 - 0.5 · 0
    with pytest.raises(ValueError, match="kl_coef"):
        kl_penalised_rewards(t(1.0), t(0.0), t(0.0), kl_coef=-1.0)


def test_rloo_advantages_hand_computed():
    # baselines: (2 + 3) / 2 = 2.5, (1 + 3) / 2 = 2, (1 + 2) / 2 = 1.5
    adv = rloo_advantages(t(1.0, 2.0, 3.0).unsqueeze(0))
    torch.testing.assert_close(adv, t(-1.5, 0.0, 1.5).unsqueeze(0))
    torch.testing.assert_close(rloo_advantages(t(4.0, 4.0).unsqueeze(0)), t(0.0, 0.0).unsqueeze(0))
    with pytest.raises(ValueError, match="at least 2"):
        rloo_advantages(t(1.0).unsqueeze(0))


def test_rloo_loss_gradient_is_minus_the_advantage_over_the_batch_size():
    logps = t(-1.0, -2.0, -3.0, -4.0).view(2, 2).requires_grad_(True)
    rewards = t(1.0, 0.0, 5.0, 5.0).view(2, 2)  # advantages [[1, -1], [0, 0]]
    rloo_loss(logps, rewards).backward()
    torch.testing.assert_close(logps.grad, t(-0.25, 0.25, 0.0, 0.0).view(2, 2))
