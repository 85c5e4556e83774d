"""The page: the verdict and the text report on top, then every panel of every dashboard, in their order.

One file, no script, no request at view time: styles inline, charts inline SVG, the favicon a data: URL
(a browser would otherwise ask the file system's root for one).
"""

from __future__ import annotations

from html import escape
from typing import Any

from stack import report as slo_report
from stack.page import compare
from stack.page.fetch import Frame, Panel
from stack.page.panels import RENDERERS, Shade
from stack.report import Report
from stack.spans import iso

STYLE = """
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#1f2328;background:#fff;max-width:1010px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 4px;border-bottom:1px solid #d0d7de}
h3{font-size:14px;margin:14px 0 4px;color:#57606a}p.meta{color:#57606a;margin:0}
#verdict{font-size:18px;font-weight:600;padding:8px 12px;margin:10px 0;border-radius:4px}
#verdict.pass{background:#dafbe1;color:#116329}#verdict.breach{background:#ffebe9;color:#a40e26}
pre{background:#f6f8fa;padding:8px;overflow-x:auto;font-size:11px}
.panels{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;padding:6px;border:1px solid #d0d7de;border-radius:4px;width:460px}
figure.stat{width:217px}figcaption{font-weight:600}p.desc{color:#57606a;font-size:11px;margin:2px 0 4px}
p.empty,p.problem{color:#a40e26}svg{display:block;font-size:10px;max-width:100%;height:auto}
.grid{stroke:#eaeef2}.tick{fill:#57606a}polyline{stroke-width:1.5}
.threshold{stroke-dasharray:5 4;stroke-width:1.2}.threshold-label{font-size:9px}
rect.incident{fill:#e02f44;fill-opacity:.16}rect.incident.ticket,rect.incident.warning{fill:#ff780a}
rect.nodata{fill:#8c959f;fill-opacity:.18}
.stat-value{font-size:22px;font-weight:600;fill:#fff}.stat-name{font-size:11px;fill:#fff}
.spark{stroke:#fff;stroke-opacity:.7}
ul.legend{list-style:none;padding:0;margin:2px 0;font-size:11px}ul.legend li{display:inline-block;margin-right:10px}
ul.legend i{display:inline-block;width:10px;height:3px;margin:0 4px 3px 0}ul.legend span{color:#57606a}
table.compare{border-collapse:collapse}table.compare td,table.compare th{border:1px solid #d0d7de;padding:3px 8px}
table.compare td{text-align:right;font-variant-numeric:tabular-nums}table.compare th{text-align:left}
.runs{display:flex;gap:8px}.runs>div{flex:1;min-width:0}
"""


def verdict(report: Report) -> str:
    """The text report's own verdict line, less its label: the page says exactly what the terminal says."""
    return slo_report.render(report).splitlines()[-1].removeprefix("verdict: ")


def shades(panel: Panel, report: Report) -> list[Shade]:
    """An SLO panel's incidents (that SLO's alerts) and the SLO's spans without data."""
    if panel.slo is None:
        return []
    out = []
    for i in report.incidents:
        if i.labels.get("sloth_slo") == panel.slo:
            end = report.window.end if i.end is None else i.end
            label = f"{i.alertname} {i.severity}: {iso(i.start)} to {iso(end) if i.end else 'still firing'}"
            out.append(Shade(i.start, end, "incident", label, i.labels.get("sloth_severity", "")))
    for slo in report.slos:
        if slo.name == panel.slo:
            out += [
                Shade(s.start, s.end, "nodata", f"no data: {iso(s.start)} to {iso(s.end)}") for s in slo.no_data or []
            ]
    return out


def figure(panel: Panel, frame: Frame, report: Report) -> str:
    head = f'<figcaption>{escape(panel.title)}</figcaption><p class="desc">{escape(panel.description)}</p>'
    title, slo = escape(panel.title, quote=True), escape(panel.slo or "", quote=True)
    attrs = f'class="{escape(panel.type)}" data-title="{title}" data-slo="{slo}"'
    if panel.problem:
        return f'<figure {attrs}>{head}<p class="problem">not rendered: {escape(panel.problem)}</p></figure>'
    if not panel.has_data():
        return f'<figure {attrs} data-empty="1">{head}<p class="empty">no data in the window</p></figure>'
    return f"<figure {attrs}>{head}{RENDERERS[panel.type](panel, frame, shades(panel, report))}</figure>"


def dashboard_section(dashboard: dict[str, Any], panels: list[Panel], frame: Frame, report: Report) -> str:
    parts = [f'<section class="dashboard"><h2>{escape(dashboard["title"])}</h2>']
    parts.append(f'<p class="desc">{escape(dashboard.get("description", ""))}</p><div class="panels">')
    for panel in panels:
        if panel.type == "row":
            parts.append(f'</div><h3>{escape(panel.title)}</h3><div class="panels">')
        else:
            parts.append(figure(panel, frame, report))
    parts.append("</div></section>")
    return "".join(parts)


def not_rendered(panels: list[Panel]) -> str:
    items = [
        f"<li>not rendered: {escape(p.dashboard)} / {escape(p.title)}: {escape(p.problem)}</li>"
        for p in panels
        if p.problem
    ]
    return f'<ul id="not-rendered">{"".join(items)}</ul>' if items else ""


def page(
    report: Report,
    dashboards: list[tuple[dict[str, Any], list[Panel]]],
    frame: Frame,
    record: dict[str, Any],
    other: tuple[str, dict[str, Any]] | None = None,
) -> str:
    window = report.window
    said = verdict(report)
    everything = [p for _, panels in dashboards for p in panels]
    body = [
        f"<h1>SLO soak report: {escape(report.service)}</h1>",
        f'<p class="meta">{iso(window.start)} to {iso(window.end)} ({slo_report._duration(window.seconds)}), '
        f"from {escape(record['prometheus'])}; step {frame.step:g}s, rate interval {frame.rate_interval}</p>",
        f'<div id="verdict" class="{"pass" if report.ok else "breach"}">{escape(said)}</div>',
        compare.table(record, other[1], other[0]) if other else "",
        f'<pre id="text-report">{escape(slo_report.render(report))}</pre>',
        not_rendered(everything),
        *(dashboard_section(d, panels, frame, report) for d, panels in dashboards),
    ]
    return _document(f"SLO soak report: {report.service} {iso(window.start)}", body)


def _document(title: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )


def compare_page(this: tuple[str, dict[str, Any], str], other: tuple[str, dict[str, Any], str]) -> str:
    """Two runs already written (name, run.json, link to its page), side by side: figures, then text reports."""
    name, record, _ = this
    other_name, other_record, _ = other
    said = record["text"].splitlines()[-1].removeprefix("verdict: ")
    kind = "pass" if record["report"]["ok"] else "breach"
    columns = [
        f'<div><h3>{escape(n)}: <a href="{escape(href, quote=True)}">its page</a></h3>'
        f"<pre>{escape(r['text'])}</pre></div>"
        for n, r, href in (this, other)
    ]
    body = [
        f"<h1>{escape(name)} against {escape(other_name)}</h1>",
        f'<div id="verdict" class="{kind}">{escape(name)}: {escape(said)}</div>',
        compare.table(record, other_record, other_name),
        f'<div class="runs">{"".join(columns)}</div>',
    ]
    return _document(f"{name} against {other_name}", body)
