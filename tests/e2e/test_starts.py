"""Starts that fail, fail loudly; a killed supervisor takes its workers along; the metrics folder is guarded.

Each runs `python -m service` with two workers (the supervisor, service/supervisor.py) as a real process.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from contract.schemas import EXAMPLE_RECORD
from stack.processes import answers
from tests import processes

MODELS = processes.ROOT / "models" / "insurance_charges_model"


def env(port: int, **settings: str) -> dict[str, str]:
    values = {"HOST": "127.0.0.1", "PORT": str(port), "WORKERS": "2", **settings}
    return {**os.environ, **{f"SERVICE_{k.upper()}": v for k, v in values.items()}}


def run_to_exit(environment: dict[str, str], timeout: float = 60) -> tuple[int, list[str], float]:
    """Run the service until it exits: (exit code, its stderr lines, seconds)."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "service"],
        env=environment,
        cwd=processes.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stderr.splitlines(), time.monotonic() - start


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_two_workers_with_a_corrupt_model_exit_non_zero_within_30s_with_one_line(tmp_path: Path) -> None:
    """And while they try, /readyz never hangs: the port refuses at once (no worker is ready to serve it)."""
    models = tmp_path / "models"
    shutil.copytree(MODELS, models)
    version = (models / "latest").read_text().strip()
    (models / version / "model.onnx").write_bytes(b"not an onnx model")
    port = processes.free_port()
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service"],
        env=env(port, model_dir=str(models)),
        cwd=processes.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    probes = []
    while proc.poll() is None and time.monotonic() - start < 60:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                conn.sendall(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n")
                probes.append(conn.recv(64).split(b"\r\n")[0].decode() or "closed")
        except ConnectionRefusedError:
            probes.append("refused")
        except TimeoutError:
            probes.append("waited")
        time.sleep(0.2)
    _, err = proc.communicate(timeout=30)
    code, stderr, seconds = proc.returncode, err.splitlines(), time.monotonic() - start
    assert probes and set(probes) == {"refused"}
    assert code != 0
    assert seconds < 30
    errors = [line for line in stderr if line.startswith("error:")]
    assert len(errors) == 1 and stderr[-1] == errors[0]
    assert "failed to start" in errors[0] and "cannot load model" in errors[0] and "model.onnx" in errors[0]


def test_an_unwritable_metrics_folder_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, stderr, _ = run_to_exit(env(processes.free_port(), metrics_dir=str(blocker / "metrics")))
    assert code == 1
    assert stderr == [f"error: metrics folder {blocker / 'metrics'} is not writable: Not a directory"]


def test_the_metrics_folder_is_guarded_and_workers_die_with_their_supervisor(tmp_path: Path) -> None:
    """A live service's folder is not wiped by a second start; kill -9 of its supervisor leaves no worker
    serving, after which the folder is free again."""
    folder = tmp_path / "metrics"
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"
    with processes.running(
        ["-m", "service"], env(port, metrics_dir=str(folder)), ready_url=f"{base}/readyz", log=tmp_path / "a.log"
    ) as first:
        deadline = time.monotonic() + 30
        while len(workers := children(first.pid) - {p for p in children(first.pid) if not alive(p)}) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert httpx.post(f"{base}/v1/predict", json=EXAMPLE_RECORD).status_code == 200
        files = {p.name for p in folder.glob("*.db")}
        assert files

        code, stderr, _ = run_to_exit(env(processes.free_port(), metrics_dir=str(folder)))
        assert code == 1
        assert stderr == [f"error: metrics folder {folder} is in use by a running service (pid {first.pid}): "
                          "refusing to wipe it"]  # fmt: skip
        assert files <= {p.name for p in folder.glob("*.db")}  # nothing wiped

        os.kill(first.pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [w for w in workers if alive(w)]
        assert not answers(f"{base}/healthz")

    # The folder is free again: a new service claims it, and a temporary one is removed at a clean exit.
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"
    with processes.running(
        ["-m", "service"], env(port, metrics_dir=str(folder)), ready_url=f"{base}/readyz", log=tmp_path / "b.log"
    ) as second:
        assert processes.stop(second) == 0


def test_a_temporary_metrics_folder_is_removed_at_exit(tmp_path: Path) -> None:
    port = processes.free_port()
    base = f"http://127.0.0.1:{port}"
    with processes.running(["-m", "service"], env(port), ready_url=f"{base}/readyz", log=tmp_path / "s.log") as proc:
        (worker, *_) = sorted(children(proc.pid))
        folders = [
            entry.split("=", 1)[1]
            for entry in Path(f"/proc/{worker}/environ").read_bytes().decode().split("\0")
            if entry.startswith("PROMETHEUS_MULTIPROC_DIR=")
        ]
        if not folders:  # the first child may be multiprocessing's resource tracker
            pytest.skip("no worker found among the supervisor's children")
        folder = Path(folders[0])
        assert folder.is_dir() and folder.name.startswith("service-metrics-")
        assert processes.stop(proc) == 0
    assert not folder.exists()
