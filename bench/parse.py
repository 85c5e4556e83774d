"""The fast client's own cost per response, in process, in one run: now against a version from git.

    python bench/parse.py [--before e751ec4] [--rounds 7] [--number 200000] [--instructions]

Times one keep-alive exchange as the client does it for every request: `send` (bytes to a transport that
discards them), then `data_received` with a whole nginx-like response (parse, hand the connection back to
the pool, call the engine's callback, a no-op here). No socket, no event loop: only the client's Python
and C. Three things are timed, interleaved round by round (the order reversed every other round, so a
drift of the machine's speed favours none), and the best round of each is printed:
  now     loadgen/http/fast.py (httptools, i.e. llhttp);
  before  loadgen/client.py at git revision --before (the hand-written parser), if git has it;
  llhttp  httptools' feed_data alone with the two callbacks the client uses (the floor for a parser).
Timings on a shared machine drift by tens of percent; `--instructions` also counts CPU instructions per
exchange under valgrind's callgrind (Debian package `valgrind`; a minute or two), which do not: each
variant runs N and N + 10,000 exchanges in a child process, and the difference / 10,000 is printed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import timeit
import types
from collections.abc import Callable
from pathlib import Path

import httptools

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from loadgen.http.fast import FastClient  # noqa: E402

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 05:00:00 GMT\r\n"
    b"Content-Type: application/json\r\nContent-Length: 43\r\nConnection: keep-alive\r\n\r\n"
    b'{"charges":9154.375,"model_version":"sink"}'
)


class _Sink:
    """A transport that takes the request bytes and drops them."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def _done(outcome: str, route: str, scheduled: float) -> None:
    pass


def exchange(module: types.ModuleType) -> Callable[[], None]:
    """One request and its response through `module`'s FastClient and its connection class."""
    client = module.FastClient("http://127.0.0.1:8080", timeout=10)
    conn = module._Connection(client)
    conn.connection_made(_Sink())
    wire = client.prepare("/v1/predict", b'{"age":30}')
    client.connections.add(conn)
    # The first response (the keep-alive header sniff, if any) off the clock.
    args = (wire, _done, "/v1/predict", 0.0, 1e18)
    send = conn.send
    full = send.__code__.co_argcount == 7  # (self, ..., deadline, retried) now; without `retried` before
    received = conn.data_received
    idle = client.idle

    def one() -> None:
        send(*args, False) if full else send(*args)
        received(RESPONSE)
        idle.pop()  # as start() takes it from the pool

    one()
    assert conn.done is None and not idle, "the response was not complete"
    return one


def parse_only() -> Callable[[], None]:
    class Callbacks:
        __slots__ = ("parser", "status")

        def __init__(self) -> None:
            self.parser = httptools.HttpResponseParser(self)

        def on_headers_complete(self) -> None:
            self.status = self.parser.get_status_code()

        def on_message_complete(self) -> None:
            self.parser.should_keep_alive()

    feed = Callbacks().parser.feed_data
    return lambda: feed(RESPONSE)


def before(revision: str) -> types.ModuleType | None:
    """loadgen/client.py as it was at `revision`, as a module (None if git cannot show it)."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{revision}:loadgen/client.py"], capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("loadgen_client_before")
    sys.modules[module.__name__] = module  # dataclasses and typing look modules up by name
    exec(compile(source, f"{revision}:loadgen/client.py", "exec"), module.__dict__)
    return module


def variant(name: str, revision: str) -> Callable[[], None] | None:
    if name == "now":
        return exchange(sys.modules[FastClient.__module__])
    if name == "llhttp":
        return parse_only()
    old = before(revision)
    return None if old is None else exchange(old)


def instructions(name: str, revision: str, n: int) -> int:
    """CPU instructions of a child process running `n` exchanges of variant `name` (callgrind's total)."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    out = subprocess.run(
        [*command, "--before", revision, "--child", name, str(n)], capture_output=True, text=True, check=True
    ).stderr
    match = re.search(r"Collected : (\d+)", out)
    assert match, out[-2000:]
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="e751ec4", help="git revision of the hand-written parser")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=200_000, help="exchanges per round and variant")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (callgrind)")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # under callgrind: just run the exchanges
        one = variant(args.child[0], args.before)
        assert one is not None
        for _ in range(int(args.child[1])):
            one()
        return
    variants = {name: f for name in ("now", "llhttp", "before") if (f := variant(name, args.before)) is not None}
    if "before" not in variants:
        print(f"(no loadgen/client.py at {args.before!r} in git: 'before' skipped)")
    best = dict.fromkeys(variants, float("inf"))
    for i in range(args.rounds):
        for name in list(variants)[:: 1 if i % 2 == 0 else -1]:
            seconds = timeit.timeit(variants[name], number=args.number) / args.number
            best[name] = min(best[name], seconds)
    for name, seconds in best.items():
        print(f"{name:7} {seconds * 1e6:6.3f} µs per response (best of {args.rounds} rounds)")
    if "before" in best:
        print(f"now/before {best['now'] / best['before']:.2f}")
    if args.instructions:
        if shutil.which("valgrind") is None:
            raise SystemExit("--instructions needs valgrind (apt-get install -y valgrind)")
        counts = {}
        for name in variants:
            counts[name] = (instructions(name, args.before, 11_000) - instructions(name, args.before, 1_000)) / 10_000
            print(f"{name:7} {counts[name]:8,.0f} instructions per response")
        if "before" in counts:
            print(f"now/before {counts['now'] / counts['before']:.2f} (instructions)")


if __name__ == "__main__":
    main()
