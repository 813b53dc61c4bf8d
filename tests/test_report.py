"""The statistics of the benchmark reports: IQM, bootstrap CIs, probability of improvement and the claims."""

from __future__ import annotations

import numpy as np
import pytest
from rliable import metrics

from benchmarks.report import (
    claim_verdict,
    claims,
    claims_table,
    format_ci,
    headline,
    iqm,
    iqm_curve,
    probability_of_improvement,
    report,
    run_record,
)

REFS = {"random": 0.0, "demonstrator": 100.0}  # a return is its score


def test_iqm_is_the_mean_of_the_middle_half_with_a_ci_around_it():
    scores = np.array([[0.0], [10.0], [20.0], [30.0], [40.0], [50.0], [60.0], [1_000.0]])
    # 8 runs: drop the 2 lowest and the 2 highest, mean of 20, 30, 40, 50
    value, ci = iqm(scores)
    assert value == pytest.approx(35.0)
    assert ci is not None and ci[0] < 35.0 < ci[1]
    assert ci[1] < 1_000.0, "the outlier barely moves the IQM's interval"


def test_iqm_pools_envs_as_strata():
    scores = np.array([[1.0, 100.0], [2.0, 200.0], [3.0, 300.0], [4.0, 400.0]])  # (seeds, envs)
    value, ci = iqm(scores)
    assert value == pytest.approx(float(metrics.aggregate_iqm(scores)))
    assert value == pytest.approx(np.mean([3.0, 4.0, 100.0, 200.0]))
    assert ci is not None and ci[0] <= value <= ci[1]


def test_one_seed_gives_an_undefined_ci_never_a_zero_width_one():
    value, ci = iqm(np.array([[42.0, 7.0]]))
    assert value == pytest.approx(24.5) and ci is None
    assert "undefined" in format_ci(value, ci)
    assert probability_of_improvement(np.array([[1.0]]), np.array([[0.0], [2.0]]))[1] is None
    point, low, high = iqm_curve(np.array([[1.0, 2.0, 3.0]]))
    assert list(point) == [1.0, 2.0, 3.0] and low is None and high is None


def test_probability_of_improvement_of_clearly_separated_runs_is_one():
    better, worse = np.array([[90.0], [95.0], [100.0]]), np.array([[10.0], [12.0], [15.0]])
    p, ci = probability_of_improvement(better, worse)
    assert p == pytest.approx(1.0) and ci == pytest.approx((1.0, 1.0))
    assert probability_of_improvement(worse, better)[0] == pytest.approx(0.0)
    same, _ = probability_of_improvement(better, better)
    assert same == pytest.approx(0.5)


def test_the_curve_band_holds_the_iqm():
    curves = np.array([[0.0, 10.0, 20.0], [1.0, 12.0, 25.0], [2.0, 14.0, 30.0], [3.0, 16.0, 35.0]])
    point, low, high = iqm_curve(curves)
    assert point == pytest.approx([1.5, 13.0, 27.5])
    assert np.all(low <= point) and np.all(point <= high)


def record(method: str, num_prefs: int | None, seed: int, score: float, env: str = "Hopper-v5") -> dict:
    run = run_record(method, num_prefs, seed, [1_000, 2_000, 3_000], [score] * 3, [1.0, 2.0, 3.0], REFS)
    run.update(env_id=env, inner="sac", wall_seconds=10.0, env_steps_per_second=300.0)
    return run


def synthetic_runs(scores: dict[tuple[str, int | None], float], seeds: int = 3) -> list[dict]:
    """Runs whose scores are ``scores`` plus a small spread over seeds, on two envs."""
    return [
        record(method, prefs, seed, score + seed, env)
        for (method, prefs), score in scores.items()
        for seed in range(seeds)
        for env in ("Hopper-v5", "Walker2d-v5")
    ]


SUPPORTED = {
    ("aihf", 500): 70,
    ("aihf", 20_000): 90,
    ("aihf-demos", None): 50,
    ("aihf-prefs", 500): 20,
    ("aihf-prefs", 20_000): 60,
    ("rlhf", 500): 20,  # lead 50 when scarce
    ("rlhf", 20_000): 80,  # lead 10 with many preferences
    ("ipl", 500): 30,
    ("ipl", 20_000): 85,
}


