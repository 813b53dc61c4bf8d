"""The AIHF objective as pure functions: tensors in, scalar out.

L(θ) = demo_weight · L_demo + preference_weight · L_pref   (plus weight decay on θ)

- ``demo_loss`` is maximum-likelihood IRL (ML-IRL): raise the reward of demonstrated
  (s, a), lower it on what the current policy does. Its gradient is
  E_π[∇r] − E_demo[∇r], so gradient descent moves r towards the demonstrations.
- ``preference_loss`` is the Bradley–Terry cross-entropy on segment returns, as in
  RLHF reward modelling (Christiano et al. 2017), with soft labels.

With ``demo_weight=0`` the joint loss is exactly the RLHF reward loss; with
``preference_weight=0`` it is exactly ML-IRL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F


def demo_loss(
    demo_rewards: torch.Tensor,
    policy_rewards: torch.Tensor,
    demo_mass: torch.Tensor | None = None,
    policy_mass: torch.Tensor | None = None,
) -> torch.Tensor:
    """ML-IRL loss ``-(mean r(demo) - mean r(policy))``.

    With masses, each mean is ``sum of rewards / sum of masses``: a transition that ends in a true termination
    carries the reward of the absorbing steps after it (r + γ/(1-γ)·r_abs) and, as its mass, their number
    (1 + γ/(1-γ)), so both means are over normalised occupancies and a constant added to r_θ (r_abs included)
    leaves the loss unchanged. Without them, the policy's terminations add γ/(1-γ) to its side for every unit
    that r_θ rises everywhere, and the loss lowers r_θ as a whole, until its bound, whenever the policy falls more
    often than the demonstrator (``absorbing_mass`` gives the masses).

    :param demo_rewards: (..., B_demo) r_θ on demonstrated transitions (leading dimensions: ensemble members)
    :param policy_rewards: (..., B_pi) r_θ on transitions of the current policy
    :param demo_mass: (B_demo,) each demonstrated transition's share of the occupancy, or None (1 each)
    :param policy_mass: (B_pi,) the same for the policy's transitions, or None (1 each)
    :return: scalar loss
    """
    demo_mean = demo_rewards.mean(-1) if demo_mass is None else demo_rewards.sum(-1) / demo_mass.sum()  # (...,)
    policy_mean = policy_rewards.mean(-1) if policy_mass is None else policy_rewards.sum(-1) / policy_mass.sum()
    return (policy_mean - demo_mean).mean()


def absorbing_mass(terminated: torch.Tensor, gamma: float) -> torch.Tensor:
    """:param terminated: (B,) 1 where the transition ends in a true termination  :param gamma: the discount
    :return: (B,) 1 + γ/(1-γ) where terminated, else 1: the transition and the absorbing steps it stands for"""
    return 1.0 + terminated.float() * (gamma / (1.0 - gamma))


def absorbing_share(terminated: torch.Tensor, gamma: float) -> torch.Tensor:
    """:param terminated: (B,) 1 where the transition ends in a true termination  :param gamma: the discount
    :return: () q, the absorbing state's share of the occupancy these transitions stand for (0 without a fall)"""
    return 1.0 - len(terminated) / absorbing_mass(terminated, gamma).sum()


class Falls(NamedTuple):
    """What ``separate_falls_demo_loss`` needs besides the real transitions' rewards."""

    absorbing_reward: torch.Tensor  # (...,) r_abs (leading dimensions: ensemble members)
    demo_absorbing_share: torch.Tensor  # () q_demo
    policy_absorbing_share: torch.Tensor  # () q_π


