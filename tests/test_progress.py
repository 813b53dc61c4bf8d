"""Progress lines: plain lines when stdout is not a terminal, from runs in this process and in others, for the
benchmarks, make_dataset and play; none with ``--quiet``. No assertion depends on timing."""

from __future__ import annotations

import io
import re

import pytest
from stable_baselines3 import SAC

from aihf_control.data.make_dataset import main as make_dataset_main
from aihf_control.play import main as play_main
from aihf_control.progress import ProgressCallback, ProgressPrinter, Status, Tracker, read_statuses, write_status
from benchmarks.run import main as benchmark_main

TIMES = r"\d+:\d\d:\d\d elapsed"


def test_a_tracker_prints_when_a_task_starts_at_each_report_due_and_when_it_ends():
    out = io.StringIO()  # not a terminal: plain lines
    printer = ProgressPrinter(interval=0.0, file=out)  # every report due is printed
    tracker = Tracker("run [a]", 300, printer.update, every=0.0)  # every update is due
    for done in (0, 100, 200):
        tracker.update(done, last_return=12.5 if done else None, last_score=40.0 if done else None)
    tracker.finish(done=300)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and all(line.startswith("run [a]: ") for line in lines), "names are not markup"
    assert lines[0].startswith("run [a]: 0/300 env steps · ")
    assert re.fullmatch(
        rf"run \[a\]: 200/300 env steps · [\d.,]+ steps/s · eval return 12.5 \(score 40\) · {TIMES} · "
        rf"{TIMES.split()[0]} left",
        lines[2],
    )
    assert re.fullmatch(rf"run \[a\]: 300/300 env steps · eval return 12.5 \(score 40\) · {TIMES} · done", lines[3])


def test_between_intervals_only_the_first_and_the_last_line_are_printed():
    out = io.StringIO()
    printer = ProgressPrinter(interval=3600.0, file=out)
    tracker = Tracker("recording", None, printer.update, "steps", every=0.0)
    for done in range(50):
        tracker.update(done)
    tracker.finish()
    assert [line.split(" · ")[0] for line in out.getvalue().splitlines()] == [
        "recording: 0 steps",
        "recording: 49 steps",
    ]


def test_quiet_prints_nothing():
    out = io.StringIO()
    tracker = Tracker("run", 10, ProgressPrinter(enabled=False, file=out).update, every=0.0)
    tracker.update(5)
    tracker.finish()
    assert out.getvalue() == ""


def test_statuses_written_to_a_folder_are_printed_by_the_watching_parent(tmp_path):
    out = io.StringIO()
    with ProgressPrinter(file=out) as printer:
        printer.watch(tmp_path)
        write_status(tmp_path, Status("first", 10, 20, rate=5.0, elapsed=2.0))
        write_status(tmp_path, Status("second", 3, 20, finished=True))
    # close() reads the folder a last time: no line is lost to the polling interval
    assert out.getvalue().splitlines() == [
        "first: 10/20 env steps · 5.0 steps/s · 0:00:02 elapsed · 0:00:02 left",
        "second: 3/20 env steps · 0:00:00 elapsed · done",
    ]
    assert [status.name for status in read_statuses(tmp_path)] == ["first", "second"]


def test_the_callback_reports_learn_and_changes_nothing_it_learns():
    statuses: list[Status] = []
    kwargs = dict(learning_starts=50, policy_kwargs=dict(net_arch=[8]), buffer_size=500, seed=0, device="cpu")
    reported = SAC("MlpPolicy", "Pendulum-v1", **kwargs)
    callback = ProgressCallback("sac", 100, statuses.append, last_return=lambda: 1.0, score=lambda r: 10 * r)
    reported.learn(100, callback=callback)
    callback.finish(final_return=2.0)
    assert statuses[0].done == 0 and statuses[-2].done == 100 and statuses[-1].finished
    assert (statuses[-1].last_return, statuses[-1].return_label) == (2.0, "final return")
    assert statuses[-2].last_score == 10.0
    silent = SAC("MlpPolicy", "Pendulum-v1", **kwargs)
    silent.learn(100)
    for a, b in zip(reported.policy.parameters(), silent.policy.parameters(), strict=True):
        assert a.equal(b), "the same seed learns the same with and without progress"


@pytest.mark.parametrize("workers, quiet", [(2, False), (1, True)])
def test_benchmark_prints_a_line_per_run_from_its_workers(tmp_path, monkeypatch, capsys, workers, quiet):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))  # the shipped datasets install here
    argv = ["--profile", "smoke", "--methods", "bc", "sac-true", "--workers", str(workers)]
    benchmark_main("Hopper-v5", [*argv, "--logdir", str(tmp_path / "out"), *(["--quiet"] if quiet else [])])
    out = capsys.readouterr().out  # captured: not a terminal
    done_sac = rf"sac-true_seed0: 1,200/1,200 env steps · final return [-\d.,]+ \(score -?\d+\) · {TIMES} · done"
    done_bc = rf"bc_seed0: 100/100 BC steps · final return [-\d.,]+ \(score -?\d+\) · {TIMES} · done"
    if quiet:
        assert "sac-true_seed0:" not in out and "bc_seed0:" not in out
        benchmark_main("Hopper-v5", ["--resume", str(tmp_path / "out"), "--quiet"])  # a display option: allowed
        assert "2 runs on Hopper-v5 (smoke profile), 2 already done" in capsys.readouterr().out
    else:
        assert "sac-true_seed0: 0/1,200 env steps · " in out, "a line when the run starts"
        assert re.search(done_sac, out) and re.search(done_bc, out), out
    assert not (tmp_path / "out" / "progress").exists(), "the status files are removed at the end"


def test_make_dataset_shows_training_and_recording(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    argv = ["--env", "Pendulum-v1", "--timesteps", "300", "--net-arch", "16,16", "--eval-episodes", "1"]
    argv += ["--author-email", "tests@example.org", "--code-permalink", "tests"]
    make_dataset_main([*argv, "--num-transitions", "250", "--output-dir", str(tmp_path / "run"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert "training the SB3 SAC demonstrator: 0/300 env steps · " in out
    assert re.search(
        rf"training the SB3 SAC demonstrator: 300/300 env steps · training return [-\d.,]+ · {TIMES} · done", out
    )
    assert re.search(rf"recording aihf/pendulum/expert-v0: 400/400 steps · {TIMES} · done", out), "whole episodes"


def test_play_shows_the_episodes_being_evaluated(tmp_path, capsys):
    path = tmp_path / "sac.zip"
    SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8]), buffer_size=100, device="cpu").save(path)
    play_main([str(path), "--env", "Pendulum-v1", "--episodes", "2"])
    out = capsys.readouterr().out
    assert "evaluating sac.zip: 0/2 episodes · " in out
    assert re.search(rf"evaluating sac.zip: 2/2 episodes · {TIMES} · done", out)
    play_main([str(path), "--env", "Pendulum-v1", "--episodes", "2", "--quiet"])
    assert "evaluating" not in capsys.readouterr().out
