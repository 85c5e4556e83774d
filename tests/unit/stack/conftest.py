"""The canned Prometheus as a fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.stack.canned import CannedPrometheus, serving


@pytest.fixture
def canned_prometheus() -> Iterator[CannedPrometheus]:
    with serving() as canned:
        yield canned
