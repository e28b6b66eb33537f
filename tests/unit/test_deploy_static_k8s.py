"""Static checks of ``deploy/k8s/*.yaml``: environment, the worker StatefulSet, partitions.

Every checker runs on the real files and on a deliberately broken sample (see
``tests/unit/test_deploy_static.py``).
"""

from __future__ import annotations

import pytest
import yaml

from mlbsts.settings import Settings
from tests.unit.deploy_files import (
    ENV_PREFIX,
    FLOW_COMMAND,
    K8S_DIR,
    Doc,
    command_text,
    containers_of,
    env_problems,
    flow_command_problems,
    load_k8s,
    pod_specs,
    setting_env_name,
    settings_fields,
)
from tests.unit.deploy_settings import (
    KAFKA_SECURITY,
    SECRET_SETTINGS,
    missing_names,
    named_setting_problems,
)

pytestmark = pytest.mark.unit


def k8s_env(pod: Doc, container: Doc, docs: list[Doc]) -> dict[str, str]:
    """A container's environment: envFrom ConfigMaps/Secrets, then explicit values."""
    sources = {
        (d["kind"], d["metadata"]["name"]): {**d.get("data", {}), **d.get("stringData", {})}
        for d in docs
        if d.get("kind") in {"ConfigMap", "Secret"}
    }
    env: dict[str, str] = {}
    for ref in container.get("envFrom", []):
        if "configMapRef" in ref:
            env.update(sources.get(("ConfigMap", ref["configMapRef"]["name"]), {}))
        if "secretRef" in ref:
            env.update(sources.get(("Secret", ref["secretRef"]["name"]), {}))
    for item in container.get("env", []):
        env[item["name"]] = str(item.get("value", ""))
    return {k: str(v) for k, v in env.items()}


def statefulset_problems(docs: list[Doc]) -> list[str]:
    """The worker StatefulSet: headless Service, recovery volumes, flags, probes, PDB."""
    sets = [d for d in docs if d.get("kind") == "StatefulSet"]
    if len(sets) != 1:
        return [f"expected one StatefulSet, found {len(sets)}"]
    sts = sets[0]
    spec, name = sts["spec"], sts["metadata"]["name"]
    pod = spec["template"]["spec"]
    problems: list[str] = []
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    if not claims:
        problems.append(f"{name}: no volumeClaimTemplates (one recovery volume per pod)")
    headless = [
        d
        for d in docs
        if d.get("kind") == "Service"
        and d["metadata"]["name"] == spec.get("serviceName")
        and d["spec"].get("clusterIP") == "None"
    ]
    if not headless:
        problems.append(f"{name}: serviceName {spec.get('serviceName')!r} is no headless Service")
    workers = [c for c in pod.get("containers", []) if FLOW_COMMAND in command_text(c)]
    if len(workers) != 1:
        return [*problems, f"{name}: no container runs {FLOW_COMMAND}"]
    worker = workers[0]
    problems += flow_command_problems(name, command_text(worker))
    if not claims & {m["name"] for m in worker.get("volumeMounts", [])}:
        problems.append(f"{name}: the worker does not mount its recovery volume")
    inits = pod.get("initContainers", [])
    if not any("recovery" in command_text(c) for c in inits):
        problems.append(f"{name}: no init container creates the recovery partitions")
    env = {e["name"]: e.get("value") for e in worker.get("env", [])}
    if str(env.get("WORKER_PROCESSES")) != str(spec.get("replicas")):
        problems.append(
            f"{name}: WORKER_PROCESSES {env.get('WORKER_PROCESSES')} != "
            f"replicas {spec.get('replicas')}"
        )
    for probe in ("livenessProbe", "readinessProbe"):
        if probe not in worker:
            problems.append(f"{name}: worker has no {probe}")
    for c in containers_of(pod):
        for kind in ("requests", "limits"):
            if not c.get("resources", {}).get(kind):
                problems.append(f"{name}/{c['name']}: no resource {kind}")
    labels = spec["template"]["metadata"]["labels"]
    pdbs = [
        d
        for d in docs
        if d.get("kind") == "PodDisruptionBudget"
        and d["spec"]["selector"].get("matchLabels", {}).items() <= labels.items()
    ]
    if not pdbs:
        problems.append(f"{name}: no PodDisruptionBudget selects the workers")
    return problems


# -- the real files --------------------------------------------------------------------


def test_k8s_environment_matches_settings() -> None:
    docs = load_k8s()
    problems: list[str] = []
    for name, pod in pod_specs(docs):
        for c in pod["containers"]:
            problems += env_problems(
                f"{name}/{c['name']}", k8s_env(pod, c, docs), settings_fields()
            )
    assert problems == []
    deployments = {d["metadata"]["name"] for d in docs if d.get("kind") == "Deployment"}
    assert {"mlbsts-ingest", "mlbsts-api"} <= deployments


