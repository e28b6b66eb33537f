"""Checkers of the settings a deployment file names (compose and k8s; no Docker, no cluster).

A file documents optional settings in comments (``# MLBSTS_KAFKA_SASL_MECHANISM: ...``) as
well as in live keys, so every ``MLBSTS_*`` name in its *text* must be a Settings field,
except a compose variable used only inside ``${...}`` (e.g. ``MLBSTS_VERSION_TAG``), which
never reaches a container.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tests.unit.deploy_files import setting_env_name

KAFKA_SECURITY = (
    "kafka_security_protocol",
    "kafka_sasl_mechanism",
    "kafka_sasl_username",
    "kafka_sasl_password",
    "kafka_ssl_ca_location",
)
SECRET_SETTINGS = ("kafka_sasl_password",)
_NAME = re.compile(r"(\$\{)?\b(MLBSTS_[A-Z][A-Z0-9_]*)")


def named_setting_problems(where: str, text: str, fields: set[str]) -> list[str]:
    """Every ``MLBSTS_*`` name in ``text`` (comments included) is a Settings field."""
    uses: dict[str, set[bool]] = {}
    for match in _NAME.finditer(text):
        uses.setdefault(match[2], set()).add(match[1] is not None)
    return [
        f"{where}: {name} is not a field of Settings"
        for name, interpolated in sorted(uses.items())
        if interpolated != {True} and name.removeprefix("MLBSTS_").lower() not in fields
    ]


def missing_names(where: str, text: str, settings: tuple[str, ...]) -> list[str]:
    """Each of ``settings`` is named in ``text`` (a live key or a documented comment)."""
    return [
        f"{where}: {setting_env_name(s)} is not named"
        for s in settings
        if not re.search(rf"\b{setting_env_name(s)}\b", text)
    ]


def literal_secret_problems(where: str, env: Mapping[str, str | None]) -> list[str]:
    """A secret setting is never written in the file: unset, passed through (no value) or
    interpolated from the shell / ``.env``."""
    problems = []
    for s in SECRET_SETTINGS:
        value = env.get(setting_env_name(s))
        if value is not None and not value.startswith("${"):
            problems.append(f"{where}: {setting_env_name(s)} has a literal value")
    return problems
