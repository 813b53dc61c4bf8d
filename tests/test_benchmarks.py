"""The benchmark commands: option parsing, the run plan, and the smoke profile end to end."""

from __future__ import annotations

import inspect
import json
import os
import time
from pathlib import Path

import gymnasium as gym
import pytest
from conftest import make_feedback

from aihf_control import AIHF, IPL, RLHF, AIHFCrossQ, AIHFRewardLearning
from benchmarks.compare import main as compare_main
from benchmarks.profiles import (
    METHODS,
    PROFILE_METHODS,
    PROFILES,
    build_parser,
    paper_length_cost,
    resolve_profile,
    training_rate,
)
from benchmarks.run import RunSpec, build_model, main, run_specs


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
    assert PROFILES["paper"].methods == list(PROFILE_METHODS), "the -batches variants are opt-in"
    assert PROFILES["quick"].methods == ["aihf", "rlhf", "ipl"] and PROFILES["quick"].inner == "crossq"
    assert profile_from(["--methods", "all"]).methods == list(METHODS)
    assert set(PROFILE_METHODS) < set(METHODS)


def model_of(method: str, argv: list[str] = ()):
    """The model ``build_model`` makes for ``method`` under the smoke profile and ``argv`` (no training)."""
    profile = profile_from(["--profile", "smoke", *argv])
    env = gym.make("Hopper-v5")
    demos, prefs = make_feedback(env, n_demo_steps=100, n_pairs=8)
    return build_model(RunSpec("Hopper-v5", method, 100, 0, profile, "out"), env, demos, prefs)


def test_the_batches_baselines_get_aihfs_demo_batch_fraction():
    default = inspect.signature(AIHFRewardLearning.__init__).parameters["demo_batch_fraction"].default
    aihf, rlhf, ipl = model_of("aihf"), model_of("rlhf-batches"), model_of("ipl-batches")
    assert type(aihf) is AIHF and type(rlhf) is RLHF and type(ipl) is IPL
    assert aihf.demo_batch_fraction == rlhf.demo_batch_fraction == ipl.demo_batch_fraction == default
    assert rlhf.bc_steps == ipl.bc_steps == PROFILES["smoke"].bc_steps, "the paper's BC start is kept"
    assert model_of("rlhf").demo_batch_fraction == model_of("ipl").demo_batch_fraction == 0.0
    chosen = [model_of(m, ["--demo-batch-fraction", "0.25"]) for m in ("aihf", "rlhf-batches", "ipl-batches")]
    assert [m.demo_batch_fraction for m in chosen] == [0.25, 0.25, 0.25]


def test_inner_picks_the_learner_of_the_aihf_family_and_sac_true_only():
    from aihf_control import AIHFTQC, AveragedCrossQ, AveragedTQC

    assert type(model_of("aihf", ["--inner", "crossq"])) is AIHFCrossQ
    assert type(model_of("aihf-demos", ["--inner", "tqc"])) is AIHFTQC
    assert type(model_of("sac-true", ["--inner", "tqc"])) is AveragedTQC  # TQC, acting as AIHFTQC does
    assert type(model_of("aihf-prefs", ["--inner", "crossq"])) is AIHFCrossQ
    assert type(model_of("sac-true", ["--inner", "crossq"])) is AveragedCrossQ
    assert type(model_of("rlhf", ["--inner", "crossq"])) is RLHF, "RLHF stays on SAC"
    assert type(model_of("ipl-batches", ["--inner", "crossq"])) is IPL, "IPL stays on SAC"


def test_help_gives_the_paper_length_command_and_its_cost(tmp_path):
    assert "not measured" in paper_length_cost("Hopper-v5", tmp_path, committed_root=None)
    measured = tmp_path / "hopper" / "20260101-000000"
    measured.mkdir(parents=True)
    runs = [{"method": m, "env_steps_per_second": 100.0} for m in METHODS if m != "bc"]
    results = {"config": {"net_arch": PROFILES["paper"].net_arch}, "runs": runs}
    (measured / "results.json").write_text(json.dumps(results))
    text = paper_length_cost("Hopper-v5", tmp_path, committed_root=None)
    # 15 runs per seed (6 methods with preferences x 2 budgets, 3 without), 3 seeds, 300k steps; bc has none
    assert "--profile paper --num-prefs 500 20000" in text and "45 runs" in text
    assert f"{14 * 3 * 300_000 / 100 / 3600:,.0f} CPU-hours" in text and str(measured) in text


