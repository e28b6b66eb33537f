"""Pure: can data written with one Avro schema be read with another? (schema resolution)

``incompatibilities(writer, reader)`` lists why a reader schema cannot read what a writer
schema wrote, following the resolution rules of the Avro specification (those of the
reference ``SchemaCompatibility`` and of a Schema Registry's ``BACKWARD`` level): an empty
list means compatible. A new schema is backward compatible with a released one when
``incompatibilities(released, new) == []``. fastavro resolves data but has no such check.

The rules:

- a record's reader field must be in the writer record (by name or one of the reader
  field's aliases) and readable from it, or have a default; writer fields the reader lacks
  are skipped;
- a writer union: every branch must be readable; a reader union: some branch must read
  the writer type;
- an enum: every writer symbol must be a reader symbol, unless the reader has a default;
- named types (record, enum, fixed) must have the same name (or the writer's name is one
  of the reader's aliases); a fixed the same size; arrays and maps by their items/values;
- primitives must be equal, or one of Avro's promotions (int → long, float, double;
  long → float, double; float → double; string ↔ bytes). Logical types are not compared
  (the registries do not either).

No I/O and no library: plain data in, strings out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["incompatibilities", "is_backward_compatible"]

PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
NAMED: Final = frozenset({"record", "error", "enum", "fixed"})
PROMOTIONS: Final = frozenset(
    {
        ("int", "long"),
        ("int", "float"),
        ("int", "double"),
        ("long", "float"),
        ("long", "double"),
        ("float", "double"),
        ("string", "bytes"),
        ("bytes", "string"),
    }
)


class _Names:
    """The named types of one schema, by full name, and how to dereference a type."""

    def __init__(self, schema: Any) -> None:
        self.types: dict[str, dict[str, Any]] = {}
        self._collect(schema, "")

    def _collect(self, schema: Any, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._collect(branch, namespace)
        elif isinstance(schema, Mapping):
            kind = schema.get("type")
            if kind in NAMED:
                full = full_name(schema, namespace)
                self.types[full] = dict(schema, _full=full)
                namespace = full.rpartition(".")[0]
            if kind in ("record", "error"):
                for field in schema.get("fields", []):
                    self._collect(field["type"], namespace)
            elif kind == "array":
                self._collect(schema["items"], namespace)
            elif kind == "map":
                self._collect(schema["values"], namespace)
            elif isinstance(kind, (list, Mapping)):
                self._collect(kind, namespace)

    def deref(self, schema: Any, namespace: str) -> tuple[Any, str]:
        """``schema`` with a name reference replaced by the named type, and its namespace."""
        if isinstance(schema, Mapping) and isinstance(schema.get("type"), (list, Mapping)):
            return self.deref(schema["type"], namespace)
        if isinstance(schema, Mapping) and schema.get("type") in PRIMITIVES:
            return schema["type"], namespace
        if isinstance(schema, Mapping) and schema.get("type") not in (*NAMED, "array", "map"):
            return self.deref(schema["type"], namespace)  # {"type": "SomeRecord"}
        if isinstance(schema, str) and schema not in PRIMITIVES:
            full = schema if "." in schema or not namespace else f"{namespace}.{schema}"
            found = self.types.get(full) or self.types.get(schema)
            if found is None:
                raise ValueError(f"unknown type {schema!r}")
            schema = found
        if isinstance(schema, Mapping) and schema.get("type") in NAMED:
            full = schema.get("_full") or full_name(schema, namespace)
            return self.types.get(full, schema), full.rpartition(".")[0]
        return schema, namespace


def full_name(schema: Mapping[str, Any], namespace: str) -> str:
    """The full name of a named type declared in ``namespace``."""
    name = str(schema["name"])
    if "." in name:
        return name
    space = schema.get("namespace", namespace)
    return f"{space}.{name}" if space else name


def _type_of(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, str):
        return schema
    return str(schema["type"])


class _Checker:
    def __init__(
        self, writer: _Names, reader: _Names, seen: frozenset[tuple[int, int]] = frozenset()
    ) -> None:
        self._writer_names = writer
        self._reader_names = reader
        self._seen: set[tuple[int, int]] = set(seen)
        self.problems: list[str] = []

    def check(self, w: Any, w_ns: str, r: Any, r_ns: str, path: str) -> bool:
        """True when ``r`` reads ``w``; else records why (only when ``path`` is set)."""
        w, w_ns = self._writer_names.deref(w, w_ns)
        r, r_ns = self._reader_names.deref(r, r_ns)
        w_type, r_type = _type_of(w), _type_of(r)
        if w_type == "union":
            results = [self.check(b, w_ns, r, r_ns, f"{path}[{_label(b)}]") for b in w]
            return all(results)  # every branch checked, so every problem is listed
        if r_type == "union":
            if any(self._quiet(w, w_ns, b, r_ns) for b in r):
                return True
            namesake = [b for b in r if _label(self._reader_names.deref(b, r_ns)[0]) == _label(w)]
            if namesake:  # the branch meant to read it: say what is wrong with it
                return self.check(w, w_ns, namesake[0], r_ns, path)
            return self._fail(path, f"no branch of the reader union reads a writer {_label(w)}")
        if w_type != r_type:
            if (w_type, r_type) in PROMOTIONS:
                return True
            return self._fail(path, f"writer type {w_type} cannot be read as {r_type}")
        if w_type in PRIMITIVES:
            return True
        if w_type == "array":
            return self.check(w["items"], w_ns, r["items"], r_ns, f"{path}[]")
        if w_type == "map":
            return self.check(w["values"], w_ns, r["values"], r_ns, f"{path}{{}}")
        if not _same_name(w, r):
            return self._fail(path, f"writer {w['_full']} is not reader {r['_full']}")
        if w_type == "fixed" and w["size"] != r["size"]:
            return self._fail(path, f"fixed size {w['size']} read as {r['size']}")
        if w_type == "enum":
            return self._enum(w, r, path)
        return self._record(w, w_ns, r, r_ns, path)

    def _enum(self, w: Mapping[str, Any], r: Mapping[str, Any], path: str) -> bool:
        missing = [s for s in w["symbols"] if s not in r["symbols"]]
        if missing and "default" not in r:
            return self._fail(path, f"enum symbols {missing} unknown to the reader")
        return True

    def _record(
        self, w: Mapping[str, Any], w_ns: str, r: Mapping[str, Any], r_ns: str, path: str
    ) -> bool:
        key = (id(w), id(r))
        if key in self._seen:  # a recursive type: assumed fine while it is being checked
            return True
        self._seen.add(key)
        writer_fields = {f["name"]: f for f in w["fields"]}
        ok = True
        for field in r["fields"]:
            here = f"{path}.{field['name']}" if path else field["name"]
            names = (field["name"], *field.get("aliases", ()))
            source = next((writer_fields[n] for n in names if n in writer_fields), None)
            if source is None:
                if "default" not in field:
                    ok = self._fail(here, "new field without a default")
                continue
            ok = self.check(source["type"], w_ns, field["type"], r_ns, here) and ok
        self._seen.discard(key)
        return ok

    def _quiet(self, w: Any, w_ns: str, r: Any, r_ns: str) -> bool:
        """Does ``r`` read ``w``? (a trial: its reasons are not kept)"""
        probe = _Checker(self._writer_names, self._reader_names, frozenset(self._seen))
        return probe.check(w, w_ns, r, r_ns, "")

    def _fail(self, path: str, why: str) -> bool:
        self.problems.append(f"{path or '(top)'}: {why}")
        return False


def _same_name(w: Mapping[str, Any], r: Mapping[str, Any]) -> bool:
    w_full, r_full = w["_full"], r["_full"]
    if w_full == r_full or w["name"].rpartition(".")[2] == r["name"].rpartition(".")[2]:
        return True
    aliases = {full_name({"name": a}, r_full.rpartition(".")[0]) for a in r.get("aliases", ())}
    return w_full in aliases


def _label(schema: Any) -> str:
    if isinstance(schema, Mapping) and "name" in schema:
        return str(schema["name"])
    return _type_of(schema) if not isinstance(schema, str) else schema


def incompatibilities(writer: Any, reader: Any) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer`` (empty: it can)."""
    checker = _Checker(_Names(writer), _Names(reader))
    checker.check(writer, "", reader, "", "")
    return checker.problems


def is_backward_compatible(new: Any, released: Any) -> bool:
    """Can ``new`` read everything written with ``released``?"""
    return not incompatibilities(released, new)
