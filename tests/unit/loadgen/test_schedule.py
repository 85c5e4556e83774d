"""Load profiles and arrival processes: when each request is due."""

from __future__ import annotations

import math
from typing import Literal

import pytest
from pydantic import TypeAdapter, ValidationError

from loadgen.schedule import (
    Arrivals,
    Constant,
    Profile,
    Ramp,
    Sine,
    Spike,
    Stage,
    Stages,
    Users,
    peak_rate,
    profile_length,
)  # fmt: skip
from tests.unit.loadgen.stats import poisson_bounds


def times(arrivals: Arrivals, limit: int = 100_000) -> list[float]:
    out: list[float] = []
    while (t := arrivals.next()) != math.inf and len(out) < limit:
        out.append(t)
    return out


def count_before(arrivals: Arrivals, horizon: float) -> int:
    n = 0
    while arrivals.next() < horizon:
        n += 1
    return n


def test_profiles_rates() -> None:
    assert Constant(rate=7).rate(1e6) == 7
    ramp = Ramp(start=0, end=10, over=10)
    assert [ramp.rate(t) for t in (0, 5, 10, 99)] == [0, 5, 10, 10]
    assert Ramp(start=1, end=3, over=0).rate(0) == 3
    sine = Sine(mean=1, amplitude=2, period=4)
    assert [sine.rate(t) for t in (0, 1, 3)] == pytest.approx([1, 3, 0])  # never below zero
    spike = Spike(base=1, peak=9, at=10, length=5, every=60)
    assert [spike.rate(t) for t in (0, 10, 14.9, 15, 70, 75)] == [1, 9, 9, 1, 9, 1]
    stages = Stages(start=2, stages=[Stage(duration=10, target=4), Stage(duration=0, target=8)])
    assert [stages.rate(t) for t in (0, 5, 10, 11)] == [2, 3, 8, 8]


def test_profiles_from_documents() -> None:
    adapter = TypeAdapter(Profile)
    assert adapter.validate_python({"kind": "spike", "base": 1, "peak": 2, "at": "1m", "length": "30s"}) == Spike(
        base=1, peak=2, at=60, length=30
    )
    with pytest.raises(ValidationError):
        adapter.validate_python({"kind": "constant", "rate": -1})
    with pytest.raises(ValidationError):
        adapter.validate_python({"kind": "stages", "stages": []})


def test_users_keep_their_own_clocks() -> None:
    """Locust's shape: user 1 for 6 s, user 2 from 2 s to 4 s; each sends when it joins, then once a second up to
    and including when it leaves."""
    users = Users(users=[1, 2, 1], step=2, per_user=1)
    assert users.sessions() == [(0, 6), (2, 4)] and profile_length(users) == 6 and peak_rate(users) == 2
    assert [users.rate(t) for t in (0, 2, 3.9, 4, 6, -1)] == [1, 2, 2, 1, 0, 0]
    assert times(Arrivals(users, "constant")) == [0, 1, 2, 2, 3, 3, 4, 4, 5, 6]
    half = Users(users=[1], step=2, per_user=2)
    assert times(Arrivals(half, "constant")) == [0, 0.5, 1, 1.5, 2]
    assert times(Arrivals(Users(users=[3], step=5, per_user=0), "constant")) == []
    # Looped (the daemon): the send at the end of a cycle is the next cycle's first.
    looped = Arrivals(users, "constant", looped=True)
    assert [looped.next() for _ in range(11)] == [0, 1, 2, 2, 3, 3, 4, 4, 5, 6, 7]
    # Poisson: the users' requests together are a Poisson process at users x per_user (the rate integrated).
    lo, hi = poisson_bounds(3 * (100 + 200) * 10)
    assert lo <= len(times(Arrivals(Users(users=[100, 200], step=10, per_user=3), "poisson", seed=4))) <= hi


