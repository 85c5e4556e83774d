"""Live drill: the real Prometheus scrapes the real service, loaded by the real loadgen daemon, with the
SLO windows shrunk 60x (5m becomes 5 s, 1h one minute), and alerts to the real Alertmanager.

A clean run raises no SLO alert; then 5% errors injected through the service's fault injection page
within the time the burn-rate math gives, the page reaches Alertmanager, and it resolves after the
faults are cleared.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from contract.routes import ADMIN_FAULTS, PREDICTION_ROUTES
from tests import live, prom

SHRINK = 60
#: A clean run first: a false alert from a fresh Prometheus (empty windows, first scrapes) shows within seconds.
CLEAN_SECONDS = 20
#: 5% errors burn the 99.9% budget 50x: the 1h (here 60 s) window crosses 14.4x the budget after
#: 60 s x 14.4 / 50 = 17 s, the 5m (5 s) window at once; add scrape and evaluation (1 s each). A fresh
#: Prometheus pages sooner, by the 6x condition: its 6h window holds only the run's 20-odd seconds.
PAGE_WITHIN = 45.0
#: The page resolves when no short window (5m, 30m: here 5 s, 30 s) holds 6x the budget any more.
RESOLVE_WITHIN = 45.0


def slo_alerts(prometheus_url: str, state: str | None = None) -> list[dict[str, Any]]:
    return [
        a for a in prom.alerts(prometheus_url) if "sloth_slo" in a["labels"] and (state is None or a["state"] == state)
    ]


def availability_page(alert_labels: dict[str, str]) -> bool:
    return alert_labels.get("sloth_slo") == "requests-availability" and alert_labels.get("sloth_severity") == "page"


def alertmanager_pages(alertmanager_url: str) -> list[dict[str, Any]]:
    """Active availability pages as Alertmanager holds them (what its receivers are sent)."""
    alerts = httpx.get(f"{alertmanager_url}/api/v2/alerts", params={"active": "true"}, timeout=5).json()
    return [a for a in alerts if availability_page(a["labels"])]


def set_faults(service_url: str, error_rate: float) -> None:
    routes = {route: {"error_rate": error_rate} for route in PREDICTION_ROUTES} if error_rate else {}
    response = httpx.post(
        f"{service_url}{ADMIN_FAULTS}",
        json={"routes": routes},
        headers={"Authorization": f"Bearer {live.ADMIN_TOKEN}"},
        timeout=5,
    )
    response.raise_for_status()


def test_drill_page_fires_on_5_percent_errors_reaches_alertmanager_and_resolves(tmp_path: Path) -> None:
    with live.stack(tmp_path, shrink=SHRINK, with_alertmanager=True, rate=25, invalid_fraction=0.0) as s:
        assert s.alertmanager is not None
        # Clean run: no SLO alert, not even pending, while the windows fill.
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + CLEAN_SECONDS
        while time.monotonic() < deadline:
            seen += slo_alerts(s.prometheus)
            time.sleep(1)
        assert not seen, f"SLO alerts in a clean run: {[a['labels'] for a in seen]}"

        set_faults(s.service, 0.05)
        paged = prom.wait_for(
            lambda: any(availability_page(a["labels"]) for a in slo_alerts(s.prometheus, "firing")), PAGE_WITHIN
        )
        assert paged is not None, f"no page within {PAGE_WITHIN}s of 5% errors"
        delivered = prom.wait_for(lambda: bool(alertmanager_pages(s.alertmanager)), 15)
        set_faults(s.service, 0.0)
        assert delivered is not None, "the page never reached Alertmanager"
        print(
            f"\ndrill: page fired {paged:.1f}s after injecting 5% errors (bound {PAGE_WITHIN}s), "
            f"in Alertmanager {delivered:.1f}s later"
        )

        resolved = prom.wait_for(
            lambda: not any(availability_page(a["labels"]) for a in slo_alerts(s.prometheus, "firing")), RESOLVE_WITHIN
        )
        assert resolved is not None, f"the page did not resolve within {RESOLVE_WITHIN}s of recovery"
        cleared = prom.wait_for(lambda: not alertmanager_pages(s.alertmanager), 30)
        assert cleared is not None, "Alertmanager still holds the page after it resolved"
        print(f"drill: page resolved {resolved:.1f}s after clearing the faults, cleared in Alertmanager")
