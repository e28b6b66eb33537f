"""Static checks of the production deployment files (no Docker engine, no cluster).

``docker-compose.yaml``, ``deploy/k8s/*.yaml`` and ``deploy/Dockerfile`` are read as data.
Each rule is a small checker returning a list of problems (empty: fine); every checker is
run on the real files and on a deliberately broken sample, so each rule can fail.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from mlbsts.settings import Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
K8S_DIR = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
RECOVERY_INIT = ROOT / "deploy" / "bin" / "mlbsts-recovery-init"
ALERTS = ROOT / "deploy" / "alerts" / "mlbsts-rules.yaml"

ENV_PREFIX = str(Settings.model_config.get("env_prefix", ""))
# The connections every project service needs (names checked against Settings below).
REQUIRED_SETTINGS = (
    "kafka_bootstrap_servers",
    "s3_endpoint",
    "s3_access_key",
    "s3_secret_key",
    "s3_bucket",
    "postgres_dsn",
    "redis_url",
)
MAX_MESSAGE_BYTES_DEFAULT = int(Settings.model_fields["kafka_max_message_bytes"].default)
FLOW_COMMAND = "bytewax.run flows.live_stats:flow"
POD_KINDS = {"Deployment", "StatefulSet", "Job", "DaemonSet", "CronJob"}

Doc = dict[str, Any]

# -- helpers ---------------------------------------------------------------------------

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|(:?\?)[^}]*)?\}")


def interpolate(value: str) -> str:
    """Compose-style interpolation with no environment: defaults, else a placeholder."""

    def sub(match: re.Match[str]) -> str:
        return match.group(3) if match.group(2) else "placeholder"

    return _VAR.sub(sub, value).replace("$$", "$")


def env_of(service: Mapping[str, Any]) -> dict[str, str]:
    """A compose service's environment (mapping or list form), interpolated."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(k): interpolate(str(v)) for k, v in raw.items()}


def command_text(container: Mapping[str, Any]) -> str:
    """Command and args of a compose service or k8s container as one string."""
    parts: list[str] = []
    for key in ("entrypoint", "command", "args"):
        value = container.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(str(v) for v in value)
    return " ".join(parts)


def flag_value(text: str, flag: str) -> str | None:
    """The value after ``flag`` in a command line (shell-split, quotes removed)."""
    tokens = shlex.split(text.replace("\\\n", " "))
    for i, token in enumerate(tokens[:-1]):
        if token == flag:
            return tokens[i + 1]
    return None


def setting_env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field}".upper()


def settings_fields() -> set[str]:
    return set(Settings.model_fields)


def load_compose(text: str | None = None) -> Doc:
    data = yaml.safe_load(COMPOSE.read_text() if text is None else text)
    assert isinstance(data, dict)
    return data


def load_k8s() -> list[Doc]:
    docs: list[Doc] = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def project_services(compose: Mapping[str, Any]) -> dict[str, Doc]:
    """Services built from the project's Dockerfile."""
    return {n: s for n, s in compose["services"].items() if "build" in s}


# -- checkers --------------------------------------------------------------------------


def image_problems(image: str) -> list[str]:
    """An image must name an exact version tag (or a digest), never ``latest``."""
    image = interpolate(image)
    if "@sha256:" in image:
        return []
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return [f"{image}: no tag"]
    # at least major.minor (postgres:16 floats to every 16.x) or a MinIO release date
    if not re.match(r"(v?\d+\.\d+|RELEASE\.\d{4}-\d{2}-\d{2}T)", tag):
        return [f"{image}: tag {tag!r} is not an exact version"]
    return []


