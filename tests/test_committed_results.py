"""The results the docs quote are rebuilt from the committed run records, by the command written beside them."""

import json
import shlex
from pathlib import Path

import pytest

from benchmarks import compare

ROOT = Path(__file__).resolve().parents[1]
REPORTS = sorted(path.parent for path in (ROOT / "docs" / "benchmarks").rglob("compare.json"))


@pytest.mark.parametrize("report_dir", REPORTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_report_is_what_its_command_writes_from_the_committed_records(report_dir, tmp_path, monkeypatch):
    # A record added or changed without rerunning compare leaves the docs' numbers stale: this fails then.
    command = json.loads((report_dir / "compare.json").read_text())["command"]
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "benchmarks.compare"], command
    monkeypatch.chdir(ROOT)  # the command's folders are relative to the repository root
    compare.main([*argv[3:], "--out", str(tmp_path)])
    assert (tmp_path / "results.md").read_text() == (report_dir / "results.md").read_text()
