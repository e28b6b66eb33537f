"""The layout keeps its promises (docs/architecture.md, "Rules of the code" and section 5).

- No import cycle between packages, and the leaf modules (settings, topic names, paths)
  import nothing else of the project.
- The pure core imports no I/O library, not even through another project module.
- No module over 400 lines, no function over 60.

The imports are read with ``ast`` (imports inside functions and under ``TYPE_CHECKING``
count), so nothing is executed. Each check is a function over a source tree, and each is
also shown to fail on a small fake tree.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

from mlbsts.paths import PROJECT_ROOT

pytestmark = pytest.mark.unit

# Top-level packages of the project; every directory with an __init__.py below them is one too.
ROOTS = ("flows", "connectors", "ingest", "sim", "mlbsts", "api", "bench")
# Modules that are nodes of their own and may import only each other.
LEAVES = frozenset({"mlbsts.settings", "mlbsts.topics", "mlbsts.paths"})
# The pure core: a package stands for every module in it.
PURE: tuple[str, ...] = ("flows.game", "flows.stats")
PURE += ("ingest.policy", "ingest.limits", "ingest.diff_patch", "ingest.options")
PURE += ("sim.simulate", "sim.linescore", "sim.perturb", "sim.scoring_change")
# Libraries that talk to the outside world (also banned by ruff's TID251 in the pure core).
IO_LIBS = frozenset(
    {
        *("confluent_kafka", "psycopg", "httpx", "minio", "redis", "bytewax", "fastavro"),
        *("yoyo", "socket", "urllib", "http", "requests", "aiohttp", "boto3"),
        *("subprocess", "asyncio", "threading"),
    }
)
RUFF = (str(PROJECT_ROOT / ".venv" / "bin" / "ruff"), "check", "--no-cache", "--select", "TID251")
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.conftest")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


@dataclass(frozen=True)
class Tree:
    """The project's modules: dotted name → file, and which names are packages."""

    root: Path
    files: dict[str, Path]
    packages: frozenset[str]


def scan(root: Path, roots: Iterable[str] = ROOTS) -> Tree:
    """Every module under ``roots`` whose directories are all packages."""
    files: dict[str, Path] = {}
    packages: set[str] = set()

    def walk(directory: Path, name: str) -> None:
        if not (directory / "__init__.py").is_file():
            return
        packages.add(name)
        files[name] = directory / "__init__.py"
        for path in sorted(directory.iterdir()):
            if path.is_dir():
                walk(path, f"{name}.{path.name}")
            elif path.suffix == ".py" and path.name != "__init__.py":
                files[f"{name}.{path.stem}"] = path

    for top in roots:
        walk(root / top, top)
    return Tree(root, files, frozenset(packages))


def imported_names(tree: Tree, module: str) -> Iterator[str]:
    """Dotted names ``module`` imports, anywhere in the file (relative imports resolved)."""
    package = module if module in tree.packages else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(tree.files[module].read_text(), str(tree.files[module]))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in tree.files else base


