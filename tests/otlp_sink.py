"""A tiny OTLP/HTTP trace receiver: accepts POST /v1/traces and writes one JSON line per span.

    python -m tests.otlp_sink --port 4318 [--out spans.jsonl]

Enough to check what the service exports (tests) and to give the exporter a real endpoint to
talk to (bench/overhead.py), without running a collector. Without --out it only counts.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def spans(body: bytes) -> list[dict[str, Any]]:
    """The spans of one OTLP/protobuf export request, ids in hex as W3C trace context writes them."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    out = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                out.append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                        "service_name": resource.get("service.name"),
                    }
                )
    return out


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind in ("string_value", "int_value", "double_value", "bool_value") else str(value)


def serve(port: int, out: Path | None) -> ThreadingHTTPServer:
    lock = threading.Lock()
    reply = ExportTraceServiceResponse().SerializeToString()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if out is not None:
                lines = "".join(json.dumps(s) + "\n" for s in spans(body))
                with lock, out.open("a") as f:
                    f.write(lines)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def do_GET(self) -> None:  # readiness probe
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, default=None, help="JSON lines of the received spans")
    args = parser.parse_args()
    serve(args.port, args.out).serve_forever()


if __name__ == "__main__":
    main()
