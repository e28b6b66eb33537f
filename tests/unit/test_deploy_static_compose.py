"""Static checks of ``docker-compose.yaml``: environment, endpoints, broker limits, workers.

Every checker runs on the real file and on a deliberately broken sample (see
``tests/unit/test_deploy_static.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest

from mlbsts.settings import Settings
from tests.unit.deploy_files import (
    COMPOSE,
    ENV_PREFIX,
    MAX_MESSAGE_BYTES_DEFAULT,
    Doc,
    command_text,
    env_of,
    env_problems,
    flag_value,
    flow_command_problems,
    load_compose,
    project_services,
    setting_env_name,
    settings_fields,
)
from tests.unit.deploy_settings import (
    KAFKA_SECURITY,
    literal_secret_problems,
    missing_names,
    named_setting_problems,
)

pytestmark = pytest.mark.unit


def declared_env(service: Mapping[str, Any]) -> dict[str, str | None]:
    """A compose service's environment as written; ``None``: a key with no value, passed
    through from the shell or ``.env`` when set there, else unset in the container."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = {
            item.partition("=")[0]: item.partition("=")[2] if "=" in item else None for item in raw
        }
    return {str(k): None if v is None else str(v) for k, v in raw.items()}


def kafka_security_problems(compose: Doc) -> list[str]:
    """Every project service declares the Kafka TLS/SASL settings, the password never as a
    literal."""
    problems: list[str] = []
    for name, service in project_services(compose).items():
        env = declared_env(service)
        problems += missing_names(name, " ".join(env), KAFKA_SECURITY)
        problems += literal_secret_problems(name, env)
    return problems


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


# -- the real file ----------------------------------------------------------------------


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
        passed_through = {k for k, v in declared_env(service).items() if v is None}
        Settings.model_validate(
            {
                k[len(ENV_PREFIX) :].lower(): v
                for k, v in env.items()
                if k.startswith(ENV_PREFIX) and k not in passed_through
            }
        )


def test_compose_names_only_settings_and_the_kafka_security_ones() -> None:
    assert named_setting_problems("compose", COMPOSE.read_text(), settings_fields()) == []
    assert kafka_security_problems(load_compose()) == []


def test_compose_endpoints_match_server_ports() -> None:
    assert endpoint_problems(load_compose()) == []


def test_kafka_accepts_the_largest_record() -> None:
    assert kafka_size_problems(load_compose(), MAX_MESSAGE_BYTES_DEFAULT) == []


def test_compose_workers_form_one_cluster() -> None:
    assert compose_worker_problems(load_compose()) == []


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
      MLBSTS_KAFKA_SASL_PASSWORD: hunter2
      # MLBSTS_KAFKA_SASL_PASWORD: a misspelt setting in a comment
"""


def test_env_checker_fails_on_unknown_or_missing_settings() -> None:
    broken = load_compose(BROKEN_COMPOSE)
    problems = env_problems("w", env_of(broken["services"]["worker-0"]), settings_fields())
    assert any("MLBSTS_NOT_A_SETTING is not a field" in p for p in problems)
    assert any("MLBSTS_POSTGRES_DSN is not set" in p for p in problems)
    assert any("MLBSTS_S3_SECRET_KEY is not set" in p for p in problems)


def test_named_settings_checkers_fail_on_typos_gaps_and_literal_secrets() -> None:
    problems = named_setting_problems("c", BROKEN_COMPOSE, settings_fields())
    assert problems == [
        "c: MLBSTS_KAFKA_SASL_PASWORD is not a field of Settings",
        "c: MLBSTS_NOT_A_SETTING is not a field of Settings",
    ]
    assert named_setting_problems("c", "image: x:${MLBSTS_VERSION_TAG:-1}", set()) == []
    problems = kafka_security_problems(load_compose(BROKEN_COMPOSE))
    assert "worker-0: MLBSTS_KAFKA_SECURITY_PROTOCOL is not named" in problems
    assert "worker-0: MLBSTS_KAFKA_SSL_CA_LOCATION is not named" in problems
    assert "worker-0: MLBSTS_KAFKA_SASL_PASSWORD has a literal value" in problems
    assert not any("SASL_PASSWORD is not named" in p for p in problems)


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


def test_worker_checker_fails_on_a_broken_compose_cluster() -> None:
    problems = compose_worker_problems(load_compose(BROKEN_COMPOSE))
    assert any("-r missing" in p for p in problems)
    assert any("-a lists" in p for p in problems)
    assert any("own recovery volume" in p for p in problems)


def test_compose_producers_are_idempotent_on_apache_kafka() -> None:
    """Compose runs Apache Kafka, where idempotence is right (off only on the local broker)."""
    for name, service in project_services(load_compose()).items():
        value = env_of(service).get(setting_env_name("kafka_idempotence"))
        assert value is not None, name
        assert Settings.model_validate({"kafka_idempotence": value}).kafka_idempotence, name
