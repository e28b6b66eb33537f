"""A raw record far larger than the record limit does not stop the flow (1 and 2 workers).

Garbage of 20 MB (which the embedded broker accepts despite the topic's limit) and garbage
just under ``kafka_max_message_bytes`` are slipped between a real game's snapshots. Each
becomes an ``unparsable`` dead letter that is small enough to produce: its original went to
the originals sink at a key the letter carries. Every good snapshot is still stored.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main

from connectors.dead_letter_offload import Original, inline_limit
from connectors.envelope_serde import encode_envelope
from connectors.kafka_io import OutRecord
from connectors.records import decode_dead_letter
from flows.game.accepted import AcceptedSnapshot
from flows.game.dead_letters import ErrorClass
from flows.game.envelope import make_envelope
from flows.live_stats import FlowSinks, build_flow
from mlbsts import topics
from mlbsts.settings import Settings
from sim.simulate import simulate
from tests.conftest import FIXTURE_GAME_PK

pytestmark = pytest.mark.flow

KEY = str(FIXTURE_GAME_PK).encode()
MAX_MESSAGE_BYTES = Settings().kafka_max_message_bytes
Message = KafkaSourceMessage[bytes | None, bytes | None]


def _message(value: bytes, offset: int) -> Message:
    return KafkaSourceMessage(
        key=KEY, value=value, topic=topics.RAW_GAME_SNAPSHOTS, partition=1, offset=offset
    )


def _snapshot(snapshot: dict[str, Any], offset: int) -> Message:
    envelope = make_envelope(
        game_pk=FIXTURE_GAME_PK,
        body=orjson.dumps(snapshot),
        source_url="test",
        status_code=200,
        captured_at=datetime(2024, 7, 1, tzinfo=UTC) + timedelta(minutes=offset),
        feed=snapshot,
    )
    return _message(encode_envelope(envelope), offset)


def _messages(feed: dict[str, Any]) -> tuple[list[Message], dict[int, bytes]]:
    """Every 10th snapshot of the game; the two garbage records after the first and the
    third of them. Returns the messages and the garbage by offset."""
    garbage = {
        2: os.urandom(20 * 1000 * 1000),
        5: b"\xc3\x01" + os.urandom(MAX_MESSAGE_BYTES - 1024),  # Avro magic, then nonsense
    }
    msgs: list[Message] = []
    for snapshot in simulate(feed, 10):
        if len(msgs) in garbage:
            msgs.append(_message(garbage[len(msgs)], len(msgs)))
        msgs.append(_snapshot(snapshot, len(msgs)))
    return msgs, garbage


def _run(
    msgs: list[Message], workers: int
) -> tuple[list[AcceptedSnapshot], list[OutRecord], list[Original]]:
    pg: list[AcceptedSnapshot] = []
    log: list[OutRecord] = []
    originals: list[Original] = []
    sinks = FlowSinks(
        TestingSink(pg), TestingSink([]), TestingSink(log), letter_originals=TestingSink(originals)
    )
    flow = build_flow(TestingSource(msgs), sinks, letter_inline_max=inline_limit(MAX_MESSAGE_BYTES))
    if workers == 1:
        run_main(flow)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)
    return pg, log, originals


@pytest.mark.parametrize("workers", [1, 2])
def test_an_oversized_record_is_dead_lettered_by_reference_and_the_flow_goes_on(
    fixture_feed: dict[str, Any], workers: int
) -> None:
    msgs, garbage = _messages(fixture_feed)
    pg, log, originals = _run(msgs, workers)

    assert sorted(s.offset or 0 for s in pg) == [m.offset for m in msgs if m.offset not in garbage]
    dlq = [r for r in log if r.topic == topics.DLQ_GAME_SNAPSHOTS]
    assert len(dlq) == len(garbage)
    for record in dlq:
        assert len(record.value) < 64 * 1024  # the letter travels, whatever the original
        letter = decode_dead_letter(record.value)
        assert letter.error_class == ErrorClass.UNPARSABLE
        assert letter.original_value is None and letter.source_offset in garbage
        assert (
            letter.original_ref
            == f"dead-letters/{topics.RAW_GAME_SNAPSHOTS}/1/{letter.source_offset}.bin"
        )
    assert dict(originals) == {
        f"dead-letters/{topics.RAW_GAME_SNAPSHOTS}/1/{offset}.bin": value
        for offset, value in garbage.items()
    }
    plays = [r for r in log if r.topic == topics.EVENTS_PLAY]
    assert plays  # the game's events still came out
