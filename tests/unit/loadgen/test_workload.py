"""The workload model and the deck built from it: each body source, headers from the environment, weights,
checks, and errors that name the file, line, field or variable at fault (before anything is sent)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from loadgen.bodies import cell
from loadgen.checks import SUCCESS_STATUSES
from loadgen.deck import Deck
from loadgen.workload import BodySource, RequestSpec, inline, reweigh, set_option


def spec(**fields: Any) -> RequestSpec:
    return RequestSpec.model_validate({"path": "/p", **fields})


def bodies(request: RequestSpec, size: int = 40, **options: Any) -> list[Any]:
    return [json.loads(r.body) for r in Deck([request], seed=1, size=size, **options).requests]


def test_jsonl_bodies_are_sent_as_written_each_about_as_often(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text('{"x": 1}\n\n  {"x":2}  \n[3]\n')
    deck = Deck([spec(body={"jsonl": str(path)})], seed=1, size=30).requests
    assert Counter(r.body for r in deck) == {b'{"x": 1}': 10, b'{"x":2}': 10, b"[3]": 10}  # shuffled, round and round
    assert len({r.body for r in deck[:3]}) == 3  # each round deals every line once


def test_csv_rows_fill_the_template_and_numbers_stay_numbers(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("age,city,zip,score\n31,Oslo,0150,1.5\n")
    template = {"inputs": [{"age": "{age}", "where": "{city} ({zip})", "score": "{score}", "fixed": True}]}
    [body] = bodies(spec(body={"csv": str(path), "template": template}), size=1)
    assert body == {"inputs": [{"age": 31, "where": "Oslo (0150)", "score": 1.5, "fixed": True}]}
    [plain] = bodies(spec(body={"csv": str(path)}), size=1)  # no template: the row as an object
    assert plain == {"age": 31, "city": "Oslo", "zip": 150, "score": 1.5}
    assert [cell(t) for t in ("-3", "2.5e3", ".5", "1.2.3", "nan", "")] == [-3, 2500.0, 0.5, "1.2.3", "nan", ""]


def numbers(count: int, rng: random.Random, *, start: int = 0, raw: bool = False) -> list[object]:
    """A body generator for the test (named by its import path, as a workload names one)."""
    if raw:
        return [b"%d" % (start + n) for n in range(count)]
    return [{"n": start + n, "r": rng.random()} for n in range(count)]


def test_a_generator_is_called_once_with_its_options() -> None:
    made = bodies(spec(body={"generator": f"{__name__}:numbers", "options": {"start": 100}}), size=5)
    assert [b["n"] for b in made] == [100, 101, 102, 103, 104]
    raw = bodies(spec(body={"generator": f"{__name__}:numbers", "options": {"raw": True}}), size=3)
    assert raw == [0, 1, 2]  # bytes are sent as they are


def test_headers_come_from_the_environment_at_load_time() -> None:
    request = spec(headers={"Authorization": "Bearer ${API_TOKEN}", "X-Both": "${A}-${B}", "Accept": "text/plain"})
    environ = {"API_TOKEN": "s3cret", "A": "1", "B": "2"}
    [built] = Deck([request], size=1, environ=environ).requests
    assert built.headers == (("Authorization", "Bearer s3cret"), ("X-Both", "1-2"), ("Accept", "text/plain"))
    assert request.headers["Authorization"] == "Bearer ${API_TOKEN}"  # the secret is never in the scenario
    with pytest.raises(ValueError, match="request /p: header Authorization needs the environment variable "
                                         "API_TOKEN, which is not set"):  # fmt: skip
        Deck([request], size=1, environ={"A": "1", "B": "2"})
    with pytest.raises(ValueError, match="the environment variable A holds CR, LF or NUL"):
        Deck([request], size=1, environ={**environ, "A": "x\r\nEvil: 1"})


def test_weights_set_the_mix_and_zero_sends_none() -> None:
    requests = [spec(path="/a", weight=3), spec(path="/b", weight=1), spec(path="/c", weight=0)]
    counts = Counter(r.route for r in Deck(requests, seed=2, size=4000).requests)
    assert set(counts) == {"/a", "/b"} and counts["/a"] / 4000 == pytest.approx(0.75, abs=0.03)  # seeded
    mixed = reweigh(requests, {"/c": 1, "/a": 1})
    assert [r.weight for r in mixed] == [1, 0, 1]
    with pytest.raises(ValueError, match=r"unknown requests \['/d'\]; the workload's: \['/a', '/b', '/c'\]"):
        reweigh(requests, {"/d": 1})
    with pytest.raises(ValueError, match="positive sum"):
        reweigh(requests, {"/a": 0})


def test_names_labels_methods_and_checks() -> None:
    named = spec(name="predict", method="get", check={"status": [200, 201], "json_field": "y"})
    [built] = Deck([named], size=1).requests
    assert (built.route, built.method, built.path, built.body) == ("predict", "GET", "/p", b"")
    assert built.check.statuses == frozenset({200, 201}) and built.check.path == ("y",)
    assert Deck([spec()], size=1).requests[0].check.statuses == SUCCESS_STATUSES  # default: any 2xx


def test_options_are_set_where_a_generator_has_them() -> None:
    gen = {"generator": f"{__name__}:numbers", "options": {"start": 1}}
    requests = [spec(path="/a", body=gen), spec(path="/b"), spec(path="/c", body={**gen, "options": {}})]
    changed = set_option(requests, "start", 7)
    assert [r.body and r.body.options for r in changed] == [{"start": 7}, None, {}]
    assert set_option(requests, "nope", 1, required=False) == requests
    with pytest.raises(ValueError, match="no body generator of the workload has the option 'nope'"):
        set_option(requests, "nope", 1)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"path": "p"}, "path 'p': a path starts with /"),
        ({"path": "/a b"}, "holds no whitespace"),
        ({"method": "BREW"}, "method"),
        ({"headers": {"Bad Name": "x"}}, "header name 'Bad Name' is not a valid HTTP header name"),
        ({"headers": {"X-A": "1\r\nX-B: 2"}}, "header X-A: a value may not hold CR, LF or NUL"),
        ({"headers": {"Content-Length": "5"}}, "header Content-Length: set by the load generator itself"),
        ({"body": {}}, r"give exactly one body source of jsonl, csv, generator \(got none\)"),
        ({"body": {"jsonl": "a", "csv": "b"}}, r"got \['jsonl', 'csv'\]"),
        ({"body": {"jsonl": "a", "template": {}}}, "`template` goes with a `csv` body source"),
        ({"body": {"jsonl": "a", "options": {"x": 1}}}, "`options` go with a `generator` body source"),
        ({"body": {"generator": "no_colon"}}, "give an import path `module:callable`"),
        ({"body": {"file": "a"}}, "body.file"),
        ({"check": {"status": [99]}}, "expected statuses are HTTP status codes"),
        ({"check": {"status": []}}, "at least one"),
        ({"check": {"json_field": ""}}, "check.json_field"),
        ({"weight": -1}, "weight"),
        ({"wait": 1}, "wait"),
    ],
)
def test_bad_fields_are_refused_by_name(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RequestSpec.model_validate({"path": "/p", **fields})


def test_bad_files_and_generators_say_which(tmp_path: Path) -> None:
    def deck(body: dict[str, Any]) -> None:
        Deck([RequestSpec(path="/p", body=BodySource.model_validate(body))], size=2)

    (tmp_path / "bad.jsonl").write_text('{"x": 1}\n{"x": \n')
    (tmp_path / "empty.jsonl").write_text("\n\n")
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2,3\n")
    (tmp_path / "header-only.csv").write_text("a,b\n")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"x": "\xe9"}\n')
    cases: list[tuple[dict[str, Any], str]] = [
        ({"jsonl": str(tmp_path / "bad.jsonl")}, f"request /p: body file {tmp_path / 'bad.jsonl'}, line 2: not a JSON"),
        ({"jsonl": str(tmp_path / "empty.jsonl")}, "no JSON document in it"),
        ({"jsonl": str(tmp_path / "missing.jsonl")}, "missing.jsonl: No such file or directory"),
        ({"jsonl": str(tmp_path / "latin1.jsonl")}, "latin1.jsonl: not UTF-8 text"),
        ({"csv": str(tmp_path / "rows.csv"), "template": {"v": "{c}"}}, "body template names column 'c'"),
        ({"csv": str(tmp_path / "rows.csv"), "template": {"v": "{c}"}}, r"does not have \(its columns: a, b\)"),
        ({"csv": str(tmp_path / "ragged.csv")}, "ragged.csv, line 2: more cells than the header's columns"),
        ({"csv": str(tmp_path / "header-only.csv")}, "header-only.csv: no data rows"),
        ({"generator": "no_such_module_here:f"}, "body generator 'no_such_module_here:f': cannot import"),
        ({"generator": f"{__name__}:nothing"}, f"{__name__} has no callable 'nothing'"),
        ({"generator": f"{__name__}:numbers", "options": {"size": 1}}, "unexpected keyword argument 'size'"),
        ({"generator": f"{__name__}:wrong_count"}, "expected a sequence of 2 bodies"),
        ({"generator": f"{__name__}:not_json"}, "a body is neither bytes nor JSON"),
        ({"generator": f"{__name__}:refuses"}, "body generator .*: no, thanks"),
    ]
    for body, message in cases:
        with pytest.raises(ValueError, match=message):
            deck(body)


def wrong_count(count: int, rng: random.Random) -> list[object]:
    return [{}] * (count + 1)


def not_json(count: int, rng: random.Random) -> list[object]:
    return [{1, 2}] * count


def refuses(count: int, rng: random.Random) -> list[object]:
    raise ValueError("no, thanks")


def test_inline_resolves_file_references_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text("workload:\n  - {path: /a, body: {csv: rows.csv, template: {x: '{a}'}}}\n")
    assert inline("w.yaml", tmp_path) == [{"path": "/a", "body": {"csv": str(tmp_path / "rows.csv"),
                                                                   "template": {"x": "{a}"}}}]  # fmt: skip
    (tmp_path / "notalist.yaml").write_text("path: /a\n")
    with pytest.raises(ValueError, match=r"notalist\.yaml: expected a list of requests"):
        inline("notalist.yaml", tmp_path)
    (tmp_path / "broken.yaml").write_text("- [\n")
    with pytest.raises(ValueError, match=r"broken\.yaml: not YAML"):
        inline("broken.yaml", tmp_path)
    assert inline(5, tmp_path) == 5  # left for the model to refuse
