"""The SLO report: its windows, its arithmetic on the spec's exact budget, its spans and incidents, its verdicts,
a whole build over a socket, and `python -m stack report` and `validate` on a canned Prometheus."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from slo.spec import SLOSpec, load_spec
from stack import report
from stack.__main__ import main
from stack.prometheus import Prometheus
from stack.report import assess, build, build_window, render, sli_queries
from stack.settings import StackSettings
from stack.spans import Incident, Span, Window, incidents, iso, parse_time, spans
from tests.unit.stack.canned import CannedPrometheus, closed_port_url, matrix, vector

SPEC_PATH = Path(__file__).resolve().parents[3] / "prometheus" / "slo.yaml"
SPEC = load_spec(SPEC_PATH)
AVAILABILITY, LATENCY_500MS, *_ = SPEC.slos
AVAILABILITY_IDS = '{sloth_service="insurance-charges", sloth_slo="requests-availability"}'
RECORDINGS = '{__name__=~"slo:sli_error:ratio_rate5m|slo:objective:ratio|sloth_slo_info", '
NOT_EVALUATING = "Sloth recording rules not evaluating (no slo:... recording of this SLO in the window)"
PAGE = {
    "alertname": "InsuranceChargesAvailabilitySLO",
    "severity": "critical",
    "sloth_severity": "page",
    "sloth_slo": "requests-availability",
}


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, canned_prometheus: CannedPrometheus) -> StackSettings:
    """The local stack's Prometheus is the canned one."""
    monkeypatch.setenv("STACK_PROMETHEUS_PORT", str(urlsplit(canned_prometheus.url).port))
    monkeypatch.setenv("STACK_RUN_DIR", str(tmp_path / "run"))
    canned_prometheus.paths = {"/api/v1/alerts": (200, {"status": "success", "data": {"alerts": []}})}
    return StackSettings()


def t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def raw_slo(objective: float = 99) -> SLOSpec:
    return SLOSpec.model_validate(
        {
            "name": "raw",
            "objective": objective,
            "sli": {"raw": {"error_ratio_query": "max(rate(errors[{{.window}}]))"}},
            "alerting": {"name": "RawBurn"},
        }
    )


# --- windows and times -----------------------------------------------------------------------------------