def pod_specs(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for doc in docs:
        if doc.get("kind") not in POD_KINDS:
            continue
        spec = doc["spec"]
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        yield doc["metadata"]["name"], spec["template"]["spec"]


def containers_of(pod: Doc) -> list[Doc]:
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def all_images(compose: Doc, docs: list[Doc]) -> dict[str, str]:
    images = {f"compose/{n}": str(s.get("image", "")) for n, s in compose["services"].items()}
    for name, pod in pod_specs(docs):
        for c in containers_of(pod):
            images[f"k8s/{name}/{c['name']}"] = str(c.get("image", ""))
    return images


def env_problems(where: str, env: Mapping[str, str], fields: set[str]) -> list[str]:
    """Every MLBSTS_* variable is a Settings field; every required connection is set."""
    problems = [
        f"{where}: {key} is not a field of Settings"
        for key in env
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() not in fields
    ]
    problems += [
        f"{where}: {setting_env_name(f)} is not set"
        for f in REQUIRED_SETTINGS
        if not env.get(setting_env_name(f))
    ]
    return problems


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


def server_ports(service: Mapping[str, Any]) -> set[int]:
    """The ports a server service listens on, read from its own configuration."""
    image = str(service.get("image", ""))
    env = env_of(service)
    cmd = command_text(service)
    if "kafka" in image and "schema-registry" not in image:
        listeners = env.get("KAFKA_ADVERTISED_LISTENERS", "")
        return {urlsplit(item).port or 0 for item in listeners.split(",") if item}
    if "schema-registry" in image:
        listeners = env.get("SCHEMA_REGISTRY_LISTENERS", "http://0.0.0.0:8081")
        return {urlsplit(item).port or 0 for item in listeners.split(",") if item}
    if image.startswith("postgres:"):
        return {int(env.get("PGPORT", flag_value(cmd, "-p") or 5432))}
    if image.startswith("minio/minio:"):
        address = flag_value(cmd, "--address") or ":9000"
        return {int(address.rpartition(":")[2])}
    if image.startswith("redis:"):
        return {int(flag_value(cmd, "--port") or 6379)}
    return set()


def endpoint_problems(compose: Doc) -> list[str]:
    """Each connection setting names a compose service and a port that service serves."""
    services = compose["services"]
    problems: list[str] = []
    for name, service in project_services(compose).items():
        env = env_of(service)
        endpoints: list[tuple[str, str]] = []
        for key in ("MLBSTS_KAFKA_BOOTSTRAP_SERVERS", "MLBSTS_S3_ENDPOINT"):
            endpoints += [(key, f"//{hp.strip()}") for hp in env.get(key, "").split(",") if hp]
        for key in ("MLBSTS_POSTGRES_DSN", "MLBSTS_REDIS_URL", "MLBSTS_SCHEMA_REGISTRY_URL"):
            if env.get(key):
                endpoints.append((key, env[key]))
        for key, url in endpoints:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
            if host not in services:
                problems.append(f"{name}: {key} host {host!r} is not a compose service")
            elif port not in server_ports(services[host]):
                problems.append(
                    f"{name}: {key} port {port} is not served by {host} "
                    f"(it serves {sorted(server_ports(services[host]))})"
                )
    return problems


def kafka_size_problems(compose: Doc, minimum: int) -> list[str]:
    """Broker limits fit the largest record the project produces (and its default)."""
    problems: list[str] = []
    brokers = {
        n: env_of(s)
        for n, s in compose["services"].items()
        if str(s.get("image", "")).startswith("apache/kafka:")
    }
    if not brokers:
        return ["no apache/kafka service"]
    for name, env in brokers.items():
        message_max = int(env.get("KAFKA_MESSAGE_MAX_BYTES", 1048588))
        fetch_max = int(env.get("KAFKA_REPLICA_FETCH_MAX_BYTES", 1048576))
        if message_max < minimum:
            problems.append(f"{name}: message.max.bytes {message_max} < {minimum}")
        if fetch_max < message_max:
            problems.append(f"{name}: replica.fetch.max.bytes {fetch_max} < {message_max}")
        problems += [
            f"{name}: {key} {value} < {minimum}"
            for key, value in env.items()
            if key.endswith("MAX_REQUEST_SIZE") and int(value) < minimum
        ]
        for svc, service in project_services(compose).items():
            wanted = int(env_of(service).get("MLBSTS_KAFKA_MAX_MESSAGE_BYTES", minimum))
            if wanted > message_max:
                problems.append(f"{svc}: produces {wanted} B, {name} accepts {message_max}")
    return problems


def flow_command_problems(where: str, text: str) -> list[str]:
    """A worker runs the live-stats flow with recovery, a process id and peer addresses."""
    if FLOW_COMMAND not in text:
        return [f"{where}: does not run {FLOW_COMMAND}"]
    return [
        f"{where}: {flag} missing from the bytewax.run command"
        for flag in ("-r", "-s", "-b", "-i", "-a")
        if flag_value(text, flag) is None
    ]


def compose_worker_problems(compose: Doc) -> list[str]:
    """Compose workers form one cluster: ids 0..n-1, every one listed in -a, own volumes."""
    workers = {
        n: command_text(s)
        for n, s in project_services(compose).items()
        if "bytewax.run" in command_text(s)
    }
    if not workers:
        return ["no compose service runs bytewax.run"]
    problems: list[str] = []
    ids, volumes = [], []
    for name, text in workers.items():
        problems += flow_command_problems(name, text)
        ids.append(int(flag_value(text, "-i") or -1))
        peers = {hp.rpartition(":")[0] for hp in (flag_value(text, "-a") or "").split(";")}
        if peers != set(workers):
            problems.append(f"{name}: -a lists {sorted(peers)}, workers are {sorted(workers)}")
        service = compose["services"][name]
        volumes += [str(v).split(":")[0] for v in service.get("volumes", [])]
    if sorted(ids) != list(range(len(workers))):
        problems.append(f"worker process ids {sorted(ids)} are not 0..{len(workers) - 1}")
    if len(volumes) != len(set(volumes)) or len(volumes) < len(workers):
        problems.append(f"workers do not each have their own recovery volume: {volumes}")
    return problems


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


def dockerfile_problems(text: str) -> list[str]:
    """Pinned python:3.11 slim base; the final stage runs as a non-root user."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    froms = [ln.split()[1] for ln in lines if ln.upper().startswith("FROM ")]
    if not froms:
        return ["no FROM"]
    problems = [p for image in froms for p in image_problems(image)]
    if not re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:\w+)?", froms[-1]):
        problems.append(f"base image {froms[-1]} is not an exact python:3.11.x-slim tag")
    last_from = max(i for i, ln in enumerate(lines) if ln.upper().startswith("FROM "))
    users = [ln.split()[1] for ln in lines[last_from:] if ln.upper().startswith("USER ")]
    if not users:
        problems.append("no USER: the image runs as root")
    elif users[-1].split(":")[0] in {"root", "0"}:
        problems.append(f"USER {users[-1]} is root")
    return problems


# -- the real files --------------------------------------------------------------------


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


def test_every_image_is_pinned() -> None:
    images = all_images(load_compose(), load_k8s())
    assert images
    problems = [f"{where}: {p}" for where, img in images.items() for p in image_problems(img)]
    assert problems == []


def test_compose_environment_matches_settings() -> None:
    compose = load_compose()
    services = project_services(compose)
    assert {"init", "ingest", "api"} <= set(services)
    problems = [
        p for n, s in services.items() for p in env_problems(n, env_of(s), settings_fields())
    ]
    assert problems == []
    for service in services.values():  # the values parse as Settings would read them
        env = env_of(service)
        Settings(
            **{k[len(ENV_PREFIX) :].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)}
        )


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


def test_compose_endpoints_match_server_ports() -> None:
    assert endpoint_problems(load_compose()) == []


def test_kafka_accepts_the_largest_record() -> None:
    assert kafka_size_problems(load_compose(), MAX_MESSAGE_BYTES_DEFAULT) == []


def test_compose_workers_form_one_cluster() -> None:
    assert compose_worker_problems(load_compose()) == []


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


def test_dockerfile() -> None:
    assert dockerfile_problems(DOCKERFILE.read_text()) == []
    assert "deploy/bin/mlbsts-recovery-init" in DOCKERFILE.read_text()
    assert "python -m bytewax.recovery" in RECOVERY_INIT.read_text()


# -- every checker can fail ------------------------------------------------------------

BROKEN_COMPOSE = """
services:
  kafka:
    image: apache/kafka:latest
    environment:
      KAFKA_ADVERTISED_LISTENERS: PLAINTEXT://kafka:9092
      KAFKA_MESSAGE_MAX_BYTES: 1048588
      KAFKA_REPLICA_FETCH_MAX_BYTES: 1000
      PRODUCER_MAX_REQUEST_SIZE: 1048576
  minio:
    image: minio/minio
    command: [server, /data, --address, ":9000"]
  redis:
    image: redis:7.4.6
  worker-0:
    build: .
    image: mlbsts
    command: python -m bytewax.run flows.live_stats:flow -i 0 -a "worker-0:2101;worker-9:2101"
    environment:
      MLBSTS_KAFKA_BOOTSTRAP_SERVERS: kafka:9093
      MLBSTS_KAFKA_MAX_MESSAGE_BYTES: "8388608"
      MLBSTS_S3_ENDPOINT: minio:9001
      MLBSTS_REDIS_URL: redis://cache:6379/0
      MLBSTS_NOT_A_SETTING: "1"
"""

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


def test_image_checker_fails_on_unpinned_images() -> None:
    assert image_problems("postgres:16.10") == []
    assert image_problems("registry:5000/team/app:1.2.3") == []
    assert image_problems("redis@sha256:" + "0" * 64) == []
    assert image_problems("mlbsts:${TAG:-0.1.0}") == []
    bad_images = ("redis", "redis:latest", "registry:5000/app", "python:slim", "postgres:16")
    for bad in (*bad_images, "app:${TAG}", "minio/minio:RELEASE"):
        assert image_problems(bad), bad


def test_env_checker_fails_on_unknown_or_missing_settings() -> None:
    broken = load_compose(BROKEN_COMPOSE)
    problems = env_problems("w", env_of(broken["services"]["worker-0"]), settings_fields())
    assert any("MLBSTS_NOT_A_SETTING is not a field" in p for p in problems)
    assert any("MLBSTS_POSTGRES_DSN is not set" in p for p in problems)
    assert any("MLBSTS_S3_SECRET_KEY is not set" in p for p in problems)


def test_endpoint_checker_fails_on_wrong_hosts_and_ports() -> None:
    problems = endpoint_problems(load_compose(BROKEN_COMPOSE))
    assert any("MLBSTS_KAFKA_BOOTSTRAP_SERVERS port 9093" in p for p in problems)
    assert any("MLBSTS_S3_ENDPOINT port 9001" in p for p in problems)
    assert any("'cache' is not a compose service" in p for p in problems)


def test_kafka_size_checker_fails_on_small_limits() -> None:
    problems = kafka_size_problems(load_compose(BROKEN_COMPOSE), MAX_MESSAGE_BYTES_DEFAULT)
    assert any("message.max.bytes 1048588" in p for p in problems)
    assert any("replica.fetch.max.bytes 1000" in p for p in problems)
    assert any("MAX_REQUEST_SIZE" in p for p in problems)
    assert any("produces 8388608 B" in p for p in problems)
    assert kafka_size_problems({"services": {}}, 1) == ["no apache/kafka service"]


def test_worker_checkers_fail_on_a_broken_cluster() -> None:
    problems = compose_worker_problems(load_compose(BROKEN_COMPOSE))
    assert any("-r missing" in p for p in problems)
    assert any("-a lists" in p for p in problems)
    assert any("own recovery volume" in p for p in problems)
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


def test_dockerfile_checker_fails_on_root_or_unpinned_base() -> None:
    assert dockerfile_problems("FROM python:3.11.14-slim-bookworm\nUSER 10001\n") == []
    assert dockerfile_problems("FROM python:3.11-slim\nUSER app\n")
    assert dockerfile_problems("FROM python:3.11.14-slim\nRUN true\n") == [
        "no USER: the image runs as root"
    ]
    assert dockerfile_problems("FROM python:3.11.14-slim\nUSER root\n") == ["USER root is root"]
    multi = "FROM python:3.11.14-slim AS build\nUSER 1000\nFROM python:3.11.14-slim\n"
    assert dockerfile_problems(multi) == ["no USER: the image runs as root"]
