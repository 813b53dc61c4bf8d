"""What a benchmark writes about its runs: the tables of ``results.md`` and the paper's claims, from the records
of ``benchmarks.records`` and the statistics of ``benchmarks.score_statistics`` (IQM over seeds and envs,
stratified-bootstrap 95% CIs, probability of improvement); the figures are drawn by ``benchmarks.plots``.

``benchmarks.run`` writes a record as each run finishes and the summary, tables and plots at the end;
``python -m benchmarks.compare`` redraws them from earlier records, also merged over several envs.
The records', statistics' and plots' public names are also importable from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from benchmarks.plots import plot, plot_scarcity, scarcity_points
from benchmarks.profiles import AIHF_FAMILY
from benchmarks.records import (
    FINAL_EVALS,
    Key,
    common_envs,
    env_of,
    envs_of,
    group_key,
    group_runs,
    normalized_score,
    run_record,
    save_json_atomically,
    score_matrix,
)
from benchmarks.score_statistics import (
    BOOTSTRAP_REPS,
    BOOTSTRAP_SEED,
    CONFIDENCE,
    Interval,
    bootstrap_ci,
    iqm,
    iqm_curve,
    iqm_difference,
    lead_change,
    probability_of_improvement,
)

__all__ = [
    "BOOTSTRAP_REPS",
    "BOOTSTRAP_SEED",
    "CLAIM_BASELINES",
    "CLAIM_TEXT",
    "CONFIDENCE",
    "FINAL_EVALS",
    "UNDEFINED",
    "Interval",
    "Key",
    "bootstrap_ci",
    "claim_verdict",
    "claims",
    "claims_table",
    "envs_of",
    "format_ci",
    "group_runs",
    "headline",
    "iqm",
    "iqm_curve",
    "iqm_difference",
    "lead_change",
    "normalized_score",
    "plot",
    "plot_scarcity",
    "probability_of_improvement",
    "report",
    "results_table",
    "run_record",
    "save_json_atomically",
    "scarcity_points",
    "score_matrix",
    "summarize",
    "versions",
]

UNDEFINED = "undefined (1 seed)"
# Claims 1 and 2 are supported when the 95% CI of the difference they state lies above 0 (see claims()).
CLAIM_BASELINES = ("rlhf", "ipl", "rlhf-batches", "ipl-batches")


def format_ci(value: float | None, interval: Interval, digits: int = 0) -> str:
    """``12 [8, 15]``, ``12 (1 seed, CI undefined)`` or ``–`` when there is no value.

    :param value: a point estimate
    :param interval: its CI, None if undefined
    :param digits: decimals
    """
    if value is None:
        return "–"
    if interval is None:
        return f"{value:,.{digits}f} (1 seed, CI undefined)"
    return f"{value:,.{digits}f} [{interval[0]:,.{digits}f}, {interval[1]:,.{digits}f}]"


# ------------------------------------------------------------------------------------------------ summary
def _reference(groups: dict[Key, list[dict]], key: Key) -> Key | None:
    """The AIHF group a row is compared with: same inner learner and number of preferences if it exists, else
    AIHF's largest number of preferences (for the methods without preferences)."""
    method, inner, num_prefs = key
    aihf = [k for k in groups if k[0] == "aihf"]
    if method == "aihf" or not aihf:
        return None
    inners = {k[1] for k in aihf}
    inner = inner if inner in inners else "sac" if "sac" in inners else sorted(inners)[0]
    counts = [k[2] for k in aihf if k[1] == inner]
    return "aihf", inner, num_prefs if num_prefs in counts else max(counts, key=lambda c: c or 0)


