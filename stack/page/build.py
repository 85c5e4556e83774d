"""Write a run's page and its run.json into a folder: the dashboards fetched over the report's window."""

from __future__ import annotations

import json
import os
from pathlib import Path

from generators.grafana.render import render as render_dashboards
from slo.spec import load_specs
from stack.page import compare, render
from stack.page.fetch import Frame, fetch_dashboard, scrape_interval
from stack.page.panels import RENDERERS
from stack.prometheus import Prometheus
from stack.report import Report
from stack.server_series import OURS, server_series

PAGE = "report.html"
COMPARE_PAGE = "compare.html"


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
    against = None if other is None else (_run_folder(other).resolve().name, compare.load_run(other))
    frame = Frame(report.window, scrape_interval(prom))
    dashboards = [json.loads(text) for text in render_dashboards(spec_path).values()]
    drawn = frozenset(RENDERERS)
    fetched = [(d, fetch_dashboard(prom, d, frame, drawn)) for d in dashboards]
    server = server_series(load_specs(spec_path)) or OURS
    found = compare.figures(prom, report, frame, server)
    record = compare.run_record(report, frame, found, prom.url, prometheus_data)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / compare.RUN_FILE).write_text(json.dumps(record, indent=2) + "\n")
    path = folder / PAGE
    path.write_text(render.page(report, fetched, frame, record, against))
    return path


def _run_folder(path: Path) -> Path:
    return path if path.is_dir() else path.parent


def write_compare(folder: Path, other: Path) -> Path:
    """Two runs already written, compared from their run.json alone (no Prometheus): folder/compare.html.

    ValueError if either holds no run.
    """
    this_record, other_record = compare.load_run(folder), compare.load_run(other)
    here, there = _run_folder(folder), _run_folder(other)
    link = os.path.relpath(there / other_record.get("page", PAGE), here)
    page = render.compare_page(
        (here.resolve().name, this_record, this_record.get("page", PAGE)), (there.resolve().name, other_record, link)
    )
    path = here / COMPARE_PAGE
    path.write_text(page)
    return path
