"""The soak's page (`python -m stack report --html`), opened in headless Chromium, and `--compare`.

One live stack (the real service, the loadgen daemon, the real Prometheus with the project's rules, windows
shrunk 60x, 1 s scrapes) plays two runs back to back: run A clean, run B with errors and latency injected
mid-run through /admin/faults. Each run's page is written by the CLI from that run's window; B's compares
itself with A. In Chromium, B's page: no console message, no request but the page's own file, every panel of
every generated dashboard drawn with data, the verdict the text report gives, the availability incident shaded
on that SLO's panels (and none on A's), a screenshot in the run folder. The compare table's numbers are each
run's own report's (`python -m stack report --json` over the same window) and run.json's; with Prometheus
gone, the two run folders alone give the same table (compare.html).

`SAVE_DOCS_SCREENSHOTS=1 .venv/bin/python -m pytest tests/e2e/test_report_page.py` also writes the top of B's
page to docs/soak-report.png (the README shows it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from contract.routes import ADMIN_FAULTS, PREDICTION_ROUTES
from generators.grafana.render import render as render_dashboards
from generators.paths import SPEC
from stack.page.compare import load_run
from stack.prometheus import Prometheus
from tests import live, prom
from tests.browser import inspect
from tests.prom import binary

RATE = 20.0
A_SECONDS = 25.0
B_CLEAN, B_FAULT, B_AFTER = 8.0, 15.0, 12.0
FAULT = {"error_rate": 0.2, "latency_rate": 0.5, "latency_seconds": 0.3}
#: The delayed requests (half of B's fault phase, about a fifth of B) make B's p99 at least this (and A's less).
SLOW = 0.25
DOCS_SHOT_HEIGHT = 2200

#: Per panel (figure): what it is, the data marks it drew (polyline points, lone points, cells, bars), its state.
PAGE_JS = """({
  panels: Array.from(document.querySelectorAll('figure')).map(f => {
    const g = f.querySelector('svg.chart g.data');
    let points = 0;
    if (g) {
      g.querySelectorAll('polyline').forEach(p => { points += p.points.numberOfItems; });
      points += g.querySelectorAll('circle, rect').length;
    }
    return {title: f.dataset.title, type: f.className, slo: f.dataset.slo, points,
            empty: !!f.querySelector('p.empty'), problem: !!f.querySelector('p.problem'),
            incidents: Array.from(f.querySelectorAll('rect.incident')).map(r => [+r.dataset.start, +r.dataset.end])};
  }),
  verdict: document.getElementById('verdict').textContent,
  notRendered: document.querySelectorAll('#not-rendered li').length,
  compare: Array.from(document.querySelectorAll('table.compare tr[data-name]')).map(r => Object.assign({}, r.dataset)),
})"""


def set_faults(client: httpx.Client, fault: dict[str, float] | None) -> None:
    routes = {route: fault for route in PREDICTION_ROUTES} if fault else {}
    headers = {"Authorization": f"Bearer {live.ADMIN_TOKEN}"}
    client.post(ADMIN_FAULTS, json={"routes": routes}, headers=headers).raise_for_status()


def report(prometheus: str, start: float, end: float, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["-m", "stack", "report", "--prometheus", prometheus, "--start", f"{start:.3f}", "--end", f"{end:.3f}"]
    done = subprocess.run([sys.executable, *args, *extra], cwd=live.processes.ROOT, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    return done


def number(cell: str) -> float | None:
    """A figure as the compare table carries it: repr of the float, empty for no data."""
    return float(cell) if cell else None


def panel_count() -> int:
    dashboards = [json.loads(text) for text in render_dashboards(SPEC).values()]
    return sum(1 for d in dashboards for p in d["panels"] if p["type"] != "row")


def test_a_soaks_page_draws_every_panel_shades_the_incident_and_compares_two_runs(tmp_path: Path) -> None:
    binary("chromium")  # skips on a developer's machine without it, fails in CI
    run_a, run_b = tmp_path / "run-a", tmp_path / "run-b"
    with live.stack(tmp_path, shrink=60, rate=RATE) as s, httpx.Client(base_url=s.service, timeout=10) as client:
        prometheus = Prometheus(s.prometheus, timeout=5)
        assert prom.wait_for(lambda: prometheus.scalar("count(slo:sli_error:ratio_rate5m)"), 30) is not None
        a_start = time.time()
        time.sleep(A_SECONDS)
        b_start = a_end = time.time()
        time.sleep(B_CLEAN)
        set_faults(client, FAULT)
        fault_start = time.time()
        time.sleep(B_FAULT)
        set_faults(client, None)
        fault_end = time.time()
        time.sleep(B_AFTER)
        b_end = time.time()
        time.sleep(2)  # the window's last scrape and rule evaluation
        built = time.monotonic()
        page_a = report(s.prometheus, a_start, a_end, "--html", str(run_a))
        seconds = time.monotonic() - built
        page_b = report(s.prometheus, b_start, b_end, "--html", str(run_b), "--compare", str(run_a))
        own_a = json.loads(report(s.prometheus, a_start, a_end, "--json").stdout)
        own_b = json.loads(report(s.prometheus, b_start, b_end, "--json").stdout)

    # Prometheus is gone: the two runs already written are compared from their folders alone.
    again = subprocess.run(
        [sys.executable, "-m", "stack", "report", "--html", str(run_b), "--compare", str(run_a)],
        cwd=live.processes.ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert again.returncode == page_b.returncode, again.stderr

    html_b = run_b / "report.html"
    print(f"\npage: {html_b.stat().st_size / 1000:.0f} kB, report and page of run A built in {seconds:.1f}s")
    screenshot = run_b / "report.png"
    seen = asyncio.run(inspect(html_b, screenshot, tmp_path / "chromium", PAGE_JS))
    assert seen.noise == [], seen.noise
    assert seen.requests and all(url.startswith(("file://", "data:")) for url in seen.requests), seen.requests
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 50_000

    # Every panel of every generated dashboard, drawn with data.
    panels: list[dict[str, Any]] = seen.value["panels"]
    assert len(panels) == panel_count() and seen.value["notRendered"] == 0
    blank = [p["title"] for p in panels if p["empty"] or p["problem"] or p["points"] == 0]
    assert blank == [], blank
    # The verdict is the text report's (the CLI printed it for the same window), and the faults breached it.
    assert page_b.stdout.splitlines()[-1] == f"verdict: {seen.value['verdict']}"
    assert page_b.returncode == 1 and seen.value["verdict"] == "BREACH"
    # The availability page fired during the faults: shaded on each of that SLO's time series, over the faults.
    slo_panels = [p for p in panels if p["slo"] == "requests-availability" and p["type"] == "timeseries"]
    assert len(slo_panels) >= 3
    for p in slo_panels:
        assert p["incidents"], p["title"]
        assert all(fault_start - 2 <= start <= fault_end and end > start for start, end in p["incidents"]), p
    # Run A was clean: its availability panels are there, with nothing to shade; its verdict is its report's.
    figures_a = (run_a / "report.html").read_text().split("<figure")
    availability_a = [f for f in figures_a if 'data-slo="requests-availability"' in f]
    assert availability_a and not any('class="incident' in f for f in availability_a)
    verdict_a = page_a.stdout.splitlines()[-1].removeprefix("verdict: ")
    kind = "pass" if page_a.returncode == 0 else "breach"
    assert f'<div id="verdict" class="{kind}">{verdict_a}</div>' in figures_a[0]

    # --compare: each number is the run's own report's (SLIs) and run.json's (latency, rates).
    rows = {(r["group"], r["name"]): r for r in seen.value["compare"]}
    stored_a, stored_b = load_run(run_a), load_run(run_b)
    for mine, theirs in ((own_b, stored_b), (own_a, stored_a)):
        assert theirs["report"]["slos"] == mine["slos"]
    for own_b_slo, own_a_slo in zip(own_b["slos"], own_a["slos"], strict=True):
        row = rows[("sli", own_b_slo["name"])]
        assert float(row["this"]) == own_b_slo["sli"] and float(row["other"]) == own_a_slo["sli"]
        assert float(row["difference"]) == own_b_slo["sli"] - own_a_slo["sli"]
    for group in ("latency", "rate"):
        for name, value in stored_b["figures"][group].items():
            row = rows[(group, name)]
            other = stored_a["figures"][group][name]
            assert (number(row["this"]), number(row["other"])) == (value, other), row
    for side in ("client", "service"):
        this, other = stored_b["figures"]["latency"][f"{side} p99"], stored_a["figures"]["latency"][f"{side} p99"]
        assert this >= SLOW and this > other, (side, this, other)
    offline = re.findall(r"<tr data-group=[^>]*>", (run_b / "compare.html").read_text())
    assert offline == re.findall(r"<tr data-group=[^>]*>", html_b.read_text()) and len(offline) == len(rows)
    sent = stored_a["figures"]["rate"]["sent"]
    assert 0.8 * RATE <= sent <= 1.2 * RATE, stored_a["figures"]

    if os.environ.get("SAVE_DOCS_SCREENSHOTS"):
        docs = tmp_path / "docs.png"
        asyncio.run(inspect(html_b, docs, tmp_path / "chromium-docs", PAGE_JS, height=DOCS_SHOT_HEIGHT))
        shutil.copyfile(docs, live.processes.ROOT / "docs" / "soak-report.png")