def configmap_secret_problems(docs: list[Doc]) -> list[str]:
    """No secret setting sits in a ConfigMap (it belongs in a Secret)."""
    return [
        f"ConfigMap {d['metadata']['name']}: {key} is a secret"
        for d in docs
        if d.get("kind") == "ConfigMap"
        for key in d.get("data", {})
        if key.removeprefix(ENV_PREFIX).lower() in SECRET_SETTINGS
    ]


def test_k8s_names_only_settings_and_documents_kafka_security() -> None:
    problems: list[str] = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        problems += named_setting_problems(path.name, path.read_text(), settings_fields())
    config = (K8S_DIR / "config.yaml").read_text()
    problems += missing_names("config.yaml", config, KAFKA_SECURITY)
    docs = load_k8s()
    problems += configmap_secret_problems(docs)
    assert problems == []
    for d in docs:  # live values parse as Settings would read them
        if d.get("kind") == "ConfigMap":
            data = d.get("data", {})
            Settings(**{k[len(ENV_PREFIX) :].lower(): v for k, v in data.items()})


def test_worker_statefulset() -> None:
    assert statefulset_problems(load_k8s()) == []


def test_kafka_partitions_cover_every_worker() -> None:
    docs = load_k8s()
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    sts = next(d for d in docs if d["kind"] == "StatefulSet")
    worker = next(c for c in sts["spec"]["template"]["spec"]["containers"])
    env = {e["name"]: e.get("value") for e in worker["env"]}
    total = int(sts["spec"]["replicas"]) * int(env["WORKERS_PER_PROCESS"])
    assert int(config["data"]["MLBSTS_KAFKA_TOPIC_PARTITIONS"]) >= total


# -- every checker can fail ------------------------------------------------------------

BROKEN_K8S = """
apiVersion: v1
kind: Service
metadata: {name: workers}
spec: {clusterIP: 10.0.0.1}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: workers}
spec:
  serviceName: workers
  replicas: 3
  template:
    metadata: {labels: {app: w}}
    spec:
      containers:
        - name: worker
          image: mlbsts
          command: [python, -m, bytewax.run, "flows.live_stats:flow", -r, /data]
          env: [{name: WORKER_PROCESSES, value: "2"}]
"""


BROKEN_CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata: {name: mlbsts-config}
data:
  MLBSTS_KAFKA_SECURITY_PROTOCOL: SASL_SSL
  MLBSTS_KAFKA_SASL_PASSWORD: hunter2
  # MLBSTS_KAFKA_SASL_MECHANSIM: PLAIN
"""


def test_k8s_settings_checkers_fail_on_typos_gaps_and_secrets_in_configmaps() -> None:
    assert named_setting_problems("c", BROKEN_CONFIG, settings_fields()) == [
        "c: MLBSTS_KAFKA_SASL_MECHANSIM is not a field of Settings"
    ]
    assert missing_names("c", BROKEN_CONFIG, KAFKA_SECURITY) == [
        "c: MLBSTS_KAFKA_SASL_MECHANISM is not named",
        "c: MLBSTS_KAFKA_SASL_USERNAME is not named",
        "c: MLBSTS_KAFKA_SSL_CA_LOCATION is not named",
    ]
    assert configmap_secret_problems(list(yaml.safe_load_all(BROKEN_CONFIG))) == [
        "ConfigMap mlbsts-config: MLBSTS_KAFKA_SASL_PASSWORD is a secret"
    ]


def test_worker_checker_fails_on_a_broken_statefulset() -> None:
    problems = statefulset_problems(list(yaml.safe_load_all(BROKEN_K8S)))
    for expected in (
        "no volumeClaimTemplates",
        "no headless Service",
        "-s missing",
        "-b missing",
        "-i missing",
        "no init container",
        "WORKER_PROCESSES 2 != replicas 3",
        "no livenessProbe",
        "no resource limits",
        "no PodDisruptionBudget",
    ):
        assert any(expected in p for p in problems), expected


def test_k8s_producers_are_idempotent_on_apache_kafka() -> None:
    """Production runs Apache Kafka, where idempotence is right (off only on the local broker)."""
    docs = load_k8s()
    for name, pod in pod_specs(docs):
        for c in pod["containers"]:
            env = k8s_env(pod, c, docs)
            value = env.get(setting_env_name("kafka_idempotence"))
            assert value is not None, f"{name}/{c['name']}"
            assert Settings.model_validate({"kafka_idempotence": value}).kafka_idempotence
