"""The alert rules of ``deploy/prometheus/rules/`` are valid, tested and named right.

``promtool check rules`` and ``promtool test rules`` (the synthetic series of
``deploy/prometheus/tests/``) must pass; every alert has a case where it fires and one where
it stays silent, and each alert's tests fail when its rule is made to never fire or to always
fire (so no case passes whatever the rule says). The rules name only metrics the project
exports (``tests/integration/test_metrics_names.py`` checks the running processes too).
promtool comes from Debian's ``prometheus`` package: ``make test`` installs it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.monitoring_files import (
    EXTERNAL,
    RULE_TESTS,
    RULES,
    alert_rules,
    exported_names,
    load_yaml,
    metric_names,
    promtool,
)

pytestmark = pytest.mark.unit

RULE_FILES = sorted(RULE_TESTS)


def run_promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False
    )


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda p: p.name)
def test_promtool_checks_the_rules(rules: Path) -> None:
    done = run_promtool("check", "rules", str(rules))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules(rules))} rules found" in done.stdout


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(rules: Path) -> None:
    tests = RULE_TESTS[rules]
    done = run_promtool("test", "rules", tests.name, cwd=tests.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def _cases(rules: Path) -> dict[str, tuple[int, int]]:
    """Per alert name: (cases where it fires, cases where it is silent)."""
    counts: dict[str, list[int]] = {}
    for group in load_yaml(RULE_TESTS[rules])["tests"]:
        for case in group.get("alert_rule_test", []):
            fires, silent = counts.setdefault(case["alertname"], [0, 0])
            counts[case["alertname"]] = [
                fires + bool(case["exp_alerts"]),
                silent + (not case["exp_alerts"]),
            ]
    return {name: (fires, silent) for name, (fires, silent) in counts.items()}


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda p: p.name)
def test_every_alert_has_a_firing_and_a_silent_case(rules: Path) -> None:
    cases = _cases(rules)
    names = [r["alert"] for r in alert_rules(rules)]
    assert len(names) == len(set(names))
    assert sorted(cases) == sorted(names)
    assert {n: c for n, c in cases.items() if 0 in c} == {}


def _mutated(tmp_path: Path, rules: Path, expr: str) -> Path:
    """A copy of the rules and their tests where every alert's expression is ``expr``."""
    doc = load_yaml(rules)
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["expr"] = expr
    (tmp_path / "rules").mkdir(exist_ok=True)
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "rules" / rules.name).write_text(yaml.safe_dump(doc))
    tests = tmp_path / "tests" / RULE_TESTS[rules].name
    tests.write_text(RULE_TESTS[rules].read_text())
    return tests


@pytest.mark.parametrize("rules", RULE_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("wrong", ["vector(1) < 0", "vector(1)"], ids=["never", "always"])
def test_the_tests_of_every_alert_fail_when_its_rule_is_wrong(
    tmp_path: Path, rules: Path, wrong: str
) -> None:
    """With every rule made to never fire (or always fire), each alert has a failing case."""
    tests = _mutated(tmp_path, rules, wrong)
    done = run_promtool("test", "rules", tests.name, cwd=tests.parent)
    assert done.returncode != 0
    failed = set(re.findall(r"alertname: (\w+)", done.stdout + done.stderr))
    assert failed == {r["alert"] for r in alert_rules(rules)}, done.stdout + done.stderr


def test_the_rules_name_only_exported_metrics() -> None:
    exported = exported_names()
    for rules in RULE_FILES:
        allowed = set(exported) if rules == RULES else set()
        allowed |= set(EXTERNAL.get(rules, {}))
        named = {n for r in alert_rules(rules) for n in metric_names(r["expr"])}
        assert named, rules
        assert named - allowed == set(), f"{rules.name} names metrics nobody exports"


def test_the_name_check_can_fail() -> None:
    assert metric_names('sum by (le) (rate(mlbsts_nope_bucket{stage="x"}[5m])) > 1') == {
        "mlbsts_nope_bucket"
    }
    assert "mlbsts_nope_bucket" not in exported_names()
    assert "mlbsts_data_age_seconds" not in exported_names()  # a histogram: its series only