def separate_falls_demo_loss(
    demo_rewards: torch.Tensor,
    policy_rewards: torch.Tensor,
    absorbing_reward: torch.Tensor,
    demo_absorbing_share: torch.Tensor,
    policy_absorbing_share: torch.Tensor,
) -> torch.Tensor:
    """ML-IRL loss with the falls in a term of their own: ``(mean r(π) - mean r(demo)) + (q_π - q_demo)·(r_abs -
    mean r(demo))``, the means over real transitions (without the absorbing steps) and q the absorbing state's
    share of each side's occupancy (``absorbing_share``).

    ``demo_loss`` over occupancies is ``(1 - q_π)·(mean r(π) - mean r(demo)) + (q_π - q_demo)·(r_abs - mean
    r(demo))``: while the policy falls often its real transitions weigh little (1 - q_π is 0.07 at one fall in
    every 7 steps, γ = 0.99), so r_θ learns to put the falls below the demonstrations long before it ranks the
    policy's own actions below the demonstrator's. This form keeps the first term at full weight. Both forms are
    unchanged by a constant added to r_θ (r_abs included) and reach their fixed point when the policy's
    occupancy is the demonstrator's.

    :param demo_rewards: (..., B_demo) r_θ on demonstrated transitions, without the absorbing-state term
        (leading dimensions: ensemble members)
    :param policy_rewards: (..., B_pi) r_θ on transitions of the current policy, without it
    :param absorbing_reward: (...,) r_abs, the absorbing state's reward
    :param demo_absorbing_share: () q_demo, ``absorbing_share`` of the demonstrated transitions
    :param policy_absorbing_share: () q_π, ``absorbing_share`` of the policy's transitions
    :return: scalar loss
    """
    demo_mean = demo_rewards.mean(-1)  # (...,)
    contrast = policy_rewards.mean(-1) - demo_mean
    falls = (policy_absorbing_share - demo_absorbing_share) * (absorbing_reward - demo_mean)
    return (contrast + falls).mean()


