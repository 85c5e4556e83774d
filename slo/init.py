"""`python -m slo init`: an SLO spec for a target, from a preset (slo.presets), routes and objectives.

The spec written is a plain Sloth `prometheus/v1` file, in the form of ours (prometheus/slo.yaml, whose header says
what the SLIs count and why): per target, an availability SLO (a 5xx is a bad event) and a latency SLO per
threshold (a good event is an answer that is not a 5xx and came within the threshold), all counting the same
requests; then, unless left out, the load generator's client-side twins of each ("synthetic-*"), which see what a
user sees and need no metrics from the target at all (the `loadgen` preset writes only those). A histogram without
a status label cannot make the latency SLIs exact: the preset says so (`Preset.limitation`), in the spec's header
and to the caller, who prints it (`notes`). A threshold must be one of the histogram's bucket boundaries, written
as the target writes its `le` label; any other is refused, naming the boundaries (one only the load generator's
histogram lacks leaves out that synthetic twin, with a note). The spec is read back through the
loader before it is written, so what is written validates.

Other code (the stack's `up --target`) calls `write_spec` with a preset from `PRESETS`.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from contract import metrics
from slo.presets import PRESETS, Counter, Preset
from slo.spec import _NAME, Spec, SpecError

__all__ = ["PRESETS", "LatencyObjective", "Objectives", "build_spec", "notes", "render_spec", "write_spec"]

#: What RE2 reads as regex syntax in a route: escaped so a route matches itself only.
_REGEX_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")
SERVER_ERROR = '"5.."'
#: Every load generator outcome that is not an answer under 500 (5xx and every transport error kind) is bad.
CLIENT_NOT_BAD = '"[1-4].."'
WINDOW = "[{{.window}}]"


@dataclass(frozen=True)
class LatencyObjective:
    """`objective` percent of the requests succeed within `threshold_seconds`."""

    threshold_seconds: float
    objective: float

    def __post_init__(self) -> None:
        if not 0 < self.objective <= 100 or not self.threshold_seconds > 0:
            raise ValueError(f"a latency objective is a percentage in (0, 100] under a positive threshold: {self}")

    @property
    def millis(self) -> str:
        return format((Decimal(repr(self.threshold_seconds)) * 1000).normalize(), "f")


@dataclass(frozen=True)
class Objectives:
    """The objectives of a spec; the defaults are ours (prometheus/slo.yaml): 99.9% available, 90% within 500 ms,
    99% within 100 ms. `availability` None leaves the availability SLO out."""

    availability: float | None = 99.9
    latency: tuple[LatencyObjective, ...] = field(default=(LatencyObjective(0.5, 90), LatencyObjective(0.1, 99)))

    def __post_init__(self) -> None:
        if self.availability is not None and not 0 < self.availability <= 100:
            raise ValueError(f"availability is a percentage in (0, 100]: {self.availability}")
        if self.availability is None and not self.latency:
            raise ValueError("no objective: give an availability or a latency objective")


def route_regex(routes: list[str] | tuple[str, ...]) -> str:
    """The routes as one RE2 alternation, each escaped to match itself (for our routes: the contract's regex)."""
    if not routes:
        raise ValueError("give at least one route (--route PATH)")
    for route in routes:
        if not route.startswith("/") or '"' in route:
            raise ValueError(f"--route {route!r}: a route is a path template, starting with / (e.g. /v1/predict)")
    return "|".join(_REGEX_SPECIAL.sub(r"\\\1", r) for r in routes)


def _selector(metric: str, *matchers: str) -> str:
    """A series selector; empty matchers are left out."""
    return f"{metric}{{{','.join(m for m in matchers if m)}}}"


def _rate(selector: str) -> str:
    return f"sum(rate({selector}{WINDOW}))"


def _or_zero(expr: str) -> str:
    """A sum that reads 0, not nothing, when its selector matches no series (no 5xx yet)."""
    return f"({expr} or on() vector(0))"


def _camel(name: str) -> str:
    words = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", name) if w)
    return words if words[:1].isalpha() else f"Service{words}"


def is_boundary(preset: Preset, latency: LatencyObjective) -> bool:
    return any(float(le) == latency.threshold_seconds for le in preset.histogram.buckets)


def notes(preset: Preset, objectives: Objectives, *, synthetic: bool = True) -> list[str]:
    """What the spec cannot compute exactly, or leaves out, and why: one line each (the caller prints them; the
    spec's header holds them too)."""
    found = [preset.limitation] if preset.limitation else []
    loadgen = PRESETS["loadgen"]
    if synthetic and not preset.client:
        found += [
            f"synthetic-latency-{lat.millis}ms left out: {lat.threshold_seconds:g} s is not a bucket boundary of "
            f"{loadgen.histogram.name} (contract/buckets.py), so the client-side twin of requests-latency-"
            f"{lat.millis}ms cannot be counted; the server-side SLO is written"
            for lat in objectives.latency
            if not is_boundary(loadgen, lat)
        ]
    return found


class _Target:
    """The queries of one preset for one job and route set."""

    def __init__(self, preset: Preset, job: str, routes: tuple[str, ...]) -> None:
        self.preset, self.h = preset, preset.histogram
        # PromQL strings take Go's escapes: a regex backslash is written twice.
        regex = route_regex(routes).replace("\\", "\\\\")
        self.job = f'job="{job}"'
        self.route = f'{self.h.route_label}=~"{regex}"'
        counter = preset.counter
        self.counter_route = f'{counter.route_label}=~"{regex}"' if counter else self.route

    def le(self, latency: LatencyObjective) -> str:
        """The `le` text of the threshold, which must be a bucket boundary."""
        for le in self.h.buckets:
            if float(le) == latency.threshold_seconds:
                return le
        raise ValueError(
            f"--latency {latency.millis}ms: {latency.threshold_seconds:g} s is not a bucket boundary of "
            f"{self.h.name} (the {self.preset.name} preset's: {', '.join(self.h.buckets)} s), and a histogram "
            "counts the answers under X exactly only at a boundary: choose one of them"
        )

    def requests(self) -> str:
        """Every answer on the routes (a server's total)."""
        counter = self.preset.counter
        if counter is None:
            return _rate(_selector(f"{self.h.name}_count", self.job, self.route))
        return _rate(_selector(counter.name, self.job, self.counter_route))

    def server_errors(self) -> str:
        counter: Counter | None = self.preset.counter
        if counter is None:
            assert self.h.status_label is not None
            sel = _selector(f"{self.h.name}_count", self.job, self.route, f"{self.h.status_label}=~{SERVER_ERROR}")
        else:
            sel = _selector(counter.name, self.job, self.counter_route, f"{counter.status_label}=~{SERVER_ERROR}")
        return _or_zero(_rate(sel))

    def slow_or_failed(self, latency: LatencyObjective) -> str:
        """The answers that are not good for the threshold: all of them, less the successes within it."""
        status = f"{self.h.status_label}!~{SERVER_ERROR}" if self.h.status_label else ""
        within = _selector(f"{self.h.name}_bucket", self.job, self.route, f'le="{self.le(latency)}"', status)
        return (
            f"(\n  {_rate(_selector(f'{self.h.name}_count', self.job, self.route))}\n  -\n"
            f"  {_or_zero(_rate(within))}\n)"
        )

    # The load generator's client-side view (see prometheus/slo.yaml's header for why each term).
    def client_failures(self) -> tuple[str, str]:
        requests = metrics.LOADGEN_REQUESTS.name
        failed = _or_zero(_rate(_selector(requests, self.job, self.route, f"outcome!~{CLIENT_NOT_BAD}")))
        dropped = _or_zero(_rate(_selector(metrics.LOADGEN_DROPPED.name, self.job)))
        return failed, dropped

    def client_requests(self) -> str:
        _, dropped = self.client_failures()
        return f"{_rate(_selector(metrics.LOADGEN_REQUESTS.name, self.job, self.route))}\n+\n{dropped}"

    def client_errors(self) -> str:
        failed, dropped = self.client_failures()
        return f"{failed}\n+\n{dropped}"

    def client_slow_or_failed(self, latency: LatencyObjective) -> str:
        failed, dropped = self.client_failures()
        h = self.h.name
        answered = _or_zero(_rate(_selector(f"{h}_count", self.job, self.route)))
        within = _or_zero(_rate(_selector(f"{h}_bucket", self.job, self.route, f'le="{self.le(latency)}"')))
        return f"(\n  {failed}\n  +\n  {dropped}\n  +\n  {answered}\n  -\n  {within}\n)"


def _alerting(name: str, category: str, summary: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {"category": category},
        "annotations": {"summary": summary},
        "page_alert": {"labels": {"severity": "critical"}},
        "ticket_alert": {"labels": {"severity": "warning"}},
    }


def _slo(name: str, objective: float, description: str, labels: dict[str, str], error: str, total: str,
         alerting: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {
        "name": name,
        "objective": objective,
        "description": description,
        "labels": labels,
        "sli": {"events": {"error_query": error + "\n", "total_query": total + "\n"}},
        "alerting": alerting,
    }


def _server_slos(t: _Target, service: str, objectives: Objectives) -> list[dict[str, Any]]:
    camel, total, h = _camel(service), t.requests(), t.h
    slos = []
    if objectives.availability is not None:
        a = objectives.availability
        slos.append(_slo(
            "requests-availability", a,
            f"{a:g}% of the requests answer without a server error: a 5xx is a bad event",
            {"category": "availability"}, t.server_errors(), total,
            _alerting(f"{camel}AvailabilitySLO", "availability",
                      f"Requests fail (5xx) faster than the {a:g}% availability SLO allows."),
        ))  # fmt: skip
    for lat in objectives.latency:
        ms = lat.millis
        what = (
            f"succeed (not 5xx) within {ms} ms: a failed request is slow however fast it failed"
            if h.status_label
            else f"are answered within {ms} ms (a fast 5xx counts as good: {h.name} has no status label)"
        )
        slos.append(_slo(
            f"requests-latency-{ms}ms", lat.objective, f"{lat.objective:g}% of the requests {what}",
            {"category": "latency"}, t.slow_or_failed(lat), total,
            _alerting(f"{camel}Latency{ms}msSLO", "latency",
                      f"More than {100 - lat.objective:g}% of the requests take over {ms} ms, faster than the SLO "
                      "allows."),
        ))  # fmt: skip
    return slos


def _client_slos(t: _Target, service: str, objectives: Objectives, twins: bool) -> list[dict[str, Any]]:
    """The load generator's SLOs; as `twins` of a server preset's, without the thresholds its histogram lacks."""
    camel, total = _camel(service), t.client_requests()
    labels = {"view": "client"}
    slos = []
    if objectives.availability is not None:
        a = objectives.availability
        slos.append(_slo(
            "synthetic-availability", a,
            f"{a:g}% of the synthetic requests get an answer that is not a 5xx: a transport error (connect, "
            "timeout, ...) or a dropped request is a bad event",
            {"category": "availability", **labels}, t.client_errors(), total,
            _alerting(f"{camel}SyntheticAvailabilitySLO", "availability",
                      f"Synthetic requests fail (5xx, transport errors, dropped) faster than the {a:g}% availability "
                      "SLO allows."),
        ))  # fmt: skip
    for lat in objectives.latency:
        if twins and not is_boundary(t.preset, lat):
            continue  # said by notes()
        ms = lat.millis
        slos.append(_slo(
            f"synthetic-latency-{ms}ms", lat.objective,
            f"{lat.objective:g}% of the synthetic requests succeed (not 5xx, no transport error, not dropped) "
            f"within {ms} ms of their scheduled start",
            {"category": "latency", **labels}, t.client_slow_or_failed(lat), total,
            _alerting(f"{camel}SyntheticLatency{ms}msSLO", "latency",
                      f"More than {100 - lat.objective:g}% of synthetic requests fail or take over {ms} ms from their "
                      "scheduled start, faster than the SLO allows."),
        ))  # fmt: skip
    return slos


def build_spec(
    preset: Preset,
    service: str,
    routes: list[str] | tuple[str, ...],
    objectives: Objectives | None = None,
    *,
    job: str | None = None,
    synthetic: bool = True,
) -> dict[str, Any]:
    """The spec as data. `synthetic` adds the load generator's client-side SLOs to a server preset's (the
    `loadgen` preset has only those). ValueError naming the flag for a bad service name, route or threshold."""
    objectives = objectives or Objectives()
    if not re.match(_NAME, service):
        raise ValueError(
            f"--service {service!r}: Sloth's names are two or more letters, digits, '-', '_' and '.', starting "
            "and ending with a letter or digit"
        )
    routes = tuple(routes)
    slos = []
    if not preset.client:
        slos += _server_slos(_Target(preset, job or preset.job, routes), service, objectives)
    if preset.client or synthetic:
        loadgen = PRESETS["loadgen"]
        slos += _client_slos(_Target(loadgen, loadgen.job, routes), service, objectives, twins=not preset.client)
    data: dict[str, Any] = {"version": "prometheus/v1", "service": service}
    if preset.histogram.declared and not preset.client:
        data["x-buckets"] = {preset.histogram.name: preset.histogram.buckets}
    data["slos"] = slos
    return data


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


#: A bucket list on one line.
_Dumper.add_representer(tuple, lambda dumper, value: dumper.represent_sequence("tag:yaml.org,2002:seq", value, True))
_Dumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None),
)


