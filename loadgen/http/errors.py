"""Transport error kinds: the outcome of a request that ended without a valid, complete HTTP response.

A closed set, like k6's error codes: every client sorts every failure into exactly one of these, and the
recorder, `/metrics` (`loadgen_requests_total{outcome=...}`) and the reports use them as outcome labels,
beside HTTP status codes. The names are stable: dashboards and thresholds read them.
"""

from __future__ import annotations

#: The connection could not be opened: refused, unreachable, name not resolved, TLS handshake failed.
CONNECT = "connect"
#: No complete response within the request timeout (connecting included).
TIMEOUT = "timeout"
#: The server closed the connection (end of stream) before the response was complete. A connection that
#: ends before any byte of the response arrived is retried once on a fresh connection first.
CLOSED = "closed"
#: The connection was reset (or a write failed: broken pipe) before the response was complete; same retry.
RESET = "reset"
#: The bytes are not a valid HTTP/1.1 response: unparsable head, invalid or conflicting framing
#: (`Content-Length: -1`, two lengths, `Content-Length` with `Transfer-Encoding`), a bad chunk, a protocol
#: switch nobody asked for.
PROTOCOL = "protocol"
#: Anything else (an unforeseen OS error): counted rather than lost; it should not occur.
OTHER = "other"

#: Every transport error kind, in the order reports list them.
ERROR_KINDS: tuple[str, ...] = (CONNECT, TIMEOUT, CLOSED, RESET, PROTOCOL, OTHER)
