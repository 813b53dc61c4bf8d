"""Feedback for ``AIHF("MlpPolicy", "Hopper-v5")`` with no data arguments: the paper's budget from the
datasets shipped with the package."""

from __future__ import annotations

import gymnasium as gym
from stable_baselines3.common.vec_env import VecEnv

from aihf_control.data.demos import Demonstrations
from aihf_control.data.minari_datasets import (
    MAKE_DATASET_COMMAND,
    default_dataset_id,
    load_demonstrations,
    load_trajectories,
    shipped_dataset_ids,
)
from aihf_control.data.preferences import Preferences, generate_preferences
from aihf_control.data.teachers import ScriptedTeacher

# The AIHF paper's protocol: 10k demonstration transitions and 20k synthetic preferences.
DEFAULT_NUM_DEMOS = 10_000
DEFAULT_NUM_PREFS = 20_000
DEFAULT_SEGMENT_LENGTH = 50


def env_id_of(env: gym.Env | VecEnv | str) -> str | None:
    """The registered id of an env given as an id, a gymnasium env or a VecEnv; None if it has none."""
    if isinstance(env, str):
        return env
    if isinstance(env, VecEnv):
        specs = env.get_attr("spec")
        return specs[0].id if specs and specs[0] is not None else None
    return env.spec.id if getattr(env, "spec", None) is not None else None


def shipped_feedback(
    env: gym.Env | VecEnv | str,
    algorithm: str,
    demonstrations: bool,
    preferences: bool,
    seed: int = 0,
) -> tuple[Demonstrations | None, Preferences | None, dict]:
    """Demonstrations and/or oracle preferences from the datasets shipped for ``env``.

    :param env: the env (its registered id picks the datasets, e.g. Hopper-v5 → aihf/hopper/*-v0)
    :param algorithm: the caller's name, for the error message
    :param demonstrations: load ``DEFAULT_NUM_DEMOS`` transitions of ``aihf/<env>/expert-v0``
    :param preferences: label ``DEFAULT_NUM_PREFS`` pairs of segments of ``aihf/<env>/mixed-v0`` by the oracle
    :param seed: picks the episodes and segments
    :return: the data, and a plain-JSON record of the choice (kept with the model)
    :raises ValueError: if nothing is shipped for this env, naming the arguments to pass instead
    """
    env_id = env_id_of(env)
    expert_id = default_dataset_id(env_id, "expert") if env_id else None
    mixed_id = default_dataset_id(env_id, "mixed") if env_id else None
    wanted = [i for i, use in ((expert_id, demonstrations), (mixed_id, preferences)) if use]
    if env_id is None or not set(wanted) <= set(shipped_dataset_ids()):
        shipped_envs = sorted({i.split("/")[1] for i in shipped_dataset_ids()})
        arguments = " and ".join(
            name for name, use in (("demonstrations=...", demonstrations), ("preferences=...", preferences)) if use
        )
        raise ValueError(
            f"{algorithm} got no feedback, and no datasets ship for {env_id or 'this env (it has no registered id)'}; "
            f"pass {arguments} (see aihf_control.data), or make a dataset with "
            f"`{MAKE_DATASET_COMMAND} --env {env_id or '<EnvId>'} --mixed-quality`. "
            f"Datasets ship for: {', '.join(shipped_envs) or 'none'}"
        )
    env_for_checks = gym.make(env_id)
    demos = prefs = None
    record: dict = {"seed": seed}
    if demonstrations:
        demos = load_demonstrations(expert_id, env=env_for_checks, num_transitions=DEFAULT_NUM_DEMOS, seed=seed)
        record["demonstrations"] = {"dataset_id": expert_id, "num_transitions": DEFAULT_NUM_DEMOS}
    if preferences:
        pool = load_trajectories(mixed_id, env=env_for_checks)
        prefs = generate_preferences(pool, DEFAULT_NUM_PREFS, ScriptedTeacher.oracle(), DEFAULT_SEGMENT_LENGTH, seed)
        record["preferences"] = {
            "dataset_id": mixed_id,
            "num_pairs": DEFAULT_NUM_PREFS,
            "teacher": "oracle",
            "segment_length": DEFAULT_SEGMENT_LENGTH,
        }
    env_for_checks.close()
    parts = [f"{DEFAULT_NUM_DEMOS:,} transitions of {expert_id}"] if demonstrations else []
    parts += [f"{DEFAULT_NUM_PREFS:,} oracle preferences on segments of {mixed_id}"] if preferences else []
    print(f"{algorithm}: no feedback given; using the shipped {' and '.join(parts)} (seed {seed})", flush=True)
    return demos, prefs, record
