"""The BentoML virtualenv (.venv-bentoml), built from its hashed lock, requirements/bentoml.txt.

BentoML pins its own dependencies (its own uvicorn, starlette, opentelemetry), which do not fit the project's
lock, so it gets a virtualenv of its own. scripts/setup builds it (`python -m tests.foreign.venv`); the e2e
tests build it when it is missing or its lock changed, and skip only when it cannot be built (offline), except
in CI, where they fail. A stamp of the lock's digest makes a second build cost nothing.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
LOCK = ROOT / "requirements" / "bentoml.txt"
VENV = ROOT / ".venv-bentoml"
PYTHON = VENV / "bin" / "python"
BENTOML = VENV / "bin" / "bentoml"
STAMP = VENV / ".lock.sha256"


class VenvError(RuntimeError):
    """The virtualenv could not be built; the message says at which step, with the tool's last lines."""


def _digest() -> str:
    return hashlib.sha256(LOCK.read_bytes()).hexdigest()


def current() -> bool:
    return BENTOML.is_file() and STAMP.is_file() and STAMP.read_text().strip() == _digest()


def _run(step: str, args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise VenvError(f"{step} failed (exit {done.returncode}): {tail}")


def ensure() -> Path:
    """The virtualenv's python, built (or refreshed) first if needed; VenvError when it cannot be."""
    if current():
        return PYTHON
    if not PYTHON.is_file():
        _run(f"creating {VENV.name}", [sys.executable, "-m", "venv", str(VENV)])
    # uv from the dev environment makes the virtualenv exactly the lock (pip takes minutes for it), every pin and
    # hash checked; a package an older lock had and this one has not is removed.
    uv = [sys.executable, "-m", "uv", "pip", "sync", "--quiet", "--python", str(PYTHON), "--require-hashes"]
    _run(f"installing {LOCK.relative_to(ROOT)}", [*uv, str(LOCK)])
    STAMP.write_text(_digest() + "\n")
    return PYTHON


if __name__ == "__main__":
    try:
        ensure()
    except (VenvError, OSError) as exc:
        sys.exit(f"bentoml venv: {exc}")
