"""JSON logs: structlog for the service's own lines, the same JSON for uvicorn's and every library's.

One line per request replaces uvicorn's access log (turned off in `python -m service`). That line
is on the hot path, so the chain is short: level, a UTC `datetime` that orjson renders itself
(`...Z`), the stack when there is one, orjson. Measured on the development machine: about 4 µs a
line, against about 11 µs with structlog's TimeStamper and the standard json module. The lines of a
loop turn are written together at its end (log_output.py).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, BinaryIO

import orjson
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from service.observability.log_output import TurnWriter

_ORJSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_SERIALIZE_NUMPY
#: Where `configure` sends the lines; None: the process's stdout (a test captures them by setting it).
OUTPUT: BinaryIO | None = None
_WRITER: TurnWriter | None = None


_LEVEL_NAMES = {"warn": "warning", "exception": "error"}


def _render(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> bytes:
    """add_log_level, a UTC timestamp, format_exc_info and the JSON rendering, in one processor: the
    request line is on the hot path (the stack is formatted only when there is one)."""
    event_dict["level"] = _LEVEL_NAMES.get(method_name, method_name)
    event_dict["timestamp"] = datetime.now(UTC)
    if "exc_info" in event_dict:
        event_dict = structlog.processors.format_exc_info(logger, method_name, event_dict)
    return orjson.dumps(event_dict, default=str, option=_ORJSON_OPTIONS)


def _timestamp() -> Processor:
    return structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")


def configure(level: str = "info") -> None:
    """structlog: level filter first (a filtered line costs nothing), then level, UTC time, stack, JSON."""
    global _WRITER
    writer = _WRITER = TurnWriter(OUTPUT or sys.stdout.buffer)
    structlog.configure(
        processors=[_render],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=lambda *args: writer,
        cache_logger_on_first_use=True,
    )


def flush() -> None:
    """Write the lines kept for the end of the loop's turn now (a reader in the same turn, a test, wants them)."""
    if _WRITER is not None:
        _WRITER.flush()


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    if record is not None:
        event_dict["logger"] = record.name
    return event_dict


def json_formatter() -> logging.Formatter:
    """The formatter of uvicorn's and the libraries' stdlib log records: the same JSON fields."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            _add_logger_name,
            _timestamp(),
            structlog.processors.format_exc_info,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
    )


def stdlib_config(level: str = "info") -> dict[str, Any]:
    """A logging.dictConfig for uvicorn's `log_config`: its lines and every library's, as JSON on stdout."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "service.observability.logging.json_formatter"}},
        "handlers": {"default": handler},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
    }


def logger() -> structlog.typing.FilteringBoundLogger:
    """The service's logger; a bound one (not structlog's lazy proxy: one look-up less per line)."""
    return structlog.get_logger("service").bind()
