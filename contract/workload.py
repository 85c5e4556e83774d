"""The insurance workload's body generator: this service's records, sampled from the data set, some invalid.

A load generator workload names it (`generator: "contract.workload:insurance"`, loadgen/workloads/
insurance.yaml) the way any workload names a generator of its own: the load generator imports it only then,
and knows nothing else of insurance records.

Valid records are rows of contract/data/insurance.csv drawn with replacement (the empirical distribution,
bmi jittered and clipped to the API's range); invalid ones take a valid record and break exactly one rule
of the contract (contract.schemas.InsuranceRecord), read from its JSON schema rather than restated here, and
checked against the model itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from contract import dataset
from contract.schemas import InsuranceRecord

_SCHEMA: dict[str, Any] = InsuranceRecord.model_json_schema()
_FIELDS: dict[str, dict[str, Any]] = _SCHEMA["properties"]

Record = dict[str, Any]


def _bmi_bounds() -> tuple[float, float]:
    bmi = _FIELDS["bmi"]
    return float(bmi["minimum"]), float(bmi["maximum"])


def sample_records(n: int, rng: random.Random, rows: list[Record] | None = None) -> list[Record]:
    """n valid records: data set rows drawn with replacement, bmi jittered (sd 0.5) and clipped to the API's range."""
    rows = rows if rows is not None else dataset.load().records
    lo, hi = _bmi_bounds()
    out = []
    for _ in range(n):
        row = dict(rng.choice(rows))
        row["bmi"] = round(min(hi, max(lo, row["bmi"] + rng.gauss(0.0, 0.5))), 2)
        out.append(InsuranceRecord.model_validate(row).model_dump(mode="json"))
    return out


def _breakers() -> list[Callable[[Record, random.Random], Record]]:
    """One function per validation rule of the contract; each returns a copy that breaks only that rule."""

    def replace(field: str, value: object) -> Callable[[Record, random.Random], Record]:
        return lambda r, _rng: {**r, field: value}

    def drop(field: str) -> Callable[[Record, random.Random], Record]:
        return lambda r, _rng: {k: v for k, v in r.items() if k != field}

    rules: list[Callable[[Record, random.Random], Record]] = []
    for name, spec in _FIELDS.items():
        if "minimum" in spec:
            step = 1 if spec.get("type") == "integer" else 0.5
            rules.append(replace(name, spec["minimum"] - step))
            rules.append(replace(name, spec["maximum"] + step))
        if "enum" in spec:
            rules.append(replace(name, "unknown"))
        if spec.get("type") == "boolean":
            rules.append(replace(name, "yes"))
        if spec.get("type") == "integer":
            rules.append(replace(name, "3"))  # a string is not an integer
        rules.append(drop(name))  # missing
    rules.append(lambda r, _rng: {**r, "name": "unexpected"})  # extra fields are forbidden
    return rules


BREAKERS = _breakers()


def invalid_record(valid: Record, rng: random.Random) -> Record:
    """A copy of `valid` that breaks exactly one rule (checked against the contract)."""
    broken = rng.choice(BREAKERS)(valid, rng)
    try:
        InsuranceRecord.model_validate(broken)
    except ValidationError as exc:
        if exc.error_count() != 1:
            raise AssertionError(f"{broken} breaks {exc.error_count()} rules, not one") from exc
        return broken
    raise AssertionError(f"{broken} should be invalid")


def insurance(
    count: int, rng: random.Random, *, batch_size: int | None = None, invalid_fraction: float = 0.0
) -> list[object]:
    """`count` request bodies: one record each (`/v1/predict`, the original route), or `{"records": [...]}`
    with `batch_size` records (`/v1/predict/batch`). Exactly round(invalid_fraction * count) of them hold
    one invalid record (the 4xx path), so a short run sees the asked share too."""
    if not 0 <= invalid_fraction <= 1:
        raise ValueError(f"invalid_fraction must be within 0-1 (got {invalid_fraction})")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a whole number >= 1 (got {batch_size!r})")
    rows = dataset.load().records
    broken = set(rng.sample(range(count), round(invalid_fraction * count)))
    out: list[object] = []
    for n in range(count):
        records = sample_records(batch_size or 1, rng, rows)
        if n in broken:
            i = rng.randrange(len(records))
            records[i] = invalid_record(records[i], rng)
        out.append({"records": records} if batch_size is not None else records[0])
    return out
