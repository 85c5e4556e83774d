"""The multi-window, multi-burn-rate policy (Google SRE workbook, ch. 5) and time windows.

A burn rate of B spends the error budget B times faster than the SLO period allows. An alert
condition needs the error ratio above B x budget over a long window (it is real) AND a short
window (it is still happening, so the alert resolves soon after recovery). For a 30-day period:

| severity | burn | long | short | budget spent when it fires |
| --- | --- | --- | --- | --- |
| page | 14.4x | 1h | 5m | 2% |
| page | 6x | 6h | 30m | 5% |
| ticket | 3x | 1d | 2h | 10% |
| ticket | 1x | 3d | 6h | 10% |

Windows can be shrunk by a factor for tests and drills: the rules keep their names (and so the
dashboards work) but read shorter ranges.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Severity = Literal["page", "ticket"]

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR

#: The SLO period (Sloth's default, and ours).
PERIOD_SECONDS = 30 * DAY


@dataclass(frozen=True)
class BurnCondition:
    """Error ratio above `factor` x budget over both windows (seconds)."""

    factor: float
    long: int
    short: int

    def can_fire(self, budget: Decimal) -> bool:
        """Whether an error ratio can exceed factor x budget: a ratio is at most 1, and the rule's test is `>`.

        A 90% objective (budget 0.1) cannot burn 14.4x: that condition never fires, whatever happens.
        """
        return Decimal(repr(self.factor)) * budget < 1


#: Conditions of each alert, ORed; the first is the quicker one.
POLICY: dict[Severity, tuple[BurnCondition, BurnCondition]] = {
    "page": (BurnCondition(14.4, 1 * HOUR, 5 * MINUTE), BurnCondition(6, 6 * HOUR, 30 * MINUTE)),
    "ticket": (BurnCondition(3, 1 * DAY, 2 * HOUR), BurnCondition(1, 3 * DAY, 6 * HOUR)),
}

#: How long an alert stays firing after its conditions stop holding (Prometheus's `keep_firing_for`). Near its
#: threshold a burn rate read from a few hundred events crosses it more than once as the windows fill: a page that
#: resolves and fires again within two minutes is one incident, and must reach the pager once, not twice.
KEEP_FIRING: dict[Severity, int] = {"page": 2 * MINUTE, "ticket": 30 * MINUTE}

#: Every SLI window the alerts need, shortest first, then the period.
SLI_WINDOWS: tuple[int, ...] = (
    *sorted({w for conds in POLICY.values() for c in conds for w in (c.long, c.short)}),
    PERIOD_SECONDS,
)

_UNITS = (("d", DAY * 1000), ("h", HOUR * 1000), ("m", MINUTE * 1000), ("s", 1000), ("ms", 1))


def prom_duration(seconds: float) -> str:
    """Prometheus duration text, largest units first: 86400 -> "1d", 4320 -> "1h12m", 0.5 -> "500ms"."""
    ms = round(seconds * 1000)
    if ms <= 0 or abs(ms - seconds * 1000) > 1e-6:
        raise ValueError(f"{seconds}s is not a positive whole number of milliseconds")
    parts = []
    for unit, size in _UNITS:
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)


@dataclass(frozen=True)
class Windows:
    """Maps a nominal window to the range the rules read: nominal / shrink."""

    shrink: float = 1.0

    def __post_init__(self) -> None:
        if self.shrink < 1:
            raise ValueError("the shrink factor is 1 or more")

    def actual(self, nominal_seconds: float) -> float:
        return nominal_seconds / self.shrink

    def range(self, nominal_seconds: float) -> str:
        """The range to write in PromQL, e.g. "5m" (or "5s" with shrink 60)."""
        return prom_duration(round(self.actual(nominal_seconds), 3))
