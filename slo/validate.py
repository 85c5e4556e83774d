"""What a spec means, checked: `python -m stack validate SPEC [--prometheus URL]`.

The loader (slo.spec) checks the form, as Sloth does, and the contract (our histogram's bucket boundaries,
the prediction routes). Here, what a spec that reads can still get wrong:

- an alert that can never fire: an error ratio is at most 1 and the rule's test is `ratio > factor x budget`,
  so a condition with factor x budget >= 1 never holds (a 90% objective cannot burn 14.4x). An enabled alert
  none of whose conditions can fire is an error; a single impossible condition is a warning (the other one
  still pages);
- a latency threshold over a histogram whose buckets we do not know cannot be checked offline: a warning that
  says so (against a live Prometheus its series are checked, below);
- a 100% objective leaves no budget: a warning (every failed request burns at an infinite rate);
- an events SLI whose error and total queries are the same: a warning (Sloth refuses it; the SLI reads 0%
  whenever there is traffic, which a drill may want);
- against a live Prometheus, every series selector of every SLI query must match at least one series seen in
  the lookback: a selector that matches nothing reads as "no errors" or "no traffic" for ever, and no alert.

The live check takes a function from a series selector to the number of series it matched, so this module needs
no HTTP client (the stack's is stack.prometheus).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from slo.spec import HISTOGRAM_BUCKETS, SLOSpec, Spec
from slo.windows import POLICY, BurnCondition, prom_duration

#: A series selector (PromQL) -> how many series it matched lately.
SeriesCounter = Callable[[str], int]


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    where: str  # service/SLO, or the field within it
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


def _plain(x: Decimal) -> str:
    return format(x.normalize(), "f")


def _condition(cond: BurnCondition, budget: Decimal) -> str:
    product = Decimal(repr(cond.factor)) * budget
    windows = f"{prom_duration(cond.long)}/{prom_duration(cond.short)}"
    return f"{cond.factor:g}x over {windows} needs a ratio > {_plain(product)}"


def _lowest_objective(conds: Iterable[BurnCondition]) -> str:
    """The objective above which the quickest-to-satisfy condition can fire: budget < 1/factor."""
    factor = min(Decimal(repr(c.factor)) for c in conds)
    return f"{(1 - 1 / factor) * 100:.4g}%"


def alert_findings(spec: Spec, slo: SLOSpec) -> list[Finding]:
    where = f"{spec.service}/{slo.name}"
    budget = slo.error_budget
    findings = []
    for severity in slo.alerting.severities:
        conds = POLICY[severity]
        dead = [c for c in conds if not c.can_fire(budget)]
        if len(dead) == len(conds):
            findings.append(
                Finding(
                    "error",
                    where,
                    f"the {severity} alert can never fire: an error ratio is at most 1, and with a budget of "
                    f"{_plain(budget)} (objective {slo.objective:g}%) "
                    + "; ".join(_condition(c, budget) for c in conds)
                    + f". Disable alerting.{severity}_alert or choose an objective above {_lowest_objective(conds)}",
                )
            )
        else:
            findings += [
                Finding("warning", where, f"the {severity} alert's condition {_condition(c, budget)}: it never fires")
                for c in dead
            ]
    return findings


def threshold_findings(spec: Spec, slo: SLOSpec) -> list[Finding]:
    """A latency SLI over a histogram whose bucket boundaries are unknown here (those the spec states in
    x-buckets, and ours, are checked on load)."""
    known = {*HISTOGRAM_BUCKETS, *spec.buckets}
    unknown = {
        s.metric.removesuffix("_bucket")
        for _, s in slo.series_selectors()
        if s.metric.endswith("_bucket") and s.metric.removesuffix("_bucket") not in known
    }
    return [
        Finding(
            "warning",
            f"{spec.service}/{slo.name}",
            f"{histogram}'s bucket boundaries are unknown here (neither the spec's x-buckets nor "
            "contract/buckets.py), so le="
            f'"{slo.latency_threshold_seconds:g}" is not checked offline; --prometheus checks its series exist',
        )
        for histogram in sorted(unknown)
    ]


def sli_findings(spec: Spec, slo: SLOSpec) -> list[Finding]:
    where = f"{spec.service}/{slo.name}"
    findings = []
    if not slo.error_budget:
        findings.append(Finding("warning", where, "a 100% objective has no error budget: any error burns it"))
    events = slo.sli.events
    if events is not None and events.error_query == events.total_query:
        findings.append(
            Finding("warning", where, "error_query and total_query are the same: every request counts as an error")
        )
    return findings


def check(spec: Spec) -> list[Finding]:
    """The offline checks, every SLO of the spec."""
    return [
        finding
        for slo in spec.slos
        for finding in (*alert_findings(spec, slo), *threshold_findings(spec, slo), *sli_findings(spec, slo))
    ]


def check_live(spec: Spec, count: SeriesCounter) -> list[Finding]:
    """Every series selector of every SLI query must match a series (each distinct selector is asked once)."""
    seen: dict[str, int] = {}
    findings = []
    for slo in spec.slos:
        for field, selector in slo.series_selectors():
            if selector.text not in seen:
                seen[selector.text] = count(selector.text)
            if not seen[selector.text]:
                findings.append(
                    Finding(
                        "error",
                        f"{spec.service}/{slo.name}, {field}",
                        f"{selector.text} matches no series: the SLI would read no traffic (or no errors) for ever",
                    )
                )
    return findings
