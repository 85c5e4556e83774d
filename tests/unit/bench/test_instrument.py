"""bench/instrument.py's pure parts: the paced load's script, reading wrk's p99, the verdicts."""

from __future__ import annotations

import pytest

from bench import instrument
from bench.overhead import Result

WRK_LATENCY = """Running 2s test @ http://127.0.0.1:1/predict
  Latency Distribution
     50%  612.00us
     75%  801.00us
     90%    1.10ms
     99%    {p99}
  201 requests in 2.00s, 38.00KB read
"""


@pytest.mark.parametrize(("text", "ms"), [("3.31ms", 3.31), ("950.00us", 0.95), ("1.20s", 1200.0)])
def test_the_p99_is_read_in_milliseconds(text: str, ms: float) -> None:
    assert instrument.p99_ms(WRK_LATENCY.format(p99=text)) == pytest.approx(ms)


def test_output_without_a_p99_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no 99% line"):
        instrument.p99_ms("Requests/sec: 12.0\n")


def test_the_paced_connections_together_send_the_rate() -> None:
    script = instrument.paced_script(rate=200.0, connections=4)  # each connection: one request every 20 ms
    assert "return 20\n" in script and '"Content-Type"' in script


def test_each_goal_is_met_or_missed_on_the_median_of_the_rounds_ratios() -> None:
    results = {
        "bare": Result([1000.0, 1000.0, 1000.0], [], []),
        "ours": Result([800.0, 700.0, 760.0], [], []),
        "theirs": Result([400.0, 400.0, 300.0], [], []),
    }
    (ours_bare, ours_theirs) = instrument.verdicts(results)
    assert ours_bare[:2] == ("ours/bare", pytest.approx(0.76)) and ours_bare[3] == "met"
    assert ours_theirs[1] == pytest.approx(2.0) and ours_theirs[3] == "met"
    results["ours"] = Result([700.0, 700.0, 700.0], [], [])
    assert [v[3] for v in instrument.verdicts(results)] == ["MISSED", "MISSED"]


def test_a_missing_library_of_variant_c_is_named_before_anything_starts() -> None:
    assert instrument.missing_libraries(("json", "os.path")) is None
    why = instrument.missing_libraries(("json", "no_such_library_here.sub", "os.no_such_module"))
    assert why is not None and why.startswith("needs no_such_library_here.sub, os.no_such_module (")
    assert "requirements/bench.txt" in why
