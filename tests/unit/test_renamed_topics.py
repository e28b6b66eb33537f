"""A replay's records go to its own topics (``connectors.renamed_topics``): each record's
topic gets the suffix, and nothing else about it changes."""

from __future__ import annotations

import dataclasses

import pytest
from bytewax.outputs import StatefulSinkPartition

from connectors.records import OutRecord
from connectors.renamed_topics import _RenamingPartition
from mlbsts import topics

pytestmark = pytest.mark.unit


class _Kept(StatefulSinkPartition[OutRecord, None]):
    def __init__(self) -> None:
        self.written: list[OutRecord] = []

    def write_batch(self, values: list[OutRecord]) -> None:
        self.written.extend(values)

    def snapshot(self) -> None:
        return None


def test_a_renamed_record_keeps_every_field_but_its_topic() -> None:
    # every field set to something other than its default, so a field renamed() forgot
    # (say one added to OutRecord later) would show as a difference
    defaults = {f.name: f.default for f in dataclasses.fields(OutRecord)}
    records = [
        OutRecord(
            topics.EVENTS_PITCH,
            b"744914",
            b"\x00value",
            (("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),),
            "20240701_190000",
        ),
        OutRecord(topics.STATS_LIVE, None, b""),
    ]
    assert all(getattr(records[0], name) != default for name, default in defaults.items())
    inner = _Kept()
    _RenamingPartition(inner, "_mlbsts_v2").write_batch(records)
    assert inner.written == [dataclasses.replace(r, topic=r.topic + "_mlbsts_v2") for r in records]
