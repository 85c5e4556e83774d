"""A run's summary, thresholds verdicts, and the JSON, CSV and HTML files."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from loadgen import report, thresholds
from loadgen.engine import Engine
from loadgen.payloads import Payloads
from loadgen.recorder import Recorder
from loadgen.schedule import Arrivals, Constant
from tests.unit.loadgen.doubles import HeldClient


def finished_run() -> tuple[Engine, Recorder]:
    recorder = Recorder()
    engine = Engine(HeldClient(), Payloads({"single": 1}, seed=1, deck=2), Arrivals(Constant(rate=2), "constant"),
                    recorder, max_in_flight=1)  # fmt: skip
    for second, outcomes in enumerate((["200", "200", "422"], ["503", "timeout"]), start=1):
        for i, outcome in enumerate(outcomes):
            recorder.record("/v1/predict", outcome, 0.01 * (i + 1))
        recorder.record_lag(0.0005)
        recorder.tick(float(second), 2.0, scheduled=3 * second, sent=3 * second - 1, dropped=second)
    engine.scheduled, engine.sent, engine.dropped, engine.window = 6, 4, 2, 2.0
    return engine, recorder


def test_summary_and_thresholds() -> None:
    engine, recorder = finished_run()
    summary = report.summarize(engine, recorder, target="http://t", scenario="flags", started_at="now")
    assert (summary.completed, summary.errors, summary.scheduled, summary.dropped) == (5, 2, 6, 2)
    assert summary.error_rate == pytest.approx(0.4) and summary.dropped_rate == pytest.approx(1 / 3)
    assert summary.rps == pytest.approx(2.5) and summary.target_rps == pytest.approx(3.0)
    assert summary.outcomes == {"200": 2, "422": 1, "503": 1, "timeout": 1}
    assert summary.routes == {"/v1/predict": summary.outcomes}
    assert summary.latency_ms["min"] == pytest.approx(10, rel=1e-3) and summary.latency_ms["max"] == pytest.approx(
        30, rel=1e-3
    )
    assert list(summary.latency_ms) == ["min", "avg", "p50", "p90", "p95", "p99", "p99.9", "max"]
    assert summary.passed  # no thresholds: nothing failed
    checks = [thresholds.parse(t) for t in ("error_rate<0.5", "p(50)<5ms", "requests>=5", "med<=21")]
    report.check(summary, recorder, checks)
    assert [t["ok"] for t in summary.thresholds] == [True, False, True, True] and not summary.passed
    rendered = Console(width=200, record=True)
    rendered.print(report.table(summary))
    text = rendered.export_text()
    assert "FAIL" in text and "p(50)<5ms" in text and "6 / 4" in text and "2 (33.33% of the schedule)" in text


def test_an_empty_run_summarises_to_zeros() -> None:
    engine = Engine(HeldClient(), Payloads({"single": 1}, seed=1, deck=1), Arrivals(Constant(rate=1), "constant"),
                    Recorder(), max_in_flight=1)  # fmt: skip
    summary = report.summarize(engine, engine.recorder, target="t", scenario="s", started_at="now")
    assert (summary.completed, summary.error_rate, summary.dropped_rate, summary.latency_ms["min"]) == (0, 0, 0, 0)


def test_files(tmp_path: Path) -> None:
    engine, recorder = finished_run()
    summary = report.summarize(engine, recorder, target="http://t", scenario="<b>", started_at="now")
    report.check(summary, recorder, [thresholds.parse("rps>1")])
    report.write_json(tmp_path / "r.json", summary, recorder.series)
    report.write_csv(tmp_path / "r.csv", recorder.series)
    report.write_html(tmp_path / "r.html", summary, recorder.series)

    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["passed"] is True and doc["completed"] == 5 and [p["t"] for p in doc["series"]] == [1.0, 2.0]
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [r["completed"] for r in rows] == ["3", "2"] and rows[1]["outcome_timeout"] == "1"
    assert rows[0]["outcome_503"] == "0" and (tmp_path / "r.csv").read_text().startswith("t,target_rps,")
    html = (tmp_path / "r.html").read_text()
    assert html.count("<svg") == 3 and "PASSED" in html and "&lt;b&gt;" in html
    assert not re.search(r"<script|<link|src=|href=", html)  # self-contained: nothing fetched


def test_charts() -> None:
    assert report._nice_max(0) == 1.0 and report._nice_max(7) == 10 and report._nice_max(0.3) == pytest.approx(0.5)
    empty = report.svg_lines("nothing", [], {}, "ms")
    assert empty.startswith("<svg") and "<polyline" not in empty
    bars = report.svg_lines("o", [1.0, 2.0], {"200": [3.0, 0.0], "503": [1.0, 2.0]}, "req/s", stacked_bars=True)
    assert bars.count("<rect") == 1 + 3 + 2  # the frame, three non-zero bars, two legend keys
