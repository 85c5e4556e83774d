"""bench/accept_turn.py: what it measures is a library's behaviour the overload findings rest on (libuv accepts one
waiting connection per loop turn, asyncio's loop all of them): this fails if either changes."""

from __future__ import annotations

import pytest

from bench import accept_turn


def test_uvloop_accepts_one_waiting_connection_per_loop_turn() -> None:
    a = accept_turn.accepts("uvloop", 24, 0.005, 60)
    assert a.accepted == 24 and a.turns >= 23  # one a turn (the first may come before the first turn's work)
    assert a.per_turn <= 1.1


def test_asyncio_accepts_every_waiting_connection_at_once() -> None:
    a = accept_turn.accepts("asyncio", 24, 0.005, 60)
    assert a.accepted == 24 and a.turns <= 5  # accepted in one turn; connection_made a few calls later


def test_main_prints_both_loops(capsys: pytest.CaptureFixture[str]) -> None:
    assert accept_turn.main(["--connections", "5", "--turn-ms", "2", "--max-turns", "20"]) == 0
    out = capsys.readouterr().out
    assert "uvloop" in out and "asyncio" in out and "of 5 accepted" in out


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit):
        accept_turn.main(["--connections", "0"])
