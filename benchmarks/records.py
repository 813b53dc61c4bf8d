"""The record of one benchmark run, written as the run finishes, and how records are grouped into score
matrices for ``benchmarks.score_statistics``: by (method, inner learner, number of preferences), then
(seeds, envs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from benchmarks.profiles import METHODS

FINAL_EVALS = 3  # the final return of a run is the mean of its last FINAL_EVALS evaluations


def save_json_atomically(data: object, path: Path) -> None:
    """Write to a temporary name, then rename: a reader never sees half a file.

    :param data: anything ``json.dumps`` takes
    :param path: the file; its folder is created
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2))
    os.replace(temporary, path)


def normalized_score(value: float, refs: dict) -> float | None:
    """0 = the random policy, 100 = the demonstrator (the dataset's ref_min_score and ref_max_score).

    :param value: a true return
    :param refs: ``{"random": ..., "demonstrator": ...}`` returns; None where unknown
    :return: the score, or None without both reference returns
    """
    low, high = refs.get("random"), refs.get("demonstrator")
    if low is None or high is None or high == low:
        return None
    return 100.0 * (value - low) / (high - low)


def run_record(
    method: str,
    num_prefs: int | None,
    seed: int,
    steps: list[int],
    returns: list[float],
    wall_times: list[float],
    refs: dict,
) -> dict:
    """One run's curve and the numbers derived from it (see ``benchmarks.profiles``' docstring).

    ``benchmarks.run`` adds ``env_id``, ``inner`` (the inner learner), ``wall_seconds`` and
    ``env_steps_per_second``; records without them (older ones, or rebuilt from TensorBoard files) are read
    as the env of their folder, inner learner SAC and unknown cost.

    :param method: one of ``METHODS``
    :param num_prefs: labelled segment pairs, None for methods without preferences
    :param seed: the run's seed
    :param steps: env steps of each evaluation
    :param returns: mean true return of each evaluation
    :param wall_times: seconds of training before each evaluation
    :param refs: reference returns, see :func:`normalized_score`
    """
    scores = [normalized_score(r, refs) for r in returns]
    final = float(np.mean(returns[-FINAL_EVALS:]))
    last_third = float(np.mean(returns[len(returns) - max(1, len(returns) // 3) :]))
    reached = [i for i, score in enumerate(scores) if score is not None and score >= 90]
    return {
        "method": method,
        "num_prefs": num_prefs,
        "seed": seed,
        "steps": steps,
        "returns": returns,
        "wall_times": wall_times,
        "scores": scores,
        "final_return": final,
        "final_score": normalized_score(final, refs),
        "last_third_return": last_third,
        "last_third_score": normalized_score(last_third, refs),
        "steps_to_score_90": steps[reached[0]] if reached else None,
        "seconds_to_score_90": wall_times[reached[0]] if reached and wall_times else None,
        "refs": refs,
    }


# --------------------------------------------------------------------------------------------- grouping
Key = tuple[str, str, "int | None"]  # (method, inner learner, number of preferences)


def env_of(run: dict) -> str:
    """The env of a run; ``""`` for older records without ``env_id`` (read as the env of their folder).

    :param run: a record of :func:`run_record`
    """
    return run.get("env_id") or ""


def group_key(run: dict) -> Key:
    """(method, inner learner, number of preferences) of a run; older records without ``inner`` ran SAC.

    :param run: a record of :func:`run_record`
    """
    return run["method"], run.get("inner") or "sac", run["num_prefs"]


def group_runs(runs: Iterable[dict]) -> dict[Key, list[dict]]:
    """Runs by (method, inner learner, number of preferences), in the order of ``METHODS``.

    :param runs: records of :func:`run_record`
    """
    groups: dict[Key, list[dict]] = {}
    for run in runs:
        groups.setdefault(group_key(run), []).append(run)
    order = {m: i for i, m in enumerate(METHODS)}
    return dict(sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1], kv[0][2] or 0)))


def envs_of(runs: Iterable[dict]) -> list[str]:
    """The envs of the runs, sorted.

    :param runs: records
    """
    return sorted({env_of(run) for run in runs})


def score_matrix(runs: list[dict], envs: list[str], key: str = "final_score") -> np.ndarray:
    """(seeds, envs) scores of one method: the runs of each env by seed, as many seeds as every env has.

    :param runs: the records of one (method, inner learner, number of preferences)
    :param envs: the envs (tasks), columns in this order
    :param key: the record's score, e.g. ``final_score`` or ``last_third_score``
    :return: the matrix; (0, len(envs)) if an env has no scored run (e.g. unknown reference returns)
    """
    columns = []
    for env in envs:
        chosen = sorted((r for r in runs if env_of(r) == env and r.get(key) is not None), key=lambda r: r["seed"])
        columns.append([r[key] for r in chosen])
    seeds = min((len(c) for c in columns), default=0)
    return np.array([c[:seeds] for c in columns], dtype=float).reshape(len(envs), seeds).T


def common_envs(*groups: list[dict]) -> list[str]:
    """The envs that every group has runs on, sorted: the tasks on which groups can be compared.

    :param groups: records, one list per group
    """
    common = set.intersection(*({env_of(r) for r in group} for group in groups))
    return sorted(common)
