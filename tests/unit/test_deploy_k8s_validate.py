"""Every Kubernetes manifest under ``deploy/`` is valid for the Kubernetes API, strictly.

Each object (a YAML document with ``apiVersion`` and ``kind``) is validated by
kubernetes-validate in strict mode (no field the API does not know, anywhere) against the
Kubernetes OpenAPI schemas the pinned package bundles: the oldest and the newest of them
(1.25 and 1.37 with kubernetes-validate 1.37.0). The manifests use only GA APIs (``v1``,
``apps/v1``, ``batch/v1``, ``policy/v1``), which both have; an apiVersion without a schema
is a failure, not a warning. ``kustomization.yaml`` is kustomize's own file, not an API
object: it must list exactly the other manifests of its folder. YAML files that hold no
Kubernetes object (Prometheus and Grafana configuration) are left out. A failure names
the file, the object, the Kubernetes version, the field path and the error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from tests.unit.deploy_files import ROOT

pytestmark = pytest.mark.unit

DEPLOY = ROOT / "deploy"
KUSTOMIZE_API = "kustomize.config.k8s.io/"
VERSIONS = sorted(set(all_versions()), key=lambda v: tuple(int(n) for n in v.split(".")))
CHECKED_VERSIONS = (VERSIONS[0], VERSIONS[-1])


def manifests() -> dict[Path, list[dict[str, Any]]]:
    """The YAML files under deploy/ that hold Kubernetes objects, and those objects."""
    found: dict[Path, list[dict[str, Any]]] = {}
    for path in sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        objects = [d for d in docs if isinstance(d, dict) and {"apiVersion", "kind"} <= d.keys()]
        if objects:
            found[path] = objects
    return found


def object_problems(where: str, doc: dict[str, Any], version: str) -> list[str]:
    """What the Kubernetes ``version`` API (strict schema) refuses in one object."""
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name', '?')}"
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path) or "(top)"
        return [f"{where}: {name} (Kubernetes {e.version}): {path}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"{where}: {name}: {e.message}"]
    return []


def kustomization_problems(path: Path, doc: dict[str, Any]) -> list[str]:
    """A kustomization lists exactly the other manifests of its folder."""
    listed = set(doc.get("resources", []))
    present = {p.name for p in path.parent.glob("*.yaml") if p != path}
    return [f"{path.name}: {r} is listed but missing" for r in sorted(listed - present)] + [
        f"{path.name}: {r} is not listed in resources" for r in sorted(present - listed)
    ]


def manifest_problems(found: dict[Path, list[dict[str, Any]]]) -> list[str]:
    problems: list[str] = []
    for path, docs in found.items():
        where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
        for doc in docs:
            if str(doc["apiVersion"]).startswith(KUSTOMIZE_API):
                problems += kustomization_problems(path, doc)
                continue
            for version in CHECKED_VERSIONS:
                problems += object_problems(where, doc, version)
    return problems


def test_every_manifest_is_valid_for_the_kubernetes_api_in_strict_mode() -> None:
    found = manifests()
    kinds = {d["kind"] for docs in found.values() for d in docs}
    assert {"StatefulSet", "Deployment", "Service", "ConfigMap", "Job"} <= kinds
    assert manifest_problems(found) == []


BROKEN = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: workers}
spec:
  serviceName: workers
  replica: 3
  selector: {matchLabels: {app: w}}
  template:
    metadata: {labels: {app: w}}
    spec:
      containers: [{name: worker, image: "mlbsts:0.1.0"}]
---
apiVersion: v1
kind: Service
metadata: {name: workers}
spec:
  clusterIP: None
  ports: [{name: cluster, port: "2101"}]
---
apiVersion: policy/v1beta9
kind: PodDisruptionBudget
metadata: {name: workers}
spec: {maxUnavailable: 1}
"""


def test_the_validation_fails_on_unknown_fields_wrong_types_and_unknown_apis(
    tmp_path: Path,
) -> None:
    sample = tmp_path / "broken.yaml"
    sample.write_text(BROKEN)
    kustomization = tmp_path / "kustomization.yaml"
    kustomization.write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [broken.yaml, gone.yaml]\n"
    )
    (tmp_path / "extra.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")
    docs = {p: list(yaml.safe_load_all(p.read_text())) for p in (sample, kustomization)}
    problems = manifest_problems(docs)
    oldest, newest = (".".join(v.split(".")[:2]) for v in CHECKED_VERSIONS)
    for expected in (
        f"broken.yaml: StatefulSet/workers (Kubernetes {newest}): spec: Additional "
        "properties are not allowed ('replica' was unexpected)",
        f"broken.yaml: Service/workers (Kubernetes {oldest}): spec.ports.0.port: '2101' is not "
        "of type 'integer'",
        f"broken.yaml: PodDisruptionBudget/workers: Couldn't find schema for kind "
        f"PodDisruptionBudget with api version policy/v1beta9 for kubernetes version {newest}",
        "kustomization.yaml: gone.yaml is listed but missing",
        "kustomization.yaml: extra.yaml is not listed in resources",
    ):
        assert any(expected in p for p in problems), (expected, problems)