def test_claims_supported_when_the_synthetic_runs_say_so():
    rows = claims(synthetic_runs(SUPPORTED))
    first = [r for r in rows if r["claim"] == 1 and r["pooled"]]
    second = [r for r in rows if r["claim"] == 2 and r["pooled"]]
    assert all(r["envs"] == ["Hopper-v5", "Walker2d-v5"] for r in first + second)
    per_env = [r for r in rows if not r["pooled"]]
    assert len(per_env) == 2 * len(first + second) and {len(r["envs"]) for r in per_env} == {1}
    assert {(r["comparison"], r["num_prefs"]) for r in first} == {
        ("aihf − aihf-demos", 500),
        ("aihf − aihf-prefs", 500),
        ("aihf − aihf-demos", 20_000),
        ("aihf − aihf-prefs", 20_000),
    }
    assert all(r["supported"] for r in rows) and claim_verdict(first) == claim_verdict(second) == "supported"
    rlhf = next(r for r in second if "rlhf" in r["comparison"])
    assert rlhf["estimate"] == pytest.approx(50 - 10) and rlhf["envs"] == ["Hopper-v5", "Walker2d-v5"]
    table = claims_table(rows)
    assert "Claim 1, both sources beat either alone" in table and "supported**" in table


def test_claims_not_supported_when_an_ablation_is_as_good_or_the_lead_grows():
    scores = {**SUPPORTED, ("aihf-demos", None): 90, ("rlhf", 500): 60}  # demos alone as good; lead 10 vs 10
    rows = claims(synthetic_runs(scores))
    assert claim_verdict([r for r in rows if r["claim"] == 1]) == "not supported"
    rlhf = next(r for r in rows if r["claim"] == 2 and "rlhf" in r["comparison"])
    assert rlhf["supported"] is False and rlhf["estimate"] == pytest.approx(0.0)
    assert "not supported" in claims_table(rows)


def test_a_claim_is_decided_over_all_envs_and_each_env_is_shown_alone():
    # demonstrations alone are as good as aihf on Walker2d only: pooled, aihf is still ahead of them
    runs = synthetic_runs(SUPPORTED)
    runs = [r for r in runs if not (r["method"] == "aihf-demos" and r["env_id"] == "Walker2d-v5")]
    runs += [record("aihf-demos", None, seed, 90 + seed, "Walker2d-v5") for seed in range(3)]
    rows = [r for r in claims(runs) if r["comparison"] == "aihf − aihf-demos" and r["num_prefs"] == 20_000]
    by_envs = {tuple(r["envs"]): r["supported"] for r in rows}
    assert by_envs == {("Hopper-v5",): True, ("Walker2d-v5",): False, ("Hopper-v5", "Walker2d-v5"): True}
    table = claims_table(claims(runs))
    assert "| aihf − aihf-demos | 20,000 | Walker2d-v5 | 3 |" in table and "| all 2 | 3 |" in table
    # a method run on one env only gives one row, over that env, which decides
    hopper_only = [r for r in runs if r["method"] != "aihf-prefs" or r["env_id"] == "Hopper-v5"]
    prefs_rows = [r for r in claims(hopper_only) if r["comparison"] == "aihf − aihf-prefs"]
    assert [r["envs"] for r in prefs_rows] == [["Hopper-v5"], ["Hopper-v5"]] and all(r["pooled"] for r in prefs_rows)


def test_claims_with_one_seed_or_one_budget_say_so():
    one_seed = claims(synthetic_runs(SUPPORTED, seeds=1))
    assert one_seed and all(r["supported"] is None and r["ci"] is None for r in one_seed)
    assert "undefined" in claim_verdict([r for r in one_seed if r["claim"] == 1])
    one_budget = claims(synthetic_runs({k: v for k, v in SUPPORTED.items() if k[1] != 500}))
    assert not [r for r in one_budget if r["claim"] == 2]
    assert "Claim 2" in claims_table(one_budget) and "not measured" in claims_table(one_budget)


