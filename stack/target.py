"""A service the stack does not run (`python -m stack up --target URL`): what is checked before anything starts,
and the rules its Prometheus loads.

No service process: the loadgen daemon loads the target, Prometheus scrapes the loadgen and, given --metrics, the
target's metrics (as job `service`, the job every spec and dashboard names for the service under load). The
rules are generated from the run's own spec into the run folder, windows shrunk for drills if asked, so the
status, the report and the page read the rules of the spec they read.

Checked first, each failure one line (TargetError): the spec and the scenario are given (the defaults describe
this project's service, not the target); a spec whose SLIs read more than the loadgen's own metrics has
--metrics to read them from; the target answers HTTP (any status: its routes are the scenario's business) and
the metrics URL answers 200.

`python -m stack target-dir` writes the same for docker-compose.target.yml (write_dir): the rules, the scenario
and the target's metrics as a file_sd list, in one folder its Prometheus and loadgen mount.
"""

from __future__ import annotations

import shutil
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from http.client import HTTPException
from pathlib import Path

from contract.metrics import LOADGEN_JOB, SERVICE_JOB
from generators.prometheus.config import MetricsEndpoint
from generators.prometheus.operational import operational_groups
from generators.repository import rendered
from generators.yamlout import dump
from slo.selectors import Matcher, selectors
from slo.spec import Spec, load_specs
from slo.windows import Windows
from stack.settings import StackSettings

#: Seconds the target and its metrics have to answer the checks.
CHECK_TIMEOUT = 5.0
#: What a selector over the loadgen's own metrics carries: such an SLI needs nothing of the target.
LOADGEN_MATCHER = Matcher("job", "=", LOADGEN_JOB)
SERVICE_MATCHER = Matcher("job", "=", SERVICE_JOB)

# Loopback only: never through a proxy that the environment may name.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class TargetError(ValueError):
    """The target run cannot start: the message says why, in one line."""


def slos_needing_target_metrics(specs: Sequence[Spec]) -> list[str]:
    """The SLOs (service/name) with a series selector that is not on the loadgen's job: they read the target."""
    return [
        f"{spec.service}/{slo.name}"
        for spec in specs
        for slo in spec.slos
        if any(LOADGEN_MATCHER not in selector.matchers for _, selector in slo.series_selectors())
    ]


def require_metrics(spec_path: Path, metrics: str | None) -> None:
    """TargetError when the spec reads the target's metrics and there are none to read."""
    needing = slos_needing_target_metrics(load_specs(spec_path))
    if needing and metrics is None:
        raise TargetError(
            f"the spec {spec_path} reads the target's metrics ({', '.join(needing)}: a selector not on "
            f'job="{LOADGEN_JOB}"): give --metrics URL'
        )


def _status(url: str) -> int:
    """The HTTP status url answers a GET with; OSError (naming the reason) when nothing answers."""
    try:
        with _OPENER.open(url, timeout=CHECK_TIMEOUT) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:  # an answer all the same
        return exc.code
    except urllib.error.URLError as exc:
        reason = exc.reason
        raise OSError(reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)) from exc
    except (HTTPException, ssl.SSLError, TimeoutError) as exc:
        raise OSError(str(exc) or type(exc).__name__) from exc


def check(settings: StackSettings) -> None:
    """Everything a target run needs before it starts; TargetError with one line naming what is missing."""
    assert settings.target is not None
    given = settings.model_fields_set
    if "slo_spec" not in given or "loadgen_scenario" not in given:
        raise TargetError(
            "--target needs --spec and --scenario (or STACK_SLO_SPEC and STACK_LOADGEN_SCENARIO): "
            "the defaults describe this project's service"
        )
    for what, path in (("--scenario", settings.loadgen_scenario), ("--spec", settings.slo_spec)):
        if not settings.path(path).is_file():
            raise TargetError(f"{what} {path}: no such file")
    require_metrics(settings.path(settings.slo_spec), settings.target_metrics)
    try:
        _status(settings.target)
    except OSError as exc:
        raise TargetError(f"the target {settings.target} does not answer: {exc}") from None
    if settings.target_metrics is not None:
        try:
            status = _status(settings.target_metrics)
        except OSError as exc:
            raise TargetError(f"--metrics {settings.target_metrics} does not answer: {exc}") from None
        if status != 200:
            raise TargetError(f"--metrics {settings.target_metrics} answers {status}, not 200 with metrics")


def _reads_the_service(expr: str) -> bool:
    return any(SERVICE_MATCHER in s.matchers for s in selectors(expr))


def write_rules(spec_path: Path, folder: Path, shrink: float, scraped: bool) -> list[Path]:
    """The spec's SLO rules and the operational alerts into `folder` (emptied first: no rule of an earlier
    spec stays loaded). Without a scraped target, the operational alerts that read job="service" are left out:
    they would only say that nothing is there (ServiceTargetDown would page)."""
    windows = Windows(shrink)
    files = {rel: text for rel, text in rendered(spec_path, shrink).items() if rel.startswith("rules/slo-")}
    groups = operational_groups(windows)
    if not scraped:
        groups = [{**g, "rules": [r for r in g["rules"] if not _reads_the_service(r["expr"])]} for g in groups]
    files["rules/operational.yml"] = dump({"groups": groups}, "generators/prometheus/operational.py")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    written = []
    for rel, text in files.items():
        path = folder / rel.removeprefix("rules/")
        path.write_text(text)
        written.append(path)
    return written


def write_dir(spec_path: Path, scenario: Path, metrics: str | None, folder: Path) -> list[Path]:
    """The folder docker-compose.target.yml mounts (SLO_TARGET_DIR): rules/, scenario.yaml and metrics.yml (the
    target's metrics as a file_sd list, empty without any). The metrics URL is as Prometheus's container reaches
    it, so any host will do; TargetError for a spec that needs metrics without, or a URL it cannot scrape."""
    require_metrics(spec_path, metrics)
    targets: list[dict[str, object]] = []
    if metrics is not None:
        try:
            address, endpoint = MetricsEndpoint.from_url(metrics)
            targets = endpoint.file_sd(address)
        except ValueError as exc:
            raise TargetError(f"--metrics {exc}") from None
    if not scenario.is_file():
        raise TargetError(f"--scenario {scenario}: no such file")
    written = write_rules(spec_path, folder / "rules", 1.0, scraped=metrics is not None)
    shutil.copyfile(scenario, folder / "scenario.yaml")
    (folder / "metrics.yml").write_text(dump(targets, "python -m stack target-dir"))
    return [*written, folder / "scenario.yaml", folder / "metrics.yml"]
