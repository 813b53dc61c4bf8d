"""Where benchmark runs execute: the local executor and Ray give the same files; failures are retried once,
then reported, never dropped; without Ray, ``--executor ray`` says how to install it."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import benchmarks.run
from benchmarks.executors import RAY_MISSING, run_all
from benchmarks.run import main


@dataclass(frozen=True)
class FakeSpec:
    name: str
    logdir: str


def fake_run(spec: FakeSpec) -> dict:
    """Counts its attempts in files; ``flaky`` fails its first attempt, ``broken`` every attempt."""
    attempts = Path(spec.logdir) / f"{spec.name}.attempts"
    attempts.open("a").write("x")
    if spec.name == "broken" or (spec.name == "flaky" and attempts.read_text() == "x"):
        raise RuntimeError(f"{spec.name} failed on purpose")
    return {"name": spec.name}


def attempts_of(tmp_path: Path) -> dict[str, int]:
    return {path.stem: len(path.read_text()) for path in tmp_path.glob("*.attempts")}


@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_retries_once_and_reports_runs_that_fail_twice(tmp_path, workers, capfd):
    specs = [FakeSpec(name, str(tmp_path)) for name in ("fine", "flaky", "broken")]
    failed = run_all(fake_run, specs, workers=workers)
    assert [spec.name for spec in failed] == ["broken"]
    assert attempts_of(tmp_path) == {"fine": 1, "flaky": 2, "broken": 2}
    err = capfd.readouterr().err  # capfd: the pool's processes print the tracebacks
    assert "broken failed on purpose" in err and "1 of 3 run(s) failed 2 time(s): broken" in err


def test_a_failing_run_makes_the_benchmark_exit_non_zero_naming_it(tmp_path, monkeypatch):
    def run_one(spec):
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr(benchmarks.run, "run_one", run_one)
    with pytest.raises(SystemExit) as exit_info:
        main("Hopper-v5", ["--profile", "smoke", "--methods", "bc", "--logdir", str(tmp_path)])
    assert "1 run(s) failed twice: bc_seed0" in str(exit_info.value.code)


def test_executor_ray_without_ray_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(SystemExit):
        main("Hopper-v5", ["--profile", "smoke", "--executor", "ray", "--logdir", str(tmp_path)])
    assert RAY_MISSING in capsys.readouterr().err and "pip install 'aihf-control[ray]'" in RAY_MISSING
    with pytest.raises(ImportError, match=r"aihf-control\[ray\]"):
        run_all(fake_run, [FakeSpec("fine", str(tmp_path))], executor="ray")


def test_ray_executor_retries_once_and_reports_runs_that_fail_twice(tmp_path, capsys):
    ray = pytest.importorskip("ray")
    # Ray's workers cannot import this test module: send fake_run and FakeSpec by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    specs = [FakeSpec(name, str(tmp_path)) for name in ("fine", "flaky", "broken")]
    try:
        failed = run_all(fake_run, specs, workers=2, executor="ray")
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [spec.name for spec in failed] == ["broken"]
    assert attempts_of(tmp_path) == {"fine": 1, "flaky": 2, "broken": 2}
    assert "1 of 3 run(s) failed 2 time(s): broken" in capsys.readouterr().err


def files_of(logdir: Path) -> list[str]:
    """Relative paths, with the TensorBoard event files' host- and time-specific names left out."""
    return sorted(
        str(path.parent.relative_to(logdir) / "events") if "tfevents" in path.name else str(path.relative_to(logdir))
        for path in logdir.rglob("*")
        if path.is_file()
    )


def test_smoke_profile_through_ray_writes_the_same_files_as_the_local_executor(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))  # the shipped datasets install here
    argv = ["--profile", "smoke", "--methods", "aihf", "bc", "--workers", "2"]
    local = main("Hopper-v5", [*argv, "--logdir", str(tmp_path / "local")])
    on_ray = main("Hopper-v5", [*argv, "--logdir", str(tmp_path / "ray"), "--executor", "ray"])
    assert files_of(tmp_path / "ray") == files_of(tmp_path / "local")
    assert {"runs/aihf_prefs100_seed0.json", "runs/bc_seed0.json", "comparison.png", "results.md"} <= set(
        files_of(tmp_path / "local")
    )
    assert on_ray.keys() == local.keys()
    saved = json.loads((tmp_path / "ray" / "results.json").read_text())
    assert [run["method"] for run in saved["runs"]] == ["aihf", "bc"]
    # one seed, one thread per run: the same curves wherever the runs went
    assert [run["returns"] for run in on_ray["runs"]] == [run["returns"] for run in local["runs"]]
