"""A workload: the requests a scenario sends, named, weighted, each with its body source and response check.

The load generator knows nothing of any one service: a workload says the method, path and headers of each
kind of request, where its bodies come from (a JSONL file, a CSV file through a template, or a generator
named by its import path, `module:callable`), its share of the traffic, and what makes an answer a success.
It is part of a scenario (`workload:` in its YAML, inline or the path of a file holding the list), checked
when the scenario is read; files, environment variables and generators are read when the deck is built
(`loadgen.deck`), before anything is sent.

    workload:
      - name: predict                     # the `route` label of the metrics and reports; default: the path
        method: POST                      # default POST
        path: /v1/models/iris:predict
        headers: {Authorization: "Bearer ${API_TOKEN}"}   # ${VAR}: from the environment, never the file
        body: {jsonl: bodies.jsonl}       # a path relative to the scenario file
        weight: 9
        check: {status: [200], json_field: predictions}
      - path: /v1/score
        body: {csv: rows.csv, template: {inputs: [{age: "{age}", city: "{city}"}]}}
      - path: /predict
        body: {generator: "mypackage.bodies:make", options: {size: 8}}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loadgen.checks import SUCCESS_STATUSES, Check

#: A header value's reference to an environment variable.
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: What a header name may hold (RFC 9110's token).
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: A generator's import path.
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
#: Where a workload named by a bare name (`workload: insurance`) lives.
WORKLOADS_DIR = Path(__file__).parent / "workloads"

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class BodySource(BaseModel):
    """Exactly one of: `jsonl` (one JSON document a line), `csv` (with an optional `template`; without one,
    each row is sent as an object of its columns), `generator` (`module:callable`, with `options`)."""

    model_config = ConfigDict(extra="forbid")

    jsonl: Path | None = None
    csv: Path | None = None
    template: Any = None
    generator: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> BodySource:
        given = [name for name in ("jsonl", "csv", "generator") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one body source of jsonl, csv, generator (got {given or 'none'})")
        if self.template is not None and self.csv is None:
            raise ValueError("`template` goes with a `csv` body source")
        if self.options and self.generator is None:
            raise ValueError("`options` go with a `generator` body source")
        if self.generator is not None and not _CALLABLE.match(self.generator):
            raise ValueError(f"generator {self.generator!r}: give an import path `module:callable`")
        return self


class ResponseCheck(BaseModel):
    """What makes an answer a success: an expected status (default any 2xx) and, optionally, a JSON field
    present in the body (a dotted path: `predictions.0`). An answer under 400 that fails it is a `check`
    failure; a status >= 400 is a failure in any case."""

    model_config = ConfigDict(extra="forbid")

    status: list[int] | None = Field(None, description="expected status codes; default any 2xx")
    json_field: str | None = Field(None, min_length=1, description="a field the JSON body must have")

    @field_validator("status")
    @classmethod
    def _statuses(cls, statuses: list[int] | None) -> list[int] | None:
        if statuses is not None and (not statuses or any(not 100 <= s <= 599 for s in statuses)):
            raise ValueError("expected statuses are HTTP status codes, 100-599 (at least one)")
        return statuses

    def check(self) -> Check:
        return Check(SUCCESS_STATUSES if self.status is None else frozenset(self.status), self.json_field)


class RequestSpec(BaseModel):
    """One kind of request of a workload."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, description="the `route` label; default the path")
    method: Method = "POST"
    path: str
    headers: dict[str, str] = Field(default_factory=dict, description="values may say ${ENV_VAR}")
    body: BodySource | None = Field(None, description="where the bodies come from; none: an empty body")
    weight: float = Field(1.0, ge=0, description="share of the traffic, relative to the others'")
    check: ResponseCheck = Field(default_factory=ResponseCheck)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, method: object) -> object:
        return method.upper() if isinstance(method, str) else method

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        if not path.startswith("/") or any(c.isspace() for c in path):
            raise ValueError(f"path {path!r}: a path starts with / and holds no whitespace")
        return path

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _TOKEN.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if any(c in value for c in "\r\n\0"):
                raise ValueError(f"header {name}: a value may not hold CR, LF or NUL")
            if name.lower() in ("host", "content-length", "transfer-encoding"):
                raise ValueError(f"header {name}: set by the load generator itself")
        return headers

    @property
    def label(self) -> str:
        """The `route` label of its metrics: the name, else the path."""
        return self.name or self.path


Workload = list[RequestSpec]


def validate_workload(requests: Workload) -> Workload:
    """Labels are unique (each is one series of the metrics) and some request has a positive weight."""
    labels = [r.label for r in requests]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise ValueError(f"requests named twice: {twice} (give each a `name` of its own)")
    if not any(r.weight > 0 for r in requests):
        raise ValueError("no request has a positive weight")
    return requests


def read_file(path: Path) -> list[Any]:
    """A workload file: a YAML list of requests (or a mapping with a `workload:` list), read as is."""
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"workload file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"workload file {path}: not YAML: {exc}") from None
    if isinstance(doc, dict) and "workload" in doc:
        doc = doc["workload"]
    if not isinstance(doc, list):
        raise ValueError(f"workload file {path}: expected a list of requests")
    return doc


def find_file(ref: str, base: Path) -> Path:
    """A workload reference: a path (relative to `base`), or a bare name of loadgen/workloads/ (`insurance`)."""
    path = Path(ref)
    if not path.is_absolute():
        path = base / path
    if not path.exists() and not Path(ref).suffix and (WORKLOADS_DIR / f"{ref}.yaml").exists():
        return WORKLOADS_DIR / f"{ref}.yaml"
    return path


def inline(ref: object, base: Path) -> object:
    """A scenario's `workload:` value with every path resolved: a file reference becomes its list of
    requests, every body file an absolute path (relative ones are relative to the file that names them)."""
    if isinstance(ref, str):
        path = find_file(ref, base)
        return inline(read_file(path), path.parent)
    if not isinstance(ref, list):
        return ref  # the model's validation says what is wrong
    out = []
    for item in ref:
        body = item.get("body") if isinstance(item, dict) else None
        if isinstance(body, dict):
            body = {k: str(base / v) if k in ("jsonl", "csv") and isinstance(v, str) else v for k, v in body.items()}
            item = {**item, "body": body}
        out.append(item)
    return out


def reweigh(requests: Workload, weights: dict[str, float]) -> Workload:
    """The mix `weights` gives (request name -> weight); a request it does not name is not sent."""
    labels = {r.label for r in requests}
    unknown = sorted(set(weights) - labels)
    if unknown:
        raise ValueError(f"unknown requests {unknown}; the workload's: {sorted(labels)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError("request weights must be >= 0 with a positive sum")
    return [r.model_copy(update={"weight": weights.get(r.label, 0.0)}) for r in requests]


def set_option(requests: Workload, name: str, value: Any, *, required: bool = True) -> Workload:
    """Every generator body source that has option `name` gets `value` (`required`: it is an error when none
    has it): `--invalid-fraction` and `--batch-size` are this for the options of the same names."""
    out, hits = [], 0
    for r in requests:
        if r.body is not None and r.body.generator is not None and name in r.body.options:
            hits += 1
            r = r.model_copy(update={"body": r.body.model_copy(update={"options": {**r.body.options, name: value}})})
        out.append(r)
    if not hits and required:
        raise ValueError(f"no body generator of the workload has the option {name!r}")
    return out
