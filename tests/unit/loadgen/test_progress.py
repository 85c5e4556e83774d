"""Progress while a run runs: off a terminal one line per interval at its exact mark, never wrapped."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from loadgen import progress
from loadgen.recorder import Point

ROOT = Path(__file__).resolve().parents[3]


def point(t: float, *, completed: int = 50, p99: float | None = 4.2, dropped: int = 0) -> Point:
    return Point(t=t, target_rps=50.0, scheduled=50, sent=50 - dropped, dropped=dropped, completed=completed,
                 errors=1, p50_ms=None if p99 is None else 1.0, p90_ms=p99, p99_ms=p99, max_ms=p99,
                 lag_p99_ms=0.1, in_flight=3)  # fmt: skip


def test_off_a_terminal_one_line_per_interval_at_exact_marks() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80)
    assert not console.is_terminal
    with progress.Progress(console) as shown:
        assert shown.live is None
        # Seconds closed late or early (t drifts around the mark) still give marks 10, 20, 30.
        for k in range(1, 35):
            shown.show(point(k + (0.04 if k % 2 else -0.04), p99=None if 11 <= k <= 20 else 4.2 + (k == 25)))
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [["10", "s"], ["20", "s"], ["30", "s"]]
    assert all(len(line) <= 80 for line in lines)
    assert "50.0 req/s of 50.0" in lines[0] and "errors 10" in lines[0] and "in flight 3" in lines[0]
    assert "worst p99 -" in lines[1] and "worst p99 5.2 ms" in lines[2]  # no success: no number


def test_a_long_line_is_cut_not_wrapped() -> None:
    out = io.StringIO()
    shown = progress.Progress(Console(file=out, width=40), interval=1)
    shown.show(point(1.0, completed=1_234_567, dropped=45))
    (line,) = out.getvalue().splitlines()
    assert len(line) == 40 and line.endswith("..")
    assert progress.fit("short", 40) == "short"


def test_on_a_terminal_a_live_line() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with progress.Progress(console) as shown:
        assert shown.live is not None
        shown.show(point(1.0))
        assert "p50 1 ms  p99 4.2 ms" in shown.now(point(2.0)) and "sent 50" in shown.now(point(2.0))
    quiet = progress.Progress(Console(file=io.StringIO(), quiet=True, force_terminal=True))
    assert quiet.live is None


def test_units() -> None:
    assert [progress.ms(v) for v in (None, 0.42, 12.34, 1234.0, 123_456.0)] == [
        "-", "0.42 ms", "12.3 ms", "1.23 s", "123 s"
    ]  # fmt: skip
    assert [progress.rate(v) for v in (4.25, 17_877.4)] == ["4.2", "17,877"]


def test_an_interval_line_imports_nothing() -> None:
    """The line is printed from the event loop: a module imported on the way (rich's emoji table, 25 ms) is
    a stall of the schedule. In a fresh interpreter, so another test's imports cannot hide one."""
    code = """
import io, sys
from rich.console import Console
from loadgen import progress
from loadgen.recorder import Point
shown = progress.Progress(Console(file=io.StringIO(), width=80))
point = Point(t=1, target_rps=5, scheduled=5, sent=5, dropped=0, completed=5, errors=0, p50_ms=1.0, p90_ms=1.0,
              p99_ms=1.0, max_ms=1.0, lag_p99_ms=0.1)
for _ in range(shown.interval - 1):
    shown.show(point)
before = set(sys.modules)
shown.show(point)
assert shown.console.file.getvalue().count("\\n") == 1
print(sorted(set(sys.modules) - before))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stdout
