"""Write a run's page and its run.json into a folder: the dashboards fetched over the report's window."""

from __future__ import annotations

import json
from pathlib import Path

from generators.grafana.render import render as render_dashboards
from stack.page import compare, render
from stack.page.fetch import Frame, fetch_dashboard, scrape_interval
from stack.page.panels import RENDERERS
from stack.prometheus import Prometheus
from stack.report import Report

PAGE = "report.html"


def write(
    prom: Prometheus,
    spec_path: Path,
    report: Report,
    folder: Path,
    *,
    prometheus_data: Path | None = None,
    other: Path | None = None,
) -> Path:
    """The page of `report`'s window into folder/report.html (and folder/run.json); returns the page's path.

    `other`: a run folder (or its run.json) to compare this run with; ValueError if it holds no run.
    """
    against = None if other is None else (other.name if other.is_dir() else other.parent.name, compare.load_run(other))
    frame = Frame(report.window, scrape_interval(prom))
    dashboards = [json.loads(text) for text in render_dashboards(spec_path).values()]
    drawn = frozenset(RENDERERS)
    fetched = [(d, fetch_dashboard(prom, d, frame, drawn)) for d in dashboards]
    record = compare.run_record(report, frame, compare.figures(prom, report, frame), prom.url, prometheus_data)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / compare.RUN_FILE).write_text(json.dumps(record, indent=2) + "\n")
    path = folder / PAGE
    path.write_text(render.page(report, fetched, frame, record, against))
    return path