def project_module(tree: Tree, name: str) -> str | None:
    """The project module an imported name lands in (its longest known prefix), if any."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if (candidate := ".".join(parts[:end])) in tree.files:
            return candidate
    return None


def node_of(tree: Tree, module: str) -> str:
    """The graph node of a module: itself for a leaf or a package, else its package."""
    if module in LEAVES or module in tree.packages:
        return module
    return module.rpartition(".")[0]


def package_edges(tree: Tree) -> dict[tuple[str, str], str]:
    """(from package, to package) → one import that makes the edge, as "a.b imports c.d"."""
    edges: dict[tuple[str, str], str] = {}
    for module in tree.files:
        for name in imported_names(tree, module):
            target = project_module(tree, name)
            if target is None:
                continue
            edge = (node_of(tree, module), node_of(tree, target))
            if edge[0] != edge[1]:
                edges.setdefault(edge, f"{module} imports {target}")
    return edges


def find_cycles(tree: Tree) -> list[str]:
    """One cycle per strongly connected group of packages, each import on it named."""
    edges = package_edges(tree)
    succ: dict[str, set[str]] = {}
    for a, b in edges:
        succ.setdefault(a, set()).add(b)

    def path(start: str, goal: str) -> list[str] | None:
        """Shortest path start → … → goal (breadth first)."""
        came: dict[str, str] = {}
        frontier = [start]
        while frontier:
            nxt: list[str] = []
            for here in frontier:
                for there in sorted(succ.get(here, ())):
                    if there not in came:
                        came[there] = here
                        nxt.append(there)
            if goal in came:
                hops = [goal]
                while hops[-1] != start or len(hops) == 1:
                    hops.append(came[hops[-1]])
                return hops[::-1]
            frontier = nxt
        return None

    cycles, seen = [], set[str]()
    for start in sorted(succ):
        if start in seen or (loop := path(start, start)) is None:
            continue
        seen.update(loop)
        why = "; ".join(edges[(a, b)] for a, b in pairwise(loop))
        cycles.append(f"{' -> '.join(loop)} ({why})")
    return cycles


def leaf_violations(tree: Tree) -> list[str]:
    """Imports of the leaf modules that reach the project outside the leaves."""
    bad = []
    for leaf in sorted(LEAVES & tree.files.keys()):
        for name in imported_names(tree, leaf):
            target = project_module(tree, name)
            if target is not None and target not in LEAVES and target != leaf:
                bad.append(f"{leaf} imports {target}")
    return bad


def is_pure(module: str) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in PURE)


def purity_violations(tree: Tree) -> list[str]:
    """Pure modules reaching an I/O library or a non-pure project module, with the path.

    The package ``__init__`` of a pure module's parents runs too, so it is followed as well
    (it need not be pure itself, only import nothing that is not).
    """
    bad = []
    for start in sorted(m for m in tree.files if is_pure(m)):
        trail = {start: start}
        todo = [start]
        while todo:
            here = todo.pop()
            parents = [".".join(here.split(".")[:n]) for n in range(1, here.count(".") + 1)]
            for name in [*imported_names(tree, here), *parents]:
                target = project_module(tree, name)
                via = f"{trail[here]} -> {name}"
                if target is None and name.split(".")[0] in IO_LIBS:
                    bad.append(f"{start}: {via} (I/O library)")
                elif target is not None and target not in trail:
                    if not is_pure(target) and target not in parents:
                        bad.append(f"{start}: {via} (not a pure module)")
                        continue
                    trail[target] = via
                    todo.append(target)
    return sorted(set(bad))


def size_violations(paths: Iterable[Path], root: Path) -> list[str]:
    """Modules over MAX_MODULE_LINES lines, functions over MAX_FUNCTION_LINES."""
    bad = []
    for path in paths:
        text = path.read_text()
        where = path.relative_to(root)
        if (lines := len(text.splitlines())) > MAX_MODULE_LINES:
            bad.append(f"{where}: {lines} lines")
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    bad.append(f"{where}:{node.lineno} {node.name}(): {length} lines")
    return bad


def source_files(root: Path) -> list[Path]:
    """Every Python file of the project, tests included."""
    files = [p for top in (*ROOTS, "tests") for p in (root / top).rglob("*.py")]
    return sorted(p for p in files if "__pycache__" not in p.parts)


# --- the real tree ---


def test_no_import_cycle_between_packages() -> None:
    cycles = find_cycles(scan(PROJECT_ROOT))
    assert not cycles, "import cycles between packages:\n" + "\n".join(cycles)


def test_settings_topics_and_paths_import_only_each_other() -> None:
    tree = scan(PROJECT_ROOT)
    assert tree.files.keys() >= LEAVES
    bad = leaf_violations(tree)
    assert not bad, "leaf modules importing the project:\n" + "\n".join(bad)


def test_pure_modules_reach_no_io_library() -> None:
    tree = scan(PROJECT_ROOT)
    for pure in PURE:
        assert pure in tree.files, f"{pure} is listed as pure but does not exist"
    bad = purity_violations(tree)
    assert not bad, "pure modules reaching I/O:\n" + "\n".join(bad)


def test_ruff_bans_every_io_library_in_every_pure_module() -> None:
    """pyproject's TID251 list and per-file-ignores agree with this test (an editor flags it)."""
    tree = scan(PROJECT_ROOT)
    probe = "".join(f"import {lib}\n" for lib in sorted(IO_LIBS))
    for module in sorted(m for m in tree.files if is_pure(m)):
        path = tree.files[module].relative_to(PROJECT_ROOT)
        out = subprocess.run(
            [*RUFF, "--output-format", "json", "--stdin-filename", str(path), "-"],
            input=probe,
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            check=False,
        )
        banned = {d["message"].split("`")[1] for d in json.loads(out.stdout)}
        assert banned == IO_LIBS, f"{path}: ruff does not ban {sorted(IO_LIBS - banned)}"


def test_no_module_or_function_too_long() -> None:
    bad = size_violations(source_files(PROJECT_ROOT), PROJECT_ROOT)
    assert not bad, "too long (split by reason to change):\n" + "\n".join(bad)


# --- each check fails when it should ---


def _fake(tmp_path: Path, files: dict[str, str]) -> Tree:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return scan(tmp_path)


