"""Live drill: the real Prometheus scrapes the real service, loaded by the real loadgen daemon, with the
SLO windows shrunk 60x (5m becomes 5 s, 1h one minute), and alerts to the real Alertmanager, whose
receivers post to a webhook in this test.

A clean run raises no SLO alert; then 5% errors injected through the service's fault injection page
within the time the burn-rate math gives; they last while the conditions that hold change (the fresh
Prometheus's 6x one, then the 14.4x one too); the page reaches Alertmanager's pager receiver as exactly
ONE notification, and after the faults are cleared exactly one "resolved".
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from contract.routes import ADMIN_FAULTS, PREDICTION_ROUTES
from tests import live, prom
from tests.processes import ROOT

SHRINK = 60
#: A clean run first: a false alert from a fresh Prometheus (empty windows, first scrapes) shows within seconds.
CLEAN_SECONDS = 20
#: 5% errors burn the 99.9% budget 50x: the 1h (here 60 s) window crosses 14.4x the budget after
#: 60 s x 14.4 / 50 = 17 s, the 5m (5 s) window at once; add scrape and evaluation (1 s each). A fresh
#: Prometheus pages sooner, by the 6x condition: its 6h window holds only the run's 20-odd seconds.
PAGE_WITHIN = 45.0
#: The page resolves when no short window (5m, 30m: here 5 s, 30 s) holds 6x the budget any more.
RESOLVE_WITHIN = 45.0
#: Faults stay on this long after the page fired: the 1h (60 s) window crosses 14.4x meanwhile, so the
#: conditions that hold change under the one alert.
INCIDENT_SECONDS = 30
#: Alertmanager's grouping shortened for the drill (the repository's: 10 s wait, 5 min between a group's
#: notifications, so a "resolved" would come minutes later). Everything else is the repository's config.
GROUP_WAIT, GROUP_INTERVAL = "1s", "2s"
#: After the resolved notification, time for a duplicate to show (several group intervals).
QUIET_AFTER = 10.0


class Webhook:
    """Alertmanager's receivers post here: every notification, by path, as received."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def page_notifications(self, status: str) -> list[dict[str, Any]]:
        """Pager notifications of the availability page with this status ("firing" or "resolved")."""
        with self.lock:
            return [
                body
                for path, body in self.received
                if path == "/alerts/pager"
                and body["status"] == status
                and any(availability_page(a["labels"]) for a in body["alerts"])
            ]


@contextmanager
def webhook() -> Iterator[tuple[Webhook, str]]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with hook.lock:
                hook.received.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def drill_alertmanager_config(tmp: Path, url: str) -> Path:
    """The repository's Alertmanager config (its routes, grouping and inhibitions) with its grouping shortened
    and each receiver, a null receiver as shipped, given a webhook to `url` at /alerts/<receiver>."""
    config = yaml.safe_load((ROOT / "prometheus" / "alertmanager.yml").read_text())
    for route in [config["route"], *config["route"].get("routes", [])]:
        route["group_wait"], route["group_interval"] = GROUP_WAIT, GROUP_INTERVAL
    for receiver in config["receivers"]:
        receiver["webhook_configs"] = [{"url": f"{url}/alerts/{receiver['name']}", "send_resolved": True}]
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def slo_alerts(prometheus_url: str, state: str | None = None) -> list[dict[str, Any]]:
    """The burn-rate alerts (SLOMetricAbsent is pending while a fresh Prometheus has no sample yet: its
    `for` waits that out; checked apart)."""
    return [
        a
        for a in prom.alerts(prometheus_url)
        if "sloth_severity" in a["labels"] and (state is None or a["state"] == state)
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


def test_drill_one_page_notification_for_5_percent_errors_and_one_resolved(tmp_path: Path) -> None:
    with (
        webhook() as (hook, hook_url),
        live.stack(
            tmp_path,
            shrink=SHRINK,
            with_alertmanager=True,
            rate=40,
            invalid_fraction=0.0,
            alertmanager_config=drill_alertmanager_config(tmp_path, hook_url),
        ) as s,
    ):
        assert s.alertmanager is not None
        # Clean run: no SLO alert, not even pending, while the windows fill.
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + CLEAN_SECONDS
        while time.monotonic() < deadline:
            seen += slo_alerts(s.prometheus)
            time.sleep(1)
        assert not seen, f"SLO alerts in a clean run: {[a['labels'] for a in seen]}"

        set_faults(s.service, 0.05)
        try:
            paged = prom.wait_for(
                lambda: any(availability_page(a["labels"]) for a in slo_alerts(s.prometheus, "firing")), PAGE_WITHIN
            )
            assert paged is not None, f"no page within {PAGE_WITHIN}s of 5% errors"
            notified = prom.wait_for(lambda: bool(hook.page_notifications("firing")), 15)
            assert notified is not None, "the page never reached the pager receiver"
            assert alertmanager_pages(s.alertmanager), "Alertmanager does not hold the page"
            time.sleep(INCIDENT_SECONDS)
            still = [a for a in slo_alerts(s.prometheus, "firing") if availability_page(a["labels"])]
            assert len(still) == 1 and "sloth_window" not in still[0]["labels"], still
        finally:
            set_faults(s.service, 0.0)
        print(
            f"\ndrill: page fired {paged:.1f}s after injecting 5% errors (bound {PAGE_WITHIN}s), "
            f"at the pager {notified:.1f}s later"
        )

        resolved = prom.wait_for(
            lambda: not any(availability_page(a["labels"]) for a in slo_alerts(s.prometheus, "firing")), RESOLVE_WITHIN
        )
        assert resolved is not None, f"the page did not resolve within {RESOLVE_WITHIN}s of recovery"
        told = prom.wait_for(lambda: bool(hook.page_notifications("resolved")), 30)
        assert told is not None, "no resolved notification reached the pager receiver"
        time.sleep(QUIET_AFTER)
        firing, resolved_notes = hook.page_notifications("firing"), hook.page_notifications("resolved")
        assert len(firing) == 1, f"{len(firing)} page notifications for one incident: {firing}"
        assert len(resolved_notes) == 1, f"{len(resolved_notes)} resolved notifications: {resolved_notes}"
        assert not alertmanager_pages(s.alertmanager), "Alertmanager still holds the page after it resolved"
        absent = [a for a in prom.alerts(s.prometheus) if a["labels"]["alertname"] == "SLOMetricAbsent"]
        assert not absent, f"the SLOs' selectors match the service's series: {absent}"
        print(f"drill: page resolved {resolved:.1f}s after clearing the faults; one firing, one resolved notification")
