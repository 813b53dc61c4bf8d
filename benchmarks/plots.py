"""The figures a benchmark writes: ``comparison.png`` (curves against env steps, IQM over seeds with a 95%
bootstrap band) and ``scarcity.png`` (final score against the number of preferences), from the records of
``benchmarks.records`` and the statistics of ``benchmarks.score_statistics``. ``benchmarks.report`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from rliable import metrics

from benchmarks.profiles import METHODS, USES_PREFERENCES
from benchmarks.records import env_of, envs_of, group_runs, score_matrix
from benchmarks.score_statistics import iqm, iqm_curve


def _pyplot() -> Any:
    """matplotlib's pyplot on the file-only backend (benchmarks run headless), imported when a figure is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _seeds(count: int) -> str:
    return "1 seed" if count == 1 else f"{count} seeds"


def _line_style(method: str, inner: str) -> tuple[str, tuple, str]:
    """A method's label, colour and line style, the same in both figures: a ``-batches`` variant has its
    baseline's colour, dashed; the inner learner is named unless it is SAC."""
    from matplotlib import colormaps

    label = method if inner == "sac" else f"{method} ({inner})"
    base = method.removesuffix("-batches")
    color = colormaps["tab10"](METHODS.index(base)) if base in METHODS else "black"
    return label, color, "--" if method.endswith("-batches") else "-"


def merged_legend(axes: Iterable[Any]) -> tuple[list, list[str]]:
    """The legend entries of all panels, each label once, in the order first drawn: one legend for a figure
    whose envs ran different methods (the first panel alone would leave some out).

    :param axes: matplotlib axes
    :return: the handles and labels for ``legend``
    """
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    return list(entries.values()), list(entries)


def legend_beside(axes: Any, title: str) -> None:
    """One legend for all panels (:func:`merged_legend`), beside the first row's last panel: inside a panel it hid
    curves and error bars once a report held many methods.

    :param axes: the figure's 2-D array of matplotlib axes
    :param title: the legend's title
    """
    handles, labels = merged_legend(axes.flat)
    axes[0][-1].legend(
        handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title=title, title_fontsize=7
    )