def test_help_gives_the_claims_command_at_the_cpu_setting_and_its_cost_from_rates_at_that_setting(tmp_path):
    profile = PROFILES["claims"]
    assert (profile.timesteps, profile.net_arch, profile.inner) == (150_000, [64, 64], "crossq")
    assert profile.methods == list(METHODS) and profile.num_prefs == [500, 20_000] and profile.seeds == [0, 1, 2]
    runs = [{"method": m, "env_steps_per_second": 50.0} for m in METHODS if m != "bc"]
    for name, net_arch, inner in [("1", [256, 256], "sac"), ("2", [64, 64], "sac")]:  # another setting: not used
        folder = tmp_path / "hopper" / name
        folder.mkdir(parents=True)
        config = {"net_arch": net_arch, "inner": inner}
        (folder / "results.json").write_text(json.dumps({"config": config, "runs": runs}))
    text = paper_length_cost("Hopper-v5", tmp_path, profile="claims", committed_root=None)
    assert "python -m benchmarks.hopper --profile claims\n" in text and "45 runs" in text
    assert "not measured" in text and "inner learner crossq" in text
    measured = tmp_path / "hopper" / "3"
    measured.mkdir()
    (measured / "results.json").write_text(
        json.dumps({"config": {"net_arch": [64, 64], "inner": "crossq"}, "runs": runs})
    )
    text = paper_length_cost("Hopper-v5", tmp_path, profile="claims", committed_root=None)
    assert f"{14 * 3 * 150_000 / 50 / 3600:,.0f} CPU-hours" in text and str(measured) in text
    # a benchmark still in progress: the records of its finished runs, at the setting of its command
    progress = tmp_path / "hopper" / "4"
    (progress / "runs").mkdir(parents=True)
    (progress / "command.json").write_text(json.dumps({"env_id": "Hopper-v5", "argv": ["--profile", "claims"]}))
    (progress / "runs" / "rlhf_prefs500_seed0.json").write_text(
        json.dumps({"method": "rlhf", "env_steps_per_second": 25.0})
    )
    os.utime(progress, (time.time() + 60, time.time() + 60))  # the newest folder
    text = paper_length_cost("Hopper-v5", tmp_path, profile="claims", committed_root=None)
    assert str(progress / "runs") in text and "unmeasured" in text  # the other methods at the median rate
    assert f"{14 * 3 * 150_000 / 25 / 3600:,.0f} CPU-hours" in text
    # unmeasured methods on the AIHF learner (the family and sac-true) go at the measured AIHF-family rate
    for name, rate in (("aihf-prefs_prefs500_seed0", 20.0), ("ipl_prefs500_seed0", 100.0)):  # lower median: 25
        (progress / "runs" / f"{name}.json").write_text(
            json.dumps({"method": name.split("_")[0], "env_steps_per_second": rate})
        )
    # the results.json of an earlier part of the same benchmark does not hide the runs finished since
    stale = {
        "config": {"net_arch": [64, 64], "inner": "crossq"},
        "runs": [{"method": "rlhf", "env_steps_per_second": 1e3}],
    }
    (progress / "results.json").write_text(json.dumps(stale))
    os.utime(progress, (time.time() + 60, time.time() + 60))
    text = paper_length_cost("Hopper-v5", tmp_path, profile="claims", committed_root=None)
    seconds = (6 + 3 + 6 + 3) * 150_000 / 20 + 12 * 150_000 / 25 + 12 * 150_000 / 100  # aihf family, rlhf, ipl
    assert (
        f"{seconds / 3600:,.0f} CPU-hours" in text and "aihf, aihf-demos, sac-true at the rate of the measured" in text
    )


def test_the_cost_estimate_leaves_out_the_random_steps_before_learning_starts(tmp_path):
    # A 20k measurement at the paper profile (learning_starts 5k): evaluations at 5k, 10k and 20k env steps, 10 s,
    # 110 s and 310 s in (the first 5k random). The whole run's rate (20k / 310 s = 65) would promise a 300k run
    # too early; from learning_starts on it runs at 15k / 300 s = 50 env steps/s.
    assert PROFILES["paper"].learning_starts == 5_000
    record = {
        "steps": [5_000, 10_000, 20_000],
        "wall_times": [10.0, 110.0, 310.0],
        "env_steps_per_second": 20_000 / 310,
    }
    assert training_rate(record, 5_000) == 50.0
    measured = tmp_path / "hopper" / "1"
    measured.mkdir(parents=True)
    runs = [{"method": m, **record} for m in METHODS if m != "bc"]
    (measured / "results.json").write_text(json.dumps({"config": {"net_arch": [256, 256]}, "runs": runs}))
    assert f"{14 * 3 * 300_000 / 50 / 3600:,.0f} CPU-hours" in paper_length_cost(
        "Hopper-v5", tmp_path, committed_root=None
    )
    # with fewer than two evaluations after learning_starts, or none recorded, the run's own rate
    assert (
        training_rate({"steps": [5_000, 10_000], "wall_times": [10.0, 100.0], "env_steps_per_second": 40.0}, 6_000)
        == 40.0
    )
    assert (
        training_rate({"method": "bc", "steps": [0], "wall_times": [3.0], "env_steps_per_second": None}, 5_000) is None
    )


