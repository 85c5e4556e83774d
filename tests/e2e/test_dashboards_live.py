"""Every query of every dashboard panel, on live data: the real Prometheus scrapes the real service and
the real loadgen daemon on loopback, with the real rules generated from the SLO spec.

Template variables are substituted as Grafana does with "All" selected; each query must parse and
return at least one series (panels that can be zero, like shed or dropped, return a zero series) once the
data is there: the check is repeated until every query passes, or the deadline.
"""

from __future__ import annotations

from pathlib import Path

from stack.dashboard_check import Result, check
from tests import live, prom

#: From the stack's start: the slowest panels read the 30-day SLI and budget recordings, and 15 s rates.
DEADLINE = 60.0


def test_every_panel_query_returns_series_on_live_data(tmp_path: Path) -> None:
    results: list[Result] = []

    def all_pass(prometheus: str) -> bool:
        results[:] = check(prometheus, rate_interval="15s", time_range="1m")
        return all(r.ok for r in results)

    with live.stack(tmp_path, rate=30, invalid_fraction=0.05) as s:
        passed = prom.wait_for(lambda: all_pass(s.prometheus), timeout=DEADLINE, interval=1.0)
    if passed is not None:
        print(f"\ndashboards: every query returned series {passed:.1f}s after the stack was up")
    failed = [f"{r.query.dashboard} / {r.query.panel}: {r.query.expr} -> {r.error or 'no series'}" for r in results]
    failed = [line for line, r in zip(failed, results, strict=True) if not r.ok]
    assert len(results) > 60
    assert not failed, "\n".join(failed)
