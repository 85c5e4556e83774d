"""The status drawn: a rich renderable for the terminal's live screen, and one plain line for a log.

Only formatting here; every number comes from stack.status.model. A Gap is written as its reason ("n/a" when
Prometheus could not be asked, "no data" when there was nothing to compute from), never as NaN or 0.
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from stack.status.model import Gap, Reading, Status, Traffic, is_status_class

STATE_STYLE = {"up": "green", "starting": "yellow", "down": "bold red"}
CLASSES = ("2xx", "3xx", "4xx", "5xx")
#: Firing alerts listed on the screen (the rest counted): the screen must fit a terminal.
MAX_ALERTS = 8


def rate(v: Reading | None) -> str:
    if v is None:
        return "-"
    return v.value if isinstance(v, Gap) else f"{v:,.1f}"


def latency(v: Reading) -> str:
    if isinstance(v, Gap):
        return v.value
    if math.isinf(v):
        return "> top bucket"
    return f"{v * 1000:,.1f} ms" if v < 1 else f"{v:,.2f} s"


def percent(v: Reading, digits: int = 3) -> str:
    return v.value if isinstance(v, Gap) else f"{v * 100:.{digits}f}%"


def times(v: Reading) -> str:
    return v.value if isinstance(v, Gap) else f"{v:.2f}x"


def duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def shown(path: Path) -> str:
    """A path relative to the working folder when it is under it (shorter), else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def classes(*sides: Traffic) -> list[str]:
    """The status classes to show: 2xx, 4xx and 5xx always, others when some side has them."""
    seen = {k for side in sides if not isinstance(side.by_outcome, Gap) for k in side.by_outcome}
    return [c for c in CLASSES if c in seen or c in ("2xx", "4xx", "5xx")]


def outcome(side: Traffic, key: str) -> str:
    return side.by_outcome.value if isinstance(side.by_outcome, Gap) else rate(side.by_outcome.get(key, 0.0))


def transport(side: Traffic) -> str:
    errors = side.transport_errors
    if isinstance(errors, Gap):
        return errors.value
    detail = ", ".join(f"{k} {rate(v)}" for k, v in sorted(errors.items()) if v > 0)
    return rate(sum(errors.values())) + (f" ({detail})" if detail else "")


def processes_table(status: Status) -> Table:
    table = Table(title="processes", title_justify="left", expand=False, box=None, padding=(0, 2))
    for column in ("process", "state", "pid", "address", "log"):
        table.add_column(column)
    for p in status.processes:
        pid = str(p.pid) if p.pid is not None else "-"
        table.add_row(p.name, Text(p.state, style=STATE_STYLE.get(p.state, "")), pid, p.address, shown(p.log))
    return table


def sides(status: Status) -> list[tuple[str, Traffic]]:
    """The client's side, and the server's when something scrapes one."""
    server = [] if status.service_side is None else [(status.service_side, status.service)]
    return [("client", status.client), *server]


def traffic_table(status: Status) -> Table:
    shown_classes = classes(*(side for _, side in sides(status)))
    table = Table(
        title=f"traffic (requests/s and latency over the last {status.window})",
        title_justify="left",
        box=None,
        padding=(0, 2),
    )
    table.add_column("side")
    for column in ("target", "total", *shown_classes, "transport errors", "dropped", "p50", "p99"):
        table.add_column(column, justify="right")
    for name, side in sides(status):
        client = side.dropped is not None
        name = f"{name} (loadgen)" if client else f"{name} (predictions)"
        table.add_row(
            name,
            rate(side.target),
            rate(side.total),
            *(outcome(side, c) for c in shown_classes),
            transport(side) if client else "-",
            rate(side.dropped),
            latency(side.p50),
            latency(side.p99),
        )
    return table


def slo_table(status: Status) -> Table:
    table = Table(title="SLOs", title_justify="left", box=None, padding=(0, 2))
    table.add_column("SLO")
    for column in ("objective", "SLI 5m", "SLI period", "budget left", "burn now"):
        table.add_column(column, justify="right")
    for s in status.slos:
        below = not isinstance(s.sli_now, Gap) and s.sli_now < s.objective
        overspent = not isinstance(s.budget_remaining, Gap) and s.budget_remaining < 0
        table.add_row(
            s.name,
            f"{s.objective * 100:g}%",
            Text(percent(s.sli_now), style="red" if below else ""),
            percent(s.sli_period),
            Text(percent(s.budget_remaining, 1), style="red" if overspent else ""),
            times(s.burn_now),
        )
    return table


