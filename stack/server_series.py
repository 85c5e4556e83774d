"""The target's own request metrics, as the SLO spec reads them: what the status screen and a run's figures
show on the server's side.

Our service writes `http_server_request_duration_seconds{job="service", route, status_code}`; a target that
`python -m slo init` wrote a spec for writes its own (BentoML's `bentoml_service_request_duration_seconds` with
`endpoint` and `http_response_code`, prometheus-fastapi-instrumentator's histogram with no status label and
its `http_requests_total{status}`, ...). The spec's server-side SLOs already name them (slo/reads.py), so the
server's rate by status and its latency percentiles are read from there, never from our names alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from contract import metrics
from contract.routes import prediction_routes_regex
from slo.reads import Reads, reads
from slo.selectors import Matcher
from slo.spec import SLOSpec, Spec, SpecError


@dataclass(frozen=True)
class ServerSeries:
    """Where the server's requests are counted and timed."""

    #: The label matchers of its series (job and routes), without braces.
    selector: str
    #: The request histogram's family (no _bucket/_count suffix); None: the spec reads none (no latency).
    histogram: str | None
    #: A series counting every request by status (a histogram's _count or a counter), and that status label.
    counted: str
    status_label: str | None

    @property
    def buckets(self) -> str | None:
        """The histogram's bucket series, selected (None: no histogram)."""
        return None if self.histogram is None else f"{self.histogram}_bucket{{{self.selector}}}"

    def by_status(self, window: str) -> str:
        """Requests a second by status, over `window` (one series without a status label: all of them)."""
        by = f" by ({self.status_label})" if self.status_label else ""
        return f"sum{by} (rate({self.counted}{{{self.selector}}}[{window}]))"


#: Our service's (contract/metrics.py), for a spec that reads none of its own.
OURS = ServerSeries(
    selector=f'job="{metrics.SERVICE_JOB}",route=~"{prediction_routes_regex()}"',
    histogram=metrics.REQUEST_DURATION.name,
    counted=f"{metrics.REQUEST_DURATION.name}_count",
    status_label="status_code",
)


def server_series(specs: Sequence[Spec]) -> ServerSeries | None:
    """The series of the first spec whose SLOs read the server's own metrics: its first histogram (a latency
    SLI's) and its first series with a status label (availability's: a histogram's count, or a counter where the
    histogram has none), under the first such SLO's job and routes. None when no SLO reads the server's own
    metrics (a target without metrics: the loadgen's SLOs only)."""
    for spec in specs:
        server = [found for found in map(_reads, spec.slos) if found is not None and not found.client]
        families = [f for found in server for f in found.families]
        if not families:
            continue
        histogram = next((f for f in families if f.histogram), None)
        counted = next((f for f in families if f.status_label), histogram or families[0])
        first = server[0]
        matchers = [Matcher("job", "=", first.job)] if first.job else []
        matchers += [first.route] if first.route else []
        return ServerSeries(
            selector=",".join(m.promql() for m in matchers),
            histogram=histogram.name if histogram else None,
            counted=f"{counted.name}_count" if counted.histogram else counted.name,
            status_label=counted.status_label,
        )
    return None


def _reads(slo: SLOSpec) -> Reads | None:
    """What the SLO reads; None for one whose selectors disagree (its own validation says so)."""
    try:
        return reads(slo)
    except SpecError:
        return None
