"""Request bodies from a workload's body sources, serialised once: the deck holds their bytes.

- `jsonl`: one JSON document a line (blank lines skipped); each line is sent as written.
- `csv`: each row fills the `template` (a JSON structure whose strings may name columns: a string that is
  exactly `{column}` becomes the cell's value, a number where the cell is one; `{column}` inside a longer
  string is replaced by the cell's text); without a template, each row is sent as an object of its columns.
- `generator`: `module:callable`, imported here (so a workload that names none imports nothing of a service),
  called once as `callable(count, rng, **options)`; it returns `count` bodies, each bytes or a JSON value.

Files are drawn in a shuffled order, round and round, so every line or row is sent about as often. Every error
names the file (and line) or the generator, and is raised before anything is sent.
"""

from __future__ import annotations

import csv
import importlib
import json
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loadgen.workload import BodySource

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$")


def bodies(source: BodySource | None, count: int, rng: random.Random) -> list[bytes]:
    """`count` bodies from `source` (empty ones when there is none)."""
    if count <= 0:
        return []
    if source is None:
        return [b""] * count
    if source.jsonl is not None:
        return _drawn(jsonl(source.jsonl), count, rng)
    if source.csv is not None:
        return _drawn(csv_bodies(source.csv, source.template), count, rng)
    assert source.generator is not None  # (the model holds exactly one source)
    return generated(source.generator, source.options, count, rng)


def _drawn(pool: list[bytes], count: int, rng: random.Random) -> list[bytes]:
    out: list[bytes] = []
    while len(out) < count:
        order = list(pool)
        rng.shuffle(order)
        out += order[: count - len(out)]
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"body file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"body file {path}: not UTF-8 text ({exc.reason})") from None


def jsonl(path: Path) -> list[bytes]:
    """The documents of a JSONL file, each checked to be JSON and kept as written."""
    out = []
    for n, line in enumerate(_read(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError as exc:
            raise ValueError(f"body file {path}, line {n}: not a JSON document: {exc}") from None
        out.append(line.strip().encode())
    if not out:
        raise ValueError(f"body file {path}: no JSON document in it")
    return out


def cell(text: str) -> int | float | str:
    """A CSV cell as JSON would say it: a number where it is one, else the text."""
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def fill(template: Any, row: dict[str, str]) -> Any:
    """The template with the row's cells in place of its `{column}` placeholders."""
    if isinstance(template, dict):
        return {k: fill(v, row) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, row) for v in template]
    if not isinstance(template, str):
        return template
    for name in _PLACEHOLDER.findall(template):
        if name not in row:
            raise KeyError(name)
    whole = _PLACEHOLDER.fullmatch(template)
    if whole:
        return cell(row[whole[1]])
    return _PLACEHOLDER.sub(lambda m: row[m[1]], template)


def csv_bodies(path: Path, template: Any) -> list[bytes]:
    """One body per row: the template filled with it, or the row itself."""
    reader = csv.DictReader(_read(path).splitlines())
    columns = reader.fieldnames or []
    out = []
    for row in reader:
        if None in row:  # more cells than columns
            raise ValueError(f"body file {path}, line {reader.line_num}: more cells than the header's columns")
        cells = {k: v if v is not None else "" for k, v in row.items()}
        try:
            doc = fill(template, cells) if template is not None else {k: cell(v) for k, v in cells.items()}
        except KeyError as exc:
            raise ValueError(
                f"body template names column {exc.args[0]!r}, which {path} does not have (its columns: "
                f"{', '.join(columns)})"
            ) from None
        out.append(json.dumps(doc, separators=(",", ":")).encode())
    if not out:
        raise ValueError(f"body file {path}: no data rows")
    return out


def load_callable(ref: str) -> Callable[..., Any]:
    """The callable at `module:name`."""
    module_name, _, attr = ref.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"body generator {ref!r}: cannot import {module_name!r}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"body generator {ref!r}: {module_name} has no callable {attr!r}")
    return fn


def generated(ref: str, options: dict[str, Any], count: int, rng: random.Random) -> list[bytes]:
    """`count` bodies from the generator at `ref`, called with the source's options."""
    fn = load_callable(ref)
    try:
        made = fn(count, rng, **options)
    except TypeError as exc:  # an option it does not take, most likely
        raise ValueError(f"body generator {ref!r} with options {options}: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"body generator {ref!r}: {exc}") from None
    if not isinstance(made, Sequence) or isinstance(made, str | bytes) or len(made) != count:
        raise ValueError(f"body generator {ref!r}: expected a sequence of {count} bodies")
    out = []
    for body in made:
        if isinstance(body, bytes):
            out.append(body)
            continue
        try:
            out.append(json.dumps(body, separators=(",", ":")).encode())
        except (TypeError, ValueError) as exc:
            raise ValueError(f"body generator {ref!r}: a body is neither bytes nor JSON: {exc}") from None
    return out
