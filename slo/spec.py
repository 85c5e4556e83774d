"""The SLO spec: Sloth's `prometheus/v1` format, read into typed objects and checked.

The format is Sloth's on purpose (users know it, and Sloth itself can read our file); see
https://github.com/slok/sloth/tree/main/pkg/prometheus/api/v1. Checks that go beyond Sloth's:

- a latency SLI is recognised by the histogram it reads: a query over `<histogram>_bucket{..., le="X"}`.
  Its threshold is X, and X must be one of that histogram's bucket boundaries (a histogram only
  answers "how many under X" exactly at a boundary), written exactly as the target writes it
  (`le="1.0"` from the Prometheus client, `le="1"` from OpenTelemetry's exporter: label matching is on
  strings). The boundaries are the spec's own `x-buckets` for that histogram when it states them (a spec
  for another server, as `python -m slo init` writes it), else the contract's for our histograms
  (contract/buckets.py); no other field is needed, so the file stays a plain Sloth spec.
- names are unique; names, objectives ((0, 100]) and the `{{ .window }}` variable follow Sloth's own rules.

That our own spec's selectors count exactly the contract's prediction routes is checked where our spec is
generated (`check_contract_routes`, called by generators.repository): a spec for another server selects its
own routes, under its own label names.

Every valid Sloth `prometheus/v1` spec reads (Sloth's examples are the tests): disabled alerts, SLOs
without alerts (no `alerting.name` when both alerts are disabled), `{{ .window }}` spelled with spaces
(normalised here to `{{.window}}`), several YAML documents in one file (`load_specs`). What Sloth runs as Go
plugins (`sli.plugin`, `slo_plugins`, an SLO's `plugins`) is refused by name: rules written without the plugin
would not be the rules Sloth writes. A latency SLI over a histogram whose buckets are not known (Sloth's
kubernetes-apiserver example) reads; its threshold is unchecked here (`slo.validate` checks its series live).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contract import buckets, metrics
from contract.routes import prediction_routes_regex
from slo.selectors import WINDOW_VARIABLE, Matcher, Selector, selectors
from slo.windows import POLICY, Severity

#: Our histograms' bucket boundaries (contract/buckets.py): a latency SLI over one of them may read only these
#: (unless the spec states the histogram's own, `x-buckets`).
HISTOGRAM_BUCKETS: dict[str, tuple[float, ...]] = {
    metrics.REQUEST_DURATION.name: buckets.LATENCY_SECONDS,
    metrics.LOADGEN_REQUEST_DURATION.name: buckets.LATENCY_SECONDS,
    metrics.INFERENCE_DURATION.name: buckets.INFERENCE_SECONDS,
}

#: The routed series of the service's and the load generator's request metrics: an SLI of our own spec reading
#: them counts the prediction routes. (`loadgen_dropped_total` has no route: a request dropped before it was sent
#: has none.)
ROUTED_SERIES = frozenset(
    {
        *(f"{h.name}{suffix}" for h in (metrics.REQUEST_DURATION, metrics.LOADGEN_REQUEST_DURATION)
          for suffix in ("_count", "_bucket", "_sum")),
        metrics.LOADGEN_REQUESTS.name,
    }
)  # fmt: skip

#: Sloth's name rule (pkg/common/conventions): service and SLO names, hence sloth_id.
_NAME = r"^[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9]$"
#: Sloth's window variable (conventions.TplSLIQueryWindowVarRegex): spaces inside the braces are allowed.
_WINDOW_SPELLINGS = re.compile(r"\{\{ *\.window *\}\}")
#: What Sloth runs as Go plugins; rules written without them would differ from Sloth's, so they are refused.
_PLUGINS_REFUSED = (
    "Sloth plugins are Go code that Sloth runs and this generator does not; write the plugin's query as "
    "sli.events or sli.raw (or generate this spec with Sloth itself)"
)

#: Requests a burn-rate condition needs in its short window before it may fire (`x-min-events`): below it,
#: one failed request out of a handful reads as a burn of hundreds of times the budget.
DEFAULT_MIN_EVENTS = 100


class SpecError(ValueError):
    """The spec is not valid; the message says what to change."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AlertSpec(_Strict):
    disable: bool = False
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class AlertingSpec(_Strict):
    # Empty only when both alerts are disabled (Sloth's rule: its examples/no-alerts.yml has no name).
    name: str = Field(default="", pattern=r"^([a-zA-Z_][a-zA-Z0-9_]*)?$")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    page_alert: AlertSpec = Field(default_factory=AlertSpec)
    ticket_alert: AlertSpec = Field(default_factory=AlertSpec)

    @model_validator(mode="after")
    def _named(self) -> AlertingSpec:
        if self.severities and not self.name:
            raise ValueError("alerting.name is required unless both page_alert and ticket_alert are disabled")
        return self

    def alert(self, severity: Severity) -> AlertSpec:
        """The page (critical) or ticket (warning) alert's own settings."""
        return self.page_alert if severity == "page" else self.ticket_alert

    @property
    def severities(self) -> tuple[Severity, ...]:
        """The severities whose alert is enabled, in the policy's order; empty for an SLO without alerts."""
        return tuple(severity for severity in POLICY if not self.alert(severity).disable)