def test_help_estimates_the_cost_from_the_committed_claims_records_where_nothing_here_measured_it(tmp_path):
    committed = tmp_path / "committed"
    (committed / "Hopper-v5" / "runs").mkdir(parents=True)
    (committed / "Hopper-v5" / "command.json").write_text(
        json.dumps({"env_id": "Hopper-v5", "argv": ["--profile", "claims"]})
    )
    for method, rate in (("rlhf", 150.0), ("ipl", 75.0), ("aihf-prefs", 100.0)):
        (committed / "Hopper-v5" / "runs" / f"{method}_prefs500_seed0.json").write_text(
            json.dumps({"method": method, "env_steps_per_second": rate})
        )
    text = paper_length_cost("Hopper-v5", tmp_path / "runs", profile="claims", committed_root=committed)
    seconds = (6 + 3 + 6 + 3) * 150_000 / 100 + 12 * 150_000 / 150 + 12 * 150_000 / 75  # aihf family, rlhf, ipl
    assert f"{seconds / 3600:,.0f} CPU-hours" in text and str(committed / "Hopper-v5" / "runs") in text
    # a benchmark run here at the setting is newer than the committed records: it is the one read
    here = tmp_path / "runs" / "hopper" / "1"
    here.mkdir(parents=True)
    runs = [{"method": m, "env_steps_per_second": 50.0} for m in METHODS if m != "bc"]
    (here / "results.json").write_text(json.dumps({"config": {"net_arch": [64, 64], "inner": "crossq"}, "runs": runs}))
    text = paper_length_cost("Hopper-v5", tmp_path / "runs", profile="claims", committed_root=committed)
    assert f"{14 * 3 * 150_000 / 50 / 3600:,.0f} CPU-hours" in text and str(here) in text
    # the paper profile's setting ([256, 256], SAC) is not the committed records': not measured
    assert "not measured" in paper_length_cost("Hopper-v5", tmp_path / "runs", committed_root=committed)
    # the repository's own records: a fresh clone's --help has an estimate for every env with claims runs
    for env_id in ("Hopper-v5", "Walker2d-v5", "HalfCheetah-v5"):
        assert "CPU-hours (one run per core" in paper_length_cost(env_id, tmp_path / "runs", profile="claims")


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


