"""Request bodies sampled from the data set's distribution, a share of them invalid, over a route mix.

Valid records are rows of contract/data/insurance.csv drawn with replacement (the empirical
distribution, bmi jittered and clipped to the API's range); invalid ones take a valid record and break
exactly one rule of the contract (contract.schemas.InsuranceRecord), read from its JSON schema rather
than restated here, and checked against the model itself. Bodies are serialised once, up front: the
hot path only picks a pre-built (route, bytes) pair from a shuffled deck.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from contract import dataset
from contract.routes import PREDICTION_ROUTES_BY_NAME
from contract.schemas import InsuranceRecord

#: Route names used in scenarios -> the service's route templates (the `route` label everywhere).
ROUTES: dict[str, str] = PREDICTION_ROUTES_BY_NAME

_SCHEMA: dict[str, Any] = InsuranceRecord.model_json_schema()
_FIELDS: dict[str, dict[str, Any]] = _SCHEMA["properties"]

Record = dict[str, Any]

#: Requests in a deck: enough that the route mix and the invalid share hold in any second of load, few
#: enough to build in about a second at startup.
DECK_SIZE = 8192


@dataclass(frozen=True, slots=True)
class Request:
    """One pre-built request: the route template (also the path) and its JSON body."""

    route: str
    body: bytes
    invalid: bool


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


def _body(route: str, records: list[Record]) -> bytes:
    doc: object = {"records": records} if route == ROUTES["batch"] else records[0]
    return json.dumps(doc, separators=(",", ":")).encode()


class Payloads:
    """A shuffled deck of pre-built requests whose mix follows the route weights and the invalid share.

    The engine deals the deck (DECK_SIZE requests unless told) round and round: one list index per request.
    """

    def __init__(
        self,
        routes: Mapping[str, float],
        *,
        batch_size: int = 8,
        invalid_fraction: float = 0.0,
        seed: int | None = None,
        deck: int | None = None,
    ) -> None:
        deck = DECK_SIZE if deck is None else deck
        rng = random.Random(seed)
        names = [name for name, w in routes.items() if w > 0]
        weights = [routes[n] for n in names]
        rows = dataset.load().records
        # Exactly the asked share of invalid requests per deck, so short runs see it too.
        broken = set(rng.sample(range(deck), round(invalid_fraction * deck)))
        self.deck: list[Request] = []
        for n in range(deck):
            route = ROUTES[rng.choices(names, weights)[0]]
            records = sample_records(batch_size if route == ROUTES["batch"] else 1, rng, rows)
            invalid = n in broken
            if invalid:
                i = rng.randrange(len(records))
                records[i] = invalid_record(records[i], rng)
            self.deck.append(Request(route, _body(route, records), invalid))
