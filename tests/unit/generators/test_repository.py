"""The generated files: every one fresh, none stray, and the generators' command line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from generators import paths
from generators.__main__ import main
from generators.repository import generate, rendered, repository_files, stale_repository, write_repository

SPEC, ROOT = paths.SPEC, paths.ROOT


def spec_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = SPEC.read_text()
    assert old in text
    path = tmp_path / "slo.yaml"
    path.write_text(text.replace(old, new))
    return path


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return repository_files(SPEC)


def test_generated_files_are_up_to_date(files: dict[str, str]) -> None:
    """Rules, promtool tests, Prometheus configs, dashboards and Kubernetes objects: all from the spec."""
    stale = [rel for rel, text in files.items() if not (ROOT / rel).exists() or (ROOT / rel).read_text() != text]
    assert not stale, f"regenerate with `python -m generators`: {stale}"


@pytest.mark.parametrize("folder", paths.GENERATED_FOLDERS)
def test_no_stray_generated_files(folder: str, files: dict[str, str]) -> None:
    """A generated folder holds only what the generators write (and its README)."""
    expected = {rel for rel in files if rel.startswith(f"{folder}/")}
    present = {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*") if p.is_file()}
    assert present == expected, present ^ expected


def test_write_then_check_a_copy(tmp_path: Path) -> None:
    written = write_repository(SPEC, tmp_path)
    assert stale_repository(SPEC, tmp_path) == []
    written[0].write_text("edited by hand\n")
    written[1].unlink()
    assert stale_repository(SPEC, tmp_path) == written[:2]


def test_shrunk_output_is_rules_only_with_shorter_ranges(tmp_path: Path) -> None:
    files = generate(SPEC, tmp_path, shrink=60)
    assert sorted(p.relative_to(tmp_path).parts[0] for p in files) == ["rules"] * 7
    text = (tmp_path / "rules" / "slo-requests-availability.yml").read_text()
    assert "[5s]" in text and "[5m]" not in text and "windows shrunk 60x" in text
    records = [r["record"] for r in yaml.safe_load(text)["groups"][0]["rules"]]
    assert "slo:sli_error:ratio_rate5m" in records and "slo:sli_error:ratio_rate30d" in records  # names stay


def test_every_slo_has_its_rules_and_four_promtool_files() -> None:
    files = rendered(SPEC)
    for name in ("requests-availability", "requests-latency-500ms", "requests-latency-100ms"):
        assert f"rules/slo-{name}.yml" in files
        assert {f"tests/slo-{name}.{kind}.test.yml" for kind in ("edges", "page", "records", "ticket")} <= set(files)


def test_check_command_names_what_a_changed_spec_makes_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_variant(tmp_path, "objective: 99.9", "objective: 99.5")
    assert main(["--check", "--spec", str(spec)]) == 1
    assert "stale: " in capsys.readouterr().err


def test_an_invalid_spec_exits_2_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = spec_variant(tmp_path, 'le="0.5"', 'le="0.42"')
    assert main(["--check", "--spec", str(spec)]) == 2
    assert 'le="0.42" is not a bucket boundary' in capsys.readouterr().err


def test_our_spec_must_select_the_contracts_routes_but_another_spec_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = spec_variant(tmp_path, "|/v1/predict/batch|", "|")
    assert main(["--check", "--spec", str(spec)]) == 2  # the repository's files: ours, so the contract's routes
    assert "the prediction routes are" in capsys.readouterr().err
    out = tmp_path / "out"
    assert main(["--spec", str(spec), "--out", str(out)]) == 0  # any spec, into a folder of its own
    written = capsys.readouterr().out.splitlines()
    assert str(out / "dashboards" / "slo-overview.json") in written
    assert str(out / "tests" / "slo-requests-availability.edges.test.yml") in written


@pytest.mark.parametrize("example", ["getting-started", "home-wifi", "multifile", "no-alerts", "raw-home-wifi"])
def test_sloths_own_examples_generate_into_a_folder(example: str, tmp_path: Path) -> None:
    """Specs nobody here wrote: other metric names, no job (home-wifi: its absent test misspells the metric
    instead), several services in one file (no dashboards then: a dashboard shows one service)."""
    spec = Path(__file__).parents[1] / "sloth_examples" / f"{example}.yml"
    written = {str(p.relative_to(tmp_path)) for p in generate(spec, tmp_path)}
    assert any(p.startswith("tests/") for p in written) and any(p.startswith("rules/slo-") for p in written)
    assert ("dashboards/slo-overview.json" in written) == (example != "multifile")
    if example == "home-wifi":
        text = " ".join(p.read_text() for p in (tmp_path / "tests").glob("*.edges.test.yml"))
        assert "(metric names misspelt)" in text and "the target restarts" in text


def test_shrink_needs_out_and_writes_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--shrink", "60"])
    assert refused.value.code == 2
    assert main(["--shrink", "60", "--out", str(tmp_path)]) == 0
    assert str(tmp_path / "rules" / "operational.yml") in capsys.readouterr().out.splitlines()


def test_config_targets_can_be_overridden(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "prometheus.yml"
    assert main(["config", "--service", "service:8000", "--alertmanager", "alertmanager:9093", "--out", str(out)]) == 0
    config = yaml.safe_load(out.read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {"service": ["service:8000"], "loadgen": ["127.0.0.1:9100"], "prometheus": ["127.0.0.1:9090"]}
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert main(["config", "--scrape-interval", "1s", "--rules", "r/*.yml"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["global"]["scrape_interval"] == "1s" and printed["rule_files"] == ["r/*.yml"]


def test_a_spec_that_disables_alerts_generates_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Our own spec with the first SLO's ticket alert disabled (the generator crashed on it): rules without
    that alert, promtool tests that say so."""
    text = SPEC.read_text()
    first = text.index("      ticket_alert:\n        labels:\n          severity: warning\n")
    path = tmp_path / "slo.yaml"
    path.write_text(text[:first] + "      ticket_alert:\n        disable: true\n" + text[first + 67 :])
    assert main(["--spec", str(path), "--shrink", "1", "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    alerts = yaml.safe_load((out / "rules" / "slo-requests-availability.yml").read_text())["groups"][2]["rules"]
    assert [a["labels"]["sloth_severity"] for a in alerts] == ["page"]
    ticket = (out / "tests" / "slo-requests-availability.ticket.test.yml").read_text()
    assert ticket.startswith("# Not tested: ticket: the alert is disabled in the spec.\n")
    assert "stale" not in capsys.readouterr().err


def test_a_file_of_several_specs_names_each_slo_by_its_sloth_id() -> None:
    """Sloth's multi-document example: two services with an SLO of the same name get a rule file each."""
    multifile = Path(__file__).parents[1] / "sloth_examples" / "multifile.yml"
    out = rendered(multifile)
    rules = sorted(rel for rel in out if rel.startswith("rules/slo-"))
    assert rules == ["rules/slo-myservice-requests-availability.yml", "rules/slo-myservice2-requests-availability.yml"]
    for rel in rules:
        sloth_id = rel.removeprefix("rules/slo-").removesuffix(".yml")
        groups = yaml.safe_load(out[rel])["groups"]
        assert groups and all(g["name"].endswith(f"-{sloth_id}") for g in groups)
    assert any(rel.startswith("tests/slo-myservice2-requests-availability.") for rel in out)
