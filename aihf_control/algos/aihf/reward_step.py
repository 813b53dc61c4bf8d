"""One step of AIHF's reward learning: a batch drawn from the feedback and the agent's recent steps, and the joint
loss on it.

``AIHFRewardLearning._update_reward`` takes ``reward_gradient_steps`` Adam steps on ``joint_reward_loss``; the
terms' math is in ``aihf_control.rewards.losses``, here the batch is drawn and the reward net read on it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from aihf_control.algos.aihf.feedback import FeedbackTensors, preference_returns
from aihf_control.algos.aihf.recent_steps import PolicyTransitions
from aihf_control.rewards.losses import (
    Falls,
    absorbing_mass,
    absorbing_share,
    aihf_loss,
    demo_loss,
    ensemble_gradient_penalty,
    preference_loss,
    separate_falls_demo_loss,
)
from aihf_control.rewards.nets import RewardNet


class DemoLossInputs(NamedTuple):
    """r_θ on demonstrated and policy transitions, weighed as ``demo_loss_weighting`` says (``demo_loss_inputs``)."""

    demo_rewards: torch.Tensor  # (E, B_demo)
    policy_rewards: torch.Tensor  # (E, B_pi)
    demo_mass: torch.Tensor | None  # (B_demo,) occupancy masses with "occupancy", else None
    policy_mass: torch.Tensor | None  # (B_pi,)
    falls: Falls | None  # with "separate_falls" (the rewards are then the real transitions'), else None

    def loss(self) -> torch.Tensor:
        """() L_demo on these inputs, averaged over the ensemble members."""
        if self.falls is not None:
            return separate_falls_demo_loss(self.demo_rewards, self.policy_rewards, *self.falls)
        return demo_loss(self.demo_rewards, self.policy_rewards, self.demo_mass, self.policy_mass)


def demo_loss_inputs(
    net: RewardNet,
    demo: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    policy: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    gamma: float,
    absorbing_state: bool,
    demo_loss_weighting: str,
) -> DemoLossInputs:
    """Read r_θ on demonstrated and policy transitions as L_demo weighs them.

    :param net: the reward net r_θ
    :param demo: the demonstrated transitions: obs (B_demo, obs_dim), acts (B_demo, act_dim), terminated (B_demo,)
    :param policy: the policy's transitions, the same
    :param gamma: the inner learner's discount (the absorbing state's value)
    :param absorbing_state: whether true terminations lead to the learned absorbing state
    :param demo_loss_weighting: ``"occupancy"``, ``"separate_falls"`` or ``"transitions"`` (see ``AIHFRewardLearning``)
    :return: the rewards (E, B) and the masses or falls that go with them
    """
    (demo_obs, demo_acts, demo_terminated), (policy_obs, policy_acts, policy_terminated) = demo, policy
    if absorbing_state and demo_loss_weighting == "separate_falls":
        falls = Falls(
            net.member_rewards_of_features(net.absorbing_input),  # (E,)
            absorbing_share(demo_terminated, gamma),
            absorbing_share(policy_terminated, gamma),
        )
        demo_r, policy_r = net.member_rewards(demo_obs, demo_acts), net.member_rewards(policy_obs, policy_acts)
        return DemoLossInputs(demo_r, policy_r, None, None, falls)  # real transitions: r_abs is in the falls
    demo_r = net.member_transition_rewards(demo_obs, demo_acts, demo_terminated, gamma, absorbing_state)  # (E, B)
    policy_r = net.member_transition_rewards(policy_obs, policy_acts, policy_terminated, gamma, absorbing_state)
    if absorbing_state and demo_loss_weighting == "occupancy":
        return DemoLossInputs(
            demo_r, policy_r, absorbing_mass(demo_terminated, gamma), absorbing_mass(policy_terminated, gamma), None
        )
    return DemoLossInputs(demo_r, policy_r, None, None, None)


class RewardStepLoss(NamedTuple):
    """The joint loss of one reward step and its parts, as logged (None where a term is not in use)."""

    loss: torch.Tensor  # () what Adam minimises: E × the members' mean loss, plus the gradient penalty
    demo_loss: float | None
    preference_loss: float | None
    gradient_penalty: float | None  # per ensemble member, before its weight


def joint_reward_loss(
    net: RewardNet,
    feedback: FeedbackTensors,
    recent: PolicyTransitions,
    *,
    use_demos: bool,
    use_prefs: bool,
    demo_weight: float,
    preference_weight: float,
    gradient_penalty_weight: float,
    reward_batch_size: int,
    preference_batch_size: int,
    gamma: float,
    absorbing_state: bool,
    demo_loss_weighting: str,
) -> RewardStepLoss:
    """L(θ) = demo_weight · L_demo + preference_weight · L_pref (+ the gradient penalty) on one random batch.

    Rewards and returns carry a leading ensemble dimension E: each member gets its own loss terms (the losses
    average over all leading dimensions), so members learn independently.

    :param net: the reward net r_θ
    :param feedback: the demonstrations and preferences as tensors
    :param recent: the agent's recent transitions (the policy side of L_demo)
    :param use_demos: draw ``reward_batch_size`` demonstrated and policy transitions for L_demo
    :param use_prefs: draw ``preference_batch_size`` segment pairs for L_pref
    :param demo_weight: weight of L_demo
    :param preference_weight: weight of L_pref
    :param gradient_penalty_weight: weight of the penalty on r_θ's slope between demonstrated and policy inputs
    :param reward_batch_size: demonstrated and policy transitions per step (each)
    :param preference_batch_size: segment pairs per step
    :param gamma: the inner learner's discount (the absorbing state's value)
    :param absorbing_state: add the absorbing state's value to transitions that end in a true termination
    :param demo_loss_weighting: how L_demo weighs transitions that end in a fall (see ``demo_loss_inputs``)
    :return: the loss to minimise and its logged parts
    """
    device = recent.obs.device
    draw = lambda n, size: torch.as_tensor(np.random.randint(0, n, size), device=device)  # noqa: E731
    r1 = r2 = labels = penalty = None
    demo_inputs = DemoLossInputs(None, None, None, None, None)
    logged_demo = logged_pref = logged_penalty = None
    if use_demos:
        d, p = draw(len(feedback.demo_obs), reward_batch_size), draw(len(recent.obs), reward_batch_size)
        demo_obs, demo_acts, demo_terminated = feedback.demo_obs[d], feedback.demo_acts[d], feedback.demo_terminated[d]
        demo_inputs = demo_loss_inputs(
            net,
            (demo_obs, demo_acts, demo_terminated),
            (recent.obs[p], recent.acts[p], recent.terminated[p]),
            gamma,
            absorbing_state,
            demo_loss_weighting,
        )
        logged_demo = demo_inputs.loss().item()
        if gradient_penalty_weight > 0:
            penalty = ensemble_gradient_penalty(
                net.member_reward_of_features,
                net.ensemble_size,
                net.features(demo_obs, demo_acts),
                net.features(recent.obs[p], recent.acts[p]),
            )
            logged_penalty = penalty.item() / net.ensemble_size
    if use_prefs:
        q = draw(len(feedback.pref_labels), preference_batch_size)
        r1, r2 = preference_returns(feedback, net, q, absorbing_state, members=True)  # (E, B), (E, B)
        labels = feedback.pref_labels[q]  # (B,)
        logged_pref = preference_loss(r1, r2, labels).item()
    # The losses average over the E members; × E gives each member its whole loss, as a lone net gets
    # (so Adam's weight decay keeps the same strength relative to the gradient whatever E is).
    loss = net.ensemble_size * aihf_loss(
        demo_inputs.demo_rewards,
        demo_inputs.policy_rewards,
        r1,
        r2,
        labels,
        demo_weight,
        preference_weight,
        demo_inputs.demo_mass,
        demo_inputs.policy_mass,
        demo_inputs.falls,
    )
    if penalty is not None:
        loss = loss + gradient_penalty_weight * penalty
    return RewardStepLoss(loss, logged_demo, logged_pref, logged_penalty)
