"""The one duration syntax (contract.durations), as the load generator and the stack read it."""

from __future__ import annotations

import argparse

import pytest
from pydantic import TypeAdapter, ValidationError

from contract.durations import parse_duration
from loadgen.schedule import Duration
from stack.__main__ import duration as stack_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("1.5", 1.5),
        (" 30 ", 30.0),
        ("0", 0.0),
        ("250ms", 0.25),
        ("10s", 10.0),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1m 30s", 90.0),
        ("1.5s", 1.5),
        ("1m1ms", 60.001),
        ("30s1m", 90.0),  # any order, as Go's durations
    ],
)
def test_good_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)
    assert stack_duration(text) == pytest.approx(seconds, abs=1e-12)
    assert TypeAdapter(Duration).validate_python(text) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize(
    "text",
    ["", " ", "s", "10x", "1h30", "-5", "-5s", "inf", "nan", "1e3", "1e3s", ".5s", "5.s", "10 s s", "1 0s", "5M"],
)
def test_bad_durations_name_the_text_and_the_syntax(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a duration: .*units ms, s, m, h, d") as exc:
        parse_duration(text)
    assert repr(text) in str(exc.value)
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        stack_duration(text)
    with pytest.raises(ValidationError, match="not a duration"):
        TypeAdapter(Duration).validate_python(text)


def test_scenarios_take_numbers_as_seconds() -> None:
    adapter = TypeAdapter(Duration)
    assert adapter.validate_python(2) == 2.0 and adapter.validate_python(0.5) == 0.5
    with pytest.raises(ValidationError):
        adapter.validate_python(-1)
