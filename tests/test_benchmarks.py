"""The benchmark commands: option parsing, the run plan, and the smoke profile end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.compare import main as compare_main
from benchmarks.profiles import METHODS, PROFILES, build_parser, resolve_profile
from benchmarks.run import main, run_specs


def profile_from(argv: list[str]):
    parser = build_parser("Hopper-v5")
    return resolve_profile(parser.parse_args(argv), parser)


def test_options_override_the_profile_and_the_sweep_plans_one_run_per_count():
    profile = profile_from(["--profile", "paper", "--seeds", "4", "--num-prefs", "500", "2000", "--timesteps", "50000"])
    assert profile.seeds == [4] and profile.num_prefs == [500, 2000] and profile.timesteps == 50_000
    assert profile.alignment_steps == 5_000 and profile.reward_gradient_steps == 5, "the paper's schedule is kept"
    specs = run_specs("Hopper-v5", profile, Path("out"))
    # aihf, aihf-prefs, rlhf and ipl once per preference count; aihf-demos, bc and sac-true once
    assert len(specs) == 4 * 2 + 3
    assert {(s.method, s.num_prefs) for s in specs if s.method == "rlhf"} == {("rlhf", 500), ("rlhf", 2000)}
    assert [s.num_prefs for s in specs if s.method == "sac-true"] == [None]
    assert PROFILES["quick"].methods == list(METHODS)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--eval-freq", "5000", "--profile", "smoke"], "above --timesteps"),
        (["--timesteps", "0"], "--timesteps must be at least 1"),
        (["--num-prefs", "0"], "--num-prefs must be at least 1"),
    ],
)
def test_bad_options_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        profile_from(argv)
    assert message in capsys.readouterr().err


def test_smoke_profile_runs_every_method_and_writes_results_plot_and_tensorboard(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))  # the shipped datasets install here
    results = main("Hopper-v5", ["--profile", "smoke", "--logdir", str(tmp_path / "out")])
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["summary"] == results["summary"]
    assert {run["method"] for run in saved["runs"]} == set(METHODS)
    for run in saved["runs"]:
        assert run["returns"] and all(isinstance(r, float) for r in run["returns"])
        if run["method"] != "bc":
            assert run["steps"][-1] == 1_200, "evaluated up to the last env step"
    assert saved["refs"]["demonstrator"] > 2_500
    assert (tmp_path / "out" / "comparison.png").stat().st_size > 10_000
    summary = (tmp_path / "out" / "results.md").read_text()
    assert all(f"| {method} |" in summary for method in METHODS)
    event_files = list((tmp_path / "out" / "tensorboard").rglob("events.out.tfevents.*"))
    assert len(event_files) >= len(METHODS)
    for run in saved["runs"]:
        assert run["final_score"] == pytest.approx(
            100
            * (run["final_return"] - saved["refs"]["random"])
            / (saved["refs"]["demonstrator"] - saved["refs"]["random"])
        )
        assert run["seconds_to_score_90"] is None or run["seconds_to_score_90"] <= run["wall_seconds"]

    # compare redraws the same table, from the run records and from the TensorBoard files alone
    rows = lambda table: table.splitlines()[1:]  # noqa: E731  (the first line names the command)
    assert rows(compare_main([str(tmp_path / "out"), "--out", str(tmp_path / "again")])) == rows(summary)
    (tmp_path / "again" / "comparison.png").unlink()
    tensorboard_only = tmp_path / "tb_only"
    (tmp_path / "out" / "tensorboard").rename(tensorboard_only)
    from_events = compare_main([str(tensorboard_only), "--env", "Hopper-v5", "--out", str(tmp_path / "again")])
    assert rows(from_events)[3:] and [r.split("|")[1:3] for r in rows(from_events)[3:]] == [
        r.split("|")[1:3] for r in rows(summary)[3:]
    ]
    assert (tmp_path / "again" / "comparison.png").is_file()

    # a second call with the same --logdir keeps the finished runs instead of repeating them
    again = main("Hopper-v5", ["--profile", "smoke", "--logdir", str(tmp_path / "out")])
    assert again["summary"] == results["summary"]
