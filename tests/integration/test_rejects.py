"""A snapshot PostgreSQL refuses reaches the dead-letter topic on the real broker."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest

from connectors.kafka_io import producer_config
from connectors.kafka_read import mark, read_topic
from connectors.records import decode_dead_letter
from connectors.rejects import DeadLetterProducer, reject_snapshot
from flows.game.accepted import AcceptedSnapshot
from flows.game.dead_letters import ErrorClass
from flows.game.envelope import make_envelope
from mlbsts import topics
from mlbsts.settings import Settings

pytestmark = pytest.mark.integration


def test_a_refused_snapshot_is_a_dead_letter_on_the_topic(
    stack_settings: Settings, fixture_feed: dict[str, Any]
) -> None:
    body = orjson.dumps(fixture_feed)
    envelope = make_envelope(
        game_pk=fixture_feed["gamePk"],
        body=body,
        source_url="test",
        status_code=200,
        captured_at=datetime(2024, 7, 12, tzinfo=UTC),
        feed=fixture_feed,
    )
    item = AcceptedSnapshot(
        envelope, b"original bytes", body, date(2024, 7, 12), "mlb.raw.game-snapshots", 2, 41
    )
    before = mark(stack_settings, topics.DLQ_GAME_SNAPSHOTS)
    producer = DeadLetterProducer(producer_config(stack_settings))
    reject_snapshot(producer)(item, RuntimeError("unsupported Unicode escape sequence"))
    letters = [
        decode_dead_letter(m.value() or b"")
        for m in read_topic(stack_settings, topics.DLQ_GAME_SNAPSHOTS, start=before)
    ]
    mine = [d for d in letters if d.source_offset == 41 and d.gamePk == fixture_feed["gamePk"]]
    assert len(mine) == 1
    letter = mine[0]
    assert letter.error_class == ErrorClass.DB_REJECTED
    assert (letter.source_topic, letter.source_partition) == ("mlb.raw.game-snapshots", 2)
    assert letter.original_value == b"original bytes"
    assert "unsupported Unicode escape sequence" in letter.reason