def test_a_calendar_month_is_its_utc_days_and_a_running_one_stops_at_now() -> None:
    november = Window.month("2026-11", now=t("2027-01-15T00:00:00"))
    assert (november.start, november.end) == (t("2026-11-01T00:00:00"), t("2026-12-01T00:00:00"))
    assert november.seconds == 30 * 86400 and november.label == "calendar month 2026-11"
    december = Window.month("2026-12", now=t("2027-01-15T00:00:00"))
    assert december.end == t("2027-01-01T00:00:00") and december.seconds == 31 * 86400
    running = Window.month("2026-12", now=t("2026-12-02T06:00:00"))
    assert running.end == t("2026-12-02T06:00:00") and running.label.endswith("so far")
    with pytest.raises(ValueError, match="has not started"):
        Window.month("2027-01", now=t("2026-12-02T06:00:00"))
    for bad in ("2026-13", "2026-1", "november"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Window.month(bad, now=t("2026-12-02T06:00:00"))


def test_times_read_as_iso_or_unix_seconds_utc_by_default() -> None:
    assert parse_time("2026-11-03T04:00:00Z") == parse_time("2026-11-03T04:00") == t("2026-11-03T04:00:00")
    assert parse_time("2026-11-03T05:00:00+01:00") == t("2026-11-03T04:00:00")
    assert parse_time("1790000000.5") == 1790000000.5
    with pytest.raises(ValueError, match="neither Unix seconds nor an ISO 8601 time"):
        parse_time("yesterday")
    assert iso(t("2026-11-03T04:00:00")) == "2026-11-03T04:00:00Z" and iso(0.25) == "1970-01-01T00:00:00.250Z"


def test_a_window_ends_after_it_starts_and_its_grid_stays_small() -> None:
    with pytest.raises(ValueError, match=r"ends .* before it starts"):
        Window(10.0, 10.0)
    assert Window(0, 60).step() == 1.0
    assert Window(0, 30 * 86400).step() == 519.0  # 30 days in at most 5,000 points


def test_spans_merge_consecutive_grid_times_and_stop_at_the_window() -> None:
    assert spans([5, 1, 2, 3, 7, 8], 1, window_end=8.5) == [Span(1, 4), Span(5, 6), Span(7, 8.5)]
    assert spans([], 1, 10) == []


def alerts_series(labels: dict[str, str], state: str, times: list[float]) -> dict[str, object]:
    return {"metric": {"__name__": "ALERTS", **labels, "alertstate": state}, "values": [[x, "1"] for x in times]}


def test_an_incident_whose_burn_window_changes_is_one_incident() -> None:
    # The pre-fix rules: firing under sloth_window=1h, then the 6h condition takes over (a new series, pending a
    # while under some rules), then firing under 6h; Prometheus gave three series and Alertmanager two alerts.
    window = Window(0, 100)
    series = [
        alerts_series({**PAGE, "sloth_window": "1h"}, "firing", [10, 11, 12, 13]),
        alerts_series({**PAGE, "sloth_window": "6h"}, "pending", [14, 15]),
        alerts_series({**PAGE, "sloth_window": "6h"}, "firing", [16, 17, 18]),
    ]
    (incident,) = incidents(series, 1.0, window)
    assert (incident.start, incident.end, incident.severity) == (10, 19, "critical/page")
    assert "sloth_window" not in incident.labels and "alertstate" not in incident.labels
    assert incident.as_dict()["seconds"] == 9 and incident.as_dict()["slo"] == "requests-availability"


def test_two_incidents_of_one_alert_pending_only_and_still_firing() -> None:
    window = Window(0, 100)
    ticket = {**PAGE, "severity": "warning", "sloth_severity": "ticket"}
    series = [
        alerts_series(PAGE, "firing", [10, 11, 40, 41]),  # a gap: two incidents
        alerts_series({"alertname": "Flaky", "severity": "warning"}, "pending", [20, 21]),  # never fired: none
        alerts_series(ticket, "firing", [90, 95, 99.5]),  # coarse, but ~continuous: still firing at the end
    ]
    found = incidents(series, 5.0, window)
    assert [(i.alertname, i.severity, i.start, i.end) for i in found] == [
        ("InsuranceChargesAvailabilitySLO", "critical/page", 10, 16),
        ("InsuranceChargesAvailabilitySLO", "critical/page", 40, 46),
        ("InsuranceChargesAvailabilitySLO", "warning/ticket", 90, None),
    ]
    assert found[-1].as_dict()["end"] is None and Incident("X", {}, 0, 1).severity == "-"


# --- one SLO's arithmetic ---------------------------------------------------------------------------------


def test_a_met_slo_spends_its_exact_budget_weighted_by_requests() -> None:
    # 0.05% errors against a 0.1% budget: half the window's budget (a float budget 1 - 0.999 gives 0.4999999999999996).
    result = assess(AVAILABILITY, 600, total=10.0, errors=0.005, now_5m=0.0, evaluating=True, alert_fired=False)
    assert result.ok and result.problems == []
    assert result.budget_spent == 0.5 and result.requests == 6000 and result.errors == 3
    assert result.sli == pytest.approx(0.9995, abs=1e-15) and result.sli_5m_now == 1.0


def test_no_error_series_means_no_errors() -> None:
    result = assess(LATENCY_500MS, 10, total=2.0, errors=None, now_5m=0.0, evaluating=True, alert_fired=False)
    assert result.ok and result.error_ratio == 0 and result.sli == 1 and result.errors == 0


def test_every_kind_of_breach_is_named() -> None:
    under = assess(LATENCY_500MS, 10, total=1.0, errors=0.2, now_5m=None, evaluating=False, alert_fired=True)
    assert under.problems == [
        "SLI 80.0000% under the objective 90%",
        NOT_EVALUATING,
        "alert InsuranceChargesLatency500msSLO fired",
    ]
    assert under.budget_spent == pytest.approx(2.0)
    silent = assess(AVAILABILITY, 10, total=0.0, errors=None, now_5m=None, evaluating=True, alert_fired=False)
    assert silent.problems == ["no traffic in the window"] and silent.sli is None and silent.requests == 0


def test_a_raw_sli_has_a_ratio_but_no_request_count_and_a_100_percent_objective_no_budget() -> None:
    raw = assess(raw_slo(), 60, total=1.0, errors=0.002, now_5m=None, evaluating=True, alert_fired=False)
    assert raw.requests is None and raw.errors is None and raw.budget_spent == pytest.approx(0.2)
    perfect = assess(raw_slo(100), 60, total=1.0, errors=0.002, now_5m=None, evaluating=True, alert_fired=False)
    assert perfect.budget_spent is None and perfect.problems == ["SLI 99.8000% under the objective 100%"]
    clean = assess(raw_slo(100), 60, total=1.0, errors=0.0, now_5m=None, evaluating=True, alert_fired=False)
    assert clean.budget_spent == 0 and clean.ok


def test_sli_queries_put_the_window_in_the_specs_own_queries() -> None:
    error, total = sli_queries(AVAILABILITY, "90s")
    assert error == AVAILABILITY.sli.events.error_query.replace("{{.window}}", "90s")  # type: ignore[union-attr]
    assert "[90s]" in total and "{{.window}}" not in error + total
    assert sli_queries(raw_slo(), "1m") == ("(max(rate(errors[1m])))", "vector(1)")


# --- a whole report over a socket ------------------------------------------------------------------------


def drill_answers(canned: CannedPrometheus, window: Window) -> None:
    """A month's answers: 1,200,000 requests and 600 errors, one page (over two burn windows), a no-data gap."""
    error, total = sli_queries(AVAILABILITY, "30d")
    step = window.step()
    grid = [window.start + i * step for i in range(int(window.seconds // step) + 1)]
    gap = set(grid[100:110])  # 10 points without requests, then 5 without evaluation at all
    no_data = [(x, 1.0 if x in gap else 0.0) for x in grid if x not in set(grid[200:205])]
    canned.queries = {
        total: vector(1_200_000 / window.seconds),
        error: vector(600 / window.seconds),
        f"max(slo:sli_error:ratio_rate5m{AVAILABILITY_IDS})": vector(0.0),
        f'count(last_over_time({RECORDINGS}sloth_service="insurance-charges", sloth_slo="requests-availability"}}'
        "[30d]))": vector(12),
    }
    firing = [grid[300], grid[301]]
    canned.ranges = {
        f"max(slo:sli_no_data:bool{AVAILABILITY_IDS})": matrix(({}, no_data)),
        "ALERTS": matrix(
            ({**PAGE, "alertstate": "firing", "sloth_window": "1h"}, [(firing[0], 1.0)]),
            ({**PAGE, "alertstate": "firing", "sloth_window": "6h"}, [(firing[1], 1.0)]),
        ),
    }
    canned.paths = {"/api/v1/alerts": (200, {"status": "success", "data": {"alerts": []}})}


def test_a_months_report_weights_by_requests_and_lists_gaps_and_one_incident(
    canned_prometheus: CannedPrometheus,
) -> None:
    window = Window.month("2026-11", now=t("2026-12-02T06:00:00"))
    drill_answers(canned_prometheus, window)
    result = build_window(Prometheus(canned_prometheus.url), SPEC, window)
    assert {q["time"] for q in canned_prometheus.seen if "time" in q} == {f"{window.end:.3f}"}
    first, *others = result.slos
    assert first.requests == pytest.approx(1_200_000) and first.errors == pytest.approx(600)
    assert first.budget_spent == pytest.approx(0.5)  # 0.05% errors of a 0.1% budget
    step = window.step()
    assert step == 519  # 30 days in at most 5,000 points
    no_data = [Span(window.start + 100 * step, window.start + 110 * step)]
    no_evaluation = [Span(window.start + 200 * step, window.start + 205 * step)]
    assert first.no_data == no_data + no_evaluation
    (incident,) = result.incidents
    assert incident.start == window.start + 300 * step and incident.end == window.start + 302 * step
    assert first.alert_fired and first.problems == ["alert InsuranceChargesAvailabilitySLO fired"]
    # Every server-side SLO counts the same requests; the canned Prometheus has no errors nor recordings for the
    # others, and no synthetic (client-side) request at all.
    assert [(s.sli, s.no_data, s.problems) for s in others] == [(1.0, None, [NOT_EVALUATING])] * 2 + [
        (None, None, ["no traffic in the window", NOT_EVALUATING])
    ] * 3
    text = render(result)
    assert text.splitlines()[0] == (
        "SLO report for insurance-charges, 2026-11-01T00:00:00Z to 2026-12-01T00:00:00Z "
        "(30d, calendar month 2026-11; from Prometheus)"
    )
    row = next(line.split() for line in text.splitlines() if line.startswith("  requests-availability "))
    no_data_total = "2h9m45s"  # 15 points of 519 s
    cells = ["requests-availability", "99.9%", "99.950%", "600", "1,200,000", "50.0%", no_data_total, "100.000%"]
    assert row == [*cells, "BREACH"]
    assert (
        "  2026-11-02T19:15:00Z to 2026-11-02T19:32:18Z (17m18s)  critical/page  InsuranceChargesAvailabilitySLO"
        in text
    )
    assert "  requests-availability: 2026-11-01T14:25:00Z to 2026-11-01T15:51:30Z (1h26m30s)" in text
    saved = json.loads(result.to_json())
    assert saved["window_seconds"] == 30 * 86400 and saved["start"] == "2026-11-01T00:00:00Z"
    assert saved["incidents"][0]["severity"] == "critical/page" and saved["slos"][0]["no_data"][0]["seconds"] == 5190
    assert saved["ok"] is False


def test_a_clean_report_passes_and_build_ends_now_by_default(canned_prometheus: CannedPrometheus) -> None:
    met = assess(AVAILABILITY, 60, total=1.0, errors=0.0, now_5m=0.0, evaluating=True, alert_fired=False)
    clean = report.Report("svc", Window(0, 60), [met], incidents=[], active=[])
    text = render(clean)
    assert clean.ok and "alerts that fired, one line per incident: none" in text
    assert "no data (no request, or no rule evaluation): none" in text and text.endswith("PASS: every SLO met")
    canned_prometheus.paths = {"/api/v1/alerts": (200, {"status": "success", "data": {"alerts": []}})}
    soak = build(Prometheus(canned_prometheus.url), SPEC, 90)
    assert soak.window.seconds == 90 and not soak.ok  # nothing answered: no traffic


def test_an_active_alert_is_one_short_line_as_an_incident_names_it() -> None:
    met = assess(AVAILABILITY, 60, total=1.0, errors=0.0, now_5m=0.0, evaluating=True, alert_fired=False)
    labels = {"alertname": "InsuranceChargesAvailabilitySLO", "severity": "critical", "sloth_severity": "page",
              "sloth_slo": "requests-availability", "category": "availability", "windows": "5m, 1h"}  # fmt: skip
    active = [{"state": "firing", "labels": labels}, {"state": "pending", "labels": {"alertname": "ServiceNotReady"}}]
    text = render(report.Report("svc", Window(0, 60), [met], incidents=[], active=active))
    assert "  firing  critical/page  InsuranceChargesAvailabilitySLO requests-availability\n" in text
    assert "  pending  -  ServiceNotReady\n" in text and "category" not in text


# --- the commands -----------------------------------------------------------------------------------------


def test_report_command_takes_any_window_prints_json_and_exits_1_on_a_breach(
    settings: StackSettings, canned_prometheus: CannedPrometheus, capsys: pytest.CaptureFixture[str]
) -> None:
    drill_answers(canned_prometheus, Window.month("2026-11", now=t("2026-12-02T06:00:00")))
    assert main(["report", "--month", "2026-11", "--prometheus", canned_prometheus.url, "--json"]) == 1
    saved = json.loads(capsys.readouterr().out)
    assert saved["window"] == "calendar month 2026-11" and saved["slos"][0]["budget_spent"] == pytest.approx(0.5)
    url = canned_prometheus.url
    start, end = "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"
    for flags, length in (
        (["--start", start, "--end", end], 86400),
        (["--start", start, "--window", "1h"], 3600),
        (["--end", end, "--window", "2h"], 7200),
        (["--start", str(time.time() - 600)], 600),
    ):
        assert main(["report", *flags, "--prometheus", url, "--json"]) == 1
        assert json.loads(capsys.readouterr().out)["window_seconds"] == pytest.approx(length, abs=5)
    assert main(["report", "--window", "90"]) == 1  # the local stack's Prometheus, from the settings
    assert "verdict: BREACH" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--month", "2026-11", "--window", "1h"], "--month is a window of its own"),
        ([], "give --window, --start, --month, or two of"),
        (["--end", "2026-11-02"], "give --window, --start, --month, or two of"),
        (["--start", "1", "--end", "2", "--window", "1"], "give --window, --start, --month, or two of"),
        (["--start", "2026-11-02", "--end", "2026-11-01"], "before it starts"),
        (["--month", "2999-01"], "has not started"),
    ],
)
def test_report_command_refuses_a_window_it_cannot_read(
    settings: StackSettings, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", *flags, "--prometheus", closed_port_url()]) == 2
    assert message in capsys.readouterr().err


def test_report_command_says_when_prometheus_does_not_answer(
    settings: StackSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--window", "1h", "--prometheus", closed_port_url()]) == 2
    assert capsys.readouterr().err.startswith("error: Prometheus: ")


def test_validate_command_checks_the_spec_and_its_selectors_live(
    settings: StackSettings, canned_prometheus: CannedPrometheus, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["validate"]) == 0  # the shipped spec, offline: one warning (a 90% SLO cannot burn 14.4x)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("warning: insurance-charges/requests-latency-500ms: the page alert's condition 14.4x")
    assert out[-1].startswith("valid: 6 SLO(s) of 1 spec(s) in ")
    # Live: the canned Prometheus knows the 5xx selector only, so every other selector matches nothing.
    errors = next(iter(AVAILABILITY.series_selectors()))[1].text
    canned_prometheus.queries = {f"count(last_over_time({errors}[3600s]))": vector(2)}
    assert main(["validate", str(SPEC_PATH), "--prometheus", canned_prometheus.url]) == 1
    out = capsys.readouterr().out.splitlines()
    refused = [line for line in out if line.startswith("error: ")]
    assert refused and not any(errors in line for line in refused)
    assert "matches no series" in refused[0] and out[-1].startswith(f"refused: {len(refused)} error(s)")
    data = yaml.safe_load(SPEC_PATH.read_text())
    data["slos"][0]["objective"] = 50
    bad = tmp_path / "slo.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["validate", str(bad)]) == 1
    assert "error: insurance-charges/requests-availability: the page alert can never fire" in capsys.readouterr().out
    bad.write_text("version: prometheus/v1\n")
    assert main(["validate", str(bad)]) == 1
    assert capsys.readouterr().out.startswith("error: ")


def test_another_services_alert_of_the_same_name_is_not_this_slos(canned_prometheus: CannedPrometheus) -> None:
    """Two services of one spec file may have SLOs and alerts of the same name: each fires for its own."""
    window = Window.month("2026-11", now=t("2026-12-02T06:00:00"))
    drill_answers(canned_prometheus, window)
    elsewhere = {**PAGE, "sloth_service": "another-service", "alertstate": "firing"}
    canned_prometheus.ranges["ALERTS"] = matrix((elsewhere, [(window.start + 300 * window.step(), 1.0)]))
    first, *_ = build_window(Prometheus(canned_prometheus.url), SPEC, window).slos
    assert not first.alert_fired and "alert InsuranceChargesAvailabilitySLO fired" not in first.problems
