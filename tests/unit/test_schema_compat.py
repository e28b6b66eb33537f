"""Backward compatibility of every topic schema with its released versions (schemas/README.md).

The rule: data written with any released version ``schemas/released/<name>.v<N>.avsc``
must be readable by the current ``schemas/<name>.avsc`` (Avro schema resolution), and the
current codec must find an old writer schema by its single-object fingerprint.
"""

from __future__ import annotations

import copy
import io
import json
import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.read import SchemaResolutionError
from fastavro.utils import generate_many

from connectors.avro_serde import (
    SCHEMAS_DIR,
    AvroCodec,
    UnknownSchemaError,
    fingerprint,
    load_schema,
)

pytestmark = pytest.mark.unit

RELEASED_DIR = SCHEMAS_DIR / "released"
SAMPLES = 300


def _current_names() -> list[str]:
    return sorted(p.name.removesuffix(".avsc") for p in SCHEMAS_DIR.glob("*.avsc"))


def _released() -> list[Path]:
    return sorted(RELEASED_DIR.glob("*.v*.avsc"))


def _samples(schema: Mapping[str, Any], count: int = SAMPLES) -> Iterator[dict[str, Any]]:
    """Random records of ``schema`` (every union branch and optional field, seeded)."""
    state = random.getstate()
    random.seed(20240701)
    try:
        records = list(generate_many(dict(schema), count))
    finally:
        random.setstate(state)
    yield from records


def assert_backward_compatible(writer: Mapping[str, Any], reader: Mapping[str, Any]) -> None:
    """Every sample written with ``writer`` resolves to ``reader`` (raises if not)."""
    parsed_writer = fastavro.parse_schema(copy.deepcopy(dict(writer)))
    parsed_reader = fastavro.parse_schema(copy.deepcopy(dict(reader)))
    for record in _samples(writer):
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed_writer, record)
        out.seek(0)
        fastavro.schemaless_reader(out, parsed_writer, parsed_reader)


def _name_and_version(path: Path) -> tuple[str, int]:
    name, version = path.name.removesuffix(".avsc").rsplit(".v", 1)
    return name, int(version)


def test_every_schema_has_a_released_version() -> None:
    released = {_name_and_version(p)[0] for p in _released()}
    missing = [n for n in _current_names() if n not in released]
    assert missing == [], f"copy schemas/<name>.avsc to schemas/released/<name>.v1.avsc: {missing}"


def test_released_versions_are_numbered_from_one_without_gaps() -> None:
    versions: dict[str, list[int]] = {}
    for path in _released():
        name, version = _name_and_version(path)
        versions.setdefault(name, []).append(version)
    assert versions, "no released schema"
    for name, numbers in versions.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), name
        assert (SCHEMAS_DIR / f"{name}.avsc").is_file(), f"released {name} has no current schema"


@pytest.mark.parametrize("path", _released(), ids=lambda p: p.name)
def test_data_written_with_a_released_version_is_read_by_the_current_schema(path: Path) -> None:
    name, _ = _name_and_version(path)
    old = json.loads(path.read_text())
    assert_backward_compatible(old, load_schema(name))


@pytest.mark.parametrize("path", _released(), ids=lambda p: p.name)
def test_current_codec_finds_a_released_writer_by_its_fingerprint(path: Path) -> None:
    name, _ = _name_and_version(path)
    old = json.loads(path.read_text())
    history = tuple(json.loads(p.read_text()) for p in RELEASED_DIR.glob(f"{name}.v*.avsc"))
    reader = AvroCodec(load_schema(name), history=history)
    writer = AvroCodec(old)
    for record in _samples(old, 20):
        data = writer.encode(record)
        assert data[2:10] == fingerprint(old)
        reader.decode(data)  # resolved from the old writer schema, no UnknownSchemaError


# -- the checker itself must reject incompatible changes ------------------------------------


def _pitch_branch(schema: dict[str, Any]) -> dict[str, Any]:
    branch: dict[str, Any] = schema["fields"][0]["type"][0]
    assert branch["name"] == "PitchEvent"
    return branch


def test_checker_rejects_a_new_field_without_default() -> None:
    old = load_schema("events_pitch")
    new = copy.deepcopy(old)
    _pitch_branch(new)["fields"].append({"name": "spinAxis", "type": "long"})
    with pytest.raises(SchemaResolutionError, match="spinAxis"):
        assert_backward_compatible(old, new)


def test_checker_accepts_the_same_field_with_a_default() -> None:
    old = load_schema("events_pitch")
    new = copy.deepcopy(old)
    _pitch_branch(new)["fields"].append(
        {"name": "spinAxis", "type": ["null", "long"], "default": None}
    )
    assert_backward_compatible(old, new)
    codec = AvroCodec(new, history=(old,))
    assert codec.decode(AvroCodec(old).encode(next(_samples(old, 1))))["event"] is not None


def test_checker_rejects_a_changed_type_and_a_dropped_union_branch() -> None:
    old = load_schema("events_pitch")
    retyped = copy.deepcopy(old)
    for field in _pitch_branch(retyped)["fields"]:
        if field["name"] == "gamePk":
            field["type"] = "string"
    with pytest.raises(SchemaResolutionError):
        assert_backward_compatible(old, retyped)
    no_retraction = copy.deepcopy(old)
    no_retraction["fields"][0]["type"] = no_retraction["fields"][0]["type"][:1]
    with pytest.raises(SchemaResolutionError):
        assert_backward_compatible(old, no_retraction)


def test_an_unreleased_writer_is_unknown_to_the_current_codec() -> None:
    old = load_schema("events_pitch")
    new = copy.deepcopy(old)
    _pitch_branch(new)["fields"].append(
        {"name": "spinAxis", "type": ["null", "long"], "default": None}
    )
    with pytest.raises(UnknownSchemaError):
        AvroCodec(old).decode(AvroCodec(new).encode(next(_samples(new, 1))))