def since(active_at: str) -> str:
    """Prometheus's activeAt (RFC 3339, UTC) as the local clock time; as given when it does not parse."""
    try:
        return clock(datetime.fromisoformat(active_at[:26].rstrip("Z") + "+00:00").timestamp())
    except ValueError:
        return active_at


def alerts_part(status: Status) -> RenderableType:
    """'alerts firing: none', or a table of the firing alerts; pending ones only counted."""
    if isinstance(status.alerts, Gap):
        return Text(f"alerts: {status.alerts.value}")
    firing = [a for a in status.alerts if a.state == "firing"]
    pending = f"   (pending: {len(status.alerts) - len(firing)})" if len(status.alerts) > len(firing) else ""
    if not firing:
        return Text.assemble("alerts firing: ", ("none", "green"), pending)
    table = Table(title=f"alerts firing{pending}", title_justify="left", box=None, padding=(0, 2))
    for column in ("alert", "SLO", "severity", "since"):
        table.add_column(column)
    for a in firing[:MAX_ALERTS]:
        table.add_row(Text(a.name, style="bold red"), a.slo or "-", a.severity or "-", since(a.since))
    if len(firing) > MAX_ALERTS:
        table.add_row(f"... and {len(firing) - MAX_ALERTS} more (Prometheus: /alerts)", "", "", "")
    return table


def where(status: Status) -> Text:
    text = Text("where to look: ")
    text.append("  ".join(f"{what} {url}" for what, url in status.links.items()))
    if status.logs is not None:
        text.append(f"  logs {shown(status.logs)}/")
    return text


def screen(status: Status) -> RenderableType:
    """The live screen: a header, then processes, traffic, SLOs, alerts and where to look."""
    up = sum(p.state == "up" for p in status.processes)
    header = Text.assemble(
        ("slo-stack", "bold"),
        f"  {clock(status.at)}  up {duration(status.uptime)}  processes {up}/{len(status.processes)} up  ",
        ("Ctrl-C stops everything", "dim"),
    )
    parts = [header, processes_table(status), traffic_table(status), slo_table(status), alerts_part(status)]
    spaced: list[RenderableType] = [p for part in parts for p in (part, Text(""))]
    return Group(*spaced, where(status))


def side_line(name: str, side: Traffic) -> str:
    outcomes = side.by_outcome
    if isinstance(outcomes, Gap):
        detail = outcomes.value
    else:
        order = sorted(outcomes.items(), key=lambda kv: (not is_status_class(kv[0]), kv[0]))
        detail = ", ".join(f"{k} {rate(v)}" for k, v in order)
    dropped = f", dropped {rate(side.dropped)}" if side.dropped is not None else ""
    latencies = f"p50 {latency(side.p50)} p99 {latency(side.p99)}"
    return f"{name} {rate(side.total)} req/s ({detail or 'none'}{dropped}) {latencies}"


def line(status: Status) -> str:
    """One summary line, for a log: off a terminal the status is printed so, once per interval."""
    up = sum(p.state == "up" for p in status.processes)
    down = [p.name for p in status.processes if p.state != "up"]
    slos = "; ".join(f"{s.name} {percent(s.sli_now)} budget {percent(s.budget_remaining, 1)}" for s in status.slos)
    firing = status.firing
    alerts = firing.value if isinstance(firing, Gap) else ", ".join(sorted({a.name for a in firing})) or "none"
    parts = [
        f"stack {clock(status.at)} up {duration(status.uptime)}",
        f"processes {up}/{len(status.processes)} up" + (f" (not up: {', '.join(down)})" if down else ""),
        *(side_line(name, side) for name, side in sides(status)),
        f"SLI 5m: {slos}" if slos else "no SLOs",
        f"alerts firing: {alerts}",
    ]
    return " | ".join(parts)
