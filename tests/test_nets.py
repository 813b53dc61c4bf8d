"""RewardNet: bounded output, state-only mode, input standardisation, absorbing-state reward."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aihf_control.rewards import RewardNet


def make_net(**kwargs) -> RewardNet:
    torch.manual_seed(0)
    defaults = dict(obs_dim=4, act_dim=2, hidden_sizes=(16, 16), reward_bound=2.0)
    defaults.update(kwargs)
    return RewardNet(**defaults)


def test_output_shape_follows_leading_dims():
    net = make_net()
    assert net(torch.randn(7, 4), torch.randn(7, 2)).shape == (7,)
    assert net(torch.randn(3, 5, 4), torch.randn(3, 5, 2)).shape == (3, 5)


def test_output_is_bounded_even_for_huge_inputs():
    net = make_net(reward_bound=2.0)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1e3)  # makes the pre-activation enormous
        obs = torch.cat([torch.full((4, 4), 1e30), torch.full((4, 4), -1e30)])
        acts = torch.cat([torch.full((4, 2), 1e30), torch.full((4, 2), -1e30)])
        r = net(obs, acts)
    assert torch.isfinite(r).all()
    assert (r.abs() <= 2.0).all()
    assert r.abs().max() > 1.9  # saturated, i.e. the bound was what held it


def test_bound_is_smooth_and_linear_near_zero():
    net = make_net(reward_bound=3.0)
    x = torch.tensor([0.0, 0.01, -0.01, 100.0])
    torch.testing.assert_close(net._bound(x), 3.0 * torch.tanh(x / 3.0))
    assert net._bound(torch.tensor(0.01)).item() == pytest.approx(0.01, rel=1e-4)


def test_reward_bound_must_be_positive():
    with pytest.raises(ValueError, match="reward_bound must be > 0"):
        make_net(reward_bound=0.0)


def test_state_only_ignores_actions():
    net = make_net(state_only=True)
    obs = torch.randn(6, 4)
    with torch.no_grad():
        r_a = net(obs, torch.randn(6, 2))
        r_b = net(obs, torch.randn(6, 2) * 100)
    torch.testing.assert_close(r_a, r_b, rtol=0, atol=0)
    assert not torch.allclose(r_a, net(torch.randn(6, 4), torch.zeros(6, 2)).detach())  # but not the states


def test_state_action_net_depends_on_actions():
    net = make_net(state_only=False)
    obs = torch.randn(6, 4)
    with torch.no_grad():
        assert not torch.allclose(net(obs, torch.full((6, 2), -1.0)), net(obs, torch.full((6, 2), 1.0)))


def _parameters_only(net: RewardNet) -> dict[str, torch.Tensor]:
    names = {name for name, _ in net.named_parameters()}
    return {k: v for k, v in net.state_dict().items() if k in names}


def test_set_observation_stats_standardises_and_leaves_zero_std_unscaled():
    net = make_net(obs_dim=3, act_dim=1)
    reference = make_net(obs_dim=3, act_dim=1)  # same weights, default stats (mean 0, std 1)
    reference.load_state_dict(_parameters_only(net), strict=False)
    net.set_observation_stats(np.array([1.0, -2.0, 5.0]), np.array([2.0, 0.5, 0.0]))  # 3rd dim: no spread

    obs = torch.tensor([[3.0, -1.5, 5.25], [-1.0, -3.0, 4.0]])
    # by hand: (3-1)/2 = 1, (-1.5+2)/0.5 = 1, (5.25-5)/1 = 0.25 ; (-1-1)/2 = -1, (-3+2)/0.5 = -2, (4-5)/1 = -1
    standardised = torch.tensor([[1.0, 1.0, 0.25], [-1.0, -2.0, -1.0]])
    acts = torch.tensor([[0.3], [-0.6]])
    with torch.no_grad():
        torch.testing.assert_close(net(obs, acts), reference(standardised, acts))
        # a zero-std dimension divided by ~0 would blow up: 0.25 / 1e-12 is nowhere near 0.25
        assert not torch.allclose(
            net(obs, acts), reference(torch.tensor([[1.0, 1.0, 10.0], [-1.0, -2.0, -10.0]]), acts)
        )


def test_set_observation_stats_accepts_tensors_and_changes_output():
    net = make_net()
    obs, acts = torch.randn(5, 4), torch.zeros(5, 2)
    with torch.no_grad():
        before = net(obs, acts)
        net.set_observation_stats(torch.full((4,), 3.0), torch.full((4,), 0.1))
        after = net(obs, acts)
    assert not torch.allclose(before, after)
    # the statistics are buffers: they travel with the state dict
    assert {"obs_mean", "obs_std"} <= set(net.state_dict())


def test_actions_are_rescaled_from_space_bounds():
    torch.manual_seed(0)
    scaled = RewardNet(2, 2, action_low=np.array([0.0, -5.0]), action_high=np.array([4.0, 5.0]), hidden_sizes=(8,))
    unit = RewardNet(2, 2, hidden_sizes=(8,))  # default bounds [-1, 1]
    unit.load_state_dict(_parameters_only(scaled), strict=False)
    obs = torch.randn(3, 2)
    with torch.no_grad():
        # [0, 4] x [-5, 5] maps onto [-1, 1]^2: action (4, -5) is (1, -1), (2, 2.5) is (0, 0.5)
        torch.testing.assert_close(
            scaled(obs, torch.tensor([[4.0, -5.0], [2.0, 2.5], [0.0, 0.0]])),
            unit(obs, torch.tensor([[1.0, -1.0], [0.0, 0.5], [-1.0, 0.0]])),
        )


def test_transition_reward_adds_absorbing_value_only_on_terminated_rows():
    gamma = 0.9
    net = make_net()
    obs, acts = torch.randn(5, 4), torch.rand(5, 2)
    terminated = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0])
    with torch.no_grad():
        plain = net(obs, acts)
        r_abs = net.absorbing_reward()
        out = net.transition_reward(obs, acts, terminated, gamma)
    assert r_abs.shape == ()
    assert abs(r_abs.item()) > 1e-4, "a zero absorbing reward would make this test vacuous"
    assert abs(r_abs.item()) < net.reward_bound
    # γ/(1-γ) = 0.9 / 0.1 = 9 on terminated rows, nothing elsewhere
    torch.testing.assert_close(out[[0, 2, 4]], plain[[0, 2, 4]], rtol=0, atol=0)
    torch.testing.assert_close(out[[1, 3]] - plain[[1, 3]], torch.full((2,), 9.0 * r_abs.item()))
    torch.testing.assert_close(out, plain + terminated * (gamma / (1 - gamma)) * r_abs)


def test_transition_reward_without_absorbing_is_plain_reward():
    net = make_net()
    with torch.no_grad():
        obs, acts = torch.randn(4, 4), torch.rand(4, 2)
        assert abs(net.absorbing_reward().item()) > 1e-4
        out = net.transition_reward(obs, acts, torch.ones(4), 0.99, absorbing=False)
        torch.testing.assert_close(out, net(obs, acts), rtol=0, atol=0)


def test_transition_reward_accepts_column_terminated():
    net = make_net()
    with torch.no_grad():
        obs, acts = torch.randn(3, 4), torch.rand(3, 2)
        flat = net.transition_reward(obs, acts, torch.tensor([1.0, 0.0, 1.0]), 0.5)
        column = net.transition_reward(obs, acts, torch.tensor([[1.0], [0.0], [1.0]]), 0.5)
    assert column.shape == (3,)
    torch.testing.assert_close(flat, column)


def test_absorbing_reward_is_learnable_and_bounded():
    net = make_net(reward_bound=2.0)
    net.absorbing_reward().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(1e3)
        assert abs(net.absorbing_reward().item()) <= 2.0


def test_absorbing_reward_does_not_depend_on_observation_stats():
    net = make_net()
    with torch.no_grad():
        before = net.absorbing_reward().clone()
        net.set_observation_stats(torch.full((4,), 7.0), torch.full((4,), 3.0))
        torch.testing.assert_close(net.absorbing_reward(), before)


def test_float64_inputs_work():
    net = make_net()
    obs64, acts64 = torch.randn(5, 4, dtype=torch.float64), torch.rand(5, 2, dtype=torch.float64)
    with torch.no_grad():
        r64 = net(obs64, acts64)
        r32 = net(obs64.float(), acts64.float())
        tr = net.transition_reward(obs64, acts64, torch.zeros(5, dtype=torch.float64), 0.99)
    assert r64.dtype == torch.float32
    torch.testing.assert_close(r64, r32)
    torch.testing.assert_close(tr, r32, check_dtype=False)  # float64 `terminated` may promote the sum


def test_segment_return_counts_padded_steps_as_the_absorbing_reward():
    net = make_net()
    obs, acts = torch.randn(3, 5, 4), torch.randn(3, 5, 2)
    absorbing = torch.tensor([[False] * 5, [False, False, True, True, True], [False] + [True] * 4])
    with torch.no_grad():
        r, r_abs = net(obs, acts), net.absorbing_reward()
        got = net.segment_return(obs, acts, absorbing)
        expected = torch.stack([r[0].sum(), r[1, :2].sum() + 3 * r_abs, r[2, 0] + 4 * r_abs])
        torch.testing.assert_close(got, expected)
        # Without absorbing-state handling a segment's return ends at its termination.
        ended = torch.stack([r[0].sum(), r[1, :2].sum(), r[2, 0]])
        torch.testing.assert_close(net.segment_return(obs, acts, absorbing, absorbing_state=False), ended)
        torch.testing.assert_close(net.segment_return(obs, acts), r.sum(dim=-1))


def test_segment_return_gradient_reaches_the_absorbing_reward():
    net = make_net()
    absorbing = torch.tensor([[False, True, True]])
    net.segment_return(torch.randn(1, 3, 4), torch.randn(1, 3, 2), absorbing).sum().backward()
    # The absorbing input is the indicator feature alone, so only the first layer's indicator column sees it.
    assert net.members[0][0].weight.grad[:, -1].abs().sum() > 0


def test_ensemble_reward_is_the_mean_of_independently_initialised_members():
    net = make_net(ensemble_size=3)
    obs, acts = torch.randn(6, 5, 4), torch.randn(6, 5, 2)
    absorbing = torch.zeros(6, 5, dtype=torch.bool)
    absorbing[:, 3:] = True
    with torch.no_grad():
        members = net.member_rewards(obs, acts)
        assert members.shape == (3, 6, 5)
        assert not torch.allclose(members[0], members[1]), "members start from different weights"
        torch.testing.assert_close(net(obs, acts), members.mean(dim=0))
        returns = net.member_segment_returns(obs, acts, absorbing)
        assert returns.shape == (3, 6)
        torch.testing.assert_close(net.segment_return(obs, acts, absorbing), returns.mean(dim=0))
        terminated = torch.tensor([1.0, 0, 0, 1, 0, 0])
        transitions = net.member_transition_rewards(obs[:, 0], acts[:, 0], terminated, 0.99)
        assert transitions.shape == (3, 6)
        torch.testing.assert_close(net.transition_reward(obs[:, 0], acts[:, 0], terminated, 0.99), transitions.mean(0))


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_ensemble_size_must_be_a_positive_integer(size):
    with pytest.raises(ValueError, match="ensemble_size must be a positive integer"):
        make_net(ensemble_size=size)


@pytest.mark.parametrize("sizes", [[-5], [0], [16, 2.5], [True], "64", 64])
def test_hidden_sizes_must_be_positive_integers(sizes):
    with pytest.raises(ValueError, match=r"reward_net_arch .* must (hold positive integer|be a sequence)"):
        make_net(hidden_sizes=sizes)


def test_hidden_sizes_accept_numpy_integers_and_no_hidden_layer():
    assert make_net(hidden_sizes=np.array([8, 4])).forward(torch.zeros(2, 4), torch.zeros(2, 2)).shape == (2,)
    assert make_net(hidden_sizes=()).forward(torch.zeros(2, 4), torch.zeros(2, 2)).shape == (2,)


@pytest.mark.parametrize(
    "net_arch, words",
    [
        ([-5], r'policy_kwargs\["net_arch"\] must hold positive integer layer sizes'),
        (dict(pi=[8], qf=[0]), r'policy_kwargs\["net_arch"\]\["qf"\] must hold positive integer'),
        (dict(pi=[8]), r'needs both "pi" \(actor\) and "qf" \(critics\)'),
        ([[8]], "is not a positive integer"),
    ],
)
def test_policy_net_arch_is_checked(net_arch, words):
    from aihf_control.validation import check_policy_net_arch

    with pytest.raises(ValueError, match=words):
        check_policy_net_arch({"net_arch": net_arch})
    check_policy_net_arch({"net_arch": [64, 64]})
    check_policy_net_arch({"net_arch": dict(pi=[64], qf=[64, 64])})
    check_policy_net_arch(None)
