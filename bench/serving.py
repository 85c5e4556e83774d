"""What serving costs before and after a change: resident memory per worker, and the start-up time to /readyz.

Why: the service image should carry and load only what serving needs (no training libraries, no generators); this
bench shows what that is worth, measured on this machine in one run. It checks the older revision out in a
temporary git worktree (its models/ a link to this checkout's, run with this interpreter) and starts both
versions in turns, the order reversed every other round, so that a change in the machine's load hits both.
Each round: `python -m service` on a free loopback port, poll /readyz, wait until every worker's RSS has settled,
read it from /proc, stop.

    python -m bench.serving                     # before = f00d292, the last commit before the foundations refactor
    python -m bench.serving --before HEAD~3 --rounds 9 --workers 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from stack.processes import ROOT, answers, free_port, stop

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    startup_s: float
    worker_rss_mib: list[float]
    parent_rss_mib: float


def rss_mib(pid: int) -> float:
    """Resident set size of one process, from /proc (pages in memory, shared ones included)."""
    resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return resident_pages * PAGE / MIB


def workers_of(pid: int) -> list[int]:
    """uvicorn's worker processes: the children of the supervisor that run a spawned worker (not multiprocessing's
    resource tracker). With one worker, uvicorn serves in the process itself."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def settled_rss(pids: list[int], deadline: float) -> list[float]:
    """RSS of each process once three reads 100 ms apart agree within 1% (start-up allocations done)."""
    reads: list[list[float]] = []
    while time.monotonic() < deadline:
        reads = [*reads[-2:], [rss_mib(p) for p in pids]]
        if len(reads) == 3 and all(abs(a - c) <= 0.01 * c for a, c in zip(reads[0], reads[2], strict=True)):
            return reads[2]
        time.sleep(0.1)
    raise TimeoutError(f"RSS of {pids} did not settle")


def start_once(checkout: Path, workers: int, scratch: Path) -> Sample:
    """Start the service of this checkout, time it to /readyz, read its memory, stop it."""
    port = free_port()
    env = {
        **os.environ,
        "SERVICE_HOST": "127.0.0.1",
        "SERVICE_PORT": str(port),
        "SERVICE_WORKERS": str(workers),
        "SERVICE_MODEL_DIR": str(ROOT / "models" / "insurance_charges_model"),
        "SERVICE_METRICS_DIR": str(scratch / "metrics"),
    }
    env.pop("PYTHONPATH", None)  # the checkout's own packages, from its folder (python -m puts it first)
    started = time.monotonic()
    with open(scratch / "service.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = started + 60
            while not answers(f"http://127.0.0.1:{port}/readyz", timeout=0.5):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{checkout}: the service did not get ready; see {scratch / 'service.log'}")
                time.sleep(0.01)
            startup = time.monotonic() - started
            pids = [proc.pid] if workers == 1 else wait_for_workers(proc.pid, workers, deadline)
            worker_rss = settled_rss(pids, deadline)
            return Sample(startup, worker_rss, worker_rss[0] if workers == 1 else rss_mib(proc.pid))
        finally:
            stop(proc)


def wait_for_workers(pid: int, count: int, deadline: float) -> list[int]:
    while time.monotonic() < deadline:
        pids = workers_of(pid)
        if len(pids) == count:
            return pids
        time.sleep(0.05)
    raise TimeoutError(f"{count} workers of {pid} did not start")


@contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """The revision checked out in a temporary folder, with this checkout's trained models; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        path = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(path), rev], cwd=ROOT, check=True)
        try:
            (path / "models").symlink_to(ROOT / "models", target_is_directory=True)
            yield path
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False)


def loads_from(checkout: Path) -> Path:
    """Where `python -m service` run in checkout takes the service package from (it must be the checkout's).
    The import also compiles the checkout's bytecode, so that the first timed start does not pay for it."""
    out = subprocess.run(
        [sys.executable, "-c", "import service.__main__, service.app; print(service.__file__)"],
        cwd=checkout, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return Path(out.strip()).parent.parent


def summary(name: str, samples: list[Sample]) -> tuple[float, float, float]:
    startup = statistics.median(s.startup_s for s in samples)
    worker = statistics.median(r for s in samples for r in s.worker_rss_mib)
    parent = statistics.median(s.parent_rss_mib for s in samples)
    print(
        f"{name:>7}: start-up to /readyz {startup:6.2f} s   RSS per worker {worker:6.1f} MiB   parent {parent:6.1f} MiB"
    )
    return startup, worker, parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="f00d292", help="the revision to compare with (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=5, help="starts of each version (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="SERVICE_WORKERS for both (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (ROOT / "models" / "insurance_charges_model" / "latest").is_file():
        print("error: no trained model: run python -m service.train (or bash scripts/setup)", file=sys.stderr)
        return 2
    samples: dict[str, list[Sample]] = {"before": [], "after": []}
    with worktree(args.before) as before, tempfile.TemporaryDirectory(prefix="bench-serving-run-") as scratch:
        checkouts = {"before": before, "after": ROOT}
        for name, checkout in checkouts.items():
            if loads_from(checkout).resolve() != checkout.resolve():
                print(f"error: {name} does not serve its own checkout's code", file=sys.stderr)
                return 2
        for i in range(args.rounds):
            order = ["before", "after"] if i % 2 == 0 else ["after", "before"]
            for name in order:
                samples[name].append(start_once(checkouts[name], args.workers, Path(scratch)))
    print(f"{args.rounds} rounds, {args.workers} worker(s); before = {args.before}, after = this checkout; medians:")
    b, a = summary("before", samples["before"]), summary("after", samples["after"])
    print(
        f"  after/before: start-up {a[0] / b[0]:.2f}x   RSS per worker {a[1] / b[1]:.2f}x   parent {a[2] / b[2]:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
