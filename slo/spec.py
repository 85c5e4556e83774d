"""The SLO spec: Sloth's `prometheus/v1` format, read into typed objects and checked.

The format is Sloth's on purpose (users know it, and Sloth itself can read our file); see
https://github.com/slok/sloth/tree/main/pkg/prometheus/api/v1. Three checks go beyond Sloth's:

- a latency SLI is recognised by the histogram it reads: a query over `<histogram>_bucket{..., le="X"}`.
  Its threshold is X, and X must be one of that histogram's bucket boundaries (a histogram only
  answers "how many under X" exactly at a boundary), written exactly as the Prometheus client
  writes it (`le="1.0"`, not `le="1"`: label matching is on strings). No extension field is needed,
  so the file stays a plain Sloth spec.
- every selector of the service's request histogram counts exactly the prediction routes of the
  contract: `route=~"<contract.routes.prediction_routes_regex()>"`. The spec states that regex in
  full, because Sloth's only template variable is {{.window}} (a placeholder of ours would reach
  Sloth as a wrong selector) and YAML cannot splice one string into another; the check makes the
  spelled-out copies the contract's, and names the SLO and the field that differ.
- names are Prometheus-label safe and unique, objectives are in (0, 100).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contract import buckets, metrics
from contract.routes import prediction_routes_regex
from slo.selectors import WINDOW_VARIABLE, Matcher, Selector, selectors

#: Histograms whose bucket boundaries we know, hence which latency SLIs may read.
HISTOGRAM_BUCKETS: dict[str, tuple[float, ...]] = {
    metrics.REQUEST_DURATION.name: buckets.LATENCY_SECONDS,
    metrics.LOADGEN_REQUEST_DURATION.name: buckets.LATENCY_SECONDS,
    metrics.INFERENCE_DURATION.name: buckets.INFERENCE_SECONDS,
}

#: The series of the service's request histogram: an SLI reading them counts the prediction routes.
ROUTED_SERIES = frozenset(f"{metrics.REQUEST_DURATION.name}{suffix}" for suffix in ("_count", "_bucket", "_sum"))

_NAME = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"

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
    name: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    page_alert: AlertSpec = Field(default_factory=AlertSpec)
    ticket_alert: AlertSpec = Field(default_factory=AlertSpec)


class EventsSLI(_Strict):
    error_query: str
    total_query: str

    @field_validator("error_query", "total_query")
    @classmethod
    def _templated(cls, query: str) -> str:
        if WINDOW_VARIABLE not in query:
            raise ValueError(f"the query must use {WINDOW_VARIABLE} as its range: {query.strip()}")
        return query.strip()


class RawSLI(_Strict):
    error_ratio_query: str

    @field_validator("error_ratio_query")
    @classmethod
    def _templated(cls, query: str) -> str:
        if WINDOW_VARIABLE not in query:
            raise ValueError(f"the query must use {WINDOW_VARIABLE} as its range: {query.strip()}")
        return query.strip()


class SLISpec(_Strict):
    events: EventsSLI | None = None
    raw: RawSLI | None = None

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


class SLOSpec(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(pattern=_NAME)
    objective: float = Field(gt=0, lt=100)
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    sli: SLISpec
    alerting: AlertingSpec
    #: Ours, not Sloth's: Sloth's loader ignores fields it does not know, so the file stays a valid Sloth spec.
    min_events: int = Field(DEFAULT_MIN_EVENTS, ge=0, alias="x-min-events")

    @model_validator(mode="after")
    def _checked(self) -> SLOSpec:
        _ = self.latency_threshold_seconds  # refuse a bad latency threshold when the spec is read
        self._check_routes()
        return self

    @cached_property
    def latency_threshold_seconds(self) -> float | None:
        """The `le` a latency SLI reads (checked against the histogram's buckets), None for other SLIs."""
        found: set[str] = set()
        for _, selector in self._selectors():
            histogram = selector.metric.removesuffix("_bucket")
            if histogram == selector.metric:
                continue
            les = [m.value for m in selector.on("le") if m.op == "="]
            if len(les) != 1:
                raise SpecError(f'SLO {self.name}: {selector.metric} is read without exactly one le="..."')
            if histogram not in HISTOGRAM_BUCKETS:
                raise SpecError(f"SLO {self.name}: unknown histogram {histogram}, its bucket boundaries are unknown")
            allowed = {metrics.le_text(b): b for b in HISTOGRAM_BUCKETS[histogram]}
            if les[0] not in allowed:
                raise SpecError(
                    f'SLO {self.name}: le="{les[0]}" is not a bucket boundary of {histogram}; '
                    f"the boundaries are {', '.join(allowed)} (see contract/buckets.py)"
                )
            found.add(les[0])
        if len(found) > 1:
            raise SpecError(f"SLO {self.name}: one latency threshold per SLO, found le={sorted(found)}")
        return float(found.pop()) if found else None

    def _check_routes(self) -> None:
        """Every read of the service's request histogram selects exactly the contract's prediction routes."""
        expected = Matcher("route", "=~", prediction_routes_regex())
        for field, selector in self._selectors():
            if selector.metric in ROUTED_SERIES and selector.on("route") != [expected]:
                found = ", ".join(map(str, selector.on("route"))) or "no route matcher"
                raise SpecError(
                    f"SLO {self.name}, {field}: {selector.metric} selects {found}; the prediction routes are "
                    f"{expected} (contract/routes.py)"
                )

    def _selectors(self) -> Iterator[tuple[str, Selector]]:
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
    version: Literal["prometheus/v1"]
    service: str = Field(pattern=_NAME)
    labels: dict[str, str] = Field(default_factory=dict)
    slos: list[SLOSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Spec:
        names = [slo.name for slo in self.slos]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"SLO names must be unique: {duplicates}")
        return self

    def slo_id(self, slo: SLOSpec) -> str:
        """Sloth's `sloth_id`: service and SLO name."""
        return f"{self.service}-{slo.name}"


def load_spec(path: Path | str) -> Spec:
    """Read and check a spec file; raises SpecError with a readable message."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
        return Spec.model_validate(data)
    except (OSError, yaml.YAMLError) as e:
        raise SpecError(f"{path}: {e}") from e
    except ValueError as e:  # pydantic.ValidationError is a ValueError
        raise SpecError(f"{path}: {e}") from e
