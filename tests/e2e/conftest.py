"""The end-to-end tier: real processes over real sockets (the service, Prometheus, Alertmanager, the stack).

Every test in this folder is marked `e2e`, so `pytest -m "not e2e"` runs the fast in-process tier alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)
