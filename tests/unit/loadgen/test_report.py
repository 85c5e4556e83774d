"""A run's summary, thresholds verdicts, and the JSON, CSV and HTML files."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from loadgen import html_report, report, thresholds
from loadgen.engine import Engine
from loadgen.recorder import Recorder
from loadgen.schedule import Arrivals, Constant
from tests.unit.loadgen.doubles import HeldClient, deck


def finished_run() -> tuple[Engine, Recorder]:
    recorder = Recorder()
    engine = Engine(HeldClient(), deck("/v1/predict", size=2), Arrivals(Constant(rate=2), "constant"),
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
    engine = Engine(HeldClient(), deck("/v1/predict", size=1), Arrivals(Constant(rate=1), "constant"),
                    Recorder(), max_in_flight=1)  # fmt: skip
    summary = report.summarize(engine, engine.recorder, target="t", scenario="s", started_at="now")
    assert (summary.completed, summary.error_rate, summary.dropped_rate, summary.latency_ms["min"]) == (0, 0, 0, 0)


def test_files(tmp_path: Path) -> None:
    engine, recorder = finished_run()
    recorder.tick(3.0, 2.0, scheduled=6, sent=4, dropped=2)  # a second in which nothing finished
    summary = report.summarize(engine, recorder, target="http://t", scenario="<b>", started_at="now")
    report.check(summary, recorder, [thresholds.parse(t) for t in ("rps>1", "p(99)<1ms", "error_rate<0.5")])
    settings = {
        "profile": {"kind": "constant", "rate": 2.0},
        "timeout": 10.0,
        "workload": [{"path": "/v1/predict", "method": "POST", "weight": 1.0}],
    }
    report.write_json(tmp_path / "r.json", summary, recorder.series, settings)
    report.write_csv(tmp_path / "r.csv", recorder.series)
    report.write_html(tmp_path / "r.html", summary, recorder.series, settings)

    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["passed"] is False and doc["completed"] == 5 and [p["t"] for p in doc["series"]] == [1.0, 2.0, 3.0]
    assert doc["settings"] == settings and doc["series"][2]["p50_ms"] is None  # no sample: null, not 0
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [r["completed"] for r in rows] == ["3", "2", "0"] and rows[1]["outcome_timeout"] == "1"
    assert rows[0]["outcome_503"] == "0" and (tmp_path / "r.csv").read_text().startswith("t,target_rps,")
    assert rows[2]["p99_ms"] == rows[2]["lag_p99_ms"] == "" and rows[0]["in_flight"] == "0"
    html = (tmp_path / "r.html").read_text()
    assert html.count("<svg") == 5 and "FAILED" in html and "&lt;b&gt;" in html and "<b>" not in html
    assert not re.search(r"<script|<link|src=|href=", html)  # self-contained: nothing fetched
    # Units everywhere: settings, results, thresholds.
    for text in (
        "constant: rate 2 req/s",
        "10 s",
        "/v1/predict = POST /v1/predict, weight 1, no body, check 2xx",
        "2.50 req/s (target 3.00 req/s)",
        "2 requests (33.333% of scheduled)",
        "2 requests (40.000% of finished)",
        "0.4 (40.000%)",
    ):
        assert text in html, text  # fmt: skip
    assert re.search(r"<td>p\(99\)&lt;1ms</td><td class=\"fail\">FAIL</td><td>[\d.]+ ms</td>", html)


def test_tables() -> None:
    engine, recorder = finished_run()
    summary = report.summarize(engine, recorder, target="http://t", scenario="s", started_at="now")
    page = html_report.page(summary, list(recorder.series))
    routes = re.search(r"<h2>Routes</h2>(.*?)</section>", page, re.S)
    assert (
        routes
        and "<td>/v1/predict</td><td>5</td><td>2</td><td>1</td><td>1</td><td>1</td><td>40.000%</td>" in (routes[1])
    )
    outcomes = re.search(r"<h2>Outcomes</h2>(.*?)</section>", page, re.S)
    assert outcomes and [*re.findall(r"<tr><td>([^<]+)</td><td>", outcomes[1])] == ["200", "422", "503", "timeout"]
    failures = re.search(r"<h2>Failures by kind</h2>(.*?)</section>", page, re.S)
    assert failures and re.findall(r"<tr><td>([^<]+)</td>", failures[1]) == ["503", "timeout"]
    assert "<td>timeout</td><td>transport error</td><td>1</td><td>20.000%</td><td>1</td><td>2 s - 2 s</td>" in page
    assert "More figures" not in page  # every Summary field has its place
    # Nothing succeeded: no latency to show, and no actual value for a threshold on it.
    summary.latency_ms = dict.fromkeys(summary.latency_ms)  # type: ignore[assignment]
    summary.thresholds = [{"threshold": "p(99)<1ms", "ok": False, "actual": None}]
    page = html_report.page(summary, [])
    assert "<td>p50</td><td>-</td>" in page and '<td class="fail">FAIL</td><td>-</td>' in page


def test_fields_added_to_the_summary_later_are_shown() -> None:
    @dataclasses.dataclass
    class Later(report.Summary):
        worst_p99_ms: float = 12.5
        queue_ms: dict[str, float] = dataclasses.field(default_factory=lambda: {"p50": 1.5, "max": 2000.0})

    engine, recorder = finished_run()
    base = report.summarize(engine, recorder, target="t", scenario="s", started_at="now", interrupted=True)
    page = html_report.page(Later(**dataclasses.asdict(base)), list(recorder.series))
    assert "INTERRUPTED" in page and "<td>worst p99 ms</td><td>12.5 ms</td>" in page
    assert "<td>queue ms</td><td>p50 1.500 ms, max 2,000.0 ms</td>" in page


def test_an_empty_second_has_no_point() -> None:
    recorder = Recorder()
    for second in range(1, 6):
        if second != 3:  # nothing at all in second 3
            recorder.record("/v1/predict", "200", 0.002 * second)
        recorder.tick(float(second), 1.0, scheduled=second, sent=second, dropped=0)
    series = list(recorder.series)
    assert [p.p50_ms is None for p in series] == [False, False, True, False, False]
    svg = html_report._charts(series)[0][1]
    assert svg.count("<polyline") == 4 * 2  # each percentile: seconds 1-2, then 4-5
    only_failures = Recorder()
    only_failures.record("/v1/predict", "connect", 0.001)
    only_failures.record("/v1/predict", "503", 0.001)
    point = only_failures.tick(1.0, 1.0, scheduled=2, sent=2, dropped=0, in_flight=3)
    assert (point.p50_ms, point.max_ms, point.in_flight, point.lag_p99_ms) == (None, None, 3, None)


def test_rates_and_colors() -> None:
    _, recorder = finished_run()
    recorder.tick(2.1, 2.0, scheduled=6, sent=4, dropped=2)  # the run's end cut a short last interval
    series = list(recorder.series)
    assert html_report.spans(series) == [(0.0, 1.0), (1.0, 2.0), (2.0, 2.1)]
    assert html_report.per_second(series, [3, 2, 1]) == [3.0, 2.0, None]  # 0.1 s is no rate
    colors = html_report.outcome_colors(["200", "201", "422", "503", "timeout", "connect"])
    assert len(set(colors.values())) == 6 and colors["200"] == "#2ca02c" and colors["timeout"] == "#6a3d9a"
    assert html_report.outcome_class("422").startswith("client error") and html_report.outcome_class("x") == (
        "transport error"
    )
