"""stack/supervisor.py with real processes: each one's output in its own log file, the first to exit named
with its log's last line, and stopping that leaves nothing behind, even a process that ignores SIGTERM or the
children of a leader that already died."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest

from stack import supervisor
from stack.logtail import Follower, follow
from stack.supervisor import Supervisor, last_line


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/status").read_text().count("State:\tZ")


def wait_for(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_each_process_writes_its_own_log_and_the_first_to_exit_is_named(tmp_path: Path) -> None:
    sup = Supervisor(
        {"stays": "echo up; exec sleep 30", "fails": "echo starting; echo 'bind: address in use' >&2; exit 4"},
        tmp_path / "logs",
        tmp_path,
    )
    sup.start()
    try:
        wait_for(lambda: sup.exited() is not None)
        gone = sup.exited()
        assert gone is not None and gone.name == "fails" and gone.returncode == 4
        said = f'fails exited with code 4; its log: {sup.log("fails")} (last line: "bind: address in use")'
        assert gone.describe() == said
        assert sup.pid("fails") is None and sup.pid("stays") is not None
        wait_for(lambda: sup.log("stays").read_text() == "up\n")
    finally:
        sup.stop()
    assert sup.log("fails").read_text() == "starting\nbind: address in use\n"
    assert sup.exited() is not None and sup.pid("stays") is None


def test_stop_kills_what_ignores_sigterm_and_the_orphans_of_a_dead_leader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor, "KILL_WAIT", 0.5)
    pids = tmp_path / "pids"
    sup = Supervisor(
        {
            "stubborn": "trap '' TERM; echo $$ >> pids; while :; do sleep 0.05; done",
            "orphaning": "sleep 30 & echo $! >> pids; exec sleep 30",
        },
        tmp_path / "logs",
        tmp_path,
    )
    sup.start()
    wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2)
    os.kill(sup.procs["orphaning"].pid, 9)  # the leader dies; its child stays in the group
    sup.procs["orphaning"].wait()
    started = time.monotonic()
    sup.stop()
    assert time.monotonic() - started < 5
    for pid in map(int, pids.read_text().split()):
        wait_for(lambda pid=pid: not alive(pid), 5)


def test_last_line_of_a_missing_empty_or_long_log(tmp_path: Path) -> None:
    assert last_line(tmp_path / "none.log") == ""
    (tmp_path / "empty.log").write_text("\n\n")
    assert last_line(tmp_path / "empty.log") == ""
    (tmp_path / "long.log").write_text("first\n" + "x" * 10_000 + "\n\n")
    assert last_line(tmp_path / "long.log", 10) == "x" * 10


def test_the_follower_reads_whole_lines_as_they_come(tmp_path: Path) -> None:
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    follower = Follower({"service": a, "db": b})
    assert follower.lines() == []  # no files yet
    a.write_bytes(b"one\ntw")
    assert follower.lines() == ["service | one"]
    with a.open("ab") as f:
        f.write(b"o\n")
    b.write_bytes(b"\xffbad\nhalf")
    assert follower.lines() == ["service | two", "db      | \ufffdbad"]
    assert follower.rest() == ["db      | half"] and follower.rest() == []


def test_follow_prints_until_stopped_then_the_rest(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("hello\nunterminated")
    out, stop = io.StringIO(), threading.Event()
    thread = follow({"x": log}, out, stop)
    wait_for(lambda: "x | hello" in out.getvalue())
    stop.set()
    thread.join(5)
    assert out.getvalue().splitlines() == ["x | hello", "x | unterminated"]
