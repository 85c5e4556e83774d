"""`python -m slo init`: a spec per preset that validates and generates, what a preset cannot compute, and the
refusals (a threshold off the histogram's buckets, a route that is not a path). promtool runs on the generated
files in the e2e tier (tests/e2e/test_slo_init_promtool.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from contract.routes import PREDICTION_ROUTES
from generators.repository import generate
from slo import validate
from slo.__main__ import main
from slo.init import PRESETS, LatencyObjective, Objectives, render_spec, write_spec
from slo.reads import literal_routes, reads
from slo.selectors import Matcher
from slo.spec import SpecError, check_contract_routes, load_spec
from tests.processes import ROOT

SPEC = ROOT / "prometheus" / "slo.yaml"
#: Per preset: the series names and label names its generated promtool series must use (read from the real
#: /metrics pages; see slo/presets.py).
SERIES = {
    "service": ("http_server_request_duration_seconds_bucket", 'route="/predict"', 'status_code="200"'),
    "otel": ("http_server_request_duration_seconds_bucket", 'http_route="/predict"', 'http_response_status_code="503"'),
    "fastapi-instrumentator": ("http_requests_total", 'handler="/predict"', 'status="500"'),
    "bentoml": ("bentoml_service_request_duration_seconds_bucket", 'endpoint="/predict"', 'http_response_code="503"'),
    "loadgen": ("loadgen_request_duration_seconds_bucket", 'route="/predict"', 'outcome="connect"'),
}


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_presets_spec_validates_and_generates(name: str, tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    write_spec(PRESETS[name], "my-model", ["/predict", "/v2/batch-predict"], Objectives(), path)
    spec = load_spec(path)
    assert not [f for f in validate.check(spec) if f.level == "error"]
    names = [slo.name for slo in spec.slos]
    synthetic = ["synthetic-availability", "synthetic-latency-500ms", "synthetic-latency-100ms"]
    server = ["requests-availability", "requests-latency-500ms", "requests-latency-100ms"]
    assert names == (synthetic if name == "loadgen" else server + synthetic)
    assert [slo.objective for slo in spec.slos] == [99.9, 90, 99] * (len(names) // 3)
    written = generate(path, tmp_path / "out")
    rel = {str(p.relative_to(tmp_path / "out")) for p in written}
    assert {f"rules/slo-{n}.yml" for n in names} <= rel
    assert {f"tests/slo-{n}.{kind}.test.yml" for n in names for kind in ("edges", "page", "records", "ticket")} <= rel
    assert {"dashboards/slo-overview.json", "dashboards/load.json"} <= rel
    assert ("dashboards/service.json" in rel) == (name == "service")  # it reads our service's own metrics
    # The test series are the preset's own names and labels, on its routes (the regex escapes "-", the data not).
    series = " ".join(
        s["series"]
        for f in (tmp_path / "out" / "tests").glob("*.test.yml")
        for t in yaml.safe_load(f.read_text())["tests"]
        for s in t["input_series"]
    )
    assert all(part in series for part in SERIES[name]), (name, SERIES[name])
    assert "/v2/batch-predict" in series


def test_one_route_is_enough(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    write_spec(PRESETS["bentoml"], "iris", ["/classify"], Objectives(latency=(LatencyObjective(0.25, 95),)), path)
    written = generate(path, tmp_path / "out")
    assert tmp_path / "out" / "rules" / "slo-requests-latency-250ms.yml" in written
    text = (tmp_path / "out" / "rules" / "slo-requests-latency-250ms.yml").read_text()
    assert 'endpoint=~"/classify"' in text and 'le="0.25"' in text and 'http_response_code!~"5.."' in text


def test_the_service_preset_on_our_routes_reads_what_our_spec_reads(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    write_spec(PRESETS["service"], "insurance-charges", PREDICTION_ROUTES, None, path)
    ours, init = load_spec(SPEC), load_spec(path)
    check_contract_routes(init)  # the contract's own routes, spelled as the contract spells them
    assert [(s.name, s.objective) for s in init.slos] == [(s.name, s.objective) for s in ours.slos]
    for mine, theirs in zip(init.slos, ours.slos, strict=True):
        assert {k: squash(q) for k, q in mine.sli.queries.items()} == {
            k: squash(q) for k, q in theirs.sli.queries.items()
        }, mine.name
        assert mine.alerting.name == theirs.alerting.name and mine.labels == theirs.labels
    assert "x-buckets" not in path.read_text()  # ours are the contract's: not stated twice


def test_a_histogram_without_a_status_label_says_what_it_cannot_compute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "slo.yaml"
    assert (
        main(
            ["init", "--preset", "fastapi-instrumentator", "--service", "my-model", "--route", "/p", "--out", str(out)]
        )
        == 0
    )
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("note: fastapi-instrumentator: http_request_duration_seconds has no ")
    assert "status label" in err[0] and "fast 5xx" in err[0]
    text = out.read_text()
    assert "# NOTE: fastapi-instrumentator: http_request_duration_seconds has no status label" in text
    # What it does instead: the latency SLIs read the bucket without a status matcher; availability the counter.
    spec = load_spec(out)
    latency = spec.slos[1].sli.events
    assert latency is not None and "status" not in latency.error_query
    assert (
        'http_requests_total{job="service",handler=~"/p",status=~"5.."}'
        in spec.slos[0].sli.queries["sli.events.error_query"]
    )
    # Its promtool edge tests leave out the fast-failure test, and say why.
    generate(out, tmp_path / "out")
    header = (tmp_path / "out" / "tests" / "slo-requests-latency-500ms.edges.test.yml").read_text()
    assert "# Not tested: fast-failure test (the latency histogram has no status label): does not apply." in header
    # A preset whose histogram has a status label says nothing.
    assert main(["init", "--preset", "otel", "--service", "my-model", "--route", "/p", "--out", str(out)]) == 0
    assert capsys.readouterr().err == "" and "NOTE" not in out.read_text()


def test_a_threshold_off_the_histograms_buckets_is_refused_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "slo.yaml"
    argv = ["init", "--preset", "fastapi-instrumentator", "--service", "my-model", "--route", "/p", "--out", str(out)]
    assert main([*argv, "--latency", "300ms:95"]) == 2
    err = capsys.readouterr().err
    assert "--latency 300ms: 0.3 s is not a bucket boundary of http_request_duration_seconds" in err
    assert "0.1, 0.5, 1.0" in err and not out.exists()
    # OpenTelemetry's exporter writes le="1": the spec reads what the target writes.
    argv = ["init", "--preset", "otel", "--service", "my-model", "--route", "/p", "--latency", "1s:99"]
    assert main([*argv, "--no-synthetic", "--out", str(out)]) == 0
    assert 'le="1"' in out.read_text() and load_spec(out).slos[1].latency_threshold_seconds == 1.0


def run(argv: list[str]) -> int:
    """The command's exit code, whether argparse (a flag's type) or the command itself refused the input."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


