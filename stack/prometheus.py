"""The one client of Prometheus's HTTP API: the SLO report, the dashboard checker and the tests use it.

Standard library only (urllib): the stack runs it, and its runtime has no HTTP client of its own to
offer. Two kinds of failure stay apart: PrometheusError when Prometheus answers but refuses (a query
that does not parse, a server still starting), OSError (urllib's URLError) when nothing answers.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class PrometheusError(RuntimeError):
    """Prometheus answered, but not with data: the message is its own error text."""


class Prometheus:
    """The few calls of Prometheus's HTTP API the stack and its tests need."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def get(self, path: str, **params: str) -> Any:
        """The `data` of a GET on the API (path like "/api/v1/alerts")."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=self.timeout) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # 400: a query that does not parse; 503: not ready yet
            raise PrometheusError(_error_text(exc)) from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{path}: {body.get('error', body)}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's series (at `at`, Unix seconds; now by default)."""
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        return self.get("/api/v1/query", **params)["result"]

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        """The single value of an instant query, or None when it returns no series (or NaN)."""
        result = self.query(expr, at)
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """A range query's series, each with its `values` ([unix seconds, "value"] pairs), start to end by step."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:.3f}"}
        return self.get("/api/v1/query_range", **params)["result"]

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts, pending and firing."""
        return self.get("/api/v1/alerts")["alerts"]

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets, with their health."""
        return self.get("/api/v1/targets")["activeTargets"]


def _error_text(exc: urllib.error.HTTPError) -> str:
    body = exc.read().decode(errors="replace")
    try:
        return str(json.loads(body).get("error", body))
    except ValueError:  # not JSON: e.g. the plain-text "Service Unavailable" while starting
        return f"HTTP {exc.code}: {body.strip()[:200]}"
