"""The insurance workload's generator (contract/workload.py): the data set's distribution, invalid records that
break exactly one rule, and the exact invalid share; and the deck the shipped workload makes of it."""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from contract import workload as workload_module
from contract.routes import PREDICT, PREDICT_BATCH, PREDICTION_ROUTES
from contract.schemas import InsuranceRecord
from contract.workload import BREAKERS, insurance, invalid_record, sample_records
from loadgen.deck import Deck
from loadgen.scenario import Scenario
from loadgen.schedule import Constant
from loadgen.workload import set_option


def broken(record: Any) -> int:
    try:
        InsuranceRecord.model_validate(record)
    except ValidationError:
        return 1
    return 0


def test_samples_follow_the_data() -> None:
    records = sample_records(2000, random.Random(1))
    assert len({json.dumps(r, sort_keys=True) for r in records}) > 1500  # not one row repeated
    assert all(15 <= r["bmi"] <= 50 for r in records)
    smokers = sum(r["smoker"] for r in records) / len(records)
    assert 0.16 < smokers < 0.25  # the data set has 20.5% smokers (seeded: a fixed draw)


def test_each_invalid_record_breaks_exactly_one_rule() -> None:
    valid = sample_records(1, random.Random(1))[0]
    rng = random.Random(2)
    for breaker in BREAKERS:
        with pytest.raises(ValidationError) as exc:
            InsuranceRecord.model_validate(breaker(valid, rng))
        assert exc.value.error_count() == 1
    assert invalid_record(valid, rng) != valid


def test_a_breaker_that_breaks_nothing_or_too_much_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    valid = sample_records(1, random.Random(1))[0]
    monkeypatch.setattr(workload_module, "BREAKERS", [lambda r, _rng: dict(r)])
    with pytest.raises(AssertionError, match="should be invalid"):
        invalid_record(valid, random.Random(0))
    monkeypatch.setattr(workload_module, "BREAKERS", [lambda r, _rng: {}])
    with pytest.raises(AssertionError, match=r"breaks \d+ rules, not one"):
        invalid_record(valid, random.Random(0))


def test_single_and_batch_bodies_with_exactly_the_invalid_share() -> None:
    singles: list[Any] = insurance(200, random.Random(3), invalid_fraction=0.1)
    assert len(singles) == 200 and all(isinstance(b, dict) and "age" in b for b in singles)
    assert sum(broken(b) for b in singles) == 20  # exactly the share, not about it
    batches: list[Any] = insurance(50, random.Random(3), batch_size=3, invalid_fraction=0.5)
    assert all(isinstance(b, dict) and len(b["records"]) == 3 for b in batches)
    per_body = [sum(broken(r) for r in b["records"]) for b in batches]
    assert Counter(per_body) == {0: 25, 1: 25}  # one broken record in each invalid body
    assert insurance(0, random.Random(1)) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [({"invalid_fraction": 1.5}, "invalid_fraction must be within 0-1"), ({"batch_size": 0}, "batch_size must be"),
     ({"batch_size": True}, "batch_size must be")],
)  # fmt: skip
def test_bad_options_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        insurance(3, random.Random(1), **options)  # type: ignore[arg-type]


def test_the_insurance_workloads_deck_follows_its_mix_and_invalid_share() -> None:
    requests = set_option(Scenario(profile=Constant(rate=1), workload="insurance").workload, "invalid_fraction", 0.1)
    requests = set_option(requests, "batch_size", 3)
    deck = Deck(requests, seed=3, size=500).requests
    counts = Counter(r.route for r in deck)
    assert set(counts) == set(PREDICTION_ROUTES) and counts[PREDICT] > 4 * counts[PREDICT_BATCH]  # 8:1:1
    invalid = 0
    for r in deck:
        doc = json.loads(r.body)
        records = doc["records"] if r.route == PREDICT_BATCH else [doc]
        assert len(records) == (3 if r.route == PREDICT_BATCH else 1)
        invalid += sum(broken(record) for record in records)
    # Each request kind holds round(0.1 x its slots) invalid bodies, one broken record each.
    assert invalid == sum(round(0.1 * n) for n in counts.values())
