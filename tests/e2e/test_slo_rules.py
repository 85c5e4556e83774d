"""The generated Prometheus files: valid for promtool, and proven by promtool unit tests.

(That they are fresh, and that the folder holds nothing else, is the fast tier's: tests/unit/generators/.)"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from contract.routes import prediction_routes_regex
from generators.repository import generate
from tests import prom
from tests.processes import ROOT

PROMETHEUS = ROOT / "prometheus"
GENERATED = PROMETHEUS / "generated"
SPEC = PROMETHEUS / "slo.yaml"


def test_promtool_check_config_and_rules() -> None:
    result = prom.promtool("check", "config", GENERATED / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sorted((GENERATED / "rules").glob("*.yml"))
    result = prom.promtool("check", "rules", *rules)
    assert result.returncode == 0, result.stdout + result.stderr
    # Per SLO: 8 SLI windows, 4 request rates, the error rate and no-data; 7 meta recordings; page and ticket
    # alerts and the absent alert; the same for the synthetic (client-side) SLOs. Then the 6 operational alerts.
    assert [p.name for p in rules] == [
        "operational.yml",
        "slo-requests-availability.yml",
        "slo-requests-latency-100ms.yml",
        "slo-requests-latency-500ms.yml",
        "slo-synthetic-availability.yml",
        "slo-synthetic-latency-100ms.yml",
        "slo-synthetic-latency-500ms.yml",
    ]
    counts = [line.split()[1] for line in result.stdout.splitlines() if "SUCCESS" in line]
    assert counts == ["6", *["24"] * 6], result.stdout


def test_shrunk_rules_pass_promtool(tmp_path: Path) -> None:
    paths = generate(SPEC, tmp_path, shrink=60)
    result = prom.promtool("check", "rules", *paths)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[5s]" in (tmp_path / "rules" / "slo-requests-availability.yml").read_text()


def test_promtool_unit_tests() -> None:
    """Every alert: fires at its threshold in time, silent at/below budget, resolves; recording values."""
    files = [*sorted((GENERATED / "tests").glob("*.test.yml")), PROMETHEUS / "operational.test.yml"]
    assert len(files) == 6 * 4 + 1
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda f: prom.promtool("test", "rules", f.name, cwd=f.parent), files))
    failed = {f.name: r.stdout + r.stderr for f, r in zip(files, results, strict=True) if r.returncode != 0}
    assert not failed, "\n".join(f"{name}:\n{out[-3000:]}" for name, out in failed.items())


Edit = Callable[[dict[str, Any]], None]


def replacing(old: str, new: str) -> Edit:
    def edit(rule: dict[str, Any]) -> None:
        rule["expr"] = rule["expr"].replace(old, new)

    return edit


def mutated_rules_fail(
    tmp_path: Path, edit: Edit, test: str = "page 14.4x over 1h and 5m", slo: str = "requests-availability"
) -> str:
    """promtool's output on the one generated test named `test` (alone: a fraction of its file's time) against
    the SLO's rules with `edit` applied to each rule."""
    shutil.copytree(GENERATED / "rules", tmp_path / "rules")
    path = tmp_path / "rules" / f"slo-{slo}.yml"
    rules = yaml.safe_load(path.read_text())
    before = yaml.safe_dump(rules)
    for group in rules["groups"]:
        for rule in group["rules"]:
            edit(rule)
    assert yaml.safe_dump(rules) != before, "the edit changed nothing"
    path.write_text(yaml.safe_dump(rules))
    found = [
        (f, t)
        for f in sorted((GENERATED / "tests").glob(f"slo-{slo}.*.test.yml"))
        for t in yaml.safe_load(f.read_text())["tests"]
        if test in t["name"]
    ]
    assert len(found) == 1, f"{test}: {len(found)} tests"
    tests = yaml.safe_load(found[0][0].read_text())
    tests["tests"] = [found[0][1]]
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "one.test.yml").write_text(yaml.safe_dump(tests))
    result = prom.promtool("test", "rules", "one.test.yml", cwd=tmp_path / "tests")
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_promtool_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """The unit tests can fail: a page alert at twice its burn factor makes them fail."""
    assert "page 14.4x over 1h and 5m" in mutated_rules_fail(
        tmp_path, replacing("> (14.4 * 0.001)", "> (28.8 * 0.001)")
    )


