"""Static checks of the monitoring in ``docker-compose.yaml``: Prometheus scrapes every project
process where it serves its metrics and loads the rules; Grafana gets its datasource and
dashboards from ``deploy/grafana/``; no two services publish the same host port.

Every checker runs on the real files and on a deliberately broken sample (see
``tests/unit/test_deploy_static.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from mlbsts.settings import Settings
from tests.unit.deploy_files import (
    ROOT,
    command_text,
    env_of,
    flag_value,
    load_compose,
    project_services,
    setting_env_name,
)
from tests.unit.monitoring_files import (
    DASHBOARD_PROVIDERS,
    DATASOURCES,
    PROMETHEUS_CONFIG,
    RULES,
    load_yaml,
)

pytestmark = pytest.mark.unit

Doc = dict[str, Any]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_CONFIG = "/etc/prometheus/prometheus.yml"  # the prom/prometheus image's


def _setting(env: Mapping[str, str], field: str) -> str:
    return env.get(setting_env_name(field), str(Settings.model_fields[field].default))


def metrics_endpoint(service: Doc) -> tuple[str, int] | None:
    """(listen host, port) of a project service's /metrics, from its command and settings."""
    cmd, env = command_text(service), env_of(service)
    if "bytewax.run" in cmd:
        return _setting(env, "telemetry_host"), int(_setting(env, "worker_telemetry_port"))
    if "mlbsts ingest" in cmd:
        return _setting(env, "telemetry_host"), int(_setting(env, "ingest_telemetry_port"))
    if "mlbsts api" in cmd:
        host = flag_value(cmd, "--host") or _setting(env, "api_host")
        return host, int(flag_value(cmd, "--port") or _setting(env, "api_port"))
    return None


def scrape_problems(compose: Doc, config: Doc) -> list[str]:
    """Each target is a compose service's metrics endpoint, reachable from another container,
    and every project process serving metrics is a target."""
    services = compose["services"]
    targets = [
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    ]
    problems: list[str] = []
    for target in targets:
        host, _, port = target.rpartition(":")
        endpoint = metrics_endpoint(services[host]) if host in services else None
        if endpoint is None:
            problems.append(f"target {target}: no compose service {host!r} serves metrics")
        elif int(port) != endpoint[1]:
            problems.append(f"target {target}: {host} serves metrics on {endpoint[1]}")
        elif endpoint[0] in LOOPBACK:
            problems.append(f"target {target}: {host} listens on {endpoint[0]} only")
    scraped = {t.rpartition(":")[0] for t in targets}
    for name, service in project_services(compose).items():
        if metrics_endpoint(service) is not None and name not in scraped:
            problems.append(f"{name} serves metrics but Prometheus does not scrape it")
    return problems


