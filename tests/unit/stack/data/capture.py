"""How status-faults.json and status-idle.json were captured: Prometheus's own answers to every question the
status model asks, from a real `python -m stack up` (1 s scrapes, rate window 30s).

    .venv/bin/python -m tests.unit.stack.data.capture tests/unit/stack/data/status-faults.json
    .venv/bin/python -m tests.unit.stack.data.capture tests/unit/stack/data/status-idle.json --idle

faults: the whole stack, 25 s of steady load, then 30% HTTP 500s and 20% +200 ms on /v1/predict for 25 s.
idle: the stack without the loadgen (no prediction traffic at all).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from stack.processes import ROOT, answers, free_port, stop
from stack.status.model import queries

TOKEN = "capture-token"


def main(out: Path, idle: bool) -> None:
    ports = {n: free_port() for n in ("service", "loadgen", "prometheus", "alertmanager")}
    env = {
        **os.environ,
        **{f"STACK_{n.upper()}_PORT": str(p) for n, p in ports.items()},
        "STACK_SCRAPE_INTERVAL": "1s",
        "STACK_RUN_DIR": tempfile.mkdtemp(prefix="stack-capture-"),
        "SERVICE_ADMIN_TOKEN": TOKEN,
    }
    args = [sys.executable, "-m", "stack", "up", *(["--without", "loadgen"] if idle else [])]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    prometheus = f"http://127.0.0.1:{ports['prometheus']}"
    try:
        deadline = time.monotonic() + 120
        while not answers(f"{prometheus}/-/ready") and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(25)
        if not idle:
            faults = {"routes": {"/v1/predict": {"error_rate": 0.3, "latency_rate": 0.2, "latency_seconds": 0.2}}}
            request = urllib.request.Request(
                f"http://127.0.0.1:{ports['service']}/admin/faults",
                data=json.dumps(faults).encode(),
                headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"},
            )
            urllib.request.urlopen(request, timeout=10).close()
            time.sleep(25)
        got = {}
        for expr in [*queries("30s").values(), "/api/v1/alerts"]:
            url = (
                f"{prometheus}{expr}"
                if expr.startswith("/")
                else f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            )
            with urllib.request.urlopen(url, timeout=10) as response:
                got[expr] = json.load(response)
        out.write_text(json.dumps(got, indent=1) + "\n")
    finally:
        stop(proc, 60)


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--idle" in sys.argv[2:])