def test_promtool_tests_catch_a_route_left_out(tmp_path: Path) -> None:
    """The inputs spread over the prediction routes: SLI rules that miss one of them make the tests fail."""
    regex = prediction_routes_regex()
    kept = regex.split("|", 1)[0]
    out = mutated_rules_fail(tmp_path, replacing(f'route=~"{regex}"', f'route=~"{kept}"'))
    assert "page 14.4x over 1h and 5m" in out


def test_a_time_averaged_period_sli_fails_the_spiky_traffic_test(tmp_path: Path) -> None:
    """Sloth's period SLI (the 5m ratio averaged over 30 days) reads spiky traffic's burn many times too high."""

    def sloths(rule: dict[str, Any]) -> None:
        if rule.get("record") == "slo:sli_error:ratio_rate30d":
            five = 'slo:sli_error:ratio_rate5m{sloth_slo="requests-availability"}[30d]'
            rule["expr"] = f"sum_over_time({five}) / ignoring (sloth_window) count_over_time({five})"

    # promtool names the failing expression (the check: |period burn - the event-weighted one| <= 1%), read 0.
    assert "abs(slo:period_burn_rate:ratio" in mutated_rules_fail(tmp_path, sloths, "spiky traffic")


def test_the_pre_v011_alert_form_fails_the_one_incident_test(tmp_path: Path) -> None:
    """The alert that keeps the window label (`and ignoring (sloth_window)`) is a new series at every change."""

    def old_form(rule: dict[str, Any]) -> None:
        if "alert" in rule and "without (sloth_window)" in rule["expr"]:
            expr = rule["expr"].replace("max(", "(").replace(") without (sloth_window)", ")")
            rule["expr"] = expr.replace("and\n", "and ignoring (sloth_window)\n").replace(
                "or\n", "or ignoring (sloth_window)\n"
            )

    out = mutated_rules_fail(tmp_path, old_form, "one incident")
    assert "sloth_window" in out


def test_a_latency_sli_that_counts_fast_failures_as_good_fails(tmp_path: Path) -> None:
    out = mutated_rules_fail(
        tmp_path, replacing(',status_code!~"5.."}', "}"), "are 503s within", "requests-latency-100ms"
    )
    assert "abs(slo:sli_error:ratio_rate5m" in out and "0E+00" in out  # read 0 errors, 0.05 expected


def test_without_the_min_events_guard_the_low_traffic_page_fires(tmp_path: Path) -> None:
    out = mutated_rules_fail(tmp_path, replacing("* 300 >= 100)", "* 300 >= 0)"), "0.05 rps")
    assert "0.05 rps" in out


def test_a_synthetic_sli_that_counts_only_5xx_as_bad_fails_the_client_failures_test(tmp_path: Path) -> None:
    out = mutated_rules_fail(
        tmp_path, replacing('outcome!~"[1-4].."', 'outcome=~"5.."'), "transport error kind", "synthetic-availability"
    )
    assert "abs(slo:sli_error:ratio_rate5m" in out


def test_a_synthetic_sli_that_leaves_dropped_requests_out_fails_the_client_failures_test(tmp_path: Path) -> None:
    dropped = '(sum(rate(loadgen_dropped_total{job="loadgen"}[5m])) or on() vector(0))'

    def errors_without_drops(rule: dict[str, Any]) -> None:
        # the error part comes first in the error ratio and the error events recordings
        if rule.get("record", "").startswith("slo:sli_error"):
            rule["expr"] = rule["expr"].replace(dropped, "vector(0)", 1)

    out = mutated_rules_fail(tmp_path, errors_without_drops, "transport error kind", "synthetic-latency-100ms")
    assert "abs(slo:sli_error:ratio_rate5m" in out


def test_alertmanager_accepts_its_config(tmp_path: Path) -> None:
    args = [
        prom.binary("prometheus-alertmanager"),
        f"--config.file={PROMETHEUS / 'alertmanager.yml'}",
        f"--storage.path={tmp_path}",
        "--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with prom.server(args, "/-/ready", tmp_path / "alertmanager.log") as url:
        status = httpx.get(f"{url}/api/v2/status", timeout=5).json()
    assert "receiver: pager" in status["config"]["original"]
