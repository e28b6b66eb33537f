"""Backward compatibility of every topic schema with its released versions (schemas/README.md).

The rule: data written with any released version ``schemas/released/<name>.v<N>.avsc``
must be readable by the current ``schemas/<name>.avsc``. Checked twice: on the schemas
themselves by the rules of Avro schema resolution (``connectors.schema_compat``, what a
Schema Registry's ``BACKWARD`` level checks), and on data (random records written with the
old schema, read with the new one by fastavro). The current codec must also find an old
writer schema by its single-object fingerprint. Tests below show each check fails on an
incompatible change, and the directory check fails on a schemas folder holding one.
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
from connectors.schema_compat import incompatibilities, is_backward_compatible

pytestmark = pytest.mark.unit

RELEASED_DIR = SCHEMAS_DIR / "released"
SAMPLES = 300


def _current_names(directory: Path = SCHEMAS_DIR) -> list[str]:
    return sorted(p.name.removesuffix(".avsc") for p in directory.glob("*.avsc"))


def _released(directory: Path = SCHEMAS_DIR) -> list[Path]:
    return sorted((directory / "released").glob("*.v*.avsc"))


def schema_problems(directory: Path) -> list[str]:
    """Every incompatibility between a current schema of ``directory`` and its released
    versions: the previous release first (``BACKWARD``), then every older one (the log keeps
    records of all of them)."""
    problems = []
    for path in sorted(_released(directory), key=lambda p: -_name_and_version(p)[1]):
        name, version = _name_and_version(path)
        current = load_schema(name, directory)
        for why in incompatibilities(json.loads(path.read_text()), current):
            problems.append(f"{name}.avsc cannot read {name}.v{version}: {why}")
    return problems


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


def test_every_schema_reads_its_previous_and_every_older_released_version() -> None:
    assert schema_problems(SCHEMAS_DIR) == []


def test_the_schema_check_fails_on_a_folder_with_an_incompatible_change(tmp_path: Path) -> None:
    (tmp_path / "released").mkdir()
    for name in ("events_pitch", "dead_letter"):
        schema = load_schema(name)
        (tmp_path / "released" / f"{name}.v1.avsc").write_text(json.dumps(schema))
        (tmp_path / f"{name}.avsc").write_text(json.dumps(schema))
    assert schema_problems(tmp_path) == []
    changed = load_schema("events_pitch")
    _pitch_branch(changed)["fields"].append({"name": "spinAxis", "type": "long"})
    (tmp_path / "events_pitch.avsc").write_text(json.dumps(changed))
    assert schema_problems(tmp_path) == [
        "events_pitch.avsc cannot read events_pitch.v1: "
        "event[PitchEvent].spinAxis: new field without a default"
    ]


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


# -- the schema checker (connectors.schema_compat) on each kind of change -------------------

R1: dict[str, Any] = {
    "type": "record",
    "name": "R",
    "namespace": "t",
    "fields": [
        {"name": "a", "type": "int"},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}},
        {"name": "u", "type": ["null", "string"], "default": None},
        {"name": "m", "type": {"type": "map", "values": "long"}},
    ],
}


def _with(change: dict[str, Any], *, add: dict[str, Any] | None = None) -> dict[str, Any]:
    """``R1`` with fields replaced by name (``change``) and one field added."""
    new = copy.deepcopy(R1)
    new["fields"] = [{**f, "type": change.get(f["name"], f["type"])} for f in new["fields"]]
    if add is not None:
        new["fields"].append(add)
    return new


@pytest.mark.parametrize(
    ("new", "why"),
    [
        (_with({}, add={"name": "b", "type": "long"}), "b: new field without a default"),
        (_with({"a": "string"}), "a: writer type int cannot be read as string"),
        (_with({"a": "long"}, add={"name": "c", "type": "int"}), "c: new field without"),
        (_with({"u": ["string", "long"]}), "u[null]: no branch of the reader union reads"),
        (_with({"e": {"type": "enum", "name": "E", "symbols": ["X"]}}), "e: enum symbols ['Y']"),
        (_with({"m": {"type": "map", "values": "int"}}), "m{}: writer type long cannot be"),
        (_with({"e": {"type": "enum", "name": "F", "symbols": ["X", "Y"]}}), "e: writer t.E is"),
    ],
    ids=["new-field", "retyped", "promoted-and-new", "dropped-branch", "dropped-symbol",
         "narrowed-map", "renamed-enum"],
)  # fmt: skip
def test_checker_refuses_an_incompatible_change(new: dict[str, Any], why: str) -> None:
    problems = incompatibilities(R1, new)
    assert len(problems) == 1 and problems[0].startswith(why), problems
    assert not is_backward_compatible(new, R1)


@pytest.mark.parametrize(
    "new",
    [
        _with({}, add={"name": "b", "type": ["null", "long"], "default": None}),
        _with({"a": "long"}),  # int -> long: an Avro promotion
        _with({"a": "double", "u": ["null", "string", "long"]}),  # a branch added
        _with({"e": {"type": "enum", "name": "E", "symbols": ["X", "Y", "Z"]}}),
        _with({"e": {"type": "enum", "name": "E", "symbols": ["X"], "default": "X"}}),
        {**R1, "fields": R1["fields"][1:]},  # a field removed: old records still read
    ],
    ids=["new-field-with-default", "promotion", "branch-added", "symbol-added",
         "enum-default", "field-removed"],
)  # fmt: skip
def test_checker_accepts_a_backward_compatible_change(new: dict[str, Any]) -> None:
    assert incompatibilities(R1, new) == []


def test_checker_follows_named_references_and_aliases() -> None:
    old = load_schema("events_pitch")
    renamed = copy.deepcopy(old)
    gone = next(f for f in _pitch_branch(renamed)["fields"] if f["name"] == "gamePk")
    assert "default" not in gone
    gone["aliases"], gone["name"] = [gone["name"]], gone["name"] + "_v2"
    assert incompatibilities(old, renamed) == []  # read through the alias
    del gone["aliases"]
    assert incompatibilities(old, renamed) == [
        f"event[PitchEvent].{gone['name']}: new field without a default"
    ]