def test_a_threshold_the_load_generators_histogram_lacks_leaves_out_only_the_synthetic_twin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "slo.yaml"
    argv = ["init", "--preset", "otel", "--service", "my-model", "--route", "/p", "--latency", "25ms:95"]
    assert main([*argv, "--out", str(out)]) == 0
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith("note: synthetic-latency-25ms left out: 0.025 s is not a bucket boundary of loadgen_")
    assert "# NOTE: synthetic-latency-25ms left out" in out.read_text()
    names = [slo.name for slo in load_spec(out).slos]
    assert names == ["requests-availability", "requests-latency-25ms", "synthetic-availability"]
    # The load generator's own preset cannot leave it out: it is the SLO asked for.
    assert main(["init", "--preset", "loadgen", *argv[3:], "--out", str(tmp_path / "lg.yaml")]) == 2
    assert "not a bucket boundary of loadgen_request_duration_seconds" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--route", "predict"], "--route 'predict': a route is a path template"),
        (["--route", "/p", "--service", "my model"], "--service 'my model'"),
        (["--route", "/p", "--latency", "500ms:120"], "at most 100"),
        (["--route", "/p", "--latency", "fast:90"], "not a duration"),
        (["--route", "/p", "--latency", "500ms"], "write THRESHOLD:PERCENT"),
    ],
)
def test_bad_input_is_refused_naming_the_flag(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "s.yaml"
    assert run(["init", "--preset", "otel", "--service", "my-model", "--out", str(out), *argv]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_help_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["init", "--help"])
    text = capsys.readouterr().out
    assert all(name in text for name in PRESETS) and "THRESHOLD:PERCENT" in text and "bucket boundary" in text


def test_x_buckets_are_the_boundaries_a_spec_states(tmp_path: Path) -> None:
    text = render_spec(PRESETS["bentoml"], "my-model", ["/p"], Objectives(availability=None), synthetic=False)
    path = tmp_path / "slo.yaml"
    path.write_text(text.replace('le="0.5"', 'le="0.75"'))
    with pytest.raises(SpecError, match=r'le="0.75" is not a bucket boundary .*see the spec\'s x-buckets'):
        load_spec(path)


def test_reads_takes_routes_and_labels_from_the_selectors() -> None:
    assert literal_routes(Matcher("route", "=~", r"/a\.b|/c\-d")) == ("/a.b", "/c-d")
    with pytest.raises(SpecError, match="is a pattern, not a route"):
        literal_routes(Matcher("route", "=~", "/v1/.*"))
    found = reads(load_spec(SPEC).slos[1])
    assert (found.job, found.route_label, found.routes, found.le) == ("service", "route", PREDICTION_ROUTES, "0.5")
    assert [f.status_label for f in found.families] == ["status_code"]


def test_dashboards_of_a_spec_without_our_service_read_its_own_histogram(tmp_path: Path) -> None:
    path = tmp_path / "slo.yaml"
    write_spec(PRESETS["otel"], "my-model", ["/p"], None, path)
    generate(path, tmp_path / "out")
    load = json.loads((tmp_path / "out" / "dashboards" / "load.json").read_text())
    exprs = [t["expr"] for p in load["panels"] for t in p.get("targets", [])]
    assert any('http_server_request_duration_seconds_bucket{job="service", http_route=~"$route"}' in e for e in exprs)


@pytest.mark.parametrize(
    ("name", "job", "alerts"),
    [
        ("service", None, {"ServiceTargetDown", "ServiceNotReady", "ServiceSheddingLoad", "RequestsWaitBeforeService"}),
        ("otel", "model", {"ServiceTargetDown"}),
        ("loadgen", None, set()),  # a target without metrics: no scrape of it to miss
    ],
)
def test_operational_alerts_are_those_the_target_can_fire(
    name: str, job: str | None, alerts: set[str], tmp_path: Path
) -> None:
    path = tmp_path / "slo.yaml"
    write_spec(PRESETS[name], "my-model", ["/p"], None, path, job=job)
    generate(path, tmp_path / "out")
    rules = yaml.safe_load((tmp_path / "out" / "rules" / "operational.yml").read_text())["groups"][0]["rules"]
    found = {r["alert"]: r["expr"] for r in rules}
    assert set(found) == {"SyntheticTrafficMissing", "LoadgenDroppingRequests", *alerts}
    if job:
        assert found["ServiceTargetDown"] == f'(up{{job="{job}"}} == 0)\nor on() absent(up{{job="{job}"}})\n'
