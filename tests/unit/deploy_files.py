"""The production deployment files read as data, and the checkers several topics share.

Used by ``tests/unit/test_deploy_static*.py`` (no Docker engine, no cluster): each rule is a
small checker returning a list of problems (empty: fine).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from mlbsts.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
K8S_DIR = ROOT / "deploy" / "k8s"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
RECOVERY_INIT = ROOT / "deploy" / "bin" / "mlbsts-recovery-init"
ALERTS = ROOT / "deploy" / "prometheus" / "rules" / "mlbsts.rules.yaml"

ENV_PREFIX = str(Settings.model_config.get("env_prefix", ""))
# The connections every project service needs (test_deploy_static.py checks the names).
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


# -- checkers shared by compose, k8s and images -----------------------------------------


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


def flow_command_problems(where: str, text: str) -> list[str]:
    """A worker runs the live-stats flow with recovery, a process id and peer addresses."""
    if FLOW_COMMAND not in text:
        return [f"{where}: does not run {FLOW_COMMAND}"]
    return [
        f"{where}: {flag} missing from the bytewax.run command"
        for flag in ("-r", "-s", "-b", "-i", "-a")
        if flag_value(text, flag) is None
    ]
