"""Time for the SLO report: the window it covers, and spans of time read from Prometheus range queries.

- `Window`: any [start, end) in Unix seconds: the last N seconds, two timestamps, or a calendar month (UTC),
  never past now (a month still running is reported "so far").
- `spans`: the grid times where a condition held (a range query's sample times), merged into spans.
- `incidents`: one per alert incident, from a range query over ALERTS. A series is an alert's label set less
  `alertstate` and `sloth_window`: the pre-fix rules gave one incident a new series each time another burn
  window took over (pending again, then firing), so those series are merged, and a run of pending-or-firing that
  fired at least once is one incident, from its first firing sample to its last.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Prometheus refuses range queries of more than 11,000 points: the report stays well under.
MAX_POINTS = 5000
#: Labels that do not tell one alert incident from another: its state, and the burn window of the pre-fix rules.
NOT_IDENTITY = frozenset({"__name__", "alertstate", "sloth_window"})


def iso(t: float) -> str:
    """UTC, to the second or the millisecond: 2026-11-01T00:00:00Z."""
    text = datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")
    return text.replace(".000+00:00", "Z").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """Unix seconds from Unix seconds or ISO 8601 (UTC when no offset is given: 2026-11-03T04:00)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither Unix seconds nor an ISO 8601 time (2026-11-03T04:00:00Z)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    label: str = ""  # what the user asked for, when it says more than the times ("calendar month 2026-11")

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"the window ends ({iso(self.end)}) before it starts ({iso(self.start)})")

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @classmethod
    def last(cls, seconds: float, end: float) -> Window:
        return cls(end - seconds, end)

    @classmethod
    def month(cls, text: str, now: float) -> Window:
        """The calendar month YYYY-MM in UTC, cut at now if it is still running."""
        found = re.fullmatch(r"(\d{4})-(\d{2})", text)
        if not found or not 1 <= int(found[2]) <= 12:
            raise ValueError(f"{text!r} is not a month as YYYY-MM (2026-11)")
        year, month = int(found[1]), int(found[2])
        start = datetime(year, month, 1, tzinfo=UTC).timestamp()
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC).timestamp()
        if start >= now:
            raise ValueError(f"the month {text} has not started")
        label = f"calendar month {text}" + (", so far" if end > now else "")
        return cls(start, min(end, now), label)

    def step(self) -> float:
        """The range queries' resolution: a second, or coarser so that a window has at most MAX_POINTS points."""
        return max(1.0, float(-(-self.seconds // MAX_POINTS)))


@dataclass(frozen=True)
class Span:
    start: float
    end: float  # the first grid time the condition no longer held, at most the window's end

    def as_dict(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), "seconds": round(self.end - self.start, 3)}


def spans(times: Iterable[float], step: float, window_end: float) -> list[Span]:
    """Merge grid times (a range query's samples, `step` apart) into spans; a missing point splits them."""
    result: list[Span] = []
    first = last = None
    for t in sorted(times):
        if last is not None and t - last > step * 1.5:
            result.append(Span(first, min(last + step, window_end)))  # type: ignore[arg-type]
            first = None
        first = t if first is None else first
        last = t
    if first is not None and last is not None:
        result.append(Span(first, min(last + step, window_end)))
    return result


def samples(series: dict[str, Any]) -> list[tuple[float, float]]:
    return [(float(t), float(v)) for t, v in series["values"]]


def severity(labels: dict[str, str]) -> str:
    """Alertmanager's severity, and Sloth's page/ticket when the alert is an SLO's."""
    parts = [labels.get("severity", ""), labels.get("sloth_severity", "")]
    return "/".join(p for p in parts if p) or "-"


@dataclass(frozen=True)
class Incident:
    alertname: str
    labels: dict[str, str]  # the alert's identity: every label but alertstate and sloth_window
    start: float  # first firing sample
    end: float | None  # first sample no longer firing; None: still firing at the window's end

    @property
    def severity(self) -> str:
        return severity(self.labels)

    def as_dict(self) -> dict[str, Any]:
        return {
            "alertname": self.alertname,
            "severity": self.severity,
            "slo": self.labels.get("sloth_slo"),
            "start": iso(self.start),
            "end": None if self.end is None else iso(self.end),
            "seconds": None if self.end is None else round(self.end - self.start, 3),
            "labels": self.labels,
        }


def incidents(alerts: list[dict[str, Any]], step: float, window: Window) -> list[Incident]:
    """Incidents from `ALERTS` over the window (both states), in the order they started."""
    active: dict[tuple[tuple[str, str], ...], set[float]] = defaultdict(set)
    firing: dict[tuple[tuple[str, str], ...], set[float]] = defaultdict(set)
    for series in alerts:
        key = tuple(sorted((k, v) for k, v in series["metric"].items() if k not in NOT_IDENTITY))
        times = {t for t, _ in samples(series)}
        active[key] |= times
        if series["metric"].get("alertstate") == "firing":
            firing[key] |= times
    found = []
    for key, times in active.items():
        labels = dict(key)
        for run in spans(times, step, window.end):
            fired = sorted(t for t in firing[key] if run.start <= t < run.end)
            if not fired:
                continue  # pending only: the alert never fired
            still = fired[-1] + step > window.end
            found.append(Incident(labels.get("alertname", ""), labels, fired[0], None if still else fired[-1] + step))
    return sorted(found, key=lambda i: (i.start, i.alertname, sorted(i.labels.items())))
