"""Avro serialization of every topic's records, with the schemas in ``schemas/``.

Two framings (docs/architecture.md section 4):

- Avro single-object encoding (Avro specification): ``C3 01`` + the 8-byte little-endian
  CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form + Avro binary.
  Written when no Schema Registry is configured (the local stack).
- Confluent wire format: ``00`` + 4-byte big-endian schema id + Avro binary. Written when a
  Schema Registry is configured (production); reading it needs a ``schema_by_id`` lookup.

Readers accept both. Which framing a topic's producer writes is chosen in one place,
``connectors.topic_codecs``; ``AvroCodec(load_schema(name))`` alone always writes the
single-object encoding. Exceptions::

    SerdeError                  (ValueError)
    ├── UnknownFramingError     first bytes are neither framing
    ├── UnknownSchemaError      fingerprint or schema id not known to this reader
    └── MalformedRecordError    the Avro body does not decode with the writer schema
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema

from mlbsts.paths import PROJECT_ROOT

SCHEMAS_DIR = PROJECT_ROOT / "schemas"
SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"

SchemaById = Callable[[int], dict[str, Any]]


class SerdeError(ValueError):
    """A record could not be (de)serialized."""


class UnknownFramingError(SerdeError):
    """The bytes start with neither the single-object nor the Confluent marker."""


class UnknownSchemaError(SerdeError):
    """The writer schema named by the record is not known to this reader."""


class MalformedRecordError(SerdeError):
    """The Avro body does not decode with its writer schema."""


def load_schema(name: str, directory: Path = SCHEMAS_DIR) -> dict[str, Any]:
    """The schema ``schemas/<name>.avsc`` as JSON."""
    schema: dict[str, Any] = json.loads((directory / f"{name}.avsc").read_text())
    return schema


def released_schemas(name: str, directory: Path = SCHEMAS_DIR) -> tuple[dict[str, Any], ...]:
    """The released versions ``schemas/released/<name>.v<N>.avsc``, oldest first."""
    paths = (directory / "released").glob(f"{name}.v*.avsc")
    versioned = sorted((int(p.name.removesuffix(".avsc").rsplit(".v", 1)[1]), p) for p in paths)
    return tuple(json.loads(p.read_text()) for _, p in versioned)


def fingerprint(schema: Mapping[str, Any]) -> bytes:
    """CRC-64-AVRO fingerprint of the schema's canonical form, little-endian (8 bytes)."""
    canonical = fastavro.schema.to_parsing_canonical_form(dict(schema))
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


class AvroCodec:
    """Encodes records of one schema; decodes records written with it or its ancestors.

    ``history`` are older versions of the schema still readable (schema evolution:
    records are resolved from the writer schema to this reader schema).
    """

    def __init__(
        self,
        schema: Mapping[str, Any],
        *,
        history: tuple[Mapping[str, Any], ...] = (),
        schema_id: int | None = None,
        schema_by_id: SchemaById | None = None,
    ) -> None:
        self._schema = fastavro.parse_schema(dict(schema))
        self._fingerprint = fingerprint(schema)
        self._writers = {fingerprint(s): fastavro.parse_schema(dict(s)) for s in history}
        self._writers[self._fingerprint] = self._schema
        self._schema_id = schema_id
        self._schema_by_id = schema_by_id
        self.name: str = str(schema.get("name"))

    @property
    def schema_fingerprint(self) -> bytes:
        return self._fingerprint

    def encode(self, record: Mapping[str, Any]) -> bytes:
        """Single-object encoding, or the Confluent framing when a schema id is set."""
        out = io.BytesIO()
        if self._schema_id is None:
            out.write(SINGLE_OBJECT_MAGIC)
            out.write(self._fingerprint)
        else:
            out.write(CONFLUENT_MAGIC)
            out.write(struct.pack(">I", self._schema_id))
        try:
            fastavro.schemaless_writer(out, self._schema, dict(record))
        except (ValueError, TypeError, KeyError) as e:
            raise MalformedRecordError(f"{self.name}: cannot encode record: {e}") from e
        return out.getvalue()

    def decode(self, data: bytes) -> dict[str, Any]:
        """A record in either framing, resolved to this codec's schema."""
        if data[:2] == SINGLE_OBJECT_MAGIC:
            writer = self._writers.get(bytes(data[2:10]))
            if writer is None:
                raise UnknownSchemaError(
                    f"{self.name}: unknown writer fingerprint {bytes(data[2:10]).hex()}"
                )
            body = data[10:]
        elif data[:1] == CONFLUENT_MAGIC and len(data) >= 5:
            (schema_id,) = struct.unpack(">I", data[1:5])
            writer = self._writer_for_id(schema_id)
            body = data[5:]
        else:
            raise UnknownFramingError(f"{self.name}: not Avro (first bytes {data[:2]!r})")
        try:
            record = fastavro.schemaless_reader(io.BytesIO(body), writer, self._schema)
        except (ValueError, TypeError, EOFError, IndexError, KeyError) as e:
            raise MalformedRecordError(f"{self.name}: malformed Avro body: {e}") from e
        if not isinstance(record, dict):
            raise MalformedRecordError(f"{self.name}: not a record: {type(record).__name__}")
        return record

    def _writer_for_id(self, schema_id: int) -> Any:
        if self._schema_id == schema_id:
            return self._schema
        if self._schema_by_id is None:
            raise UnknownSchemaError(
                f"{self.name}: Confluent schema id {schema_id} and no Schema Registry configured"
            )
        return _parse_cached(json.dumps(self._schema_by_id(schema_id), sort_keys=True))


def avro_body(value: bytes) -> bytes:
    """The Avro binary body of a framed value (either framing), without its frame."""
    if value[:2] == SINGLE_OBJECT_MAGIC and len(value) >= 10:
        return value[10:]
    if value[:1] == CONFLUENT_MAGIC and len(value) >= 5:
        return value[5:]
    raise UnknownFramingError(f"not Avro (first bytes {value[:2]!r})")


@lru_cache(maxsize=256)
def _parse_cached(schema_json: str) -> Any:
    return fastavro.parse_schema(json.loads(schema_json))
