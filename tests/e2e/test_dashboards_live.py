"""Every query of every dashboard panel, on live data: the real Prometheus scrapes the real service and
the real loadgen daemon on loopback, with the real rules generated from the SLO spec.

Template variables are substituted as Grafana does with "All" selected; each query must parse and
return at least one series (panels that can be zero, like shed or dropped, return a zero series).
"""

from __future__ import annotations

from pathlib import Path

import httpx

from stack.dashboard_check import check
from tests import live, prom


def _has_data(prometheus: str) -> bool:
    """Enough samples for rates and the slowest recording rules (the 30-day SLI and the budget)."""
    query = "count(slo:period_error_budget_remaining:ratio) and count(rate(loadgen_sent_total[15s]) > 0)"
    result = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=5).json()
    return bool(result["data"]["result"])


def test_every_panel_query_returns_series_on_live_data(tmp_path: Path) -> None:
    with live.stack(tmp_path, rate=30, invalid_fraction=0.05) as s:
        assert prom.wait_for(lambda: _has_data(s.prometheus), timeout=60) is not None, "no data in Prometheus"
        prom.wait_for(lambda: False, timeout=6)  # a few more scrapes: rate windows of 15 s need four samples
        results = check(s.prometheus, rate_interval="15s", time_range="1m")
    failed = [f"{r.query.dashboard} / {r.query.panel}: {r.query.expr} -> {r.error or 'no series'}" for r in results]
    failed = [line for line, r in zip(failed, results, strict=True) if not r.ok]
    assert len(results) > 60
    assert not failed, "\n".join(failed)
