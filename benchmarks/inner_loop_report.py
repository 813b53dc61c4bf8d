"""The report of ``benchmarks.inner_loop_sweep``: its records read back, a table per run, the seeds together
against the inner-loop issue's targets, and the curves.

    python -m benchmarks.inner_loop_sweep --env Hopper-v5 --report --logdir docs/benchmarks/inner_loop_sweep

A record is one run's JSON (``<logdir>/<env>/<variant>..._seed<S>.json``, or ``.partial.json`` for a stopped
run): its settings, and its evaluations as env steps, true returns, normalised scores (0 = random, 100 = the
demonstrator) and wall seconds; ``averaged_actors`` holds the curves of the averages evaluated alongside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

# The setting: its targets are within this many env steps with these layers (other runs are named apart).
TARGET_ENV_STEPS = 150_000
CPU_NET_ARCH = [64, 64]


def parse_averaging(spec: str) -> tuple[float, float | None]:
    tau, _, warmup = spec.partition(":")
    return float(tau), float(warmup) if warmup else None


def summary(record: dict) -> dict:
    """Steps and seconds to score 90, best, last-third mean, lowest after first reaching 90 and how many
    evaluations fell below 60 after it."""
    scores, steps = np.array(record["scores"]), record["steps"]
    reached = np.flatnonzero(scores >= 90)
    first = int(reached[0]) if len(reached) else None
    return {
        "steps_to_90": steps[first] if first is not None else None,
        "seconds_to_90": record["wall_times"][first] if first is not None else None,
        "best": float(scores.max()),
        "last_third": float(scores[-max(1, len(scores) // 3) :].mean()),
        "min_after_90": float(scores[first:].min()) if first is not None else None,
        "drops_after_90": int((scores[first:] < 60).sum()) if first is not None else None,  # evaluations below 60
        "final": float(scores[-1]),
        "steps_per_second": record["steps"][-1] / record["seconds"],
        "steps": record["steps"][-1],
    }


def suffix(record: dict) -> str:
    """The record's differences from its variant: extra arguments, other layers than [64, 64] and another
    demonstrator than the shipped one."""
    settings = {**record.get("extra", {}), "actor_averaging": record.get("actor_averaging")}  # None: the actor
    if record.get("actor_averaging_warmup") is not None and record.get("actor_averaging") is not None:
        settings["actor_averaging_warmup"] = record["actor_averaging_warmup"]
    if record.get("net_arch", CPU_NET_ARCH) != CPU_NET_ARCH:
        settings["net_arch"] = record["net_arch"]
    text = "".join(f" {k}={v}" for k, v in sorted(settings.items()))
    demonstrations = record.get("demonstrations") or ""
    return text if demonstrations.endswith("/expert-v0") else f"{text} [{demonstrations}]"


def targets(records: list[dict]) -> list[dict]:
    """Each configuration's seeds together, against the issue's targets: the mean curve over seeds reaches 90,
    the mean of its last third is ≥ 85, and it never drops below 60 after first reaching 90.

    A group's curve is the mean of its longest runs; seeds stopped earlier are named, not averaged. The CI is
    the 95% bootstrap interval of the seeds' last-third mean (undefined with one seed).
    """
    from benchmarks.report import bootstrap_ci

    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["variant"], suffix(r), r["num_prefs"]), []).append(r)
    rows = []
    for (variant, extra, prefs), group in sorted(groups.items()):
        n = max(len(r["scores"]) for r in group)
        runs = [r for r in group if len(r["scores"]) == n]
        shorter = sorted((r["seed"], r["steps"][-1]) for r in group if len(r["scores"]) < n)
        curves = np.array([r["scores"] for r in runs])  # (seeds, evaluations)
        mean, steps = curves.mean(axis=0), runs[0]["steps"][:n]
        third = max(1, n // 3)
        per_seed_last_third = curves[:, -third:].mean(axis=1)
        bounds = bootstrap_ci(lambda x: x.mean(axis=(1, 2)), per_seed_last_third[:, None])
        reached = np.flatnonzero(mean >= 90)
        first = int(reached[0]) if len(reached) else None
        rows.append(
            {
                "configuration": f"{variant}{extra}",
                "prefs": prefs,
                "seeds": sorted(r["seed"] for r in runs),
                "left_out": shorter,
                "env_steps": steps[-1],
                "steps_to_90": steps[first] if first is not None else None,
                "last_third": float(mean[-third:].mean()),
                "last_third_ci": None if bounds is None else (float(bounds[0]), float(bounds[1])),
                "min_after_90": float(mean[first:].min()) if first is not None else None,
            }
        )
    return rows


def targets_table(rows: list[dict]) -> str:
    def verdict(ok: bool | None) -> str:
        return "—" if ok is None else ("met" if ok else "**not met**")

    lines = [
        "| configuration | prefs | seeds | env steps | mean reaches 90 at | last third of the mean [95% CI] | "
        "min of the mean after 90 | ≥ 90 within 150k | last third ≥ 85 | none < 60 after 90 |",
        "|---|---:|---|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        ci = "" if r["last_third_ci"] is None else f" [{r['last_third_ci'][0]:.0f}, {r['last_third_ci'][1]:.0f}]"
        reached = r["steps_to_90"] is not None and r["steps_to_90"] <= TARGET_ENV_STEPS
        full = r["env_steps"] >= TARGET_ENV_STEPS  # a verdict on the last third needs the whole curve
        lines.append(
            f"| {r['configuration']} | {r['prefs']} | {', '.join(map(str, r['seeds']))}"
            f"{''.join(f' (seed {seed} left out: {steps // 1000}k)' for seed, steps in r['left_out'])} | "
            f"{r['env_steps']:,} | "
            f"{'—' if r['steps_to_90'] is None else format(r['steps_to_90'], ',')} | {r['last_third']:.0f}{ci} | "
            f"{'—' if r['min_after_90'] is None else format(r['min_after_90'], '.0f')} | "
            f"{verdict(reached if reached or full else None)} | {verdict(r['last_third'] >= 85 if full else None)} | "
            f"{verdict(None if r['min_after_90'] is None else r['min_after_90'] >= 60)} |"
        )
    return "\n".join(lines)


def table(records: list[dict]) -> str:
    def fmt(x: Any, spec: str = ".0f") -> str:
        return "—" if x is None else format(x, spec)

    lines = [
        "| variant | prefs | seed | env steps | steps to 90 | s to 90 | best | last third | min after 90 | "
        "below 60 after 90 | final | env steps/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(records, key=lambda r: (r["variant"], r["num_prefs"], r["seed"])):
        s = summary(r)
        lines.append(
            f"| {r['variant']}{suffix(r)} | {r['num_prefs']} | {r['seed']} | "
            f"{s['steps']:,}{'' if r.get('finished', True) else ' (stopped)'} | {fmt(s['steps_to_90'], ',')} | "
            f"{fmt(s['seconds_to_90'])} | {fmt(s['best'])} | {fmt(s['last_third'])} | {fmt(s['min_after_90'])} | "
            f"{fmt(s['drops_after_90'], 'd')} | "
            f"{fmt(s['final'])} | {fmt(s['steps_per_second'])} |"
        )
    return "\n".join(lines)


def plot(records: list[dict], path: Path) -> None:
    """Normalised score against env steps: one panel per configuration (variant, arguments, preferences), one
    line per seed; the demonstrator (100) and score 90 dashed."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[dict]] = {}
    for r in sorted(records, key=lambda r: (r["variant"], suffix(r), r["num_prefs"], r["seed"])):
        groups.setdefault(f"{r['variant']}{suffix(r)}, {r['num_prefs']} prefs", []).append(r)
    cols = min(3, max(1, len(groups)))
    rows = -(-max(1, len(groups)) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.4 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, (title, runs) in zip(axes.flat, groups.items(), strict=False):  # more panels than groups
        for r in runs:
            stopped = "" if r.get("finished", True) else ", stopped"
            ax.plot(r["steps"], r["scores"], marker=".", label=f"seed {r['seed']}{stopped}")
        ax.axhline(100, color="k", lw=0.8, ls="--")
        ax.axhline(90, color="gray", lw=0.8, ls=":")
        ax.set_title("\n".join(textwrap.wrap(title, 60)), fontsize=7)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes.flat[len(groups) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("env steps")
    for ax in axes[:, 0]:
        ax.set_ylabel("normalised score")
    fig.suptitle(f"{records[0]['env'] if records else ''} (100 = demonstrator)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def read_records(folder: Path) -> list[dict]:
    """Finished runs, and the curves so far of stopped ones; the averages of a run's actor measured alongside it
    (``--averaged-actors``) as runs of their own, with ``actor_averaging`` set and the run's wall times."""
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    for r in list(records):
        for spec, curve in r.get("averaged_actors", {}).items():
            n, (tau, warmup) = len(curve["scores"]), parse_averaging(spec)
            averaging = {"actor_averaging": tau, "actor_averaging_warmup": warmup}  # not the run's own warmup
            records.append({**r, **averaging, **curve, "wall_times": r["wall_times"][:n]})
    return records


def report_folder(folder: Path) -> list[dict]:
    """Print the table and the targets of the runs in ``folder`` and draw ``folder/curves.png``."""
    records = [r for r in read_records(folder) if r["steps"]] if folder.is_dir() else []
    if not records:
        raise SystemExit(f"no runs with evaluations in {folder}: run the sweep with this --logdir first")
    plot(records, folder / "curves.png")
    print(table(records))
    print("\nSeeds together, against the targets (the mean curve over seeds):\n")
    print(targets_table(targets(records)))
    print(f"curves: {folder / 'curves.png'}")
    return records
