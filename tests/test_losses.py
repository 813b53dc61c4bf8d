"""The AIHF losses against numbers computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from aihf_control.rewards import RewardNet, aihf_loss, demo_loss, preference_accuracy, preference_loss


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def bt(r1: float, r2: float, y: float) -> float:
    """Bradley–Terry loss of one pair, written out: -[y log σ(R¹-R²) + (1-y) log σ(R²-R¹)]."""
    return -(y * math.log(sigmoid(r1 - r2)) + (1 - y) * math.log(sigmoid(r2 - r1)))


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# ---------------------------------------------------------------------------- demo_loss


def test_demo_loss_hand_computed():
    # mean r(demo) = (1 + 2 + 3) / 3 = 2 ; mean r(policy) = (0.5 - 0.5) / 2 = 0 ; loss = 0 - 2
    loss = demo_loss(t(1.0, 2.0, 3.0), t(0.5, -0.5))
    assert loss.shape == ()
    assert loss.item() == pytest.approx(-2.0)


def test_demo_loss_is_positive_when_policy_beats_demos():
    # mean r(policy) = 4, mean r(demo) = (1 + 0) / 2 = 0.5  ->  loss = 3.5
    assert demo_loss(t(1.0, 0.0), t(4.0, 4.0, 4.0)).item() == pytest.approx(3.5)


def test_demo_loss_gradient_matches_mean_reward_gradients():
    """∇θ L_demo = mean ∇r(policy) − mean ∇r(demo): descent raises r on demos, lowers it on the policy."""
    torch.manual_seed(0)
    net = RewardNet(obs_dim=3, act_dim=2, hidden_sizes=(4,), reward_bound=5.0)
    params = list(net.parameters())
    demo_obs, demo_acts = torch.randn(5, 3), torch.rand(5, 2) * 2 - 1
    pol_obs, pol_acts = torch.randn(7, 3), torch.rand(7, 2) * 2 - 1

    loss = demo_loss(net(demo_obs, demo_acts), net(pol_obs, pol_acts))
    grads = torch.autograd.grad(loss, params, allow_unused=True)

    def mean_grad(obs: torch.Tensor, acts: torch.Tensor) -> list[torch.Tensor]:
        """The mean of per-sample gradients ∇θ r(s_i, a_i), one sample at a time."""
        total = [torch.zeros_like(p) for p in params]
        for i in range(len(obs)):
            g = torch.autograd.grad(net(obs[i : i + 1], acts[i : i + 1]).sum(), params, allow_unused=True)
            g = [torch.zeros_like(p) if gi is None else gi for gi, p in zip(g, params, strict=True)]
            total = [tot + gi for tot, gi in zip(total, g, strict=True)]
        return [tot / len(obs) for tot in total]

    expected = [gp - gd for gp, gd in zip(mean_grad(pol_obs, pol_acts), mean_grad(demo_obs, demo_acts), strict=True)]
    checked = 0
    for g, e, p in zip(grads, expected, params, strict=True):
        g = torch.zeros_like(p) if g is None else g
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-6)
        checked += int(e.abs().sum() > 0)
    assert checked >= 4, "the MLP weights and biases must have non-zero gradients"

    # The sign: a small descent step raises mean r(demo) - mean r(policy).
    with torch.no_grad():
        gap_before = net(demo_obs, demo_acts).mean() - net(pol_obs, pol_acts).mean()
        for p, g in zip(params, grads, strict=True):
            if g is not None:
                p -= 1e-2 * g
        gap_after = net(demo_obs, demo_acts).mean() - net(pol_obs, pol_acts).mean()
    assert gap_after > gap_before


# ---------------------------------------------------------------------------- preference_loss


def test_preference_loss_hard_labels_hand_computed():
    r1, r2, y = t(2.0, -1.0, 0.5), t(1.0, 1.0, 3.0), t(1.0, 0.0, 1.0)
    # pair 1: y=1, -log σ(2-1) ; pair 2: y=0, -log σ(1-(-1)) ; pair 3: y=1, -log σ(0.5-3)
    expected = (-math.log(sigmoid(1.0)) - math.log(sigmoid(2.0)) - math.log(sigmoid(-2.5))) / 3
    assert preference_loss(r1, r2, y).item() == pytest.approx(expected, rel=1e-6)


def test_preference_loss_soft_labels_0_half_1():
    r1, r2, y = t(3.0, 0.0, -1.0), t(1.0, 0.0, 1.0), t(0.5, 0.5, 0.0)
    # pair 1: y=0.5 with R¹-R²=2 ; pair 2: y=0.5 on a tie is log 2 ; pair 3: y=0, -log σ(1-(-1))
    pair_1 = -(0.5 * math.log(sigmoid(2.0)) + 0.5 * math.log(sigmoid(-2.0)))
    pair_2 = math.log(2.0)
    pair_3 = -math.log(sigmoid(2.0))
    expected = (pair_1 + pair_2 + pair_3) / 3
    assert expected == pytest.approx((bt(3, 1, 0.5) + bt(0, 0, 0.5) + bt(-1, 1, 0)) / 3)
    assert preference_loss(r1, r2, y).item() == pytest.approx(expected, rel=1e-6)


def test_preference_loss_label_zero_is_label_one_with_segments_swapped():
    r1, r2 = t(0.3, -2.0, 4.0), t(1.0, 0.5, -1.0)
    swapped = preference_loss(r2, r1, t(1.0, 1.0, 1.0))
    assert preference_loss(r1, r2, t(0.0, 0.0, 0.0)).item() == pytest.approx(swapped.item(), rel=1e-6)
    # and a quarter label is the mixture of both
    expected = sum(bt(a, b, 0.25) for a, b in zip([0.3, -2.0, 4.0], [1.0, 0.5, -1.0], strict=True)) / 3
    assert preference_loss(r1, r2, t(0.25, 0.25, 0.25)).item() == pytest.approx(expected, rel=1e-6)


def test_preference_loss_is_stable_for_large_return_gaps():
    # -log σ(-200) = 200 + log(1 + e^-200) ≈ 200; a naive log(sigmoid) would give inf
    loss = preference_loss(t(0.0), t(200.0), t(1.0))
    assert math.isfinite(loss.item())
    assert loss.item() == pytest.approx(200.0, rel=1e-6)
    assert preference_loss(t(200.0), t(0.0), t(1.0)).item() == pytest.approx(0.0, abs=1e-6)


def test_preference_loss_gradient_wrt_returns():
    # d/dR¹ of the mean BT loss is (σ(R¹-R²) - y) / B ; d/dR² is its negative
    r1 = t(2.0, -1.0).requires_grad_(True)
    r2 = t(1.0, 1.0).requires_grad_(True)
    y = t(1.0, 0.5)
    g1, g2 = torch.autograd.grad(preference_loss(r1, r2, y), [r1, r2])
    expected = [(sigmoid(1.0) - 1.0) / 2, (sigmoid(-2.0) - 0.5) / 2]
    torch.testing.assert_close(g1, t(*expected))
    torch.testing.assert_close(g2, -t(*expected))


# ---------------------------------------------------------------------------- preference_accuracy


def test_preference_accuracy_ignores_equal_labels():
    r1, r2 = t(2.0, 0.0, 1.0, 5.0, -3.0), t(1.0, 1.0, 3.0, -5.0, 3.0)
    y = t(1.0, 1.0, 0.0, 0.5, 0.5)
    # strict pairs: #1 right (2 > 1, y=1), #2 wrong (0 < 1, y=1), #3 right (1 < 3, y=0) -> 2/3
    assert preference_accuracy(r1, r2, y).item() == pytest.approx(2 / 3)


def test_preference_accuracy_soft_strict_labels_count_by_side():
    # y=0.8 prefers σ¹, y=0.2 prefers σ²
    assert preference_accuracy(t(1.0, 1.0), t(0.0, 0.0), t(0.8, 0.2)).item() == pytest.approx(0.5)
    assert preference_accuracy(t(1.0, 0.0), t(0.0, 1.0), t(0.8, 0.2)).item() == pytest.approx(1.0)


def test_preference_accuracy_tie_is_never_correct():
    # "the preferred segment has the higher return": on a tie neither has, whatever the label
    assert preference_accuracy(t(1.0, 1.0), t(1.0, 1.0), t(1.0, 0.0)).item() == pytest.approx(0.0)


def test_preference_accuracy_all_equal_labels_is_nan():
    assert math.isnan(preference_accuracy(t(1.0, 2.0), t(0.0, 3.0), t(0.5, 0.5)).item())


# ---------------------------------------------------------------------------- aihf_loss


def test_aihf_loss_weighted_sum_hand_computed():
    demo_r, pol_r = t(1.0, 3.0), t(0.0, 1.0, 2.0)  # L_demo = 1 - 2 = -1
    r1, r2, y = t(1.0), t(0.0), t(1.0)  # L_pref = -log σ(1)
    loss = aihf_loss(demo_r, pol_r, r1, r2, y, demo_weight=2.0, preference_weight=0.5)
    assert loss.item() == pytest.approx(2.0 * -1.0 + 0.5 * -math.log(sigmoid(1.0)), rel=1e-6)


def test_aihf_loss_without_demo_term_is_exactly_preference_loss():
    r1, r2, y = t(0.3, -1.2, 2.0), t(0.1, 0.4, 2.5), t(1.0, 0.5, 0.0)
    expected = preference_loss(r1, r2, y)
    # demo inputs present but weight 0, and demo inputs absent
    assert torch.equal(aihf_loss(t(1.0), t(-5.0), r1, r2, y, demo_weight=0.0), expected)
    assert torch.equal(aihf_loss(None, None, r1, r2, y, demo_weight=0.0), expected)
    assert torch.equal(aihf_loss(None, None, r1, r2, y), expected)


def test_aihf_loss_without_preference_term_is_exactly_demo_loss():
    demo_r, pol_r = t(0.7, -0.2, 1.9), t(0.3, 0.8)
    expected = demo_loss(demo_r, pol_r)
    r1, r2, y = t(5.0), t(-5.0), t(0.0)
    assert torch.equal(aihf_loss(demo_r, pol_r, r1, r2, y, preference_weight=0.0), expected)
    assert torch.equal(aihf_loss(demo_r, pol_r, None, None, None, preference_weight=0.0), expected)
    assert torch.equal(aihf_loss(demo_r, pol_r, None, None, None), expected)


@pytest.mark.parametrize(
    "args, weights",
    [
        ((None, None, None, None, None), {}),
        ((t(1.0), t(0.0), None, None, None), {"demo_weight": 0.0}),
        ((None, None, t(1.0), t(0.0), t(1.0)), {"preference_weight": 0.0}),
        ((t(1.0), None, t(1.0), None, t(1.0)), {}),  # half-given terms are no terms
    ],
)
def test_aihf_loss_without_any_term_raises(args, weights):
    with pytest.raises(ValueError, match="no term"):
        aihf_loss(*args, **weights)


def test_gradient_penalty_of_a_linear_reward_is_hand_computable():
    """For r(x) = w·x the gradient is w everywhere, so the penalty is (||w|| - 1)² exactly."""
    from aihf_control.rewards.losses import gradient_penalty

    w = torch.tensor([3.0, 4.0])  # ||w|| = 5 -> penalty 16

    def linear_reward(x: torch.Tensor) -> torch.Tensor:
        return x @ w

    demo, policy = torch.randn(8, 2), torch.randn(8, 2)
    assert gradient_penalty(linear_reward, demo, policy).item() == pytest.approx(16.0)
    w_unit = torch.tensor([0.6, 0.8], requires_grad=True)
    penalty = gradient_penalty(lambda x: x @ w_unit, demo, policy)
    assert penalty.item() == pytest.approx(0.0, abs=1e-12)


def test_gradient_penalty_pulls_a_steep_reward_towards_slope_one():
    from aihf_control import RewardNet
    from aihf_control.rewards.losses import gradient_penalty

    torch.manual_seed(0)
    net = RewardNet(3, 1, hidden_sizes=(16,))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(20.0)  # a steep reward
    demo = net.features(torch.randn(64, 3), torch.rand(64, 1))
    policy = net.features(torch.randn(64, 3) + 2, torch.rand(64, 1))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    before = gradient_penalty(net.reward_of_features, demo, policy).item()
    for _ in range(100):
        loss = gradient_penalty(net.reward_of_features, demo, policy)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = gradient_penalty(net.reward_of_features, demo, policy).item()
    assert after < before / 5, (before, after)


def test_demo_loss_with_occupancy_masses_ignores_a_constant_added_to_the_reward():
    # The policy's second transition ends in a fall: r + γ/(1-γ)·r_abs, standing for 1 + γ/(1-γ) steps.
    from aihf_control.rewards.losses import absorbing_mass

    gamma, r_abs = 0.99, -2.0
    terminated = t(0.0, 1.0, 0.0)
    k = gamma / (1 - gamma)

    def loss(shift: float, masses: bool) -> torch.Tensor:
        demo = t(1.0, 2.0) + shift
        policy = t(0.5, -0.5, 0.0) + shift + terminated * k * (r_abs + shift)
        mass = (absorbing_mass(t(0.0, 0.0), gamma), absorbing_mass(terminated, gamma)) if masses else (None, None)
        return demo_loss(demo, policy, *mass)

    assert absorbing_mass(terminated, gamma).tolist() == pytest.approx([1.0, 100.0, 1.0])
    assert loss(5.0, True).item() == pytest.approx(loss(0.0, True).item())
    # per transition, lowering r_θ everywhere lowers the loss by γ/(1-γ)·(share of falls) per unit: a drift
    assert loss(-1.0, False).item() == pytest.approx(loss(0.0, False).item() - k / 3)
    # the weighted means: policy (0.5 - 0.5 + 99·(-2) + 0) / 102, demonstrations 1.5
    assert loss(0.0, True).item() == pytest.approx((0.5 - 0.5 - 99 * 2.0) / 102 - 1.5)


def test_separate_falls_demo_loss_is_the_occupancy_loss_with_the_real_transitions_at_full_weight():
    # The policy's second transition ends in a fall; the rewards are the real transitions' (no absorbing term).
    from aihf_control.rewards.losses import absorbing_mass, absorbing_share, separate_falls_demo_loss

    gamma, k = 0.99, 0.99 / 0.01
    demo, policy, r_abs = t(1.0, 2.0), t(0.5, -0.5, 0.0), torch.tensor(-2.0)
    demo_terminated, terminated = t(0.0, 0.0), t(0.0, 1.0, 0.0)
    q_demo, q_policy = absorbing_share(demo_terminated, gamma), absorbing_share(terminated, gamma)
    assert (q_demo.item(), q_policy.item()) == pytest.approx((0.0, 99 / 102))

    def separate(shift: float) -> float:
        return separate_falls_demo_loss(demo + shift, policy + shift, r_abs + shift, q_demo, q_policy).item()

    # contrast (0 - 1.5) at full weight, plus the falls: q_π·(r_abs - mean r(demo))
    assert separate(0.0) == pytest.approx(-1.5 + 99 / 102 * (-2.0 - 1.5))
    assert separate(5.0) == pytest.approx(separate(0.0))  # a constant added to r_θ, r_abs included, changes nothing
    # over occupancies the same terms, the contrast weighed by 1 - q_π
    occupancy = demo_loss(
        demo, policy + terminated * k * r_abs, absorbing_mass(demo_terminated, gamma), absorbing_mass(terminated, gamma)
    ).item()
    assert occupancy == pytest.approx((1 - 99 / 102) * -1.5 + 99 / 102 * (-2.0 - 1.5))
    # without falls it is the plain loss
    no_falls = separate_falls_demo_loss(demo, policy, r_abs, q_demo, absorbing_share(t(0.0, 0.0, 0.0), gamma))
    assert no_falls.item() == pytest.approx(demo_loss(demo, policy).item())


def test_aihf_loss_refuses_occupancy_masses_and_falls_together():
    from aihf_control.rewards.losses import Falls

    falls = Falls(torch.tensor(-1.0), torch.tensor(0.0), torch.tensor(0.5))
    with pytest.raises(ValueError, match="occupancy masses or falls for L_demo, not both"):
        aihf_loss(t(1.0), t(0.0), None, None, None, demo_mass=t(1.0), policy_mass=t(1.0), falls=falls)
    # with the falls alone the demo term is separate_falls_demo_loss: 0 - 1 + 0.5·(-1 - 1)
    assert aihf_loss(t(1.0), t(0.0), None, None, None, falls=falls).item() == pytest.approx(-2.0)
