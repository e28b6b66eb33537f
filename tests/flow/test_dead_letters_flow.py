"""Invalid snapshots go to the dead-letter topic and the flow goes on (1 and 2 workers).

A real game (744914, simulated every 8 pitches) is fed with one corrupted snapshot per
validation class slipped in between; every good snapshot must be stored and the game's
events emitted, and each corrupted one must land in ``mlb.dlq.game-snapshots`` with its
class, its offset and the original message bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage

from connectors.envelope_serde import encode_envelope
from connectors.event_serde import decode_event_value
from connectors.records import TOPIC_OF_KIND, decode_dead_letter
from flows.game.accepted import AcceptedSnapshot
from flows.game.dead_letters import ErrorClass
from flows.game.envelope import make_envelope
from mlbsts import topics
from sim.simulate import simulate
from tests.conftest import FIXTURE_GAME_PK
from tests.flow.harness import run_flow

pytestmark = pytest.mark.flow

JSON = dict[str, Any]
URL = f"https://statsapi.mlb.com/api/v1.1/game/{FIXTURE_GAME_PK}/feed/live"
KEY = str(FIXTURE_GAME_PK).encode()
Message = KafkaSourceMessage[bytes | None, bytes | None]


def _copy(feed: JSON) -> JSON:
    copied: JSON = orjson.loads(orjson.dumps(feed))
    return copied


def _oversized(feed: JSON) -> bytes:
    """17 MiB of spaces in an extra field: past max_snapshot_bytes, ~17 KB gzipped."""
    return orjson.dumps(feed)[:-1] + b',"padding":"' + b" " * (17 << 20) + b'"}'


def _no_all_plays(feed: JSON) -> bytes:
    feed = _copy(feed)
    del feed["liveData"]["plays"]["allPlays"]
    return orjson.dumps(feed)


def _string_game_pk(feed: JSON) -> bytes:
    return orjson.dumps({**feed, "gamePk": str(FIXTURE_GAME_PK)})


def _other_game(feed: JSON) -> bytes:
    return orjson.dumps({**feed, "gamePk": FIXTURE_GAME_PK + 1})


def _extra_home_run(feed: JSON) -> bytes:
    feed = _copy(feed)
    feed["liveData"]["linescore"]["teams"]["home"]["runs"] += 1
    return orjson.dumps(feed)


def _four_outs(feed: JSON) -> bytes:
    feed = _copy(feed)
    feed["liveData"]["linescore"]["outs"] = 4
    return orjson.dumps(feed)


def _duplicate_at_bat(feed: JSON) -> bytes:
    feed = _copy(feed)
    plays = feed["liveData"]["plays"]["allPlays"]
    plays.insert(3, plays[2])
    return orjson.dumps(feed)


CORRUPTIONS: dict[ErrorClass, Callable[[JSON], bytes]] = {
    ErrorClass.OVERSIZED: _oversized,
    ErrorClass.UNPARSABLE: lambda feed: orjson.dumps(feed)[:-500],
    ErrorClass.MISSING_FIELD: _no_all_plays,
    ErrorClass.WRONG_TYPE: _string_game_pk,
    ErrorClass.GAME_PK_MISMATCH: _other_game,
    ErrorClass.SCORE_MISMATCH: _extra_home_run,
    ErrorClass.IMPOSSIBLE_STATE: _four_outs,
    ErrorClass.AT_BAT_INDEX: _duplicate_at_bat,
}


def _message(body: bytes, feed: JSON, offset: int) -> Message:
    envelope = make_envelope(
        game_pk=FIXTURE_GAME_PK,
        body=body,
        source_url=URL,
        status_code=200,
        captured_at=datetime(2024, 7, 1, tzinfo=UTC),
        feed=feed,
    )
    return KafkaSourceMessage(
        key=KEY,
        value=encode_envelope(envelope),
        topic=topics.RAW_GAME_SNAPSHOTS,
        partition=0,
        offset=offset,
    )


def _messages(feed: JSON) -> tuple[list[Message], dict[int, ErrorClass]]:
    """The game's snapshots in order, a corrupted copy of one after every third of them."""
    snapshots = simulate(feed, 8)
    corruptions = list(CORRUPTIONS.items())
    assert len(snapshots) > 3 * len(corruptions)
    msgs: list[Message] = []
    corrupted: dict[int, ErrorClass] = {}
    for i, snapshot in enumerate(snapshots):
        msgs.append(_message(orjson.dumps(snapshot), snapshot, len(msgs)))
        if i % 3 == 1 and corruptions:
            error_class, corrupt = corruptions.pop(0)
            corrupted[len(msgs)] = error_class
            msgs.append(_message(corrupt(snapshot), snapshot, len(msgs)))
    assert not corruptions
    return msgs, corrupted


def _offset(item: AcceptedSnapshot) -> int:
    assert item.offset is not None
    return item.offset


@pytest.mark.parametrize("workers", [1, 2])
def test_each_invalid_snapshot_is_dead_lettered_and_the_game_goes_on(
    fixture_feed: JSON, workers: int
) -> None:
    msgs, corrupted = _messages(fixture_feed)
    pg, s3, log = run_flow(msgs, workers)

    good = {m.offset for m in msgs if m.offset not in corrupted}
    assert sorted(map(_offset, pg)) == sorted(map(_offset, s3)) == sorted(good)

    dead = [decode_dead_letter(r.value) for r in log if r.topic == topics.DLQ_GAME_SNAPSHOTS]
    assert {d.source_offset: d.error_class for d in dead} == corrupted
    assert len(dead) == len(corrupted) == len(CORRUPTIONS)
    by_offset = {m.offset: m for m in msgs}
    for letter in dead:
        assert letter.source_offset is not None
        original = by_offset[letter.source_offset]
        assert (letter.original_key, letter.original_value) == (original.key, original.value)
        assert (letter.source_topic, letter.source_partition, letter.gamePk) == (
            topics.RAW_GAME_SNAPSHOTS,
            0,
            FIXTURE_GAME_PK,
        )
        assert letter.reason

    events = [
        decode_event_value(r.topic, r.value) for r in log if r.topic in TOPIC_OF_KIND.values()
    ]
    plays = {e.event_id for e in events if e.__struct_config__.tag == "play"}
    assert len(plays) == len(fixture_feed["liveData"]["plays"]["allPlays"])
    assert not [e for e in events if e.__struct_config__.tag == "retraction"]