@pytest.mark.parametrize(
    ("profile", "process"),
    [(Constant(rate=7), "constant"), (Constant(rate=7), "poisson"), (Users(users=[1, 3, 2], step=3), "constant"),
     (Stages(start=1, stages=[Stage(duration=5, target=9)]), "constant"), (Sine(mean=5, amplitude=4, period=3),
     "poisson")],
)  # fmt: skip
def test_shares_split_the_schedule_exactly(profile: Profile, process: Literal["constant", "poisson"]) -> None:
    """Worker k of n keeps arrivals k, k+n, ...: the shares together are the one-process schedule."""
    whole = [a for a in times(Arrivals(profile, process, seed=3), 400) if a < 20]
    for n in (2, 3):
        shares = [[a for a in times(Arrivals(profile, process, seed=3, share=(k, n)), 400) if a < 20] for k in range(n)]
        assert [len(s) for s in shares] == [len(whole[k::n]) for k in range(n)]
        assert sorted(a for s in shares for a in s) == whole
    with pytest.raises(ValueError, match="share"):
        Arrivals(profile, process, share=(2, 2))


def test_peak_rates() -> None:
    assert [peak_rate(p) for p in (Constant(rate=3), Ramp(start=9, end=1, over=5), Sine(mean=5, amplitude=2),
            Spike(base=1, peak=8, at=1, length=1), Stages(start=4, stages=[Stage(duration=1, target=2)]))] == [
        3, 9, 7, 8, 4]  # fmt: skip


def test_constant_arrivals_are_exact() -> None:
    arrivals = Arrivals(Constant(rate=3), "constant")
    assert [arrivals.next() for _ in range(4)] == [0.0, 1 / 3, 2 / 3, 1.0]
    assert arrivals.rate(5) == 3
    assert Arrivals(Constant(rate=0), "constant").next() == math.inf


def test_a_rate_starting_at_zero_is_followed() -> None:
    # 0 -> 10 req/s over 10 s: an area of 50 requests; the first one when the area reaches 1, at sqrt(2) s.
    got = times(Arrivals(Stages(stages=[Stage(duration=10, target=10)]), "constant"))
    assert len(got) == pytest.approx(50, abs=1) and got[0] == pytest.approx(math.sqrt(2), abs=Arrivals.IDLE_STEP)
    assert got == sorted(got) and got[-1] <= 10


def test_looped_profiles_go_round() -> None:
    # 10 req/s for a second, then nothing for a second: 10 requests once, 100 in 20 s when looped.
    profile = Stages(start=10, stages=[Stage(duration=1, target=10), Stage(duration=0, target=0),
                                       Stage(duration=1, target=0)])  # fmt: skip
    once = times(Arrivals(profile, "constant"))
    assert once == pytest.approx([0.1 * k for k in range(1, 11)])
    looped = Arrivals(profile, "constant", looped=True)
    assert count_before(looped, 20.0) == 100
    assert (looped.rate(10.5), looped.rate(11.5)) == (10, 0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_poisson_counts_and_replicas_splitting_the_rate(seed: int) -> None:
    """Counts over 60 s at 100 and 50 req/s are Poisson: within bounds a correct process leaves one time in
    a million; the constant process gives the exact count."""
    for scale in (1.0, 0.5):
        mean = 100 * scale * 60
        lo, hi = poisson_bounds(mean)
        assert lo <= count_before(Arrivals(Constant(rate=100), "poisson", seed=seed, scale=scale), 60) <= hi
        assert count_before(Arrivals(Constant(rate=100), "constant", scale=scale), 60) == mean
    assert Arrivals(Constant(rate=100), "poisson", scale=0.5).rate(0) == 50


def test_a_seed_repeats_the_poisson_schedule() -> None:
    a, b = (Arrivals(Sine(mean=50, amplitude=40, period=10), "poisson", seed=9) for _ in range(2))
    assert [a.next() for _ in range(200)] == [b.next() for _ in range(200)]