def plot(runs: list[dict], path: Path, title: str = "") -> None:
    """Curves against env steps, IQM over seeds with a 95% bootstrap band: one row of panels per env, one
    panel per number of preferences. The normalised score where the env's reference returns are known, else the
    true return; BC, which takes no env steps, is a flat dotted line.

    :param runs: records of :func:`run_record`
    :param path: the image file
    :param title: added to each panel's title
    """
    plt = _pyplot()
    envs = envs_of(runs)
    counts = sorted({r["num_prefs"] for r in runs if r["num_prefs"] is not None}) or [None]
    fig, axes = plt.subplots(
        len(envs), len(counts), figsize=(6 * len(counts), 4.5 * len(envs)), squeeze=False, sharey="row"
    )
    for axes_row, env in zip(axes, envs, strict=True):
        env_runs = [r for r in runs if env_of(r) == env]
        scored = all(s is not None for r in env_runs for s in r["scores"])
        values = "scores" if scored else "returns"
        horizon = max((max(r["steps"]) for r in env_runs if r["steps"]), default=1)
        groups = group_runs(env_runs)
        for ax, count in zip(axes_row, counts, strict=True):
            for (method, inner, num_prefs), chosen in groups.items():
                if method in USES_PREFERENCES and num_prefs != count:
                    continue
                label, color, linestyle = _line_style(method, inner)
                if method == "bc":
                    value = float(metrics.aggregate_iqm(np.array([[r[values][-1]] for r in chosen])))
                    ax.axhline(value, color=color, linestyle=":", label=f"bc ({value:,.0f})")
                    continue
                length = min(len(r[values]) for r in chosen)
                steps = np.array(chosen[0]["steps"][:length])
                curve, low, high = iqm_curve(np.array([r[values][:length] for r in chosen], dtype=float))
                ax.plot(steps, curve, color=color, linestyle=linestyle, label=f"{label} ({_seeds(len(chosen))})")
                if low is not None:
                    ax.fill_between(steps, low, high, color=color, alpha=0.2)
            refs = env_runs[0].get("refs") or {}
            for name, style in (("demonstrator", "--"), ("random", "-.")):
                if refs.get(name) is not None:
                    level = 100.0 if name == "demonstrator" else 0.0
                    ax.axhline(level if scored else refs[name], color="gray", linestyle=style, linewidth=1, label=name)
            ax.set_xlim(0, horizon)
            ax.set_xlabel("env steps")
            name = " ".join(part for part in (title, env) if part) or "benchmark"
            ax.set_title(name if count is None else f"{name}, {count:,} preferences")
            ax.grid(alpha=0.3)
        axes_row[0].set_ylabel("normalised score, IQM over seeds" if scored else "true return, IQM over seeds")
    legend_beside(axes, "band: 95% CI (none with 1 seed)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scarcity_points(runs: list[dict]) -> dict[str, dict[tuple[str, str], list[tuple]]]:
    """What ``scarcity.png`` draws: per env that has two or more preference budgets, per (method, inner
    learner), the points (preferences or None, IQM of the final score over seeds, its 95% CI, seeds).

    :param runs: records of :func:`run_record`
    """
    points: dict[str, dict[tuple[str, str], list[tuple]]] = {}
    for env in envs_of(runs):
        groups = group_runs(r for r in runs if env_of(r) == env)
        if len({k[2] for k in groups} - {None}) < 2:
            continue
        for key, group in groups.items():
            matrix = score_matrix(group, [env])
            if matrix.size:
                points.setdefault(env, {}).setdefault(key[:2], []).append((key[2], *iqm(matrix), matrix.shape[0]))
    return points


def plot_scarcity(runs: list[dict], path: Path) -> bool:
    """Final score against the number of preferences, one panel per env (:func:`scarcity_points`): per method
    the IQM over seeds with its 95% CI as an error bar; the methods without preferences (aihf-demos, bc,
    sac-true) as horizontal lines. Drawn only when an env has runs at two or more preference budgets.

    :param runs: records of :func:`run_record`
    :param path: the image file
    :return: whether the plot was drawn
    """
    points = scarcity_points(runs)
    if not points:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(points), figsize=(6 * len(points) + 3, 4.5), squeeze=False)
    for ax, (env, lines) in zip(axes[0], points.items(), strict=True):
        for (method, inner), line in lines.items():
            label, color, linestyle = _line_style(method, inner)
            if method not in USES_PREFERENCES:
                ax.axhline(line[0][1], color=color, linestyle=":", label=f"{label}, no preferences")
                continue
            x, y = [p[0] for p in line], [p[1] for p in line]
            low = [value - (ci[0] if ci else value) for _, value, ci, _ in line]
            high = [(ci[1] if ci else value) - value for _, value, ci, _ in line]
            ax.errorbar(
                x,
                y,
                yerr=[low, high],
                color=color,
                linestyle=linestyle,
                marker="o",
                capsize=3,
                label=f"{label} ({_seeds(max(p[3] for p in line))})",
            )
        counts = sorted({p[0] for line in lines.values() for p in line if p[0] is not None})
        ax.set_xscale("log")
        ax.set_xticks(counts, [f"{c:,}" for c in counts])
        ax.minorticks_off()
        ax.axhline(100, color="gray", linestyle="--", linewidth=1, label="demonstrator")
        ax.axhline(0, color="gray", linestyle="-.", linewidth=1, label="random")
        ax.set_xlabel("labelled preference pairs")
        ax.set_ylabel("final normalised score, IQM over seeds")
        ax.set_title(f"{env}: final score against the number of preferences")
        ax.grid(alpha=0.3)
    legend_beside(axes, "bars: 95% CI (none with 1 seed)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
