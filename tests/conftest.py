from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests import processes


@pytest.fixture(scope="session")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real service (default settings, one worker) for the whole session."""
    with processes.service(tmp_path_factory.mktemp("service")) as url:
        yield url


@pytest.fixture
def client(service_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service_url, timeout=10.0) as c:
        yield c
