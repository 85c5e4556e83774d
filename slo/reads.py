"""What an SLO's queries read, in the terms test data and dashboards need: job, route label and routes, status
label, metric families, latency threshold.

The generators write promtool test series and dashboard queries for any spec, ours or one `python -m slo init`
wrote for another server, so they may not assume our metric or label names: they take them from the spec's own
selectors here. The route matcher is the one whose values are paths (they start with "/": a route template
always does); a status matcher is one whose value is a status pattern ("5..", "[1-4]..", "5xx"). A route regex
must be literal routes joined by "|" (as the contract and `slo init` write it): test data needs real routes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from contract import metrics
from contract.routes import prediction_routes_regex
from slo.selectors import Matcher, Selector
from slo.spec import SLOSpec, Spec, SpecError

#: The load generator's metrics (contract/metrics.py): an SLO reading them is a client-side (synthetic) one.
LOADGEN_PREFIX = "loadgen_"
_STATUS_VALUE = re.compile(r"^[0-9x.\[\]()|^-]+$")
#: A backslash escape (re.escape's, which RE2 reads the same): what an escaped literal route holds.
_ESCAPED = re.compile(r"\\(.)")
_REGEX_SYNTAX = re.compile(r"[.*+?()\[\]{}^$|]")


@dataclass(frozen=True)
class Family:
    """A metric family the SLI reads: a counter (its name), or a histogram (its name without _count/_bucket)."""

    name: str
    histogram: bool
    #: The label the SLI reads statuses from on this family; None when it reads none (or the family has none).
    status_label: str | None


@dataclass(frozen=True)
class Reads:
    job: str | None
    #: The matcher that selects the routes; None when the SLO counts every route.
    route: Matcher | None
    #: In the order the queries name them, the total query's first.
    families: tuple[Family, ...]
    #: The `le` a latency SLI reads, as written.
    le: str | None

    @property
    def route_label(self) -> str | None:
        return self.route.label if self.route else None

    @property
    def routes(self) -> tuple[str, ...]:
        """The routes selected (SpecError for a pattern: only test data needs them, so only it refuses one)."""
        return literal_routes(self.route) if self.route else ()

    @property
    def client(self) -> bool:
        """Whether the SLO reads the load generator's metrics (a synthetic, client-side SLO)."""
        return any(f.name.startswith(LOADGEN_PREFIX) for f in self.families)

    @property
    def latency_family(self) -> Family | None:
        """The histogram a latency SLI reads its bucket of."""
        return next((f for f in self.families if f.histogram), None) if self.le is not None else None


def _is_route(m: Matcher) -> bool:
    return m.op in ("=", "=~") and m.value.startswith("/")


def _is_status(m: Matcher) -> bool:
    return m.label not in ("job", "le") and not m.value.startswith("/") and bool(_STATUS_VALUE.match(m.value))


def literal_routes(m: Matcher) -> tuple[str, ...]:
    """The routes a route matcher selects: its value, or a regex's "|" alternatives, each a literal path."""
    if m.op == "=":
        return (m.value,)
    routes = []
    for alternative in m.value.split("|"):
        if _REGEX_SYNTAX.search(_ESCAPED.sub("", alternative)):
            raise SpecError(
                f'{m}: "{alternative}" is a pattern, not a route; write the routes as literal paths joined by "|" '
                "(test data needs real routes)"
            )
        routes.append(_ESCAPED.sub(r"\1", alternative))
    return tuple(routes)


def _family(selector: Selector) -> tuple[str, bool]:
    for suffix in ("_count", "_bucket", "_sum"):
        if selector.metric.endswith(suffix):
            return selector.metric.removesuffix(suffix), True
    return selector.metric, False


def reads(slo: SLOSpec) -> Reads:
    """What the SLO reads (its total query's selectors first). SpecError when its selectors disagree on the job
    or the routes, which no test data could satisfy."""
    found = [s for _, s in sorted(slo.series_selectors(), key=lambda fs: fs[0] != "sli.events.total_query")]
    jobs = {m.value for s in found for m in s.on("job") if m.op == "="}
    route_matchers = {m for s in found for m in s.matchers if _is_route(m)}
    if len(jobs) > 1 or len(route_matchers) > 1:
        what = f"jobs {sorted(jobs)}" if len(jobs) > 1 else f"route matchers {sorted(map(str, route_matchers))}"
        raise SpecError(f"SLO {slo.name}: its selectors read {what}: one of each per SLO")
    route = next(iter(route_matchers), None)
    families: dict[tuple[str, bool], str | None] = {}
    for s in found:
        key = _family(s)
        status = next((m.label for m in s.matchers if _is_status(m)), None)
        families[key] = families.get(key) or status
    le = slo.latency_le[1] if slo.latency_le else None
    return Reads(
        job=next(iter(jobs), None),
        route=route,
        families=tuple(Family(name, histogram, status) for (name, histogram), status in families.items()),
        le=le,
    )


def reads_our_service(spec: Spec) -> bool:
    """Whether the spec is about our own service: it reads our request histogram under our label names
    (OpenTelemetry's histogram has the same name, with `http_route` for a label)."""
    ours = metrics.REQUEST_DURATION
    return any(
        family.name == ours.name and found.route_label in ours.labels
        for found in map(reads, spec.slos)
        for family in found.families
    )


def serves_our_model(spec: Spec) -> bool:
    """Whether the spec is about our prediction service itself, whose model writes metrics of its own, not only about
    an app with our instrumentation (`instrument(app)` writes our request metrics for any app): it reads our request
    histogram on the contract's prediction routes, which only our service serves."""
    ours = Matcher("route", "=~", prediction_routes_regex())
    return reads_our_service(spec) and any(reads(slo).route == ours for slo in spec.slos)