def templated(query: str) -> str:
    """The query with Sloth's window variable in our one spelling, `{{.window}}` (Sloth allows `{{ .window }}`)."""
    if not _WINDOW_SPELLINGS.search(query):
        raise ValueError(f"the query must use {WINDOW_VARIABLE} as its range: {query.strip()}")
    return _WINDOW_SPELLINGS.sub(WINDOW_VARIABLE, query).strip()


class EventsSLI(_Strict):
    error_query: str
    total_query: str

    @field_validator("error_query", "total_query")
    @classmethod
    def _templated(cls, query: str) -> str:
        return templated(query)


class RawSLI(_Strict):
    error_ratio_query: str

    @field_validator("error_ratio_query")
    @classmethod
    def _templated(cls, query: str) -> str:
        return templated(query)


class SLISpec(_Strict):
    events: EventsSLI | None = None
    raw: RawSLI | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_plugin(cls, data: Any) -> Any:
        if isinstance(data, dict) and "plugin" in data:
            plugin = data["plugin"]
            what = f' (id "{plugin.get("id")}")' if isinstance(plugin, dict) else ""
            raise ValueError(f"sli.plugin{what} is not supported: {_PLUGINS_REFUSED}")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> SLISpec:
        if (self.events is None) == (self.raw is None):
            raise ValueError("an SLI has exactly one of `events` or `raw`")
        return self

    @property
    def queries(self) -> dict[str, str]:
        """Each query by its place in the spec (for error messages)."""
        if self.events is not None:
            events = self.events
            return {"sli.events.error_query": events.error_query, "sli.events.total_query": events.total_query}
        assert self.raw is not None
        return {"sli.raw.error_ratio_query": self.raw.error_ratio_query}

    def error_ratio_query(self) -> str:
        """Sloth's SLI expression, still holding the {{.window}} placeholder."""
        if self.events is not None:
            return f"({self.events.error_query})\n/\n({self.events.total_query})"
        assert self.raw is not None
        return f"({self.raw.error_ratio_query})"


def _refuse_plugins(data: Any, field: str) -> None:
    if isinstance(data, dict) and field in data:
        raise ValueError(f"{field} is not supported: {_PLUGINS_REFUSED}")


class SLOSpec(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=_NAME)
    objective: float = Field(gt=0, le=100)
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    sli: SLISpec
    alerting: AlertingSpec = Field(default_factory=AlertingSpec)
    #: Ours, not Sloth's: Sloth's loader ignores fields it does not know, so the file stays a valid Sloth spec.
    min_events: int = Field(DEFAULT_MIN_EVENTS, ge=0, alias="x-min-events")

    @model_validator(mode="before")
    @classmethod
    def _no_plugins(cls, data: Any) -> Any:
        _refuse_plugins(data, "plugins")
        return data

    @model_validator(mode="after")
    def _checked(self) -> SLOSpec:
        _ = self.latency_le  # refuse a latency SLI without one `le`, or with two thresholds, when the spec is read
        return self

    @cached_property
    def latency_le(self) -> tuple[str, str] | None:
        """(histogram, `le` text) a latency SLI reads; None for other SLIs."""
        found: set[tuple[str, str]] = set()
        for _, selector in self.series_selectors():
            histogram = selector.metric.removesuffix("_bucket")
            if histogram == selector.metric:
                continue
            les = [m.value for m in selector.on("le") if m.op == "="]
            if len(les) != 1:
                raise SpecError(f'SLO {self.name}: {selector.metric} is read without exactly one le="..."')
            found.add((histogram, les[0]))
        if len({le for _, le in found}) > 1:
            raise SpecError(f"SLO {self.name}: one latency threshold per SLO, found le={sorted(le for _, le in found)}")
        return min(found) if found else None

    @property
    def latency_threshold_seconds(self) -> float | None:
        """The `le` a latency SLI reads (a bucket boundary, checked when the spec is read), None for other SLIs."""
        return float(self.latency_le[1]) if self.latency_le else None

    def check_threshold(self, declared: dict[str, tuple[str, ...]]) -> None:
        """The `le` every histogram of the SLI is read at is one of its boundaries: the spec's `x-buckets` for it
        (`declared`), else the contract's for ours; a histogram known to neither is not checked (slo.validate
        checks its series live)."""
        for _, selector in self.series_selectors():
            histogram = selector.metric.removesuffix("_bucket")
            if histogram == selector.metric:
                continue
            le = next(m.value for m in selector.on("le") if m.op == "=")
            if histogram in declared:
                allowed, where = declared[histogram], "the spec's x-buckets"
            elif histogram in HISTOGRAM_BUCKETS:
                allowed, where = tuple(metrics.le_text(b) for b in HISTOGRAM_BUCKETS[histogram]), "contract/buckets.py"
            else:
                continue
            if le not in allowed:
                raise SpecError(
                    f'SLO {self.name}: le="{le}" is not a bucket boundary of {histogram}; '
                    f"the boundaries are {', '.join(allowed)} (see {where})"
                )

    def series_selectors(self) -> Iterator[tuple[str, Selector]]:
        """(field, selector) for every series selector of the SLI's queries; a query that is not PromQL is an error."""
        for field, query in self.sli.queries.items():
            try:
                found = selectors(query)
            except ValueError as e:
                raise SpecError(f"SLO {self.name}, {field}: not PromQL: {e}") from e
            for selector in found:
                yield field, selector

    @property
    def objective_ratio(self) -> Decimal:
        """The objective as a ratio, in exact decimal (99.9 -> 0.999), so thresholds print as written."""
        return Decimal(repr(self.objective)) / 100

    @property
    def error_budget(self) -> Decimal:
        """The allowed error ratio (99.9 -> 0.001), exact: 1 - 0.999 in binary floats is 0.0010000000000000009."""
        return 1 - self.objective_ratio