def summarize(runs: list[dict]) -> list[dict]:
    """One row per (method, inner learner, number of preferences): IQM of the final and last-third score with
    95% CIs, P(AIHF > the method) with its CI, env steps to score 90 and the cost; also the mean ± std of the
    final score and return (in ``results.json`` only: with 3 seeds the IQM and its CI say more).

    Runs of several envs are pooled with each env a stratum (the rows are then "over envs").

    :param runs: records of :func:`run_record`
    :return: the rows, in the order of ``METHODS``
    """
    groups = group_runs(runs)
    rows = []
    for key, group in groups.items():
        method, inner, num_prefs = key
        envs = envs_of(group)
        final, last_third = score_matrix(group, envs), score_matrix(group, envs, "last_third_score")
        row: dict = {"method": method, "inner": inner, "num_prefs": num_prefs, "envs": envs, "runs": len(group)}
        row["seeds"] = final.shape[0] if final.size else len({r["seed"] for r in group})
        row["final_score_iqm"], row["final_score_ci"] = iqm(final) if final.size else (None, None)
        row["last_third_score_iqm"], row["last_third_score_ci"] = iqm(last_third) if last_third.size else (None, None)
        for name in ("final_score", "final_return"):
            values = [r[name] for r in group if r[name] is not None]
            row[f"{name}_mean"] = float(np.mean(values)) if values else None
            row[f"{name}_std"] = float(np.std(values)) if values else None
        reference = _reference(groups, key)
        row["compared_with"] = None
        row["p_aihf_better"] = row["p_aihf_better_ci"] = None
        if reference is not None:
            common = common_envs(groups[reference], group)
            x, y = score_matrix(groups[reference], common), score_matrix(group, common)
            if x.size and y.size:
                row["compared_with"] = {"method": "aihf", "inner": reference[1], "num_prefs": reference[2]}
                row["p_aihf_better"], row["p_aihf_better_ci"] = probability_of_improvement(x, y)
        reached = [r["steps_to_score_90"] for r in group if r["steps_to_score_90"] is not None]
        row["seeds_reaching_score_90"] = len(reached)
        row["steps_to_score_90_median"] = float(np.median(reached)) if reached else None
        speeds = [r["env_steps_per_second"] for r in group if r.get("env_steps_per_second")]
        walls = [r["wall_seconds"] for r in group if r.get("wall_seconds") is not None]
        row["env_steps_per_second"] = float(np.mean(speeds)) if speeds else None
        row["wall_seconds_per_run"] = float(np.mean(walls)) if walls else None
        rows.append(row)
    return rows


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds / 3600:.1f} h" if seconds >= 5_400 else f"{seconds / 60:.1f} min"