def table_rows(text: str) -> list[list[str]]:
    """The cells of the first table of a ``results.md``: one list per method row."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = lines[0]
    rows = [line for line in lines[1:] if line != header and not line.startswith("| comparison")]
    first = rows[: next((i for i, r in enumerate(rows) if r.startswith("| aihf − ")), len(rows))]
    return [[cell.strip() for cell in row.split("|")[1:-1]] for row in first]


def test_smoke_profile_runs_every_method_and_writes_results_plot_and_tensorboard(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))  # the shipped datasets install here
    results = main("Hopper-v5", ["--profile", "smoke", "--logdir", str(tmp_path / "out")])
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["summary"] == results["summary"]
    assert saved["inner"] == "sac" and "--inner sac" in saved["command"]
    assert {run["method"] for run in saved["runs"]} == set(PROFILE_METHODS)
    for run in saved["runs"]:
        assert run["returns"] and all(isinstance(r, float) for r in run["returns"])
        assert run["env_id"] == "Hopper-v5" and run["inner"] == "sac"
        if run["method"] != "bc":
            assert run["steps"][-1] == 1_200, "evaluated up to the last env step"
    assert saved["refs"]["demonstrator"] > 2_500
    assert (tmp_path / "out" / "comparison.png").stat().st_size > 10_000
    summary = (tmp_path / "out" / "results.md").read_text()
    assert [row[0] for row in table_rows(summary)] == list(PROFILE_METHODS)
    assert "1 seed, CI undefined" in summary and "The paper's claims" in summary
    assert all(row[-2] != "–" for row in table_rows(summary) if row[0] != "bc"), "env steps/s of every run"
    event_files = list((tmp_path / "out" / "tensorboard").rglob("events.out.tfevents.*"))
    assert len(event_files) >= len(PROFILE_METHODS)
    for run in saved["runs"]:
        assert run["final_score"] == pytest.approx(
            100
            * (run["final_return"] - saved["refs"]["random"])
            / (saved["refs"]["demonstrator"] - saved["refs"]["random"])
        )
        assert run["seconds_to_score_90"] is None or run["seconds_to_score_90"] <= run["wall_seconds"]

    # compare redraws the same tables, from the run records and from the TensorBoard files alone
    rows = lambda table: table.splitlines()[1:]  # noqa: E731  (the first line names the command)
    assert rows(compare_main([str(tmp_path / "out"), "--out", str(tmp_path / "again")])) == rows(summary)
    assert json.loads((tmp_path / "again" / "compare.json").read_text())["per_env"]["Hopper-v5"]
    (tmp_path / "again" / "comparison.png").unlink()
    tensorboard_only = tmp_path / "tb_only"
    (tmp_path / "out" / "tensorboard").rename(tensorboard_only)
    from_events = compare_main([str(tensorboard_only), "--env", "Hopper-v5", "--out", str(tmp_path / "again")])
    assert [row[:3] for row in table_rows(from_events)] == [row[:3] for row in table_rows(summary)]
    assert (tmp_path / "again" / "comparison.png").is_file()

    # a second call with the same --logdir keeps the finished runs instead of repeating them
    again = main("Hopper-v5", ["--profile", "smoke", "--logdir", str(tmp_path / "out")])
    assert again["summary"] == results["summary"]


def test_compare_reads_the_inner_loop_sweeps_runs_at_todays_defaults_with_the_acting_average(tmp_path):
    from benchmarks.compare import load_runs

    refs = {"random": 0.0, "demonstrator": 2_000.0}

    def record(name: str, **changes) -> None:
        fields = {
            "env": "Hopper-v5",
            "variant": "crossq-demo50-renorm5k",
            "seed": 0,
            "timesteps": 150_000,
            "num_prefs": 500,
            "demonstrations": None,
            "preference_pool": None,
            "net_arch": [64, 64],
            "extra": {"actor_averaging": None, "demo_loss_weighting": "occupancy"},
            "refs": refs,
            "steps": [75_000, 150_000],
            "returns": [100.0, 200.0],  # the current actor's: not what a benchmark's model acts with
            "wall_times": [600.0, 1_200.0],
            "seconds": 1_500.0,
            "finished": True,
            "averaged_actors": {"0.0002": {"steps": [75_000, 150_000], "scores": [1.0, 2.0]}},
            **changes,
        }
        fields["averaged_actors"]["0.0002:0.1"] = {"steps": [75_000, 150_000], "scores": [50.0, 95.0]}
        (tmp_path / f"{name}.json").write_text(json.dumps(fields))

    record("aihf")
    # today's L_demo weighting replaces the run of the one before; the earlier one counts while it is alone
    record("aihf_today", extra={"actor_averaging": None, "demo_loss_weighting": "separate_falls"}, seconds=3_000.0)
    record("demos", num_prefs=0, seed=1)
    record("true", variant="crossq-true", num_prefs=0, extra={"actor_averaging": None})
    record("other_setting", extra={"actor_averaging": None, "demo_loss_weighting": "transitions"})
    record("second_demonstrator", demonstrations="aihf/hopper/expert-v1")
    record("screen", timesteps=50_000)
    record("stopped", finished=False, extra={"policy_kwargs": {"renorm_warmup_steps": 100_000}})
    record("before_the_weighting", extra={"actor_averaging": None}, seed=2)  # Hopper terminates: not today's
    runs = {(run["method"], run["num_prefs"], run["seed"]): run for run in load_runs(tmp_path, None)}
    assert set(runs) == {("aihf", 500, 0), ("aihf-demos", None, 1), ("sac-true", None, 0)}
    # HalfCheetah never terminates: there the runs from before the weighting option are today's loss
    record("cheetah", env="HalfCheetah-v5", extra={"actor_averaging": None}, seed=2)
    record("cheetah_true", env="HalfCheetah-v5", variant="crossq-true", num_prefs=0, extra={"actor_averaging": None})
    cheetah = {(run["method"], run["seed"]) for run in load_runs(tmp_path, None) if run["env_id"] == "HalfCheetah-v5"}
    assert cheetah == {("aihf", 2), ("sac-true", 0)}
    aihf = runs["aihf", 500, 0]
    assert aihf["returns"] == [1_000.0, 1_900.0] and aihf["steps_to_score_90"] == 150_000
    assert aihf["inner"] == "crossq" and aihf["env_id"] == "Hopper-v5" and aihf["env_steps_per_second"] == 50.0
    assert runs["aihf-demos", None, 1]["env_steps_per_second"] == 100.0  # an "occupancy" run alone
