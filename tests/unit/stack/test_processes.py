"""Processes on free loopback ports: started, awaited by health, stopped with their group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stack.processes import answers, free_port, running, stop, wait_until_ready
from tests.unit.stack.canned import CannedPrometheus, closed_port_url


def test_answers_only_a_200(canned_prometheus: CannedPrometheus) -> None:
    canned_prometheus.paths = {"/ok": (200, "ok"), "/busy": (503, "busy")}
    assert answers(f"{canned_prometheus.url}/ok")
    assert not answers(f"{canned_prometheus.url}/busy") and not answers(closed_port_url())


def test_a_process_runs_until_the_block_ends_and_its_output_is_logged(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    args = ["-u", "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    with running(args, ready_url=f"http://127.0.0.1:{port}/", log=log, cwd=tmp_path) as proc:
        assert proc.poll() is None and answers(f"http://127.0.0.1:{port}/")
    assert proc.returncode is not None and not answers(f"http://127.0.0.1:{port}/")
    assert "GET / HTTP" in log.read_text()


def test_waiting_fails_early_when_the_process_exits_and_in_time_when_it_never_answers() -> None:
    exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"], start_new_session=True)
    with pytest.raises(RuntimeError, match="exited with 3"):
        wait_until_ready(closed_port_url(), exited, timeout=10)
    silent = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        with pytest.raises(TimeoutError, match=r"not ready after 0\.2s"):
            wait_until_ready(closed_port_url(), silent, timeout=0.2)
    finally:
        assert stop(silent) == -15  # SIGTERM to its group
    assert stop(exited) == 3  # already gone: its exit code
