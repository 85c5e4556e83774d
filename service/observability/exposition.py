"""How the service's metrics are rendered and served, defining none of them.

The supervisor of a multi-worker service imports this to serve SERVICE_METRICS_PORT itself: it must not
import service.observability.metrics, whose metric objects would add its own series to the folder
(a `service_ready` of 0 that never goes away, among others).

One worker: the default in-process registry, with exemplars. Several: prometheus-client's multiprocess
collector over the folder, whose files it reads at each scrape; it leaves out the process metrics, so
`InstanceProcessCollector` adds them back: the sum over the live workers and their supervisor, which is
what a dashboard's "CPU and memory of this instance" means.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _live_pids(directory: Path) -> set[int]:
    """Workers with live-gauge files; the files of dead ones are removed on the way (mark_process_dead)."""
    pids: set[int] = set()
    for path in directory.glob("gauge_live*_*.db"):
        try:
            pid = int(path.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        if _alive(pid):
            pids.add(pid)
        else:
            mark_process_dead(pid, str(directory))
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _constant(pid: int) -> Callable[[], int]:
    return lambda: pid


class InstanceProcessCollector:
    """`process_*` for a multi-worker instance: the sum over its live workers and their supervisor."""

    def __init__(self, directory: Path, supervisor: int) -> None:
        self.directory = directory
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        pids = _live_pids(self.directory) | {self.supervisor}
        totals: dict[str, float] = {}
        starts: list[float] = []
        for pid in sorted(pids):
            for family in ProcessCollector(registry=None, pid=_constant(pid)).collect():
                for sample in family.samples:
                    if sample.name == "process_start_time_seconds":
                        starts.append(sample.value)
                    elif sample.name == "process_max_fds":
                        totals[sample.name] = sample.value
                    else:
                        totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        if "process_cpu_seconds_total" in totals:
            yield CounterMetricFamily(
                "process_cpu_seconds", "User and system CPU time, seconds, summed over the instance's processes.",
                value=totals.pop("process_cpu_seconds_total"),
            )  # fmt: skip
        for name, value in totals.items():
            yield GaugeMetricFamily(name, f"{name}, summed over the instance's processes.", value=value)
        if starts:
            yield GaugeMetricFamily("process_start_time_seconds", "Start of the oldest process.", value=min(starts))


def registry(supervisor: int) -> CollectorRegistry:
    """What a scrape reads: this process's registry, or every worker's files (`supervisor`: their parent's pid)."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return REGISTRY
    scraped = CollectorRegistry()
    MultiProcessCollector(scraped, folder)
    scraped.register(InstanceProcessCollector(Path(folder), supervisor))
    return scraped


def render(scraped: CollectorRegistry, accept: str) -> tuple[bytes, str]:
    """The scrape body and its content type: OpenMetrics (with exemplars) if the scraper accepts it."""
    encoder, content_type = choose_encoder(accept)
    return encoder(scraped), content_type


def serve(host: str, port: int, scraped: CollectorRegistry) -> tuple[WSGIServer, threading.Thread]:
    """/metrics on a port of its own (SERVICE_METRICS_PORT): prometheus-client's server, on a daemon thread."""
    return start_http_server(port, addr=host, registry=scraped)
