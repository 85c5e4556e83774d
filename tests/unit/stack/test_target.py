"""`python -m stack up --target`: its flags and settings, the checks before anything starts (one line, exit 2),
the Procfile without a service, and the Prometheus config and rules rendered for a target.

The canned Prometheus (a real HTTP server on loopback) stands in for the target here: the checks only need
something that answers HTTP, and its /metrics. The real run is tests/e2e/test_stack_target.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from generators.prometheus.config import MetricsEndpoint, PrometheusTargets, prometheus_config
from slo.spec import load_specs
from stack import procfile, up
from stack.__main__ import main, parser, settings_from
from stack.settings import ROOT, StackSettings
from stack.target import slos_needing_target_metrics, write_rules
from tests.unit.stack.canned import CannedPrometheus, closed_port_url

DATA = Path(__file__).parent / "data"
LOADGEN_SPEC = DATA / "target-loadgen.yaml"
SERVICE_SPEC = DATA / "target-service.yaml"
SCENARIO = ROOT / "loadgen" / "scenarios" / "steady.yaml"


@pytest.fixture
def run_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("STACK_RUN_DIR", str(tmp_path / "run"))
    return tmp_path / "run"


def up_args(target: str, *more: str, spec: Path = LOADGEN_SPEC) -> list[str]:
    return ["up", "--target", target, "--spec", str(spec), "--scenario", str(SCENARIO), "--duration", "1", *more]


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert "Traceback" not in captured.err and not captured.out
    return lines[0]


# --- settings and flags


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "https://localhost:8443/api", "http://[::1]:9000", "http://127.0.0.2"]
)
def test_a_target_is_any_http_url_on_loopback(url: str) -> None:
    assert StackSettings(target=url).target == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://10.0.0.1:8000", "loopback"),
        ("http://example.com:8000", "loopback"),  # a name may resolve anywhere
        ("ftp://127.0.0.1:21", "http:// or https://"),
        ("127.0.0.1:8000", "http:// or https://"),
        ("http://127.0.0.1:99999", "bad port"),
    ],
)
def test_settings_refuse_a_target_off_loopback_or_not_http(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        StackSettings(target=url)
    with pytest.raises(ValueError, match=why):
        StackSettings(target="http://127.0.0.1:1", target_metrics=url)


def test_metrics_need_a_target(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_TARGET_METRICS", "http://127.0.0.1:9464/metrics")
    with pytest.raises(ValueError, match="give STACK_TARGET"):
        StackSettings()


def test_the_flags_set_the_settings_and_win_over_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_TARGET", "http://127.0.0.1:1111")
    monkeypatch.setenv("STACK_SLO_SPEC", "from-the-environment.yaml")
    args = parser().parse_args(["up", "--target", "http://127.0.0.1:2222", "--metrics", "http://127.0.0.1:3/m"])
    settings = settings_from(args)
    assert settings.target == "http://127.0.0.1:2222" and settings.target_metrics == "http://127.0.0.1:3/m"
    assert settings.slo_spec == Path("from-the-environment.yaml")
    assert {"target", "target_metrics", "slo_spec"} <= settings.model_fields_set
    assert "loadgen_scenario" not in settings.model_fields_set  # the default: not given


def test_up_help_shows_the_target_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["up", "--help"])
    out = capsys.readouterr().out
    assert all(flag in out for flag in ("--target URL", "--metrics URL", "--spec FILE", "--scenario FILE"))


# --- the checks: one line, exit 2, nothing started


def test_a_bad_target_flag_is_one_line_naming_the_flag(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(up_args("http://192.168.1.10:8000")) == up.EXIT_FAILED
    line = one_error_line(capsys)
    assert "--target" in line and "192.168.1.10" in line and "loopback" in line
    assert main(["up", "--metrics", "http://127.0.0.1:9464/metrics"]) == up.EXIT_FAILED
    assert "--target" in one_error_line(capsys)
    assert not run_dir.exists()


def test_a_target_needs_its_spec_and_scenario(
    run_dir: Path, canned_prometheus: CannedPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["up", "--target", canned_prometheus.url, "--spec", str(LOADGEN_SPEC)]) == up.EXIT_FAILED
    assert "--spec and --scenario" in one_error_line(capsys)
    assert main(up_args(canned_prometheus.url, spec=DATA / "nowhere.yaml")) == up.EXIT_FAILED
    assert "nowhere.yaml: no such file" in one_error_line(capsys)
    assert not run_dir.exists()


def test_spec_goes_with_a_target(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--spec", str(LOADGEN_SPEC)]) == up.EXIT_FAILED
    assert "--spec goes with --target" in one_error_line(capsys)


def test_a_spec_that_reads_the_targets_metrics_needs_metrics(
    run_dir: Path, canned_prometheus: CannedPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(up_args(canned_prometheus.url, spec=SERVICE_SPEC)) == up.EXIT_FAILED
    line = one_error_line(capsys)
    assert "external-service/requests-availability" in line and "--metrics" in line
    assert not run_dir.exists()


def test_an_unreachable_target_or_metrics_url_is_one_line(
    run_dir: Path, canned_prometheus: CannedPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    closed = closed_port_url()
    assert main(up_args(closed)) == up.EXIT_FAILED
    assert f"the target {closed} does not answer" in one_error_line(capsys)
    canned_prometheus.paths = {}  # the target answers 404 everywhere: it answers
    assert main(up_args(canned_prometheus.url, "--metrics", f"{closed}/metrics")) == up.EXIT_FAILED
    assert "--metrics" in one_error_line(capsys)
    assert main(up_args(canned_prometheus.url, "--metrics", f"{canned_prometheus.url}/metrics")) == up.EXIT_FAILED
    assert "answers 404, not 200" in one_error_line(capsys)
    assert not run_dir.exists()


def test_specs_over_the_loadgen_alone_need_no_target_metrics() -> None:
    assert slos_needing_target_metrics(load_specs(LOADGEN_SPEC)) == []
    assert slos_needing_target_metrics(load_specs(SERVICE_SPEC)) == ["external-service/requests-availability"]
    ours = slos_needing_target_metrics(load_specs(ROOT / "prometheus" / "slo.yaml"))
    assert len(ours) == 3 and all(name.startswith("insurance-charges/requests-") for name in ours)


# --- what a target's stack runs and renders


def target_settings(target: str, metrics: str | None = None, spec: Path = LOADGEN_SPEC) -> StackSettings:
    return StackSettings(
        target=target, target_metrics=metrics, slo_spec=spec, loadgen_scenario=SCENARIO, rules_shrink=60
    )


def test_the_procfile_of_a_target_has_no_service_and_aims_the_loadgen_at_the_target(run_dir: Path) -> None:
    settings = target_settings("http://127.0.0.1:8555")
    assert procfile.processes(settings) == ("loadgen", "prometheus", "alertmanager")
    lines = dict(line.split(": ", 1) for line in procfile.render(settings).splitlines())
    assert list(lines) == ["loadgen", "prometheus", "alertmanager"]
    assert "LOADGEN_TARGET=http://127.0.0.1:8555" in lines["loadgen"]
    assert lines["loadgen"].startswith("exec ") and "/readyz" not in lines["loadgen"]  # no service to wait for
    assert str(SCENARIO) in lines["loadgen"]
    assert procfile.render(settings, frozenset({"service"})) == procfile.render(settings)


def test_prepare_scrapes_the_targets_metrics_at_its_url_and_loads_the_specs_rules(run_dir: Path) -> None:
    settings = target_settings("http://127.0.0.1:8555", "https://127.0.0.1:9464/admin/prom?format=text&x=1")
    up.prepare(settings, frozenset())
    paths = procfile.run_paths(settings)
    config = yaml.safe_load(paths["prometheus_config"].read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["service"] == {
        "job_name": "service",
        "scheme": "https",
        "metrics_path": "/admin/prom",
        "params": {"format": ["text"], "x": ["1"]},
        "static_configs": [{"targets": ["127.0.0.1:9464"]}],
    }
    assert set(jobs) == {"service", "loadgen", "prometheus"}
    assert config["rule_files"] == [str(paths["rules"] / "*.yml")]
    names = sorted(p.name for p in paths["rules"].iterdir())
    assert names == [
        "operational.yml",
        "slo-synthetic-availability.yml",
        "slo-synthetic-latency-100ms.yml",
        "slo-synthetic-latency-500ms.yml",
    ]
    rules = yaml.safe_load((paths["rules"] / "slo-synthetic-availability.yml").read_text())
    sli = next(r for g in rules["groups"] for r in g["rules"] if r.get("record") == "slo:sli_error:ratio_rate5m")
    assert "[5s]" in sli["expr"]  # shrunk 60x: the 5m window reads 5 s
    operational = (paths["rules"] / "operational.yml").read_text()
    assert "ServiceTargetDown" in operational  # the target is scraped: its being down is an alert


def test_without_metrics_nothing_scrapes_the_service_and_no_alert_reads_it(run_dir: Path) -> None:
    settings = target_settings("http://127.0.0.1:8555")
    paths = procfile.run_paths(settings)
    paths["rules"].mkdir(parents=True)
    (paths["rules"] / "slo-of-an-earlier-spec.yml").write_text("groups: []\n")
    up.prepare(settings, frozenset())
    config = yaml.safe_load(paths["prometheus_config"].read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == {"loadgen", "prometheus"}
    assert not (paths["rules"] / "slo-of-an-earlier-spec.yml").exists()
    operational = yaml.safe_load((paths["rules"] / "operational.yml").read_text())
    alerts = {r["alert"] for g in operational["groups"] for r in g["rules"]}
    assert alerts == {"SyntheticTrafficMissing", "LoadgenDroppingRequests"}
    assert all('job="service"' not in r["expr"] for g in operational["groups"] for r in g["rules"])


def test_write_rules_unshrunk_reads_real_windows(tmp_path: Path) -> None:
    written = write_rules(LOADGEN_SPEC, tmp_path / "rules", 1.0, scraped=True)
    assert {p.name for p in written} == {p.name for p in (tmp_path / "rules").iterdir()}
    assert "[5m]" in (tmp_path / "rules" / "slo-synthetic-availability.yml").read_text()


def test_where_to_look_and_the_links_name_the_target(run_dir: Path) -> None:
    settings = target_settings("http://127.0.0.1:8555", "http://127.0.0.1:8555/metrics")
    running = list(procfile.processes(settings))
    text = up.where_to_look(settings, running)
    assert "target        http://127.0.0.1:8555  (metrics: http://127.0.0.1:8555/metrics)" in text
    assert "/docs" not in text
    assert up.links(settings, running)["target"] == "http://127.0.0.1:8555"
    assert "docs" not in up.links(settings, running)
    assert set(up.ready_urls(settings, running)) == {"loadgen", "prometheus", "alertmanager"}
    assert "no metrics scraped" in up.where_to_look(target_settings("http://127.0.0.1:8555"), running)


# --- the scrape config of a metrics URL


@pytest.mark.parametrize(
    ("url", "address", "scrape"),
    [
        ("http://127.0.0.1:9464/metrics", "127.0.0.1:9464", {}),
        ("https://127.0.0.1/metrics", "127.0.0.1:443", {"scheme": "https"}),
        ("http://[::1]:3000/api/metrics", "[::1]:3000", {"metrics_path": "/api/metrics"}),
        ("http://localhost:80", "localhost:80", {"metrics_path": "/"}),
        (
            "http://localhost/m?a=1&a=2&b=",
            "localhost:80",
            {"metrics_path": "/m", "params": {"a": ["1", "2"], "b": [""]}},
        ),
    ],
)
def test_a_metrics_url_becomes_a_scrape_config(url: str, address: str, scrape: dict[str, object]) -> None:
    got_address, endpoint = MetricsEndpoint.from_url(url)
    assert got_address == address and endpoint.scrape() == scrape
    config = prometheus_config(PrometheusTargets(service=(got_address,), service_endpoint=endpoint))
    assert config["scrape_configs"][0] == {"job_name": "service", **scrape, "static_configs": [{"targets": [address]}]}


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://127.0.0.1/metrics", "http or https"),
        ("http://127.0.0.1:70000/metrics", "port"),
        ("http:///metrics", "no host"),
        ("http://127.0.0.1/metrics#top", "fragment"),
        ("http://me:secret@127.0.0.1/metrics", "user or password"),
    ],
)
def test_a_metrics_url_prometheus_cannot_scrape_is_refused(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        MetricsEndpoint.from_url(url)


def test_the_default_endpoint_adds_nothing_to_the_checked_in_configs() -> None:
    config = prometheus_config()
    assert all(set(job) == {"job_name", "static_configs"} for job in config["scrape_configs"])


def test_the_status_calls_the_server_side_the_target_and_shows_none_without_metrics() -> None:
    assert up.service_side(StackSettings()) == "service"
    assert up.service_side(target_settings("http://127.0.0.1:1", "http://127.0.0.1:1/metrics")) == "target"
    assert up.service_side(target_settings("http://127.0.0.1:1")) is None


# --- python -m stack target-dir: the folder docker-compose.target.yml mounts


def target_dir_args(out: Path, *more: str, spec: Path = LOADGEN_SPEC) -> list[str]:
    return ["target-dir", "--spec", str(spec), "--scenario", str(SCENARIO), "--out", str(out), *more]


def test_target_dir_writes_rules_scenario_and_an_empty_metrics_list_without_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(target_dir_args(tmp_path / "t")) == 0
    written = {Path(line).relative_to(tmp_path / "t").as_posix() for line in capsys.readouterr().out.splitlines()}
    assert {"scenario.yaml", "metrics.yml", "rules/operational.yml", "rules/slo-synthetic-availability.yml"} <= written
    assert yaml.safe_load((tmp_path / "t" / "metrics.yml").read_text()) == []
    assert "ServiceTargetDown" not in (tmp_path / "t" / "rules" / "operational.yml").read_text()
    assert "[5m]" in (tmp_path / "t" / "rules" / "slo-synthetic-availability.yml").read_text()  # real windows


def test_target_dir_lists_metrics_at_any_host_as_file_sd(tmp_path: Path) -> None:
    metrics = "http://model.models.svc:8080/prom?format=text"  # as the containers reach it: no loopback rule
    assert main(target_dir_args(tmp_path / "t", "--metrics", metrics, spec=SERVICE_SPEC)) == 0
    assert yaml.safe_load((tmp_path / "t" / "metrics.yml").read_text()) == [
        {
            "targets": ["model.models.svc:8080"],
            "labels": {"__scheme__": "http", "__metrics_path__": "/prom", "__param_format": "text"},
        }
    ]
    assert "ServiceTargetDown" in (tmp_path / "t" / "rules" / "operational.yml").read_text()


def test_target_dir_refuses_what_it_cannot_write_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(target_dir_args(tmp_path / "t", spec=SERVICE_SPEC)) == up.EXIT_FAILED
    assert "give --metrics URL" in one_error_line(capsys)
    assert main(target_dir_args(tmp_path / "t", "--metrics", "http://m:1/x?a=1&a=2")) == up.EXIT_FAILED
    assert "one value per parameter" in one_error_line(capsys)
    assert main(target_dir_args(tmp_path / "t", "--metrics", "gopher://m:1/")) == up.EXIT_FAILED
    assert "http or https" in one_error_line(capsys)
    assert not (tmp_path / "t").exists()


def test_the_report_reads_the_spec_it_is_given(
    monkeypatch: pytest.MonkeyPatch, canned_prometheus: CannedPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    canned_prometheus.paths["/api/v1/alerts"] = (200, {"status": "success", "data": {"alerts": []}})
    args = ["report", "--window", "60", "--prometheus", canned_prometheus.url, "--json"]
    assert main([*args, "--spec", str(LOADGEN_SPEC)]) == 1  # the canned Prometheus has no traffic
    saved = json.loads(capsys.readouterr().out)
    assert saved["service"] == "external-target"
    names = [s["name"] for s in saved["slos"]]
    assert names == ["synthetic-availability", "synthetic-latency-500ms", "synthetic-latency-100ms"]
