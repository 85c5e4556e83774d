"""The original Locust test as `loadgen/scenarios/original.yaml`: its schedule computed exactly, and its three
checks applied to that schedule replayed through the recorder and the verdict.

Replayed, not run: the real run lasts 270 s, too long for the fast tier, and compressing its time would change
the very rates and latencies two of its checks are about (tests/e2e/test_loadgen.py runs its first 32 s
against the real service and checks the exact request count and the verdict of each check there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from contract.routes import PREDICT_ORIGINAL
from loadgen import report, thresholds
from loadgen.recorder import Recorder
from loadgen.scenario import load
from loadgen.schedule import Arrivals, Users

SCENARIO = load("original")


def schedule(until: float | None = None) -> list[float]:
    """The send times of the scenario, as the engine sends them: nothing at or after the run's end."""
    end = SCENARIO.run_length() if until is None else until
    assert end is not None
    arrivals, out = Arrivals(SCENARIO.profile, SCENARIO.arrivals, seed=SCENARIO.seed), []
    while (t := arrivals.next()) < end:
        out.append(t)
    return out


def test_the_original_shape_sends_755_requests_in_270_s() -> None:
    profile = SCENARIO.profile
    assert isinstance(profile, Users)
    assert (profile.users, profile.step, profile.per_user) == ([1, 2, 3, 4, 5, 4, 3, 2, 1], 30, 1)
    assert SCENARIO.run_length() == 270
    # The original route's bodies: one valid insurance record each, answered 2xx (the default check).
    [request] = SCENARIO.workload
    assert (request.method, request.path, request.label, request.weight) == (
        "POST",
        PREDICT_ORIGINAL,
        PREDICT_ORIGINAL,
        1,
    )
    assert request.body and request.body.generator == "contract.workload:insurance"
    assert request.body.options == {"invalid_fraction": 0.0} and request.check.check().statuses == frozenset(
        range(200, 300)
    )
    sent = schedule()
    assert len(sent) == pytest.approx(755, abs=5)
    # Step by step: users x 30 s, plus the last request of each user who left as the step began (Locust
    # starts a user with a request; the user leaving at the run's very end sends nothing then).
    per_step = [sum(30 * i <= t < 30 * (i + 1) for t in sent) for i in range(9)]
    assert per_step == [30, 60, 90, 120, 150, 121, 91, 61, 31] and len(sent) == 754
    # Each user on its own clock: one request a second per user, so a step of k users sends k at each second.
    assert sent.count(0.0) == 1 and sent.count(125.0) == 5 and sent.count(150.0) == 5 and sent[-1] == 269


@dataclass
class Counts:
    scheduled: int
    sent: int
    dropped: int
    window: float


def replay(times: list[float], outcome: str = "200", slow: float = 0.0, cut: float = 0.0) -> report.Summary:
    """The schedule's requests recorded second by second as if answered with `outcome` after 5 ms (a share
    `slow` of them after 150 ms; `cut` seconds of the schedule's end not run), then the file's checks."""
    recorder = Recorder()
    times = [t for t in times if t < 270 - cut]
    every = round(1 / slow) if slow else 0
    for second in range(math.ceil(max(times)) + 1):
        for i, t in enumerate(times):
            if second <= t < second + 1:
                latency = 0.150 if every and i % every == 0 else 0.005
                recorder.record(PREDICT_ORIGINAL, outcome if i == 100 else "200", latency)
        recorder.tick(second + 1.0, 0.0, sum(t < second + 1 for t in times), sum(t < second + 1 for t in times), 0)
    counts = Counts(len(times), len(times), 0, 270.0 - cut)
    summary = report.summarize(counts, recorder, target="t", scenario=SCENARIO.description, started_at="now")
    report.check(summary, recorder, thresholds.with_defaults([thresholds.parse(t) for t in SCENARIO.thresholds]))
    return summary


def verdicts(summary: report.Summary) -> dict[str, bool]:
    return {t["threshold"]: t["ok"] for t in summary.thresholds}


def test_its_three_checks_with_its_meaning_of_failure() -> None:
    sent = schedule()
    assert SCENARIO.thresholds == ["failed_rate==0", "p(99)<100ms", "max(rps)>=5"]
    good = replay(sent)
    assert good.passed and good.rps_max == 5 and good.completed == 754
    assert verdicts(good) == dict.fromkeys([*SCENARIO.thresholds, thresholds.DEFAULT_DROPPED], True)
    # One 404 among 754: not an error to error_rate, but a failure to the original test (Locust's meaning).
    one_404 = replay(sent, outcome="404")
    assert one_404.error_rate == 0 and not verdicts(one_404)["failed_rate==0"] and not one_404.passed
    assert [ok for t, ok in verdicts(one_404).items() if t != "failed_rate==0"] == [True] * 3
    # One answer that failed its check: an error and a failure.
    one_check = replay(sent, outcome="check")
    assert one_check.errors == 1 and not verdicts(one_check)["failed_rate==0"] and not one_check.passed
    # 2% of the answers at 150 ms: p99 is over 100 ms.
    slow = replay(sent, slow=0.02)
    assert verdicts(slow) == {**verdicts(good), "p(99)<100ms": False}
    # Without its 5-user step (stopped at 120 s) the peak is 4 a second: "peak rate >= 5" fails.
    short = replay(sent, cut=150)
    assert short.rps_max == 4 and verdicts(short) == {**verdicts(good), "max(rps)>=5": False}
