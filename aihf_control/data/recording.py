"""Record policies, one after another, into one Minari dataset with reference scores and ``make_dataset``'s metadata.

The episodes are written with ``minari.create_dataset_from_buffers`` (no jax needed); the per-episode reward
statistics that ``DataCollector.create_dataset`` would store are added afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import minari
import numpy as np
from minari import EpisodeMetadataCallback
from minari.data_collector import EpisodeBuffer

from aihf_control.data.demonstrator import Policy, checkpoint_steps
from aihf_control.data.minari_datasets import record_episodes
from aihf_control.progress import Report, Tracker


def record_dataset(
    dataset_id: str,
    env_id: str,
    sources: list[tuple[str, Policy, dict[str, float]]],
    shares: tuple[int | None, int | None],
    seed: int,
    refs: tuple[dict[str, float], dict[str, float]],
    config: dict,
    describe_recording: Callable[[int, int], str],
    report: Report,
    algorithm_name: str,
    minari_metadata: dict[str, Any],
) -> list[dict]:
    """Record each source policy in turn into one Minari dataset, with reference scores and our metadata.

    :param dataset_id: id of the new dataset in the local Minari store
    :param env_id: gymnasium env id the policies act in; also the dataset's ``eval_env``
    :param sources: (name, policy, evaluation) triples, recorded in this order
    :param shares: (transitions, episodes) to record per source; one of them is None
    :param seed: reset seed of the first episode; each next episode adds one
    :param refs: evaluations of the random policy and of the demonstrator: ref_min_score and ref_max_score
    :param config: this run's configuration, stored in the metadata
    :param describe_recording: (episodes, steps) recorded → the dataset's description
    :param report: where the recording's progress goes (``ProgressPrinter.update``)
    :param algorithm_name: what made the episodes, in the Minari metadata
    :param minari_metadata: the other keyword arguments of ``minari.create_dataset_from_buffers``: ``author``,
        ``author_email``, ``code_permalink``, ``num_episodes_average_score``
    :return: per source, which episodes it made (the metadata key ``policies``)
    """
    random_eval, expert_eval = refs
    num_transitions, num_episodes = shares
    policies: list[dict] = []
    episodes: list[EpisodeBuffer] = []
    # Whole episodes are recorded: the steps may end above the total, which is a lower bound.
    tracker = Tracker(f"recording {dataset_id}", num_transitions and num_transitions * len(sources), report, "steps")
    env = gym.make(env_id)
    try:
        for name, policy, evaluation in sources:

            def counted(obs: np.ndarray, policy: Policy = policy) -> np.ndarray:
                tracker.update(tracker.status.done + 1)
                return policy(obs)

            recorded = record_episodes(
                env, counted, seed=seed + len(episodes), num_episodes=num_episodes, num_transitions=num_transitions
            )
            policies.append(
                {
                    "policy": name,
                    "train_steps": checkpoint_steps(name),
                    "first_episode": len(episodes),
                    "num_episodes": len(recorded),
                    "num_steps": sum(len(episode) for episode in recorded),
                    "evaluation": evaluation,
                }
            )
            episodes += recorded
        total_episodes = len(episodes)
        total_steps = sum(source["num_steps"] for source in policies)
        dataset = minari.create_dataset_from_buffers(
            dataset_id,
            episodes,
            env=env,  # its spec (with max_episode_steps) and spaces go into the metadata
            eval_env=env_id,
            algorithm_name=algorithm_name,
            ref_min_score=random_eval["return_mean"],
            ref_max_score=expert_eval["return_mean"],
            description=describe_recording(total_episodes, total_steps),
            **minari_metadata,
        )
    finally:
        env.close()
    tracker.finish(total=tracker.status.done)  # whole episodes: the steps in all are known now
    # per-episode reward statistics (rewards_sum, ...), as DataCollector.create_dataset stores them
    dataset.storage.update_episode_metadata(dataset.storage.apply(EpisodeMetadataCallback()))
    dataset.storage.update_metadata(
        {
            "demonstrator_evaluation": expert_eval,
            "random_policy_evaluation": random_eval,
            "make_dataset_config": config,
            "policies": policies,
        }
    )
    print(f"dataset {dataset_id}: {total_episodes} episodes, {total_steps} steps", flush=True)
    return policies
