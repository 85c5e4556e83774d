"""The response check over real sockets, through both clients: a status it does not expect or a JSON body
without its field is the outcome `check`; a status >= 400 stays its code; only a check that names a field reads
the body, on the same keep-alive connection as the requests that do not."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
import uvloop
import yaml

from loadgen.checks import CHECK, SUCCESS_STATUSES, Check, has_field
from loadgen.client import make_client
from loadgen.http.errors import ERROR_KINDS
from loadgen.recorder import is_error
from loadgen.report import is_failure
from stack.processes import ROOT
from tests.unit.loadgen.raw_http import RawServer, Reader, Writer, raw_server, read_request


def response(status: str, body: bytes, *, chunked: bool = False) -> bytes:
    if chunked:  # the body in two chunks: the field's name is split between them
        half = len(body) // 2
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:half], body[half:])) + b"0\r\n\r\n"
        return f"HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + chunks
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


#: (response, the check of the request it answers, the outcome expected).
FIELD = Check(frozenset({200}), "predictions.0.charges")
CASES: list[tuple[bytes, Check, str]] = [
    (response("200 OK", b'{"predictions":[{"charges":1.5}]}'), FIELD, "200"),
    (response("200 OK", b'{"predictions":[]}'), FIELD, CHECK),  # no element 0
    (response("200 OK", b'{"predictions":[{"charges":2}],"x":1}', chunked=True), FIELD, "200"),
    (response("200 OK", b'{"detail":"no predictions"}', chunked=True), FIELD, CHECK),
    (response("200 OK", b"<html>not json</html>"), FIELD, CHECK),
    (response("201 Created", b'{"predictions":[{"charges":1}]}'), FIELD, CHECK),  # not an expected status
    (response("422 Unprocessable Entity", b'{"detail":[]}'), FIELD, "422"),  # a 4xx stays its code
    (response("503 Service Unavailable", b""), FIELD, "503"),
    (response("200 OK", b"{}"), Check(), "200"),  # no field asked: the body is not read
    (response("204 No Content", b""), Check(), "204"),
    (response("302 Found", b""), Check(), CHECK),  # not a 2xx
    (response("200 OK", b'{"predictions":[{"charges":3}]}'), FIELD, "200"),  # after a request without a field
]


def exchange(kind: str) -> tuple[list[str], RawServer]:
    async def go() -> tuple[list[str], RawServer]:
        async def handler(reader: Reader, writer: Writer, server: RawServer) -> None:
            while await read_request(reader, server):
                writer.write(CASES[server.answered][0])
                server.answered += 1
                await writer.drain()

        async with raw_server(handler) as server:
            client: Any = make_client(server.url, timeout=5, kind=kind)
            outcomes = []
            async with client:
                for _, check, _ in CASES:
                    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
                    prepared = client.prepare("/p", b"{}", "POST", (), check)
                    client.start(prepared, lambda o, _r, _s, done=done: done.set_result(o), "/p", 0.0)
                    outcomes.append(await asyncio.wait_for(done, 5))
            return outcomes, server

    return uvloop.run(go())


@pytest.mark.parametrize("kind", ["fast", "aiohttp"])
def test_checks_over_the_wire(kind: str) -> None:
    outcomes, server = exchange(kind)
    assert outcomes == [expected for _, _, expected in CASES]
    if kind == "fast":
        assert server.connections == 1  # every answer on one keep-alive connection, bodies read or not


def test_a_failed_check_is_an_error_and_a_failure() -> None:
    assert is_error(CHECK) and is_failure(CHECK)  # as the synthetic SLOs count it: outcome!~"[1-4].."
    assert not is_error("422") and is_failure("422") and not is_failure("200")


def test_the_check_itself() -> None:
    default = Check()
    assert default.statuses == SUCCESS_STATUSES and default.path == ()
    assert [default.outcome(s) for s in (200, 299, 301, 404, 500)] == ["200", "299", CHECK, "404", "500"]
    assert Check(field="a.b").outcome(200, b'{"a":{"b":null}}') == "200"  # present, whatever its value
    assert Check(field="a.b").outcome(200, b'{"a":[1]}') == CHECK
    assert has_field(b'[{"x":1}]', ("0", "x")) and not has_field(b'[{"x":1}]', ("1",))
    assert not has_field(b"\xff", ("x",)) and not has_field(b"", ("x",))
    assert Check(frozenset({200}), "x") == Check(frozenset({200}), "x") != Check()
    assert "statuses=[200]" in repr(Check(frozenset({200})))
    # The clients' shortcut (`known`, no body needed) says what `outcome` says, and holds no body-dependent one.
    for check in (default, Check(frozenset({200, 204})), Check(field="x"), Check(frozenset({201}), "x")):
        for status in range(100, 600):
            if status in check.known:
                assert check.known[status] == check.outcome(status, b"{}") == check.outcome(status, b'{"x":1}')
        assert not check.path or not set(check.known) & check.statuses


def test_the_synthetic_slos_count_a_failed_check_as_a_bad_event() -> None:
    """The spec's synthetic availability SLI selects its bad events by outcome: every failure kind the load
    generator can report must match it, and no answer under 500."""
    spec = yaml.safe_load((ROOT / "prometheus" / "slo.yaml").read_text())
    queries = [s["sli"]["events"]["error_query"] for s in spec["slos"] if "loadgen_requests_total" in json.dumps(s)]
    matchers = {m for q in queries for m in re.findall(r'outcome!~"([^"]+)"', q)}
    assert matchers  # the synthetic SLOs select outcomes this way
    for matcher in matchers:
        good = re.compile(matcher)  # Prometheus anchors its regular expressions: fullmatch
        assert all(not good.fullmatch(kind) for kind in (*ERROR_KINDS, CHECK, "500", "503"))
        assert all(good.fullmatch(status) for status in ("200", "204", "302", "404", "422"))
