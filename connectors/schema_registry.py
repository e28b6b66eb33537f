"""The Confluent Schema Registry edge: schema ids of subjects, schemas of ids, compatibility.

A thin wrapper of ``confluent_kafka.schema_registry`` (imported only here, and only when a
registry is configured: it costs ~0.3 s of imports) with every request bounded in time
(``schema_registry_timeout_s``) and every failure one exception::

    SchemaRegistryError (RuntimeError)   the registry refused a request or is unreachable

Subjects follow Confluent's ``TopicNameStrategy``: the value schema of topic ``T`` is the
subject ``T-value`` (``subject_of``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

__all__ = [
    "RegistryClient",
    "SchemaIds",
    "SchemaRegistryError",
    "subject_of",
]


class SchemaRegistryError(RuntimeError):
    """Broken infrastructure: the Schema Registry refused a request or is unreachable."""


class SchemaIds(Protocol):
    """Where Confluent schema ids come from (a Schema Registry)."""

    def id_for(self, subject: str, schema: Mapping[str, Any]) -> int: ...

    def schema_by_id(self, schema_id: int) -> dict[str, Any]: ...


def subject_of(topic: str) -> str:
    """The subject of ``topic``'s value schema (``TopicNameStrategy``)."""
    return f"{topic}-value"


class RegistryClient:
    """A Confluent Schema Registry at ``url``, each request bounded by ``timeout_s``.

    ``id_for`` registers the schema under the subject if it is new there, and returns its id
    either way (the registry answers the existing id for a schema it already holds), so it is
    idempotent; the registry refuses a schema the subject's compatibility level forbids.
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0, max_retries: int = 1) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: PLC0415

        self.url = url
        self._client = SchemaRegistryClient(
            {"url": url, "timeout": timeout_s, "max.retries": max_retries}
        )

    def id_for(self, subject: str, schema: Mapping[str, Any]) -> int:
        text = json.dumps(schema)
        return int(self._call(f"subject {subject}: register", self._register, subject, text))

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        found = self._call(f"schema id {schema_id}: lookup", self._client.get_schema, schema_id)
        schema: dict[str, Any] = json.loads(found.schema_str)
        return schema

    def set_compatibility(self, subject: str, level: str) -> str:
        """Sets the subject's compatibility level; returns the level the registry holds."""
        answer = self._call(
            f"subject {subject}: set compatibility {level}",
            self._client.set_compatibility,
            subject,
            level,
        )
        if isinstance(answer, Mapping):
            return str(answer.get("compatibility", level))
        return level

    def _register(self, subject: str, text: str) -> int:
        from confluent_kafka.schema_registry import Schema  # noqa: PLC0415

        return int(self._client.register_schema(subject, Schema(text, "AVRO")))

    def _call(self, what: str, method: Any, *args: Any) -> Any:
        from confluent_kafka.schema_registry.error import (  # noqa: PLC0415
            SchemaRegistryError as Refused,
        )

        try:
            return method(*args)
        except (Refused, httpx.HTTPError, OSError) as e:
            raise SchemaRegistryError(f"schema registry {self.url}: {what}: {e}") from e