def test_report_has_a_table_per_env_one_over_envs_and_the_cost():
    statistics, text = report(synthetic_runs(SUPPORTED), "python -m benchmarks.compare a b", wall_seconds=600)
    assert set(statistics["per_env"]) == {"Hopper-v5", "Walker2d-v5"}
    pooled = {(r["method"], r["num_prefs"]): r for r in statistics["all_envs"]}
    assert pooled[("aihf", 500)]["seeds"] == 3 and pooled[("aihf", 500)]["envs"] == ["Hopper-v5", "Walker2d-v5"]
    assert pooled[("rlhf", 500)]["p_aihf_better"] == pytest.approx(1.0)
    assert pooled[("aihf-demos", None)]["compared_with"]["num_prefs"] == 20_000
    assert "## Hopper-v5" in text and "## All envs: Hopper-v5, Walker2d-v5" in text
    assert "| env steps/s | wall time per run |" in text and "| 300 | 0.2 min |" in text
    assert "in 10.0 min on" in text.splitlines()[0]


def test_plot_draws_one_row_of_panels_per_env(tmp_path):
    import matplotlib.image

    from benchmarks.report import plot

    runs = synthetic_runs(SUPPORTED) + [record("rlhf-batches", 500, s, 40.0 + s) for s in range(3)]
    plot(runs, tmp_path / "comparison.png")
    height, width = matplotlib.image.imread(tmp_path / "comparison.png").shape[:2]
    assert height > width / 2, "two envs, two preference budgets: a 2 x 2 grid"


def test_the_legend_names_the_methods_of_every_panel_once():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.plots import merged_legend

    fig, (hopper, walker) = plt.subplots(1, 2)
    hopper.plot([0, 1], [0, 1], label="aihf (3 seeds)")
    walker.plot([0, 1], [1, 0], label="aihf (3 seeds)")
    walker.plot([0, 1], [1, 1], label="rlhf (3 seeds)")  # a method only one env has run
    handles, labels = merged_legend([hopper, walker])
    plt.close(fig)
    assert labels == ["aihf (3 seeds)", "rlhf (3 seeds)"] and len(handles) == 2


def test_the_scarcity_plot_has_a_point_per_budget_and_a_line_per_method_without_preferences(tmp_path):
    from benchmarks.report import plot_scarcity, scarcity_points

    runs = [r for r in synthetic_runs(SUPPORTED) if r["env_id"] == "Hopper-v5"]
    points = scarcity_points(runs)
    assert list(points) == ["Hopper-v5"]
    rlhf = points["Hopper-v5"]["rlhf", "sac"]
    assert [(prefs, value, seeds) for prefs, value, _, seeds in rlhf] == [
        (500, pytest.approx(21.0), 3),
        (20_000, pytest.approx(81.0), 3),
    ]
    assert all(ci[0] <= value <= ci[1] for _, value, ci, _ in rlhf)
    assert points["Hopper-v5"]["aihf-demos", "sac"][0][0] is None
    assert plot_scarcity(runs, tmp_path / "scarcity.png") and (tmp_path / "scarcity.png").is_file()
    one_budget = [r for r in runs if r["num_prefs"] in (None, 500)]
    assert scarcity_points(one_budget) == {} and not plot_scarcity(one_budget, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_the_headline_says_who_is_ahead_and_whether_the_seeds_separate_them():
    scores = {("aihf", 2_000): 95, ("rlhf", 2_000): 20, ("ipl", 2_000): 94}
    rows = report(synthetic_runs(scores), "cmd")[0]["per_env"]["Hopper-v5"]
    line = headline(rows)
    assert "rlhf 21 vs aihf 96 (aihf ahead)" in line and "ipl 95 vs aihf 96 (not separated)" in line
    assert "1 seed" not in line
    one_seed = headline(report(synthetic_runs(scores, seeds=1), "cmd")[0]["per_env"]["Hopper-v5"])
    assert "rlhf 20 vs aihf 95 (aihf ahead on this seed)" in one_seed and "no confidence interval" in one_seed
    assert headline(report(synthetic_runs({("rlhf", 2_000): 20}), "cmd")[0]["per_env"]["Hopper-v5"]).startswith(
        "Verdict: nothing to compare"
    )
