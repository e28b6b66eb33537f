"""The monitoring files of ``deploy/`` read as data: alert rules, their promtool tests, the
Grafana dashboard and its provisioning, and the metric names their PromQL uses.

Used by ``tests/unit/test_alert_rules.py``, ``tests/unit/test_dashboard.py``,
``tests/unit/test_deploy_static_monitoring.py`` and
``tests/integration/test_metrics_names.py``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.metrics import ApiMetrics
from mlbsts.paths import PROJECT_ROOT
from mlbsts.telemetry.catalogue import CATALOGUE

PROMETHEUS_DIR = PROJECT_ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES = PROMETHEUS_DIR / "rules" / "mlbsts.rules.yaml"
KUBERNETES_RULES = PROMETHEUS_DIR / "rules" / "kubernetes.rules.yaml"
RULE_TESTS = {RULES: PROMETHEUS_DIR / "tests" / "mlbsts.test.yaml"}
RULE_TESTS[KUBERNETES_RULES] = PROMETHEUS_DIR / "tests" / "kubernetes.test.yaml"
GRAFANA_DIR = PROJECT_ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA_DIR / "dashboards" / "mlbsts.json"
DATASOURCES = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yaml"
DASHBOARD_PROVIDERS = GRAFANA_DIR / "provisioning" / "dashboards" / "mlbsts.yaml"
# Metrics of other exporters that a rule file may name, by file, with who exports them.
EXTERNAL = {KUBERNETES_RULES: {"kube_pod_container_status_restarts_total": "kube-state-metrics"}}

Doc = dict[str, Any]


def promtool() -> str:
    """The promtool binary: on the PATH or in ``.venv/bin`` (``make test`` puts it there)."""
    found = shutil.which("promtool") or shutil.which(
        "promtool", path=str(PROJECT_ROOT / ".venv/bin")
    )
    if found is None:
        pytest.fail(
            "promtool is missing: `make test` (or `make promtool`) installs it from "
            "Debian's prometheus package into .venv/bin/"
        )
    return found


def load_yaml(path: Path) -> Doc:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    return data


def alert_rules(path: Path = RULES) -> list[Doc]:
    return [r for g in load_yaml(path)["groups"] for r in g["rules"] if "alert" in r]


def dashboard() -> Doc:
    data: Doc = json.loads(DASHBOARD.read_text())
    return data


def panels(board: Doc) -> Iterator[Doc]:
    """Every panel, those inside collapsed rows too."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_exprs(board: Doc) -> list[tuple[str, str]]:
    """(panel title, expr) of every query of the dashboard."""
    return [(p.get("title", ""), t["expr"]) for p in panels(board) for t in p.get("targets", [])]


# -- PromQL, enough to name the series a query reads ----------------------------------

_KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"')
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """The metric (series) names ``expr`` reads: identifiers that are not functions,
    keywords, label names (matchers, grouping lists) or template variables."""
    text = _GROUPING.sub(" ", expr)
    names = {m.group(1) for m in _SELECTOR.finditer(_STRING.sub('""', text)) if m.group(1)}
    text = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", _STRING.sub('""', text))
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = re.sub(r"\$\w+", " ", text)  # template variables
    for match in _IDENT.finditer(text):
        word, call = match.group(1), match.group(2)
        if not call and word.lower() not in _KEYWORDS:
            names.add(word)
    return names


def equality_matchers(expr: str) -> set[tuple[str, str, str]]:
    """(metric, label, value) of every ``metric{label="value"}`` in ``expr``."""
    out: set[tuple[str, str, str]] = set()
    for selector in _SELECTOR.finditer(expr):
        for label, op, value in _MATCHER.findall(selector.group(2)):
            if selector.group(1) and op == "=" and label != "__name__":
                out.add((selector.group(1), label, value))
    return out


def exported_names() -> dict[str, str]:
    """Every sample name the project exports → the metric it belongs to: the catalogue
    (worker, poller, every process) and the API's metrics."""
    kinds: dict[str, str] = {spec.name: spec.kind for spec in CATALOGUE}
    for family in ApiMetrics().registry.collect():
        name = f"{family.name}_total" if family.type == "counter" else family.name
        kinds[name] = family.type
    out: dict[str, str] = {}
    for name, kind in kinds.items():
        if kind == "histogram":  # queried through its series only
            out |= {f"{name}_{suffix}": name for suffix in ("bucket", "count", "sum")}
        else:
            out[name] = name
    return out