class Spec(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    version: Literal["prometheus/v1"]
    service: str = Field(pattern=_NAME)
    labels: dict[str, str] = Field(default_factory=dict)
    slos: list[SLOSpec] = Field(min_length=1)
    #: Ours, not Sloth's (Sloth ignores fields it does not know): histogram -> its bucket boundaries, each `le` as
    #: the target writes it. A spec for another server states the boundaries of the histograms it reads here.
    buckets: dict[str, tuple[str, ...]] = Field(default_factory=dict, alias="x-buckets")

    @model_validator(mode="before")
    @classmethod
    def _no_plugins(cls, data: Any) -> Any:
        _refuse_plugins(data, "slo_plugins")
        return data

    @model_validator(mode="after")
    def _unique(self) -> Spec:
        names = [slo.name for slo in self.slos]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"SLO names must be unique: {duplicates}")
        for slo in self.slos:
            slo.check_threshold(self.buckets)
        return self

    def slo_id(self, slo: SLOSpec) -> str:
        """Sloth's `sloth_id`: service and SLO name."""
        return f"{self.service}-{slo.name}"


def check_contract_routes(spec: Spec) -> None:
    """Every read of a routed series (ROUTED_SERIES) selects exactly the contract's prediction routes: our own
    spec spells the contract's regex out (Sloth's only template variable is {{.window}}, and YAML cannot splice
    one string into another), and this makes each copy the contract's. Raises SpecError naming SLO and field."""
    expected = Matcher("route", "=~", prediction_routes_regex())
    for slo in spec.slos:
        for field, selector in slo.series_selectors():
            if selector.metric in ROUTED_SERIES and selector.on("route") != [expected]:
                found = ", ".join(map(str, selector.on("route"))) or "no route matcher"
                raise SpecError(
                    f"SLO {slo.name}, {field}: {selector.metric} selects {found}; the prediction routes are "
                    f"{expected} (contract/routes.py)"
                )


def load_specs(path: Path | str) -> list[Spec]:
    """Every spec of a file, one per YAML document (Sloth reads `---`-separated specs, each its own service).

    Empty documents are skipped, as Sloth does; raises SpecError with a readable message (which document).
    """
    path = Path(path)
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as e:
        raise SpecError(f"{path}: {e}") from e
    if not documents:
        raise SpecError(f"{path}: no spec in the file")
    specs = []
    for number, data in enumerate(documents, start=1):
        where = f"{path}" if len(documents) == 1 else f"{path}, document {number}"
        try:
            specs.append(Spec.model_validate(data))
        except ValueError as e:  # pydantic.ValidationError is a ValueError; so is SpecError
            raise SpecError(f"{where}: {e}") from e
    return specs


def load_spec(path: Path | str) -> Spec:
    """Read and check a one-document spec file; raises SpecError with a readable message."""
    specs = load_specs(path)
    if len(specs) > 1:
        raise SpecError(f"{path}: {len(specs)} specs (YAML documents) where one is expected; read it with load_specs")
    return specs[0]
