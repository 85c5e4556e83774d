"""`python -m stack up` on a real terminal: the real stack in a tmux pane (160 x 50), read back with
`tmux capture-pane` as a person would see it. Once the stack has run 30 s the screen shows every process up,
every SLO of the spec with its SLI, and a non-zero request rate; each process's output is in its own log file
(the service's: one JSON line per request); Ctrl-C stops it all and leaves no process and no port behind.

With SAVE_DOCS_SCREENSHOTS=1 the captured screen (with its colours) becomes docs/status-screen.png for the
README: rich renders the pane's text as SVG, headless Chromium takes its picture.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from slo.spec import load_specs
from stack import procfile
from tests import prom
from tests.e2e.test_stack import assert_all_stopped, real_stack_env
from tests.processes import ROOT

WIDTH, HEIGHT = 160, 50
#: How long the stack runs before the screen is judged (and pictured): rates over 30 s of traffic.
SETTLE_SECONDS = 30
#: The bound on the whole wait, for a loaded 2-core CI machine running two e2e files at once.
DEADLINE_SECONDS = 180
SCREENSHOT = ROOT / "docs" / "status-screen.png"
EXITED = "stack exited with status "
SLOS = [slo.name for spec in load_specs(ROOT / "prometheus" / "slo.yaml") for slo in spec.slos]


class Pane:
    """One tmux server of our own (its own socket), one session, one pane that stays after its command ends."""

    def __init__(self, folder: Path) -> None:
        self.socket = folder / "tmux.sock"
        self.config = folder / "tmux.conf"
        self.config.write_text("set -g remain-on-exit on\nset -g history-limit 2000\n")

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            [prom.binary("tmux"), "-S", str(self.socket), "-f", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return done.stdout

    def start(self, command: list[str], cwd: Path) -> None:
        """Run the command under sh, which says how it ended: tmux's own pane_dead_status is not to be relied on
        (seen: the pane closed, its process never reaped by the server, its status never known)."""
        size = ["-x", str(WIDTH), "-y", str(HEIGHT)]
        shell = f'{shlex.join(command)}; echo "{EXITED}$?"'
        self.tmux("new-session", "-d", *size, "-s", "stack", "-c", str(cwd), shell)

    def screen(self, colours: bool = False) -> str:
        return self.tmux("capture-pane", "-p", *(["-e"] if colours else []), "-t", "stack")

    def exit_status(self) -> int | None:
        """The command's exit status once it has ended (sh says it on the screen), else None."""
        found = re.search(rf"^{EXITED}(\d+)$", self.screen(), flags=re.MULTILINE)
        return None if found is None else int(found[1])

    def stack_pid(self) -> int | None:
        """The command's pid: the pane's shell's child."""
        shell = int(self.tmux("display-message", "-p", "-t", "stack", "#{pane_pid}"))
        with contextlib.suppress(OSError, ValueError):
            return int(Path(f"/proc/{shell}/task/{shell}/children").read_text().split()[0])
        return None

    def wait_exit(self, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while (status := self.exit_status()) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        return status


@contextlib.contextmanager
def tmux_pane() -> Iterator[Pane]:
    """A pane in a private tmux server; whatever happens, the stack in it is stopped and the server killed."""
    folder = Path(tempfile.mkdtemp(prefix="tmux-"))  # short: a socket path has a length limit
    pane = Pane(folder)
    try:
        yield pane
    finally:
        with contextlib.suppress(subprocess.SubprocessError, ProcessLookupError):
            if pane.exit_status() is None and (pid := pane.stack_pid()) is not None:
                os.kill(pid, signal.SIGTERM)  # the stack stops its processes, as on Ctrl-C
                pane.wait_exit(60)
        with contextlib.suppress(subprocess.SubprocessError):
            pane.tmux("kill-server")
        shutil.rmtree(folder, ignore_errors=True)


def cells(line: str) -> list[str]:
    """A table row's cells (rich separates columns by two spaces or more)."""
    return re.split(r"\s{2,}", line.strip())


def row(screen: str, first: str) -> list[str] | None:
    """The status screen's row that starts with `first` (the banner above it is not the screen)."""
    for line in screen[screen.find("slo-stack  ") :].splitlines():
        found = cells(line)
        if found and found[0] == first:
            return found
    return None


def uptime(screen: str) -> int:
    found = re.search(r" up (\d+):(\d\d):(\d\d) ", screen)
    return 0 if found is None else int(found[1]) * 3600 + int(found[2]) * 60 + int(found[3])


def judged(screen: str) -> list[str]:
    """What the screen lacks to be the README's promise (empty: it keeps it)."""
    lacks = []
    if f"processes {len(procfile.PROCESSES)}/{len(procfile.PROCESSES)} up" not in screen:
        lacks.append("every process up")
    for name in procfile.PROCESSES:
        found = row(screen, name)
        if found is None or found[1] != "up" or not found[2].isdigit():
            lacks.append(f"{name} up with a pid")
    client = row(screen, "client (loadgen)")
    if client is None or not re.fullmatch(r"[\d,]+\.\d", client[2]) or float(client[2].replace(",", "")) <= 0:
        lacks.append("a non-zero client request rate")
    service = row(screen, "service (predictions)")
    if service is None or float(service[2].replace(",", "") or 0) <= 0:
        lacks.append("a non-zero service request rate")
    for slo in SLOS:
        found = row(screen, slo)
        if found is None or not re.fullmatch(r"\d+\.\d+%", found[2]):
            lacks.append(f"the SLI of {slo}")
    if "alerts firing" not in screen or "where to look" not in screen:
        lacks.append("alerts and where to look")
    if uptime(screen) < SETTLE_SECONDS:
        lacks.append(f"{SETTLE_SECONDS} s of running")
    return lacks


def why_not_stopped(pane: Pane, pid: int | None) -> str:
    """The process's state and threads, then (faulthandler, on SIGABRT) their Python stacks, and the screen."""
    state, threads = "gone", []
    with contextlib.suppress(OSError, TypeError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        for task in sorted(Path(f"/proc/{pid}/task").glob("*")):
            threads.append(f"{task.name} {(task / 'comm').read_text().strip()} {(task / 'wchan').read_text()}")
        os.kill(pid, signal.SIGABRT)  # type: ignore[arg-type]
        time.sleep(2)
    history = pane.tmux("capture-pane", "-p", "-S", "-", "-t", "stack")
    return f"pid {pid} state {state} threads {threads}\n{history}"


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def picture(ansi: str, svg: Path, png: Path) -> None:
    """The pane's text with its colours as an SVG (rich), and as a PNG from headless Chromium."""
    lines = ansi.rstrip("\n").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    console = Console(record=True, width=WIDTH, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    console.print(Text.from_ansi("\n".join(lines)), soft_wrap=True)
    drawn = console.export_svg(title="python -m stack up")
    drawn = re.sub(r",?\s*url\([^)]*\)\s*format\([^)]*\)", "", drawn)  # no web fonts: nothing from the network
    svg.write_text(drawn)
    if os.environ.get("SAVE_DOCS_SCREENSHOTS") != "1":
        return
    found = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', drawn)
    assert found is not None, "rich's SVG has no viewBox"
    width, height = (round(float(v)) for v in found.groups())
    profile = svg.parent / "chromium-profile"
    subprocess.run(
        [prom.binary("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={png}", svg.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shutil.copyfile(png, SCREENSHOT)


def test_stack_up_in_a_terminal_shows_the_stack_keeps_the_logs_in_files_and_ctrl_c_leaves_nothing(
    tmp_path: Path,
) -> None:
    env = {
        **real_stack_env(tmp_path),
        "STACK_PROMETHEUS_BIN": prom.binary("prometheus"),
        "STACK_ALERTMANAGER_BIN": prom.binary("prometheus-alertmanager"),
        "STACK_STATUS_REFRESH": "1",
        "PYTHONFAULTHANDLER": "1",  # a stack that will not stop prints every thread's stack on SIGABRT
    }
    command = ["env", "-u", "COLUMNS", "-u", "LINES", *(f"{k}={v}" for k, v in env.items()),
               sys.executable, "-m", "stack", "up"]  # fmt: skip
    with tmux_pane() as pane:
        pane.start(command, cwd=tmp_path)  # the screen shows paths under it relative: run/logs/...
        deadline = time.monotonic() + DEADLINE_SECONDS
        screen = pane.screen()
        while judged(screen):
            assert pane.exit_status() is None, f"the stack stopped:\n{screen}"
            assert time.monotonic() < deadline, (
                f"after {DEADLINE_SECONDS} s the screen lacks {judged(screen)}:\n{screen}"
            )
            time.sleep(1)
            screen = pane.screen()
        ansi = pane.screen(colours=True)
        pids = [int(row(screen, name)[2]) for name in procfile.PROCESSES]  # type: ignore[index]

        logs = tmp_path / "run" / "logs"
        assert sorted(p.name for p in logs.iterdir()) == sorted(f"{n}.log" for n in procfile.PROCESSES)
        requests = []
        for line in (logs / "service.log").read_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if "request_id" in record:
                    requests.append(record)
        assert len(requests) > 10 and all(r["route"] and r["status_code"] for r in requests)
        assert "request_id" not in screen  # the screen shows the stack, not its logs
        # Young series (the run is 30 s old, far under every SLI window) must not read over 100%.
        for slo in SLOS:
            shown = [float(v[:-1].replace(",", "")) for v in row(screen, slo)[2:5] if re.fullmatch(r"-?[\d,.]+%", v)]  # type: ignore[index]
            assert shown and max(shown) <= 100.0, (slo, screen)

        stack_pid = pane.stack_pid()
        pane.tmux("send-keys", "-t", "stack", "C-c")
        status = pane.wait_exit(60)
        if status is None:
            pytest.fail(f"Ctrl-C did not stop the stack: {why_not_stopped(pane, stack_pid)}")
        assert status == 0, pane.screen()
        assert "stack: stopped" in pane.screen()
    assert not [pid for pid in pids if alive(pid)], "a process of the run is still alive"
    assert_all_stopped(env, str(tmp_path))
    picture(ansi, tmp_path / "status-screen.svg", tmp_path / "status-screen.png")
    svg = (tmp_path / "status-screen.svg").read_text()
    assert all(slo in svg for slo in SLOS) and "http" not in svg.split("<style>")[1].split("</style>")[0]


@pytest.fixture(autouse=True)
def tools() -> None:
    """tmux drives the terminal (a skip, or a failure in CI, when it is missing)."""
    prom.binary("tmux")
