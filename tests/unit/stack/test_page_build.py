"""The page end to end in-process: the dashboards' queries as sent to a canned Prometheus (template variables
expanded), the page and run.json written, panels without data or a renderer listed, `--compare`, the CLI."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from generators.paths import SPEC
from slo.spec import load_spec
from stack import procfile, report, up
from stack.__main__ import main
from stack.page import build, compare
from stack.page.fetch import Frame, fetch_dashboard, legend, scrape_interval
from stack.prometheus import Prometheus
from stack.settings import StackSettings
from stack.spans import Window
from stack.supervisor import Supervisor
from tests.unit.stack.canned import CannedPrometheus, matrix, vector

END = 1_700_000_060.0  # 2023-11-14T22:14:20Z: in the past, as a report's window must be
WINDOW = Window(END - 60, END)
CONFIG = (200, {"status": "success", "data": {"yaml": "global:\n  scrape_interval: 1s\n"}})


def dashboard(*panels: dict[str, Any]) -> dict[str, Any]:
    variables = [{"name": "datasource", "type": "datasource"}, {"name": "route", "type": "query"}]
    return {"title": "D", "templating": {"list": variables}, "panels": list(panels)}


def target(expr: str, legend: str = "", **more: Any) -> dict[str, Any]:
    return {"expr": expr, "legendFormat": legend, **more}


def test_the_frame_follows_grafanas_rules_for_rate_interval_and_range() -> None:
    short = Frame(WINDOW, scrape=1.0)
    assert (short.step, short.rate_interval, short.range) == (1.0, "4s", "1m")
    soak = Frame(Window(0, 1800), scrape=15.0)
    assert (soak.step, soak.rate_interval, soak.range) == (15.0, "1m", "30m")
    month = Frame(Window(0, 30 * 86400), scrape=15.0)
    assert month.step == 6480.0 and month.rate_interval == "1h48m15s"  # step + scrape: 400 points at most


def test_the_scrape_interval_is_read_from_prometheus_config(canned_prometheus: CannedPrometheus) -> None:
    prom = Prometheus(canned_prometheus.url)
    canned_prometheus.paths["/api/v1/status/config"] = CONFIG
    assert scrape_interval(prom) == 1.0
    canned_prometheus.paths["/api/v1/status/config"] = (400, {"status": "error", "error": "no"})
    assert scrape_interval(prom) == 60.0  # Prometheus's own default


def test_legends_fill_in_labels_as_grafana_does() -> None:
    assert legend("{{route}} {{status_code}}", {"route": "/v1/predict", "status_code": "200"}) == "/v1/predict 200"
    assert legend("__auto", {"__name__": "up", "job": "service"}) == "job=service"
    assert legend("", {}) == "value"


def test_queries_run_with_variables_expanded_and_instants_at_the_end(canned_prometheus: CannedPrometheus) -> None:
    rate = 'sum(rate(x_total{route=~"$route"}[$__rate_interval]))'
    expanded = 'sum(rate(x_total{route=~".*"}[4s]))'
    instant = "sum by (le) (increase(h_bucket[$__range]))"
    canned_prometheus.ranges[expanded] = matrix(({}, [(END - 1, 2.0), (END, 3.0)]))
    canned_prometheus.queries["sum by (le) (increase(h_bucket[1m]))"] = vector(5, metric={"le": "+Inf"})
    d = dashboard(
        {"type": "row", "title": "Requests"},
        {"type": "timeseries", "title": "Rate", "targets": [target(rate, "rate")]},
        {"type": "bargauge", "title": "Dist", "targets": [target(instant, "{{le}}", instant=True)]},
        {"type": "piechart", "title": "Pie", "targets": [target("up")]},
    )
    got = fetch_dashboard(Prometheus(canned_prometheus.url), d, Frame(WINDOW, 1.0), frozenset(build.RENDERERS))
    assert [p.type for p in got] == ["row", "timeseries", "bargauge", "piechart"]
    assert got[1].row == "Requests" and got[1].series[0].points == [(END - 1, 2.0), (END, 3.0)]
    assert got[2].series[0].name == "+Inf" and got[2].series[0].points == [(END, 5.0)]
    sent = {p["query"]: p for p in canned_prometheus.seen}
    assert sent[expanded]["step"] == "1.000" and float(sent["sum by (le) (increase(h_bucket[1m]))"]["time"]) == END
    assert got[3].problem == "no renderer for Grafana panel type 'piechart'" and not got[3].series
    assert "up" not in sent  # a panel that cannot be drawn is not queried


def test_a_refused_query_is_the_panels_problem(canned_prometheus: CannedPrometheus) -> None:
    canned_prometheus.ranges["bad("] = (400, {"status": "error", "error": "parse error"})
    d = dashboard({"type": "timeseries", "title": "Bad", "targets": [target("bad(")]})
    (got,) = fetch_dashboard(Prometheus(canned_prometheus.url), d, Frame(WINDOW, 1.0), frozenset({"timeseries"}))
    assert "Prometheus refused the query 'bad('" in got.problem and "parse error" in got.problem


def soak_report(prom: Prometheus) -> report.Report:
    return report.build_window(prom, load_spec(SPEC), WINDOW)


def test_a_page_without_data_says_so_panel_by_panel(canned_prometheus: CannedPrometheus, tmp_path: Path) -> None:
    canned_prometheus.paths["/api/v1/alerts"] = (200, {"status": "success", "data": {"alerts": []}})
    prom = Prometheus(canned_prometheus.url)
    result = soak_report(prom)
    page = build.write(prom, SPEC, result, tmp_path / "run").read_text()
    assert '<div id="verdict" class="breach">BREACH</div>' in page  # no traffic
    assert "<h2>SLOs: insurance-charges</h2>" in page and "<h3>requests-availability: 99.9% over 30d</h3>" in page
    figures = page.count("<figure")
    assert figures > 40 and page.count("no data in the window") == figures
    assert "<script" not in page and "http" not in page.split('<pre id="text-report">')[0].split("from ")[0]
    record = compare.load_run(tmp_path / "run")
    assert record["report"] == json.loads(result.to_json()) and record["prometheus"] == canned_prometheus.url
    assert record["figures"]["sli"] == {s.name: None for s in result.slos}
    assert record["window"]["start"] == WINDOW.start and record["page"] == "report.html"


def test_an_unrenderable_panel_is_listed_on_the_page(
    canned_prometheus: CannedPrometheus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canned_prometheus.paths["/api/v1/alerts"] = (200, {"status": "success", "data": {"alerts": []}})
    prom = Prometheus(canned_prometheus.url)
    monkeypatch.delitem(build.RENDERERS, "heatmap")
    page = build.write(prom, SPEC, soak_report(prom), tmp_path).read_text()
    listed = re.findall(r"<li>not rendered: ([^<]+)</li>", page)
    assert listed == ["Prediction service / Latency heatmap: no renderer for Grafana panel type &#x27;heatmap&#x27;"]


def run_record(sli: float, p99: float, ok: bool) -> dict[str, Any]:
    return {
        "format": compare.FORMAT,
        "report": {"ok": ok, "start": "2023-11-14T22:13:20Z", "end": "2023-11-14T22:14:20Z"},
        "figures": {"sli": {"avail": sli}, "latency": {"service p99": p99}, "rate": {"sent": 20.0}},
    }


def test_compare_lays_two_runs_side_by_side_with_the_difference(tmp_path: Path) -> None:
    table = compare.table(run_record(0.99, 0.35, False), run_record(1.0, 0.05, True), "baseline")
    rows = dict(re.findall(r'data-name="([^"]+)" data-this="[^"]*" data-difference="([^"]*)"', table))
    assert float(rows["avail"]) == 0.99 - 1.0 and float(rows["service p99"]) == 0.35 - 0.05
    assert "<td>+300 ms</td>" in table and "<td>99%</td><td>100%</td>" in table
    assert "this run BREACH, baseline PASS" in table
    missing = compare.table(run_record(0.99, 0.35, False), {**run_record(1, 0, True), "figures": {}}, "old")
    assert 'data-other="" ' not in missing and 'data-difference=""' in missing and "<td>-</td>" in missing


def test_a_folder_without_a_run_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no run here"):
        compare.load_run(tmp_path)
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        compare.load_run(tmp_path)
    (tmp_path / "run.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not a run record"):
        compare.load_run(tmp_path / "run.json")


def test_the_cli_writes_the_page_and_compares_with_an_earlier_run(
    canned_prometheus: CannedPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canned_prometheus.paths["/api/v1/alerts"] = (200, {"status": "success", "data": {"alerts": []}})
    window = ["--start", str(WINDOW.start), "--end", str(WINDOW.end), "--prometheus", canned_prometheus.url]
    assert main(["report", *window, "--html", str(tmp_path / "a")]) == 1
    assert (tmp_path / "a" / "report.html").exists() and "page: " in capsys.readouterr().err
    assert main(["report", *window, "--html", str(tmp_path / "b"), "--compare", str(tmp_path / "a")]) == 1
    page = (tmp_path / "b" / "report.html").read_text()
    assert '<section id="compare"><h2>Compared with a</h2>' in page
    assert main(["report", *window, "--compare", str(tmp_path / "a")]) == 2
    assert "give --html DIR too" in capsys.readouterr().err
    assert main(["report", *window, "--html", str(tmp_path / "c"), "--compare", str(tmp_path / "none")]) == 2
    assert "no run here" in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_two_runs_already_written_are_compared_without_prometheus(
    canned_prometheus: CannedPrometheus, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    canned_prometheus.paths["/api/v1/alerts"] = (200, {"status": "success", "data": {"alerts": []}})
    window = ["--start", str(WINDOW.start), "--end", str(WINDOW.end), "--prometheus", canned_prometheus.url]
    for run in ("current", "candidate"):
        assert main(["report", *window, "--html", str(tmp_path / run)]) == 1
    asked = len(canned_prometheus.seen)
    assert main(["report", "--html", str(tmp_path / "candidate"), "--compare", str(tmp_path / "current")]) == 1
    assert len(canned_prometheus.seen) == asked  # from the run folders alone
    page = (tmp_path / "candidate" / "compare.html").read_text()
    assert "<h1>candidate against current</h1>" in page and 'href="../current/report.html"' in page
    assert page.count("<pre>SLO report for insurance-charges") == 2 and page.count('data-group="sli"') == len(
        load_spec(SPEC).slos
    )
    assert '<div id="verdict" class="breach">candidate: BREACH</div>' in page
    assert main(["report", "--html", str(tmp_path / "none"), "--compare", str(tmp_path / "current")]) == 2
    assert "no run here" in capsys.readouterr().err


def test_a_bounded_soak_writes_its_page_into_the_run_folder(
    canned_prometheus: CannedPrometheus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = str(urlsplit(canned_prometheus.url).port)
    for name in procfile.PROCESSES:
        monkeypatch.setenv(f"STACK_{name.upper()}_PORT", port)
    monkeypatch.setenv("STACK_RUN_DIR", str(tmp_path / "run"))
    canned_prometheus.paths = {path: (200, "ok") for path in ("/readyz", "/metrics", "/-/ready")}
    canned_prometheus.paths["/api/v1/alerts"] = (200, {"status": "success", "data": {"alerts": []}})
    settings = StackSettings()
    up.prepare(settings, frozenset())
    processes = Supervisor({"sleeper": "exec sleep 30"}, tmp_path / "logs", tmp_path)
    processes.start()
    try:
        code = up._supervise(settings, processes, threading.Event(), list(procfile.PROCESSES), 0.3, load_spec(SPEC))
    finally:
        processes.stop()
    assert code == up.EXIT_BREACH
    record = compare.load_run(tmp_path / "run")
    assert record["prometheus_data"] == str(tmp_path / "run" / "prometheus" / "data")
    assert (tmp_path / "run" / "report.html").read_text().count("<figure") > 40


def test_an_infinite_quantile_is_no_figure() -> None:
    """histogram_quantile reads +Inf past the top bucket: JSON cannot hold it, and a difference of two is NaN."""
    assert compare.finite(float("inf")) is None and compare.finite(None) is None and compare.finite(0.25) == 0.25
