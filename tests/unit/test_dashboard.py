"""The Grafana dashboard (``deploy/grafana/dashboards/``) is valid, provisioned and reads
only metrics the project exports; it shows every metric of the catalogue.

Its PromQL is checked by promtool (each query as a recording rule); which series the queries
name is checked against the catalogue here and against the running processes by
``tests/integration/test_metrics_names.py``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlbsts.telemetry.catalogue import CATALOGUE
from tests.unit.monitoring_files import (
    DASHBOARD_PROVIDERS,
    DATASOURCES,
    dashboard,
    exported_names,
    load_yaml,
    metric_names,
    panel_exprs,
    panels,
    promtool,
)

pytestmark = pytest.mark.unit

Doc = dict[str, Any]


def layout_problems(board: Doc) -> list[str]:
    """Unique panel ids, panels inside the 24-column grid, no two panels overlapping."""
    problems: list[str] = []
    ids = [p["id"] for p in panels(board)]
    if len(ids) != len(set(ids)):
        problems.append(f"panel ids repeat: {sorted(ids)}")
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(board):
        g = panel["gridPos"]
        if g["x"] < 0 or g["x"] + g["w"] > 24:
            problems.append(f"{panel['title']}: outside the grid")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problems.append(f"{panel['title']} overlaps {cells[(x, y)]}")
                cells[(x, y)] = panel["title"]
    return sorted(set(problems))


def datasource_problems(board: Doc, provisioned: Doc) -> list[str]:
    """Every query panel uses a provisioned Prometheus datasource, by uid."""
    uids = {d["uid"] for d in provisioned["datasources"] if d["type"] == "prometheus"}
    problems = []
    for panel in panels(board):
        for where in [panel, *panel.get("targets", [])]:
            source = where.get("datasource")
            if panel.get("targets") and (not source or source.get("uid") not in uids):
                problems.append(f"{panel['title']}: datasource {source} is not provisioned")
    return problems


def test_the_dashboard_is_laid_out() -> None:
    board = dashboard()
    assert board["uid"] and board["title"]
    assert len(panel_exprs(board)) >= 20
    assert layout_problems(board) == []


def test_every_query_uses_the_provisioned_datasource() -> None:
    assert datasource_problems(dashboard(), load_yaml(DATASOURCES)) == []
    providers = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert [p["type"] for p in providers] == ["file"]


def test_the_queries_name_only_exported_metrics_and_show_the_whole_catalogue() -> None:
    exported = exported_names()
    named = {n for _, expr in panel_exprs(dashboard()) for n in metric_names(expr)}
    assert named - set(exported) == set()
    shown = {exported[n] for n in named}
    assert {spec.name for spec in CATALOGUE} - shown == set()


def test_promtool_parses_every_query(tmp_path: Path) -> None:
    rules = [
        {"record": f"dashboard:panel_{i}", "expr": expr}
        for i, (_, expr) in enumerate(panel_exprs(dashboard()))
    ]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- every checker can fail ------------------------------------------------------------


def test_the_checkers_fail_on_a_broken_dashboard() -> None:
    ds = {"type": "prometheus", "uid": "elsewhere"}
    broken = {
        "panels": [
            {"id": 1, "title": "a", "gridPos": {"x": 0, "y": 0, "w": 12, "h": 8}},
            {
                "id": 1,
                "title": "b",
                "gridPos": {"x": 6, "y": 4, "w": 20, "h": 8},
                "datasource": ds,
                "targets": [{"expr": "rate(mlbsts_nope_total[5m])", "datasource": ds}],
            },
        ]
    }
    problems = layout_problems(broken)
    assert "panel ids repeat: [1, 1]" in problems
    assert "b: outside the grid" in problems
    assert "b overlaps a" in problems
    provisioned = {"datasources": [{"type": "prometheus", "uid": "mlbsts-prometheus"}]}
    assert len(datasource_problems(broken, provisioned)) == 2
    assert metric_names(panel_exprs(broken)[0][1]) - set(exported_names()) == {"mlbsts_nope_total"}