def test_a_cycle_between_packages_is_named(tmp_path: Path) -> None:
    tree = _fake(
        tmp_path,
        {
            "flows/__init__.py": "",
            "flows/game/__init__.py": "",
            "flows/game/engine.py": "def f():\n    from connectors.sink import g\n",
            "connectors/__init__.py": "",
            "connectors/sink.py": "from flows.game import engine\n",
            "ingest/__init__.py": "from flows.game.engine import f\n",
        },
    )
    assert find_cycles(tree) == [
        "connectors -> flows.game -> connectors (connectors.sink imports flows.game.engine;"
        " flows.game.engine imports connectors.sink)"
    ]


def test_a_leaf_importing_the_project_is_named(tmp_path: Path) -> None:
    tree = _fake(
        tmp_path,
        {
            "mlbsts/__init__.py": "",
            "mlbsts/paths.py": "import os\n",
            "mlbsts/settings.py": "from mlbsts.paths import X\nfrom . import topics\n",
            "mlbsts/topics.py": "import mlbsts.demo\n",
            "mlbsts/demo.py": "from mlbsts import settings\n",
        },
    )
    assert leaf_violations(tree) == ["mlbsts.topics imports mlbsts.demo"]
    assert find_cycles(tree) == [
        "mlbsts -> mlbsts.settings -> mlbsts.topics -> mlbsts (mlbsts.demo imports"
        " mlbsts.settings; mlbsts.settings imports mlbsts.topics; mlbsts.topics imports"
        " mlbsts.demo)"
    ]


def test_a_pure_module_reaching_io_is_named_with_its_path(tmp_path: Path) -> None:
    tree = _fake(
        tmp_path,
        {
            "flows/__init__.py": "",
            "flows/game/__init__.py": "",
            "flows/game/feed.py": "import msgspec\nfrom flows.game import boxscore\n",
            "flows/game/boxscore.py": "def f():\n    import urllib.parse\n",
            "flows/game/events.py": "from flows.live_stats import build_flow\n",
            "flows/live_stats.py": "import bytewax\n",
            "ingest/__init__.py": "import httpx\n",
            "ingest/policy.py": "from . import limits\n",
            "ingest/limits.py": "",
        },
    )
    assert purity_violations(tree) == [
        "flows.game.boxscore: flows.game.boxscore -> urllib.parse (I/O library)",
        "flows.game.events: flows.game.events -> flows.live_stats (not a pure module)",
        "flows.game.feed: flows.game.feed -> flows.game.boxscore -> urllib.parse (I/O library)",
        "ingest.limits: ingest.limits -> ingest -> httpx (I/O library)",
        "ingest.policy: ingest.policy -> ingest -> httpx (I/O library)",
    ]


def test_a_long_module_and_a_long_function_are_named(tmp_path: Path) -> None:
    long_function = "def f():\n" + "    x = 1\n" * MAX_FUNCTION_LINES
    ok_function = "async def g():\n" + "    x = 1\n" * (MAX_FUNCTION_LINES - 1)
    (tmp_path / "a.py").write_text(long_function + ok_function)
    (tmp_path / "b.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (tmp_path / "c.py").write_text("x = 1\n" * MAX_MODULE_LINES)
    files = sorted(tmp_path.glob("*.py"))
    assert size_violations(files, tmp_path) == ["a.py:1 f(): 61 lines", "b.py: 401 lines"]


def test_collection_refuses_a_test_without_exactly_one_tier(tmp_path: Path) -> None:
    """tests/conftest.py's hook, run by a real pytest on a tiny tree, names each offender."""
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    markers = config["tool"]["pytest"]["ini_options"]["markers"]
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\naddopts = --strict-markers\nmarkers =\n" + "".join(f"    {m}\n" for m in markers)
    )
    (tmp_path / "test_tiers.py").write_text(
        "import os\nimport pytest\n"
        "from tests.conftest import corpus_feed_paths\n"
        "FEEDS = corpus_feed_paths()\n"
        "def test_no_tier(): pass\n"
        "@pytest.mark.unit\n@pytest.mark.flow\ndef test_two_tiers(): pass\n"
        "@pytest.mark.unit\ndef test_fixture(data_dir): pass\n"
        "@pytest.mark.unit\n@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_helper(n): assert FEEDS or True\n"
        "@pytest.mark.unit\ndef test_env(): assert os.environ.get('MLBSTS_DATA_DIR') or True\n"
        "@pytest.mark.flow\n@pytest.mark.corpus\ndef test_good_corpus(data_dir): pass\n"
        "@pytest.mark.unit\ndef test_good(tmp_path): pass\n"
    )
    run = subprocess.run(
        [*PYTEST, "--collect-only", "-q", "-m", "unit", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": ""},
        check=False,
    )
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    named = {
        line.split("::")[1].split(":")[0]
        for line in run.stderr.splitlines()
        if "test_tiers.py::" in line
    }
    assert named == {"test_no_tier", "test_two_tiers", "test_fixture", "test_helper", "test_env"}
    assert "test_helper[" not in run.stderr  # a parametrized test is named once
