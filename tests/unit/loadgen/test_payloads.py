"""Request bodies: the data set's distribution, the route mix, and invalid records that break one rule."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from contract.schemas import InsuranceRecord
from loadgen import payloads as payloads_module
from loadgen.payloads import BREAKERS, ROUTES, Payloads, invalid_record, sample_records


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
    monkeypatch.setattr(payloads_module, "BREAKERS", [lambda r, _rng: dict(r)])
    with pytest.raises(AssertionError, match="should be invalid"):
        invalid_record(valid, random.Random(0))
    monkeypatch.setattr(payloads_module, "BREAKERS", [lambda r, _rng: {}])
    with pytest.raises(AssertionError, match=r"breaks \d+ rules, not one"):
        invalid_record(valid, random.Random(0))


def test_the_deck_follows_the_mix_and_the_invalid_share() -> None:
    deck = Payloads({"single": 8, "batch": 1, "original": 1}, invalid_fraction=0.1, batch_size=3, seed=3, deck=500).deck
    assert len(deck) == 500 and sum(r.invalid for r in deck) == 50  # exactly the share, not about it
    assert {r.route for r in deck} == set(ROUTES.values())
    for r in deck:
        doc = json.loads(r.body)
        records = doc["records"] if r.route == ROUTES["batch"] else [doc]
        assert len(records) == (3 if r.route == ROUTES["batch"] else 1)
        broken = 0
        for record in records:
            try:
                InsuranceRecord.model_validate(record)
            except ValidationError:
                broken += 1
        assert broken == r.invalid


def test_zero_weight_routes_are_not_sent_and_the_default_deck_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(payloads_module, "DECK_SIZE", 20)
    deck = Payloads({"single": 0, "original": 1}, seed=1).deck
    assert len(deck) == 20 and {r.route for r in deck} == {ROUTES["original"]}
