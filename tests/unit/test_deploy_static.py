"""Static checks of the production deployment files (no Docker engine, no cluster).

``docker-compose.yaml``, ``deploy/k8s/*.yaml`` and ``deploy/Dockerfile`` are read as data
(``tests/unit/deploy_files.py``). Each rule is a small checker returning a list of problems
(empty: fine); every checker is run on the real files and on a deliberately broken sample,
so each rule can fail. By topic: ``test_deploy_static_compose.py`` (compose services,
endpoints, broker limits, workers), ``test_deploy_static_k8s.py`` (environment, worker
StatefulSet, partitions), ``test_deploy_static_docker.py`` (image tags, Dockerfile); here,
what they all rely on.
"""

from __future__ import annotations

import pytest
import yaml

from tests.unit.deploy_files import (
    ALERTS,
    REQUIRED_SETTINGS,
    load_compose,
    load_k8s,
    settings_fields,
)

pytestmark = pytest.mark.unit


def test_required_settings_exist() -> None:
    assert set(REQUIRED_SETTINGS) <= settings_fields()


def test_files_parse() -> None:
    compose = load_compose()
    assert compose["services"]
    docs = load_k8s()
    assert {d["kind"] for d in docs} >= {
        "Namespace",
        "ConfigMap",
        "Secret",
        "StatefulSet",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
    }
    rules = yaml.safe_load(ALERTS.read_text())
    assert all("expr" in r for g in rules["groups"] for r in g["rules"])