def command(preset: Preset, service: str, routes: tuple[str, ...], objectives: Objectives, job: str | None,
            synthetic: bool) -> str:  # fmt: skip
    """The command line that writes this spec."""
    parts = ["python -m slo init", f"--preset {preset.name}", f"--service {service}", *(f"--route {r}" for r in routes)]
    if job and job != preset.job:
        parts.append(f"--job {job}")
    parts.append(f"--availability {objectives.availability:g}" if objectives.availability else "--no-availability")
    parts += [f"--latency {lat.millis}ms:{lat.objective:g}" for lat in objectives.latency]
    if not synthetic and not preset.client:
        parts.append("--no-synthetic")
    return " ".join(parts)


def header(preset: Preset, service: str, routes: tuple[str, ...], objectives: Objectives, job: str | None,
           synthetic: bool) -> str:  # fmt: skip
    """The spec's opening comment: how it was written, what its SLIs read and count, and what is not exact."""
    h = preset.histogram
    paragraphs = [f"SLOs of {service}, in Sloth's prometheus/v1 format, written by:"]
    if preset.client:
        read = f'The SLIs read the load generator\'s own metrics (job="{preset.job}"), which work for any target.'
    else:
        counter = preset.counter
        read = (
            f'The server-side SLIs read {h.name} (job="{job or preset.job}", routes by its `{h.route_label}` label)'
            + (f" and {counter.name} (statuses by `{counter.status_label}`)" if counter else "")
            + ". Availability: a 5xx answer is a bad event. Latency: a good event is an answer within the threshold"
            + (" that is not a 5xx (a failed request is slow however fast it failed)." if h.status_label else ".")
        )
    paragraphs.append(f"Preset {preset.name}: {preset.summary}. {read}")
    paragraphs += [f"NOTE: {note}." for note in notes(preset, objectives, synthetic=synthetic)]
    if preset.client or synthetic:
        paragraphs.append(
            'synthetic-*: the same objectives over the load generator\'s own metrics (job="loadgen"): what a user '
            "sees, dropped requests and transport errors included (prometheus/slo.yaml's header says why each term)."
        )
    declared = h.declared and not preset.client
    paragraphs.append(
        f"A latency threshold is the `le` its SLI reads, a bucket boundary of {h.name}"
        + (": x-buckets (ours; Sloth ignores fields it does not know) lists them as the target writes them." if declared
           else " (contract/buckets.py).")
    )  # fmt: skip
    paragraphs.append("Rules, promtool tests and dashboards: python -m generators --spec THIS_FILE --out DIR")
    lines = [line for text in paragraphs for line in textwrap.wrap(text, width=116, break_on_hyphens=False)]
    lines.insert(1, "  " + command(preset, service, routes, objectives, job, synthetic))
    return "".join(f"# {line}\n" for line in lines)


