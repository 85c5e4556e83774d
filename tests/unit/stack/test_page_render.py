"""The page's layout from given panels and a given report: verdict, text report, rows, shading per SLO."""

from __future__ import annotations

import re

from stack.page import render
from stack.page.fetch import Frame, Panel, Series
from stack.report import Report, SloResult
from stack.spans import Incident, Span, Window

T0 = 1_700_000_000.0
WINDOW = Window(T0, T0 + 60)
FRAME = Frame(WINDOW, 1.0)


def slo_result(name: str, ok: bool, no_data: list[Span] | None = None) -> SloResult:
    problems = [] if ok else ["SLI under the objective"]
    return SloResult(name, 99.0, 100.0, 0.0 if ok else 5.0, 0.0, 1.0, 0.0, 1.0, no_data, not ok, problems)


def incident(slo: str, start: float, end: float | None) -> Incident:
    labels = {"alertname": "Burn", "sloth_slo": slo, "severity": "critical", "sloth_severity": "page"}
    return Incident("Burn", labels, start, end)


def panel(title: str, slo: str | None, kind: str = "timeseries", problem: str = "") -> Panel:
    made = Panel("SLOs", "row", kind, title, "why", "percentunit", [], False, None, slo, problem=problem)
    made.series = [Series("SLI", {}, [(T0 + i, 1.0 - i / 1000) for i in range(60)])]
    return made


def page(report: Report, *panels: Panel) -> str:
    row = Panel("SLOs", "", "row", "avail: 99%", "", None, [], False, None, None)
    dashboard = {"title": "SLOs", "description": "every SLO"}
    record = {"prometheus": "http://127.0.0.1:9090"}
    return render.page(report, [(dashboard, [row, *panels])], FRAME, record)


def figures(html: str) -> dict[str, str]:
    return dict(re.findall(r'<figure [^>]*data-title="([^"]+)"[^>]*>(.*?)</figure>', html, re.S))


def test_an_slos_incidents_and_gaps_are_shaded_on_its_panels_only() -> None:
    report = Report(
        "svc",
        WINDOW,
        [slo_result("avail", False, [Span(T0, T0 + 5)]), slo_result("latency", True)],
        [incident("avail", T0 + 20, T0 + 30), incident("avail", T0 + 50, None)],
        [],
    )
    html = page(report, panel("SLI avail", "avail"), panel("SLI latency", "latency"), panel("Rate", None))
    shown = figures(html)
    assert shown["SLI avail"].count('class="incident page"') == 2
    assert f'data-end="{T0 + 60:.3f}"' in shown["SLI avail"]  # still firing: shaded to the window's end
    assert "still firing" in shown["SLI avail"] and shown["SLI avail"].count('class="nodata ') == 1
    assert "incident" not in shown["SLI latency"] and "incident" not in shown["Rate"]
    assert '<div id="verdict" class="breach">BREACH</div>' in html
    assert "<h3>avail: 99%</h3>" in html and '<pre id="text-report">SLO report for svc' in html


def test_a_passing_run_says_so_and_a_panel_that_cannot_be_drawn_is_listed() -> None:
    report = Report("svc", WINDOW, [slo_result("avail", True)], [], [])
    html = page(report, panel("Pie", None, "piechart", "no renderer for Grafana panel type 'piechart'"))
    assert '<div id="verdict" class="pass">PASS: every SLO met</div>' in html
    assert "<li>not rendered: SLOs / Pie: no renderer for Grafana panel type &#x27;piechart&#x27;</li>" in html
    assert 'class="problem">not rendered: ' in figures(html)["Pie"]
    assert '<link rel="icon" href="data:,">' in html and "<script" not in html
