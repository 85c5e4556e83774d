"""The dashboard checker: the queries it reads out of the dashboards, and its verdicts over a socket."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stack import dashboard_check
from stack.dashboard_check import Query, queries, substitute
from tests.unit.stack.canned import CannedPrometheus, closed_port_url, vector

DASHBOARD: dict[str, Any] = {
    "title": "D",
    "templating": {
        "list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {"name": "route", "type": "query", "query": 'label_values(up{job="service"}, route)'},
            {"name": "routes", "type": "query", "query": "label_values(x, routes)"},
        ]
    },
    "panels": [
        {"title": "row", "type": "row"},
        {"title": "P", "targets": [{"expr": 'rate(x{route=~"$route", r=~"${routes}"}[$__rate_interval])'}]},
        {"title": "Q", "targets": [{"expr": "increase(y[$__range])"}, {"expr": "z"}]},
    ],
}


def test_substitute_is_grafanas_all_with_the_longest_names_first() -> None:
    expr = 'a{r=~"$routes", s=~"$route", t=~"${route}"}[$__rate_interval] [$__range]'
    assert substitute(expr, ["route", "routes"], "15s", "1m") == 'a{r=~".*", s=~".*", t=~".*"}[15s] [1m]'


def test_queries_are_every_panel_target_and_every_label_values_variable() -> None:
    got = list(queries(DASHBOARD, rate_interval="2m", time_range="5m"))
    assert got == [
        Query("D", "variable $route", 'count by (route) (up{job="service"})'),
        Query("D", "variable $routes", "count by (routes) (x)"),
        Query("D", "P", 'rate(x{route=~".*", r=~".*"}[2m])'),
        Query("D", "Q", "increase(y[5m])"),
        Query("D", "Q", "z"),
    ]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "d.json").write_text(json.dumps(DASHBOARD))
    return tmp_path


def test_check_passes_only_queries_with_series(folder: Path, canned_prometheus: CannedPrometheus) -> None:
    canned_prometheus.queries = {
        'count by (route) (up{job="service"})': vector(1),
        "z": (400, {"status": "error", "error": "bad z"}),
    }
    results = {r.query.expr: r for r in dashboard_check.check(canned_prometheus.url, folder, "1m", "5m")}
    assert results['count by (route) (up{job="service"})'].ok
    assert (results["z"].ok, results["z"].error) == (False, "bad z")
    assert not results["increase(y[5m])"].ok and results["increase(y[5m])"].error == ""


def test_main_prints_each_verdict_and_fails_on_one(
    folder: Path, canned_prometheus: CannedPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    canned_prometheus.queries = {q.expr: vector(1) for q in queries(DASHBOARD)}
    argv = ["--prometheus", canned_prometheus.url, "--dashboards", str(folder)]
    assert dashboard_check.main(argv) == 0
    assert capsys.readouterr().out.endswith("5 passed, 0 failed\n")
    del canned_prometheus.queries["z"]
    assert dashboard_check.main(argv) == 1
    assert "FAIL   0 series  D / Q" in capsys.readouterr().out


def test_main_says_when_prometheus_is_not_there(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert dashboard_check.main(["--prometheus", closed_port_url(), "--dashboards", str(folder)]) == 2
    assert "cannot query Prometheus" in capsys.readouterr().err