def render_spec(
    preset: Preset,
    service: str,
    routes: list[str] | tuple[str, ...],
    objectives: Objectives | None = None,
    *,
    job: str | None = None,
    synthetic: bool = True,
) -> str:
    """The spec's text: its header (what the SLIs read and count, what is not exact) and the YAML, checked by the
    spec loader (SpecError if it would not read)."""
    objectives = objectives or Objectives()
    data = build_spec(preset, service, routes, objectives, job=job, synthetic=synthetic)
    try:
        Spec.model_validate(data)
    except ValueError as e:  # pydantic.ValidationError and SpecError are ValueErrors
        raise SpecError(f"the spec for {service} does not validate: {e}") from e
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
    return header(preset, service, tuple(routes), objectives, job, synthetic) + body


def write_spec(
    preset: Preset,
    service: str,
    routes: list[str] | tuple[str, ...],
    objectives: Objectives | None,
    out: Path | str,
    *,
    job: str | None = None,
    synthetic: bool = True,
) -> list[str]:
    """Write the spec to `out`; return what it cannot compute exactly (one line each, for the caller to print).

    ValueError naming the flag for a bad service name, route or threshold; nothing is written then."""
    text = render_spec(preset, service, routes, objectives, job=job, synthetic=synthetic)
    Path(out).write_text(text)
    return notes(preset, objectives or Objectives(), synthetic=synthetic)