def preference_loss(returns_1: torch.Tensor, returns_2: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Bradley–Terry loss ``-[y log σ(R¹ - R²) + (1 - y) log σ(R² - R¹)]``, averaged over pairs.

    For a hard label y = 1 (σ¹ ≻ σ²) this is ``-log σ(R¹ - R²)``; y = 0.5 means "equally good".

    :param returns_1: (..., B) R_θ(σ¹), the sum of r_θ over the first segment of each pair; leading
        dimensions (e.g. reward ensemble members) share the labels
    :param returns_2: (..., B) R_θ(σ²)
    :param labels: (B,) y = P(σ¹ ≻ σ²) in [0, 1]
    :return: scalar loss
    """
    logits = returns_1 - returns_2  # (..., B)
    # BCE-with-logits is the numerically stable form of the expression above.
    return F.binary_cross_entropy_with_logits(logits, labels.expand_as(logits))


def preference_accuracy(returns_1: torch.Tensor, returns_2: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of pairs with a strict label (y ≠ 0.5) whose preferred segment has the higher return.

    :param returns_1: (B,) R_θ(σ¹)
    :param returns_2: (B,) R_θ(σ²)
    :param labels: (B,) y = P(σ¹ ≻ σ²)
    :return: scalar in [0, 1]; NaN when every label is 0.5
    """
    strict = labels != 0.5  # (B,)
    # A tie is wrong whichever segment is preferred: neither has the higher return.
    correct = torch.where(labels > 0.5, returns_1 > returns_2, returns_2 > returns_1)[strict]
    return correct.float().mean()


def gradient_penalty(
    reward_of_features: Callable[[torch.Tensor], torch.Tensor],
    demo_features: torch.Tensor,
    policy_features: torch.Tensor,
) -> torch.Tensor:
    """WGAN-GP penalty ``mean (||∇_x r(x)|| - 1)²`` at random points x between demo and policy inputs.

    L_demo is a Wasserstein critic's loss (raise r on the demonstrations, lower it on the
    policy); without a Lipschitz constraint r becomes a step — high on the demonstrations, low
    everywhere else — that gives SAC no direction to improve in. The penalty (Gulrajani et al.
    2017; used for the same reason by DAC, Kostrikov et al. 2019) keeps r's slope near 1 in the
    reward net's standardised input space, so r rises smoothly towards the demonstrations.

    :param reward_of_features: maps (B, in_dim) inputs to (B,) rewards, differentiably
    :param demo_features: (B, in_dim) inputs of demonstrated (s, a)
    :param policy_features: (B, in_dim) inputs of policy (s, a)
    :return: scalar penalty
    """
    alpha = torch.rand(len(demo_features), 1, device=demo_features.device)  # (B, 1)
    mixed = (alpha * demo_features + (1 - alpha) * policy_features).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(reward_of_features(mixed).sum(), mixed, create_graph=True)  # (B, in_dim)
    return ((grad.norm(dim=-1) - 1) ** 2).mean()


def ensemble_gradient_penalty(
    member_reward_of_features: Callable[[torch.Tensor, int], torch.Tensor],
    ensemble_size: int,
    demo_features: torch.Tensor,
    policy_features: torch.Tensor,
) -> torch.Tensor:
    """``gradient_penalty`` of every member of a reward ensemble, summed over the members.

    Each member's own slope is penalised (each has its own loss, see ``aihf_loss``), at its own random
    points, drawn member after member.

    :param member_reward_of_features: maps (B, in_dim) inputs and a member index to that member's (B,)
        rewards, differentiably (e.g. ``RewardNet.member_reward_of_features``)
    :param ensemble_size: E, the number of members
    :param demo_features: (B, in_dim) inputs of demonstrated (s, a)
    :param policy_features: (B, in_dim) inputs of policy (s, a)
    :return: scalar penalty, the sum of the E members' penalties
    """
    return torch.stack(
        [
            gradient_penalty(lambda x, e=e: member_reward_of_features(x, e), demo_features, policy_features)
            for e in range(ensemble_size)
        ]
    ).sum()


def aihf_loss(
    demo_rewards: torch.Tensor | None,
    policy_rewards: torch.Tensor | None,
    returns_1: torch.Tensor | None,
    returns_2: torch.Tensor | None,
    labels: torch.Tensor | None,
    demo_weight: float = 1.0,
    preference_weight: float = 1.0,
    demo_mass: torch.Tensor | None = None,
    policy_mass: torch.Tensor | None = None,
    falls: Falls | None = None,
) -> torch.Tensor:
    """The joint AIHF reward loss ``demo_weight · L_demo + preference_weight · L_pref``.

    A term whose weight is 0 or whose inputs are ``None`` is left out, so
    ``aihf_loss(None, None, R1, R2, y, demo_weight=0)`` is exactly ``preference_loss(R1, R2, y)``
    (RLHF) and ``aihf_loss(rd, rp, None, None, None, preference_weight=0)`` exactly ``demo_loss`` (ML-IRL).

    :param demo_rewards: (B_demo,) r_θ on demonstrations, or None
    :param policy_rewards: (B_pi,) r_θ on current-policy transitions, or None
    :param returns_1: (B,) segment returns R_θ(σ¹), or None
    :param returns_2: (B,) segment returns R_θ(σ²), or None
    :param labels: (B,) P(σ¹ ≻ σ²), or None
    :param demo_weight: weight of the demonstration term
    :param preference_weight: weight λ of the preference term
    :param demo_mass: (B_demo,) occupancy masses of the demonstrated transitions, or None (see ``demo_loss``)
    :param policy_mass: (B_pi,) the same for the policy's transitions, or None
    :param falls: r_abs and both sides' absorbing shares: L_demo is then ``separate_falls_demo_loss`` and the
        demo and policy rewards are those of the real transitions (no masses); None: ``demo_loss``
    :return: scalar loss
    """
    if falls is not None and (demo_mass is not None or policy_mass is not None):
        raise ValueError("aihf_loss takes occupancy masses or falls for L_demo, not both")
    use_demos = demo_weight != 0 and demo_rewards is not None and policy_rewards is not None
    use_prefs = preference_weight != 0 and returns_1 is not None and returns_2 is not None and labels is not None
    if not (use_demos or use_prefs):
        raise ValueError("aihf_loss got no term to compute: pass demo rewards, preference returns, or both")
    loss = 0.0
    if use_demos:
        if falls is None:
            loss = loss + demo_weight * demo_loss(demo_rewards, policy_rewards, demo_mass, policy_mass)
        else:
            loss = loss + demo_weight * separate_falls_demo_loss(demo_rewards, policy_rewards, *falls)
    if use_prefs:
        loss = loss + preference_weight * preference_loss(returns_1, returns_2, labels)
    return loss
