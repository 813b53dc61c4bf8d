"""Train an SB3 actor on the agent's own rows of batches that also hold feedback data.

SB3's SAC, sb3-contrib's TQC and CrossQ compute the actor's loss as a mean over the whole batch
(``actions_pi, log_prob = self.actor.action_log_prob(replay_data.observations)``, the one call made with
gradients on). With ``DemonstrationReplayBuffer`` the last rows of each batch are feedback data
(demonstrations, preference segments): the critic should learn their values, but the actor then also spends
up to half of its updates on the demonstrator's states, which the policy may be far from.
``actor_gradient_from_own_rows`` cuts those rows from the actor's gradient without a train step of our own
for each learner: the rows still flow forward (the losses keep their shapes), no gradient flows back through
them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from aihf_control.sb3.relabel_buffer import DemonstrationReplayBuffer


def detach_last_rows(x: torch.Tensor, num_rows: int) -> torch.Tensor:
    """``x`` (B, ...) with its last ``num_rows`` rows cut from the graph (same values, no gradient through them)."""
    if num_rows <= 0:
        return x
    own = len(x) - num_rows
    return torch.cat([x[:own], x[own:].detach()])


@contextmanager
def actor_gradient_from_own_rows(actor: torch.nn.Module, buffer: DemonstrationReplayBuffer) -> Iterator[None]:
    """Within the block, the actor's gradient comes only from the agent's own rows of ``buffer``'s batches.

    The actor's ``action_log_prob`` is replaced, for the block only, by one that detaches the feedback rows
    (demonstrations and preference segments: the last ``buffer.num_feedback_rows(B)`` of a batch of B) when
    gradients are on: in SB3's SAC and sb3-contrib's TQC and CrossQ that is the actor's update, while next-state
    actions are drawn without gradients. The entropy coefficient's loss, computed on the detached
    log-probabilities, still sees every row.

    :param actor: the learner's actor (``model.actor``)
    :param buffer: the learner's replay buffer, whose batches end with their feedback rows
    """
    action_log_prob = actor.action_log_prob  # the bound method of the actor's class

    def own_rows_action_log_prob(obs: torch.Tensor, *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        actions, log_prob = action_log_prob(obs, *args, **kwargs)
        if torch.is_grad_enabled():
            num_feedback = buffer.num_feedback_rows(len(obs))
            actions, log_prob = detach_last_rows(actions, num_feedback), detach_last_rows(log_prob, num_feedback)
        return actions, log_prob

    actor.action_log_prob = own_rows_action_log_prob
    try:
        yield
    finally:
        del actor.action_log_prob  # the class's method again
