"""The transport error kinds: a closed, stable set, and aiohttp's exceptions sorted into it."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.http_exceptions import ContentLengthError

from loadgen import client, recorder
from loadgen.http import errors
from loadgen.http.aio import error_kind


def test_the_kinds_are_a_closed_stable_set() -> None:
    # Outcome labels of loadgen_requests_total and the reports: renaming one breaks dashboards and thresholds.
    assert errors.ERROR_KINDS == ("connect", "timeout", "closed", "reset", "protocol", "other")
    assert len(set(errors.ERROR_KINDS)) == len(errors.ERROR_KINDS)


def test_the_set_is_defined_once() -> None:
    assert recorder.ERROR_KINDS is errors.ERROR_KINDS and client.ERROR_KINDS is errors.ERROR_KINDS
    assert all(recorder.is_error(kind) for kind in errors.ERROR_KINDS)


def _caused(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), errors.TIMEOUT),
        (aiohttp.ServerTimeoutError(), errors.TIMEOUT),
        (aiohttp.ServerDisconnectedError(), errors.CLOSED),
        (_caused(aiohttp.ClientPayloadError("cut"), ContentLengthError("Not enough data to satisfy")), errors.CLOSED),
        (aiohttp.ClientPayloadError("not completed: ... ConnectionResetError(104)"), errors.RESET),
        (_caused(aiohttp.ClientPayloadError("bad"), ContentLengthError("bad chunk")), errors.PROTOCOL),
        (_caused(aiohttp.ClientOSError(104, "reset"), ConnectionResetError()), errors.RESET),
        (BrokenPipeError(), errors.RESET),
        (aiohttp.ClientOSError(22, "invalid argument"), errors.OTHER),
        (ValueError("anything else"), errors.OTHER),
    ],
)
def test_aiohttp_exceptions_are_sorted_into_the_kinds(exc: BaseException, kind: str) -> None:
    assert error_kind(exc) == kind
