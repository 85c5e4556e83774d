"""The user's guide stays true to the code: settings tables, paths, commands, links and runbook anchors.

Docs rot silently when code moves (the re-layout into contract/, generators/ and generated/ folders left
a dozen stale paths behind), so every fact that can be read mechanically is checked here.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from loadgen.settings import LoadgenSettings
from service.settings import ServiceSettings
from stack.settings import StackSettings
from tests.processes import ROOT

README = ROOT / "README.md"
RUNBOOK = ROOT / "prometheus" / "RUNBOOK.md"
GUIDES = sorted([README, RUNBOOK, *(ROOT / "docs").glob("*.md")])
#: Words that look like paths of the repository but are not.
NOT_PATHS = {"prometheus/v1"}  # Sloth's spec format

SETTINGS: dict[str, type[BaseSettings]] = {
    "SERVICE_": ServiceSettings,
    "LOADGEN_": LoadgenSettings,
    "STACK_": StackSettings,
}


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- settings tables -----------------------------------------------------------------------------------


def settings_rows(prefix: str) -> dict[str, str]:
    """Variable -> its default cell, from the README's table rows `| `PREFIX_X` | default | meaning |`."""
    rows = re.findall(rf"^\| `({prefix}[A-Z_]+)` \| ([^|]+) \|", text(README), flags=re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def same_default(cell: str, value: Any) -> bool:
    """A default as the README writes it: booleans as the environment spells them, paths from the root, JSON."""
    if isinstance(value, BaseModel):
        return bool(json.loads(cell) == value.model_dump(mode="json"))
    if isinstance(value, bool):
        return cell == str(value).lower()
    if isinstance(value, Path) and value.is_absolute() and value.is_relative_to(ROOT):
        return cell == str(value.relative_to(ROOT))
    return cell == str(value)


@pytest.mark.parametrize("prefix", SETTINGS)
def test_every_setting_is_documented_once(prefix: str) -> None:
    fields = {f"{prefix}{name.upper()}" for name in SETTINGS[prefix].model_fields}
    rows = re.findall(rf"^\| `({prefix}[A-Z_]+)` \|", text(README), flags=re.MULTILINE)
    assert sorted(rows) == sorted(fields)


@pytest.mark.parametrize("prefix", SETTINGS)
def test_every_documented_default_is_the_real_one(prefix: str) -> None:
    for name, cell in settings_rows(prefix).items():
        field = SETTINGS[prefix].model_fields[name.removeprefix(prefix).lower()]
        default = field.get_default(call_default_factory=True)
        if cell.startswith("`"):
            assert same_default(cell.strip("`"), default), f"{name}: {cell} but the default is {default!r}"
        else:  # "(empty)", "(unset)", "(temporary)": the default must be nothing
            assert cell.startswith("(") and not default, f"{name}: {cell} but the default is {default!r}"


# --- paths, commands, links ----------------------------------------------------------------------------


def layout_folders() -> list[str]:
    """The top-level folders of the README's layout table."""
    return re.findall(r"^\| `([\w.-]+)/[^`]*` \|", text(README), flags=re.MULTILINE)


def test_the_layout_table_names_every_folder_of_the_repository() -> None:
    tracked = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    not_ours = {"models", "run", "results", "build"} | {n for n in tracked if n.endswith(".egg-info")}
    assert set(layout_folders()) == tracked - not_ours


def mentioned_paths(doc: str, roots: list[str]) -> set[str]:
    """Paths in the text that start at a folder of the layout (stopping at `{`, `$` and host:port forms)."""
    pattern = rf"(?<![\w./:@-])((?:{'|'.join(map(re.escape, roots))})/[\w./*<>-]*)(?![\w:])"
    return {m.rstrip(".,") for m in re.findall(pattern, doc)} - NOT_PATHS


@pytest.mark.parametrize("doc", GUIDES, ids=rel)
def test_every_path_mentioned_exists(doc: Path) -> None:
    missing = []
    for path in mentioned_paths(text(doc), layout_folders()):
        as_glob = re.sub(r"<[^>]*>", "*", path)
        if not glob.glob(str(ROOT / as_glob)):
            missing.append(path)
    assert not missing, f"{rel(doc)} names paths that do not exist: {sorted(missing)}"


@pytest.mark.parametrize("doc", GUIDES, ids=rel)
def test_every_python_m_command_names_a_runnable_module(doc: Path) -> None:
    for module in set(re.findall(r"python -m ([\w.]+)", text(doc))):
        spec = importlib.util.find_spec(module)
        assert spec is not None, f"{rel(doc)}: no module {module}"
        if spec.submodule_search_locations is not None:  # a package runs its __main__
            assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{rel(doc)}: {module} has no __main__"


@pytest.mark.parametrize("doc", GUIDES, ids=rel)
def test_every_relative_link_resolves(doc: Path) -> None:
    for target in re.findall(r"\]\((?!https?://|#)([^)#]+)", text(doc)):
        assert (doc.parent / target).exists(), f"{rel(doc)} links to {target}, which does not exist"


@pytest.mark.parametrize("doc", GUIDES, ids=rel)
def test_no_tracker_references(doc: Path) -> None:
    """Issue numbers mean nothing to a reader of the repository: the docs say what, not which ticket."""
    assert not re.findall(r"\bissue\s*#?\d+", text(doc), flags=re.IGNORECASE)


# --- the runbook ----------------------------------------------------------------------------------------


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_urls() -> set[str]:
    urls = set()
    for path in (ROOT / "prometheus" / "generated" / "rules").glob("*.yml"):
        for group in yaml.safe_load(text(path))["groups"]:
            urls |= {r["annotations"]["runbook_url"] for r in group["rules"] if "alert" in r}
    return urls


def test_every_alert_has_a_runbook_section() -> None:
    urls = runbook_urls()
    assert urls, "no alert rules found"
    anchors = {anchor(h) for h in re.findall(r"^#+ (.+)$", text(RUNBOOK), flags=re.MULTILINE)}
    for url in urls:
        file, _, fragment = url.partition("#")
        assert ROOT / file == RUNBOOK, url
        assert fragment in anchors, f"{url}: no such section in {rel(RUNBOOK)}"
