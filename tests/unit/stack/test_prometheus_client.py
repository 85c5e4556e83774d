"""The one Prometheus client, over a real socket: values, empty and NaN answers, and the two kinds of failure."""

from __future__ import annotations

import pytest

from stack.prometheus import Prometheus, PrometheusError
from tests.unit.stack.canned import CannedPrometheus, closed_port_url, vector


def test_scalar_reads_the_first_value_and_none_for_nothing_or_nan(canned_prometheus: CannedPrometheus) -> None:
    canned_prometheus.queries = {"up": vector(1, 0), "nan": vector("NaN")}
    prom = Prometheus(canned_prometheus.url + "/")
    assert prom.scalar("up", at=12.5) == 1.0
    assert canned_prometheus.seen[-1] == {"query": "up", "time": "12.500"}
    assert prom.scalar("nan") is None and prom.scalar("absent") is None
    assert canned_prometheus.seen[-1] == {"query": "absent"}  # no time: Prometheus's now
    assert len(prom.query("up")) == 2


def test_alerts_and_targets(canned_prometheus: CannedPrometheus) -> None:
    canned_prometheus.paths = {
        "/api/v1/alerts": (200, {"status": "success", "data": {"alerts": [{"labels": {"alertname": "A"}}]}}),
        "/api/v1/targets": (200, {"status": "success", "data": {"activeTargets": [{"health": "up"}]}}),
    }
    prom = Prometheus(canned_prometheus.url)
    assert prom.alerts() == [{"labels": {"alertname": "A"}}]
    assert prom.targets() == [{"health": "up"}]


def test_a_refused_query_raises_prometheus_error_with_its_message(canned_prometheus: CannedPrometheus) -> None:
    canned_prometheus.queries = {"sum(": (400, {"status": "error", "errorType": "bad_data", "error": "parse error"})}
    with pytest.raises(PrometheusError, match=r"^parse error$"):
        Prometheus(canned_prometheus.url).query("sum(")


def test_a_server_not_ready_or_not_successful_raises_prometheus_error(canned_prometheus: CannedPrometheus) -> None:
    canned_prometheus.paths = {
        "/api/v1/alerts": (503, "Service Unavailable"),
        "/api/v1/targets": (200, {"status": "error", "error": "busy"}),
    }
    prom = Prometheus(canned_prometheus.url)
    with pytest.raises(PrometheusError, match="HTTP 503: Service Unavailable"):
        prom.alerts()
    with pytest.raises(PrometheusError, match="busy"):
        prom.targets()


def test_nothing_listening_is_an_os_error_not_a_prometheus_error() -> None:
    with pytest.raises(OSError) as caught:
        Prometheus(closed_port_url(), timeout=2).query("up")
    assert not isinstance(caught.value, PrometheusError)
