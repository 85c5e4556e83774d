"""scripts/coverage_floor.py: CI's per-module coverage gate fails on any module under the floor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from stack.processes import ROOT


def gate(tmp_path: Path, percents: dict[str, float]) -> subprocess.CompletedProcess[str]:
    report = {"files": {path: {"summary": {"percent_covered": pct}} for path, pct in percents.items()}}
    (tmp_path / "coverage.json").write_text(json.dumps(report))
    script = ROOT / "scripts" / "coverage_floor.py"
    args = [sys.executable, str(script), str(tmp_path / "coverage.json"), "--floor", "70"]
    return subprocess.run(args, capture_output=True, text=True, check=False)


def test_every_module_at_the_floor_passes(tmp_path: Path) -> None:
    result = gate(tmp_path, {"a.py": 70.0, "b.py": 100.0})
    assert result.returncode == 0
    assert "2 of 2 modules" in result.stdout


def test_one_module_under_the_floor_fails_and_is_named(tmp_path: Path) -> None:
    result = gate(tmp_path, {"a.py": 69.9, "b.py": 100.0})
    assert result.returncode == 1
    assert "a.py 69.9% < 70%" in result.stdout
