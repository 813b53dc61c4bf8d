"""What AIHF logs about its learned reward after each reward update (``reward/...`` in SB3's logger).

Computed on fixed, evenly spread subsets of the feedback, so that the curves are comparable across updates and
cost less than the update itself.
"""

from __future__ import annotations

import numpy as np
import torch

from aihf_control.algos.aihf.feedback import FeedbackTensors, preference_returns
from aihf_control.algos.aihf.recent_steps import PolicyTransitions
from aihf_control.algos.aihf.reward_step import demo_loss_inputs
from aihf_control.rewards.losses import preference_accuracy
from aihf_control.rewards.nets import RewardNet


@torch.no_grad()
def reward_metrics(
    reward_net: RewardNet,
    feedback: FeedbackTensors,
    recent: PolicyTransitions,
    demo_losses: list[float],
    pref_losses: list[float],
    gamma: float,
    absorbing_state: bool,
    demo_loss_weighting: str,
) -> dict[str, float]:
    """The learned reward's metrics after a reward update, by logger key, in the order they are logged.

    :param reward_net: r_θ
    :param feedback: the feedback tensors the update learned from
    :param recent: the agent's recent transitions the update's L_demo compared with (its env rewards give true_corr)
    :param demo_losses: L_demo of each gradient step of the update (empty without the demonstration term)
    :param pref_losses: L_pref of each gradient step of the update (empty without the preference term)
    :param gamma: discount factor of the RL problem
    :param absorbing_state: whether terminations lead to the learned absorbing state
    :param demo_loss_weighting: how L_demo weighs transitions that end in a fall (``reward_step.demo_loss_inputs``)
    :return: absorbing_reward, policy_reward, true_corr (where defined),
        demo_loss and demo_minus_policy (with the demonstration term), pref_loss and pref_accuracy (with the
        preference term; accuracy where defined)
    """
    fb, net = feedback, reward_net
    metrics = {"reward/absorbing_reward": float(net.absorbing_reward())}
    r_policy = net(recent.obs, recent.acts)
    metrics["reward/policy_reward"] = float(r_policy.mean())  # its level: near ±reward_bound saturates
    true_corr = correlation(r_policy.cpu().numpy(), recent.true_rewards)
    if np.isfinite(true_corr):
        metrics["reward/true_corr"] = true_corr
    if demo_losses:
        metrics["reward/demo_loss"] = float(np.mean(demo_losses))
        d = _spread_indices(len(fb.demo_obs), 2_048)
        # -L_demo on all of them, weighted as the loss weighs them
        demo = (fb.demo_obs[d], fb.demo_acts[d], fb.demo_terminated[d])
        policy = (recent.obs, recent.acts, recent.terminated)
        gap = -demo_loss_inputs(net, demo, policy, gamma, absorbing_state, demo_loss_weighting).loss()
        metrics["reward/demo_minus_policy"] = float(gap)
    if pref_losses:
        metrics["reward/pref_loss"] = float(np.mean(pref_losses))
        # A fixed spread of 256 pairs: the full set would cost more than the update itself.
        q = _spread_indices(len(fb.pref_labels), 256)
        r1, r2 = preference_returns(fb, net, q, absorbing_state)
        accuracy = float(preference_accuracy(r1, r2, fb.pref_labels[q]))
        if np.isfinite(accuracy):
            metrics["reward/pref_accuracy"] = accuracy
    return metrics


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two (N,) arrays; NaN when either is constant (e.g. a block of one row)."""
    if len(x) < 2 or np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def _spread_indices(n: int, k: int) -> np.ndarray:
    """At most ``k`` indices spread evenly over ``range(n)``: a fixed, unbiased subset for logging."""
    return np.unique(np.linspace(0, n - 1, min(n, k)).astype(np.int64))
