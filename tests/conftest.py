"""Shared test fixtures (where the real recorded MLB data lives) and the tier rule.

Every test has exactly one tier marker (``unit``, ``flow``, ``integration``, ``e2e``) and the
``corpus`` marker when it reads the shared data, so ``-m unit`` and the others each run all
of their tier. Collection stops with the list of offending tests otherwise (checked before
``-m`` deselects anything).
"""

from __future__ import annotations

import ast
import functools
import gzip
import inspect
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, settings

from mlbsts.settings import get_settings

# Hypothesis's timing checks (a 200 ms deadline per example, "input generation is slow")
# fail a correct property when the machine is busy: on 2 shared cores a test in this suite
# once failed that way. Speed is measured by the benchmarks, never asserted in tests.
settings.register_profile("mlbsts", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mlbsts")

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_GAME_PK = 744914


def shared_data_dir() -> Path:
    """The shared corpus (``MLBSTS_DATA_DIR``, default ``../shared/data``)."""
    return get_settings().data_dir


def corpus_feed_paths() -> list[Path]:
    """Every final ``feed/live`` in the shared corpus, or [] when it is absent."""
    return sorted((shared_data_dir() / "mlb" / "feed_live").glob("*.json"))


def load_fixture_feed() -> dict[str, Any]:
    """The one real final feed kept in the repository (game 744914)."""
    data: dict[str, Any] = orjson.loads(
        gzip.decompress((FIXTURES / "744914.feed_live.json.gz").read_bytes())
    )
    return data


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not (path / "mlb").is_dir():
        pytest.skip(f"shared MLB corpus not found at {path} (set MLBSTS_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def fixture_feed() -> dict[str, Any]:
    return load_fixture_feed()


TIERS = ("unit", "flow", "integration", "e2e")
# Names whose use means reading the shared corpus (besides requesting the data_dir fixture).
CORPUS_SIGNS = frozenset({"data_dir", "corpus_feed_paths", "shared_data_dir", "MLBSTS_DATA_DIR"})


def _uses(node: ast.AST) -> set[str]:
    """Names, attributes and string constants ``node`` uses, minus its own parameters."""
    used: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            used.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            used.add(sub.attr)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            used.add(sub.value)  # os.environ["MLBSTS_DATA_DIR"]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        used -= {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    return used


@functools.cache
def _corpus_names(path: Path) -> frozenset[str]:
    """Corpus signs plus the module-level names of ``path`` defined from them (transitively)."""
    defs: dict[str, set[str]] = {}
    for stmt in ast.parse(path.read_text(), str(path)).body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defs.setdefault(stmt.name, set()).update(_uses(stmt))
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        defs.setdefault(name.id, set()).update(_uses(stmt))
    tainted = set(CORPUS_SIGNS)
    while grown := {n for n, uses in defs.items() if n not in tainted and uses & tainted}:
        tainted |= grown
    return frozenset(tainted)


def reads_corpus(item: pytest.Item) -> bool:
    """Whether a test reads the shared data: the data_dir fixture, or a corpus name in it."""
    names = _corpus_names(Path(item.path))
    if names.intersection(getattr(item, "fixturenames", ())):  # data_dir, or a fixture using it
        return True
    try:
        source = inspect.getsource(item.function)  # type: ignore[attr-defined]
    except (AttributeError, OSError, TypeError):  # not a Python function, or no source
        return False
    return any(_uses(node) & names for node in ast.parse(textwrap.dedent(source)).body)


def tier_problems(items: list[pytest.Item]) -> list[str]:
    """One line per test breaking the tier rule (parametrized cases counted once)."""
    problems: dict[str, str] = {}
    for item in items:
        marks = {mark.name for mark in item.iter_markers()}
        tiers = sorted(marks.intersection(TIERS))
        test = item.nodeid.partition("[")[0]
        if len(tiers) != 1:
            problems[test] = f"tier markers {tiers or 'none'}, want exactly one of {TIERS}"
        elif "corpus" not in marks and reads_corpus(item):
            problems[test] = "reads the shared data but has no `corpus` marker"
    return [f"{test}: {why}" for test, why in problems.items()]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse the run when a test breaks the tier rule (before ``-m`` deselects it)."""
    if problems := tier_problems(items):
        raise pytest.UsageError(
            "every test needs exactly one tier marker and `corpus` when it reads the shared "
            "data (tests/conftest.py):\n  " + "\n  ".join(problems)
        )
