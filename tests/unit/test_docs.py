"""The docs match the code: every setting is in the README, and docs/architecture.md and
the README's folder table name every package and module of the tree (and nothing else)."""

from __future__ import annotations

import re

import pytest

from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings
from tests.unit.test_layout import scan

pytestmark = pytest.mark.unit


def test_readme_lists_every_setting_and_only_those() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `MLBSTS_([A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    fields = {name.upper() for name in Settings.model_fields}
    assert documented == fields


def test_readme_gives_the_two_setup_commands() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


# --- docs/architecture.md and the README's folder table match the tree ---

ARCHITECTURE_SECTIONS = (
    "1. The data flow",
    "2. Snapshots, events, identity",
    "3. Commands",
    "4. Servers and framings",
    "5. Where each thing lives",
    "Rules of the code",
)
# Folders without Python that the README's table names too.
DATA_FOLDERS = ("schemas/", "sql/", "deploy/", "docs/", "tests/")


def _section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section (up to the next ``## ``)."""
    _, found, rest = text.partition(f"\n## {heading}\n")
    assert found, f"no section '## {heading}'"
    return rest.split("\n## ", 1)[0]


def _first_cells(table: str) -> set[str]:
    """Backticked names in the first column of every table row."""
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    return {name for cell in rows for name in re.findall(r"`([^`]+)`", cell)}


def _tree() -> tuple[set[str], set[str]]:
    """(packages as ``a/b/``, modules as ``a/b/c.py`` without ``__init__.py``)."""
    tree = scan(PROJECT_ROOT)
    packages = {name.replace(".", "/") + "/" for name in tree.packages}
    modules = {
        str(path.relative_to(PROJECT_ROOT))
        for name, path in tree.files.items()
        if name not in tree.packages
    }
    return packages, modules


def test_architecture_has_the_sections_code_comments_cite() -> None:
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == list(ARCHITECTURE_SECTIONS)


def _mismatch(named: set[str], expected: set[str]) -> tuple[list[str], list[str]]:
    """(expected but not named, named but not in the repository)."""
    missing = sorted(expected - named)
    unknown = sorted(n for n in named if not (PROJECT_ROOT / n).exists())
    return missing, unknown


def test_where_each_thing_lives_names_every_package_and_module_and_only_those() -> None:
    text = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    packages, modules = _tree()
    missing, unknown = _mismatch(
        _first_cells(_section(text, "5. Where each thing lives")),
        packages | modules | set(DATA_FOLDERS),
    )
    assert not missing, f"docs/architecture.md section 5 lacks {missing}"
    assert not unknown, f"docs/architecture.md section 5 names what does not exist: {unknown}"


def test_readme_folder_table_names_every_package_and_only_real_folders() -> None:
    text = (PROJECT_ROOT / "README.md").read_text()
    table = _section(text, "The data flow").partition("| folder | what |")[2].split("\n\n")[0]
    packages, _ = _tree()
    missing, unknown = _mismatch(_first_cells(table), packages | set(DATA_FOLDERS))
    assert not missing, f"the README's folder table lacks {missing}"
    assert not unknown, f"the README's folder table names what does not exist: {unknown}"


def test_the_doc_checks_see_a_missing_and_a_stale_entry() -> None:
    table = "| path | what |\n|---|---|\n| `flows/` | `x.py` |\n| `flows/gone.py` | y |\n"
    named = _first_cells(table)
    assert named == {"flows/", "flows/gone.py"}
    assert _mismatch(named, {"flows/", "flows/live_stats.py"}) == (
        ["flows/live_stats.py"],
        ["flows/gone.py"],
    )
