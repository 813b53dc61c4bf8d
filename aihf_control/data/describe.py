"""Print what a Minari dataset holds: episodes, steps, the return of its recorded episodes and, for
datasets made by ``make_dataset``, the evaluations stored in its metadata.

    python -m aihf_control.data.describe aihf/hopper/expert-v0 aihf/hopper/mixed-v0

Shipped datasets are installed into the local store first; nothing is downloaded.
"""

from __future__ import annotations

import argparse

import numpy as np

from aihf_control.data.minari_datasets import load_local_dataset


def describe_dataset(dataset_id: str) -> dict:
    """Summary of a local (or shipped) Minari dataset.

    :param dataset_id: e.g. ``aihf/hopper/expert-v0``
    :return: ``episodes``, ``steps``, ``return_mean`` / ``return_std`` / ``return_min`` / ``return_max`` over
        its episodes, ``terminated_episodes``, and the metadata's ``ref_min_score``, ``ref_max_score``,
        ``demonstrator_evaluation`` and ``policies`` where present
    """
    dataset = load_local_dataset(dataset_id)
    returns, terminated = [], 0
    for episode in dataset.iterate_episodes():
        returns.append(float(np.sum(episode.rewards)))
        terminated += int(bool(np.asarray(episode.terminations)[-1])) if len(episode) else 0
    metadata = dataset.storage.metadata
    summary: dict = {
        "dataset_id": dataset_id,
        "env_id": dataset.env_spec.id if dataset.env_spec is not None else None,
        "episodes": dataset.total_episodes,
        "steps": dataset.total_steps,
        "terminated_episodes": terminated,
        "return_mean": float(np.mean(returns)) if returns else float("nan"),
        "return_std": float(np.std(returns)) if returns else float("nan"),
        "return_min": float(np.min(returns)) if returns else float("nan"),
        "return_max": float(np.max(returns)) if returns else float("nan"),
    }
    for key in ("ref_min_score", "ref_max_score", "demonstrator_evaluation", "policies"):
        if key in metadata:
            summary[key] = metadata[key]
    return summary


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(prog="python -m aihf_control.data.describe", description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset_ids", nargs="+", metavar="DATASET_ID", help="e.g. aihf/hopper/expert-v0")
    args = parser.parse_args(argv)
    summaries = []
    for dataset_id in args.dataset_ids:
        s = describe_dataset(dataset_id)
        summaries.append(s)
        print(
            f"{dataset_id} ({s['env_id']}): {s['episodes']} episodes, {s['steps']} steps, "
            f"{s['terminated_episodes']} ended by termination"
        )
        print(
            f"  episode return {s['return_mean']:.1f} ± {s['return_std']:.1f} "
            f"(min {s['return_min']:.1f}, max {s['return_max']:.1f})"
        )
        if "demonstrator_evaluation" in s:
            e = s["demonstrator_evaluation"]
            print(
                f"  demonstrator evaluation: {e['return_mean']:.1f} ± {e['return_std']:.1f} "
                f"over {e['episodes']} episodes"
            )
        if "ref_min_score" in s:
            print(f"  ref_min_score (random policy) {s['ref_min_score']:.1f}, ref_max_score {s['ref_max_score']:.1f}")
        for policy in s.get("policies", []) if len(s.get("policies", [])) > 1 else []:
            e = policy["evaluation"]
            print(
                f"  {policy['num_episodes']:4d} episodes ({policy['num_steps']} steps) from {policy['policy']}: "
                f"evaluated {e['return_mean']:.1f} ± {e['return_std']:.1f}"
            )
    return summaries


if __name__ == "__main__":
    main()