def _mounts(service: Doc) -> dict[str, str]:
    """Container path → host path (relative to the repository) of bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if source.startswith("./"):
            out[target] = source[2:]
    return out


def _host_path(mounts: Mapping[str, str], container_path: str) -> str | None:
    """The repository path a container path is mounted from, if it is."""
    path = PurePosixPath(container_path)
    for target, source in mounts.items():
        if path == PurePosixPath(target) or PurePosixPath(target) in path.parents:
            return str(PurePosixPath(source) / path.relative_to(target))
    return None


def monitoring_problems(compose: Doc) -> list[str]:
    """Prometheus reads deploy/prometheus (config and rules); Grafana its provisioning, the
    dashboards where the provider looks, and a datasource that is the Prometheus service."""
    services = compose["services"]
    if "prometheus" not in services or "grafana" not in services:
        return ["no prometheus or grafana service"]
    problems: list[str] = []
    prom = services["prometheus"]
    args = [str(a) for a in prom.get("command", [])]
    config = next((a.split("=", 1)[1] for a in args if a.startswith("--config.file=")), None)
    config = config or flag_value(command_text(prom), "--config.file") or DEFAULT_CONFIG
    mounts = _mounts(prom)
    if _host_path(mounts, config) != str(PROMETHEUS_CONFIG.relative_to(ROOT)):
        problems.append(f"prometheus: {config} is not {PROMETHEUS_CONFIG.relative_to(ROOT)}")
    rules = _host_path(mounts, str(PurePosixPath(config).parent / "rules" / RULES.name))
    if rules != str(RULES.relative_to(ROOT)):
        problems.append("prometheus: the alert rules are not mounted beside the config")
    grafana = _mounts(services["grafana"])
    if _host_path(grafana, "/etc/grafana/provisioning") != "deploy/grafana/provisioning":
        problems.append("grafana: deploy/grafana/provisioning is not /etc/grafana/provisioning")
    for provider in load_yaml(DASHBOARD_PROVIDERS)["providers"]:
        if _host_path(grafana, provider["options"]["path"]) != "deploy/grafana/dashboards":
            problems.append(f"grafana: {provider['options']['path']} is not the dashboards")
    for source in load_yaml(DATASOURCES)["datasources"]:
        url = urlsplit(source["url"])
        if url.hostname not in services or url.port != 9090:
            problems.append(f"grafana: datasource {source['url']} is not the prometheus service")
    return problems


def published_port_problems(compose: Doc) -> list[str]:
    """No two services publish the same host port."""
    seen: dict[str, str] = {}
    problems = []
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            parts = str(port).split(":")
            host = ":".join(parts[:-1]) if len(parts) > 1 else parts[0]
            key = host.rpartition(":")[2]
            if key in seen:
                problems.append(f"{name} and {seen[key]} both publish host port {key}")
            seen[key] = name
    return problems


# -- the real files --------------------------------------------------------------------


def test_prometheus_scrapes_every_process_where_it_serves_metrics() -> None:
    assert scrape_problems(load_compose(), load_yaml(PROMETHEUS_CONFIG)) == []


def test_prometheus_and_grafana_read_the_files_of_deploy() -> None:
    assert monitoring_problems(load_compose()) == []
    assert load_yaml(PROMETHEUS_CONFIG)["rule_files"] == [f"rules/{RULES.name}"]


def test_no_two_services_publish_one_host_port() -> None:
    assert published_port_problems(load_compose()) == []


# -- every checker can fail ------------------------------------------------------------

BROKEN = """
services:
  worker-0:
    build: .
    command: python -m bytewax.run flows.live_stats:flow
  ingest:
    build: .
    command: [mlbsts, ingest]
    environment:
      MLBSTS_TELEMETRY_HOST: 0.0.0.0
      MLBSTS_INGEST_TELEMETRY_PORT: "9999"
    ports: ["127.0.0.1:8080:8080"]
  api:
    build: .
    command: [mlbsts, api, --host, 0.0.0.0, --port, "8080"]
    ports: ["8080:8080"]
  prometheus:
    image: prom/prometheus:v2.55.1
    command: [--config.file=/etc/prometheus/prometheus.yml]
    volumes: [./deploy/elsewhere:/etc/prometheus:ro]
  grafana:
    image: grafana/grafana:11.3.0
    volumes: [./deploy/grafana/provisioning:/etc/grafana/provisioning:ro]
"""
BROKEN_CONFIG = """
scrape_configs:
  - job_name: all
    static_configs:
      - targets: [worker-0:9464, ingest:9465, cache:6379]
"""


def test_the_checkers_fail_on_a_broken_compose() -> None:
    compose = load_compose(BROKEN)
    problems = scrape_problems(compose, yaml.safe_load(BROKEN_CONFIG))
    assert problems == [
        "target worker-0:9464: worker-0 listens on 127.0.0.1 only",
        "target ingest:9465: ingest serves metrics on 9999",
        "target cache:6379: no compose service 'cache' serves metrics",
        "api serves metrics but Prometheus does not scrape it",
    ]
    problems = monitoring_problems(compose)
    assert "prometheus: /etc/prometheus/prometheus.yml is not deploy/prometheus/prometheus.yml" in (
        problems
    )
    assert "prometheus: the alert rules are not mounted beside the config" in problems
    assert any(p.startswith("grafana: /etc/grafana/dashboards is not") for p in problems)
    assert published_port_problems(compose) == ["api and ingest both publish host port 8080"]
    assert monitoring_problems({"services": {}}) == ["no prometheus or grafana service"]
