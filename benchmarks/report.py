"""What a benchmark writes about its runs: one record per run, the summary over seeds, the table of
``results.md`` and the curves of ``comparison.png``.

``benchmarks.run`` writes a record as each run finishes and the summary, table and plot at the end;
``python -m benchmarks.compare`` redraws the table and plot from earlier records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from benchmarks.profiles import METHODS, USES_PREFERENCES

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


def summarize(runs: list[dict]) -> list[dict]:
    """Mean ± std over seeds per (method, number of preferences): final and last-third return and score.

    :param runs: records of :func:`run_record`
    :return: one row per (method, number of preferences), in the order of ``METHODS``
    """
    groups: dict[tuple[str, int | None], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["method"], run["num_prefs"]), []).append(run)
    order = {m: i for i, m in enumerate(METHODS)}

    def stats(values: list) -> tuple[float | None, float | None]:
        values = [v for v in values if v is not None]
        return (float(np.mean(values)), float(np.std(values))) if values else (None, None)

    rows = []
    for (method, num_prefs), group in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1] or 0)):
        row = {"method": method, "num_prefs": num_prefs, "seeds": len(group)}
        for key in ("final_return", "final_score", "last_third_return", "last_third_score"):
            row[f"{key}_mean"], row[f"{key}_std"] = stats([run[key] for run in group])
        reached = [run["steps_to_score_90"] for run in group if run["steps_to_score_90"] is not None]
        row["seeds_reaching_score_90"] = len(reached)
        row["steps_to_score_90_median"] = float(np.median(reached)) if reached else None
        rows.append(row)
    return rows


def results_table(summary: list[dict], refs: dict, command: str) -> str:
    """The markdown table of ``results.md``.

    :param summary: rows of :func:`summarize`
    :param refs: reference returns, named below the table
    :param command: the command that produced the runs, named above the table
    """

    def pm(mean: float | None, std: float | None, digits: int = 0) -> str:
        return "–" if mean is None else f"{mean:,.{digits}f} ± {std:,.{digits}f}"

    lines = [
        f"From `{command}`. Score: 0 = random policy, 100 = demonstrator. Final: mean of the last "
        f"{FINAL_EVALS} evaluations; last third: mean of the last third of the evaluations (a single final "
        "point hides collapses). Mean ± std over seeds.",
        "",
        "| method | preferences | final score | last-third score | final return | env steps to score 90 | seeds |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary:
        prefs = "–" if row["num_prefs"] is None else f"{row['num_prefs']:,}"
        to_90 = (
            "never"
            if row["steps_to_score_90_median"] is None
            else f"{row['steps_to_score_90_median']:,.0f} ({row['seeds_reaching_score_90']}/{row['seeds']} seeds)"
        )
        lines.append(
            f"| {row['method']} | {prefs} | {pm(row['final_score_mean'], row['final_score_std'])} "
            f"| {pm(row['last_third_score_mean'], row['last_third_score_std'])} "
            f"| {pm(row['final_return_mean'], row['final_return_std'])} | {to_90} | {row['seeds']} |"
        )
    if refs.get("demonstrator") is not None:
        lines += ["", f"Demonstrator return {refs['demonstrator']:,.0f}, random policy {refs['random']:,.0f}."]
    return "\n".join(lines)


def plot(runs: list[dict], refs: dict, path: Path, title: str) -> None:
    """Curves of true return against env steps, mean ± std over seeds, one panel per number of preferences.

    :param runs: records of :func:`run_record`
    :param refs: reference returns, drawn as horizontal lines
    :param path: the image file
    :param title: the panels' title, e.g. the env id
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted({r["num_prefs"] for r in runs if r["num_prefs"] is not None}) or [None]
    fig, axes = plt.subplots(1, len(counts), figsize=(6 * len(counts), 4.5), squeeze=False, sharey=True)
    colors = {m: plt.get_cmap("tab10")(i) for i, m in enumerate(METHODS)}
    horizon = max((max(r["steps"]) for r in runs if r["steps"]), default=1)
    for ax, count in zip(axes[0], counts, strict=True):
        for method in METHODS:
            chosen = [r for r in runs if r["method"] == method and r["num_prefs"] in (count, None)]
            if method in USES_PREFERENCES:
                chosen = [r for r in chosen if r["num_prefs"] == count]
            if not chosen:
                continue
            if method == "bc":
                value = np.mean([r["returns"][-1] for r in chosen])
                ax.axhline(value, color=colors[method], linestyle=":", label=f"bc ({value:,.0f})")
                continue
            length = min(len(r["returns"]) for r in chosen)
            steps = np.array(chosen[0]["steps"][:length])
            curves = np.array([r["returns"][:length] for r in chosen])
            mean, std = curves.mean(axis=0), curves.std(axis=0)
            ax.plot(steps, mean, color=colors[method], label=method)
            ax.fill_between(steps, mean - std, mean + std, color=colors[method], alpha=0.2)
        for name, style in (("demonstrator", "--"), ("random", "-.")):
            if refs.get(name) is not None:
                ax.axhline(refs[name], color="gray", linestyle=style, linewidth=1, label=name)
        ax.set_xlim(0, horizon)
        ax.set_xlabel("env steps")
        ax.set_title(title if count is None else f"{title}, {count:,} preferences")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("true return")
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def versions() -> dict[str, str]:
    """Versions of the libraries that decide a run's numbers, for ``results.json``."""
    import gymnasium as gym
    import minari
    import stable_baselines3
    import torch

    import aihf_control

    return {
        "aihf_control": aihf_control.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "torch": torch.__version__,
        "gymnasium": gym.__version__,
        "minari": minari.__version__,
    }