def results_table(summary: list[dict], refs: dict | None = None) -> str:
    """The markdown table of one env (or of envs pooled) in ``results.md``.

    :param summary: rows of :func:`summarize`
    :param refs: the env's reference returns, named below the table (None for pooled envs)
    """
    pooled = any(len(row["envs"]) > 1 for row in summary)
    seeds = "envs × seeds" if pooled else "seeds"
    lines = [
        f"| method | preferences | inner | {seeds} | final score, IQM [95% CI] | last-third score, IQM [95% CI] "
        "| P(aihf > method) [95% CI] | env steps to score 90 | env steps/s | wall time per run |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary:
        prefs = "–" if row["num_prefs"] is None else f"{row['num_prefs']:,}"
        count = f"{len(row['envs'])} × {row['seeds']}" if pooled else f"{row['seeds']}"
        p = format_ci(row["p_aihf_better"], row["p_aihf_better_ci"], 2)
        if row["compared_with"] and row["compared_with"]["num_prefs"] != row["num_prefs"]:
            p += f" (vs aihf at {row['compared_with']['num_prefs']:,})"
        to_90 = (
            "never"
            if row["steps_to_score_90_median"] is None
            else f"{row['steps_to_score_90_median']:,.0f} ({row['seeds_reaching_score_90']}/{row['runs']} runs)"
        )
        speed = "–" if row["env_steps_per_second"] is None else f"{row['env_steps_per_second']:,.0f}"
        lines.append(
            f"| {row['method']} | {prefs} | {row['inner']} | {count} "
            f"| {format_ci(row['final_score_iqm'], row['final_score_ci'])} "
            f"| {format_ci(row['last_third_score_iqm'], row['last_third_score_ci'])} | {p} | {to_90} "
            f"| {speed} | {_duration(row['wall_seconds_per_run'])} |"
        )
    if refs and refs.get("demonstrator") is not None:
        lines += ["", f"Demonstrator return {refs['demonstrator']:,.0f}, random policy {refs['random']:,.0f}."]
    return "\n".join(lines)


def report(runs: list[dict], command: str, wall_seconds: float | None = None) -> tuple[dict, str]:
    """The statistics of ``results.json`` and the text of ``results.md``: one table per env, one over all envs
    (when there are several) and the paper's claims.

    :param runs: records of :func:`run_record`, each with its ``env_id``
    :param command: the command that produced the runs, named at the top
    :param wall_seconds: the benchmark's wall time, if known
    :return: ``{"per_env": {env: rows}, "all_envs": rows or None, "claims": rows}`` and the markdown
    """
    envs = envs_of(runs)
    cores = os.cpu_count()
    took = "" if wall_seconds is None else f" in {_duration(wall_seconds)} on {cores} CPU cores"
    lines = [
        f"From `{command}`{took}.",
        "",
        "Score: 0 = random policy, 100 = demonstrator. Final: mean of the last "
        f"{FINAL_EVALS} evaluations of a run; last third: mean of its last third of evaluations (a single final "
        "point hides collapses). IQM: interquartile mean over seeds (and envs); [95% CI]: stratified bootstrap "
        f"over seeds ({BOOTSTRAP_REPS:,} resamples), undefined with one seed. P(aihf > method): probability "
        "that an aihf run beats a run of the method, with its CI; rows without preferences are compared with "
        "aihf at its largest number of preferences. env steps/s: training speed of one run on one CPU thread, "
        "evaluations included.",
    ]
    statistics: dict = {"per_env": {}, "all_envs": None}
    for env in envs:
        env_runs = [r for r in runs if env_of(r) == env]
        statistics["per_env"][env] = summarize(env_runs)
        lines += ["", f"## {env or 'runs'}", "", results_table(statistics["per_env"][env], env_runs[0].get("refs"))]
    if len(envs) > 1:
        statistics["all_envs"] = summarize(runs)
        lines += ["", f"## All envs: {', '.join(envs)}", "", results_table(statistics["all_envs"])]
    statistics["claims"] = claims(runs)
    lines += ["", claims_table(statistics["claims"])]
    return statistics, "\n".join(lines)


# ------------------------------------------------------------------------------------------------ claims
def claims(runs: list[dict]) -> list[dict]:
    """The AIHF paper's two claims, measured on the runs: over all their envs (the rows that decide the claim's
    verdict, ``pooled``) and, when there are several envs, on each env alone (for reading).

    Claim 1, "both sources beat either alone": IQM(aihf) − IQM(aihf-demos) and IQM(aihf) − IQM(aihf-prefs),
    at each preference budget of aihf (aihf-demos uses none). Claim 2, "the lead over RLHF/IPL is largest when
    preferences are scarce": (IQM(aihf) − IQM(baseline)) at the smallest budget minus the same at the largest,
    for rlhf, ipl, rlhf-batches and ipl-batches.

    A row is *supported* when the 95% CI of its difference lies above 0 (lower bound > 0): the difference of
    IQMs is in score points, so one criterion reads for both claims, and a CI that excludes 0 on the wrong side
    is reported as not supported. None where the CI is undefined (one seed). The AIHF-family runs are those of
    the inner learner SAC when several were run.

    :param runs: records of :func:`run_record`
    :return: rows ``{"claim", "comparison", "num_prefs", "envs", "pooled", "estimate", "ci", "supported", ...}``
    """
    inners = {group_key(r)[1] for r in runs if r["method"] in AIHF_FAMILY}
    inner = next(iter(inners)) if len(inners) == 1 else "sac"
    chosen = [r for r in runs if r["method"] not in AIHF_FAMILY or group_key(r)[1] == inner]
    groups = {(k[0], k[2]): g for k, g in group_runs(chosen).items()}
    counts = sorted(c for m, c in groups if m == "aihf" and c is not None)
    rows: list[dict] = []

    def row(
        claim: int, comparison: str, num_prefs: object, parts: list[list[dict]], measure: Callable, pooled: bool
    ) -> None:
        envs = common_envs(*parts)
        matrices = [score_matrix(p, envs) for p in parts]
        if not envs or not all(m.size for m in matrices):
            return
        if any((r["comparison"], r["num_prefs"], r["envs"]) == (comparison, num_prefs, envs) for r in rows):
            return  # an env alone that was already the whole pooled row
        estimate, ci = measure(*matrices)
        seeds = min(m.shape[0] for m in matrices)
        supported = None if ci is None else ci[0] > 0
        rows.append(
            dict(
                claim=claim,
                comparison=comparison,
                num_prefs=num_prefs,
                envs=envs,
                pooled=pooled,
                seeds=seeds,
                estimate=estimate,
                ci=ci,
                supported=supported,
                inner=inner,
            )
        )

    envs = envs_of(chosen)
    for scope in [envs] + ([[env] for env in envs] if len(envs) > 1 else []):
        pooled = scope == envs
        scoped = {key: [r for r in group if env_of(r) in scope] for key, group in groups.items()}
        for count in counts:
            aihf = scoped[("aihf", count)]
            for other, other_count in (("aihf-demos", None), ("aihf-prefs", count)):
                if (other, other_count) in scoped:
                    row(1, f"aihf − {other}", count, [aihf, scoped[(other, other_count)]], iqm_difference, pooled)
        if len(counts) >= 2:
            scarce, rich = counts[0], counts[-1]
            for base in CLAIM_BASELINES:
                if (base, scarce) in scoped and (base, rich) in scoped:
                    parts = [
                        scoped[("aihf", scarce)],
                        scoped[(base, scarce)],
                        scoped[("aihf", rich)],
                        scoped[(base, rich)],
                    ]
                    comparison = f"lead over {base}: at {scarce:,} − at {rich:,} preferences"
                    row(2, comparison, [scarce, rich], parts, lead_change, pooled)
    return rows


CLAIM_TEXT = {
    1: "Claim 1, both sources beat either alone (IQM(aihf) − IQM(ablation), score points)",
    2: "Claim 2, the lead over RLHF/IPL is largest when preferences are scarce "
    "(lead at the smallest budget − lead at the largest, score points)",
}


def headline(summary: list[dict]) -> str:
    """The benchmark's last printed line: each method's last-third score (IQM) against AIHF's, and whether the
    seeds separate them (P(aihf > method): its 95% CI above 0.5 = ahead, below = behind, else not separated).

    :param summary: the rows of :func:`summarize` (one env, or pooled over envs)
    """
    aihf = {(r["inner"], r["num_prefs"]): r for r in summary if r["method"] == "aihf"}
    several_budgets = len(aihf) > 1
    parts = []
    for row in summary:
        reference = row["compared_with"] and aihf.get(
            (row["compared_with"]["inner"], row["compared_with"]["num_prefs"])
        )
        if not reference or row["last_third_score_iqm"] is None or reference["last_third_score_iqm"] is None:
            continue
        ci = row["p_aihf_better_ci"]
        if ci is None:  # one seed: the sign of the difference, said to be no test
            lead = reference["last_third_score_iqm"] > row["last_third_score_iqm"]
            word = "aihf ahead on this seed" if lead else "aihf not ahead on this seed"
        else:
            word = "aihf ahead" if ci[0] > 0.5 else "aihf behind" if ci[1] < 0.5 else "not separated"
        label = f"aihf {reference['last_third_score_iqm']:.0f}"
        if several_budgets and reference["num_prefs"] is not None:
            label += f" at {reference['num_prefs']:,} preferences"
        parts.append(f"{row['method']} {row['last_third_score_iqm']:.0f} vs {label} ({word})")
    if not parts:
        return "Verdict: nothing to compare (needs aihf and at least one other method)"
    seeds = min(r["seeds"] for r in summary)
    caveat = "" if seeds > 1 else "; 1 seed: no confidence interval, --seeds 0 1 2 gives one"
    return "Verdict (last-third score, 100 = demonstrator): " + "; ".join(parts) + caveat


def claim_verdict(rows: list[dict]) -> str:
    """``supported``, ``not supported``, ``CI undefined (1 seed)`` or ``not measured`` for one claim's rows,
    decided by its rows over all envs (``pooled``); the rows of single envs are for reading.

    :param rows: the rows of :func:`claims` of one claim
    """
    rows = [r for r in rows if r.get("pooled", True)]
    if not rows:
        return "not measured"
    if any(r["supported"] is False for r in rows):
        return "not supported"
    if any(r["supported"] is None for r in rows):
        return f"CI {UNDEFINED}"
    return "supported"


def claims_table(rows: list[dict]) -> str:
    """The claims section of ``results.md``, also printed at the end of a benchmark.

    :param rows: rows of :func:`claims`
    """
    lines = [
        "## The paper's claims",
        "",
        "Supported: the 95% CI of the difference lies above 0. IQM of the final score over the seeds of the envs "
        "named in each row; a claim's verdict is that of its rows over all envs, the rows of one env are for reading.",
    ]
    missing = {
        1: "needs aihf with aihf-demos or aihf-prefs at the same preference budget",
        2: "needs aihf and rlhf, ipl, rlhf-batches or ipl-batches at two preference budgets (--num-prefs 500 20000)",
    }
    for claim in (1, 2):
        chosen = [r for r in rows if r["claim"] == claim]
        verdict = claim_verdict(chosen)
        lines += ["", f"**{CLAIM_TEXT[claim]}: {verdict}**" + (f" ({missing[claim]})" if not chosen else "")]
        if not chosen:
            continue
        lines += [
            "",
            "| comparison | preferences | envs | seeds | difference [95% CI] | supported |",
            "|---|---:|---|---:|---:|---|",
        ]
        for r in sorted(chosen, key=lambda r: not r.get("pooled", True)):  # the deciding rows first
            prefs = r["num_prefs"] if isinstance(r["num_prefs"], list) else [r["num_prefs"]]
            supported = {True: "yes", False: "no", None: UNDEFINED}[r["supported"]]
            envs = f"all {len(r['envs'])}" if len(r["envs"]) > 1 else r["envs"][0] or "–"
            lines.append(
                f"| {r['comparison']} | {' / '.join(f'{c:,}' for c in prefs)} | {envs} | {r['seeds']} "
                f"| {format_ci(r['estimate'], r['ci'], 1)} | {supported} |"
            )
    return "\n".join(lines)


def versions() -> dict[str, str]:
    """Versions of the libraries that decide a run's numbers, for ``results.json``."""
    from importlib.metadata import version

    import gymnasium as gym
    import minari
    import sb3_contrib
    import stable_baselines3
    import torch

    import aihf_control

    return {
        "aihf_control": aihf_control.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "sb3_contrib": sb3_contrib.__version__,
        "torch": torch.__version__,
        "gymnasium": gym.__version__,
        "minari": minari.__version__,
        "rliable": version("rliable"),
    }
