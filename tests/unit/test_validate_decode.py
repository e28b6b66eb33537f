"""The flow's first step (``flows.snapshot_decode``): envelope, bounded inflate, validation,
on a real snapshot (game 744914 simulated mid-game; helpers in ``test_validate.py``)."""

from __future__ import annotations

import gzip
import pickle
from datetime import UTC, datetime

import orjson
import pytest
from bytewax.connectors.kafka import KafkaSourceMessage

from connectors.envelope_serde import encode_envelope
from flows.game.accepted import AcceptedSnapshot
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.game.envelope import SnapshotEnvelope, make_envelope
from flows.game.feed import decode_head
from flows.snapshot_decode import decode_snapshot
from mlbsts import topics
from tests.conftest import FIXTURE_GAME_PK
from tests.unit.test_validate import KEY, MID_GAME, _delete

pytestmark = pytest.mark.unit


def _message(
    envelope: SnapshotEnvelope, key: bytes = KEY
) -> KafkaSourceMessage[bytes | None, bytes | None]:
    return KafkaSourceMessage(
        key=key,
        value=encode_envelope(envelope),
        topic=topics.RAW_GAME_SNAPSHOTS,
        partition=2,
        offset=41,
    )


def _envelope(body: bytes) -> SnapshotEnvelope:
    return make_envelope(
        game_pk=FIXTURE_GAME_PK,
        body=body,
        source_url="https://statsapi.mlb.com/api/v1.1/game/744914/feed/live",
        status_code=200,
        captured_at=datetime(2024, 7, 1, 20, tzinfo=UTC),
        feed=MID_GAME,
    )


def test_decode_snapshot_accepts_a_real_snapshot_with_its_official_date() -> None:
    accepted = decode_snapshot(_message(_envelope(orjson.dumps(MID_GAME))))
    assert isinstance(accepted, AcceptedSnapshot)
    assert accepted.game_date.isoformat() == MID_GAME["gameData"]["datetime"]["officialDate"]
    assert orjson.loads(accepted.payload_json) == MID_GAME


def test_an_accepted_snapshot_carries_the_engines_head_but_never_pickles_it() -> None:
    """The head comes from validation's scan (no second scan in the diff); it is derived,
    so a snapshot sent to another process goes without it and compares equal."""
    body = orjson.dumps(MID_GAME)
    accepted = decode_snapshot(_message(_envelope(body)))
    assert isinstance(accepted, AcceptedSnapshot)
    assert accepted.head == decode_head(body)
    sent = pickle.loads(pickle.dumps(accepted))
    assert sent.head is None and sent == accepted
    assert (sent.payload_json, sent.traceparent, sent.offset) == (body, None, 41)


def test_decode_snapshot_refuses_with_the_class_and_the_original_bytes() -> None:
    msg = _message(_envelope(_delete("liveData.plays.allPlays", MID_GAME)()), key=b"744914")
    letter = decode_snapshot(msg)
    assert isinstance(letter, DeadLetter)
    assert (letter.error_class, letter.gamePk) == (ErrorClass.MISSING_FIELD, FIXTURE_GAME_PK)
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        topics.RAW_GAME_SNAPSHOTS,
        2,
        41,
    )
    assert (letter.original_key, letter.original_value) == (msg.key, msg.value)


def test_decode_snapshot_does_not_inflate_a_gzip_bomb() -> None:
    # a real snapshot padded with 17 MiB of spaces: about 17 KB on the log
    body = orjson.dumps(MID_GAME)[:-1] + b',"padding":"' + b" " * (17 << 20) + b'"}'
    envelope = _envelope(body)
    assert len(envelope.payload) < 200_000
    letter = decode_snapshot(_message(envelope))
    assert isinstance(letter, DeadLetter) and letter.error_class is ErrorClass.OVERSIZED
    assert "inflates past" in letter.reason  # refused before inflating it all


def test_decode_snapshot_refuses_a_truncated_gzip_payload() -> None:
    envelope = _envelope(orjson.dumps(MID_GAME))
    cut = SnapshotEnvelope(
        **{
            **{f: getattr(envelope, f) for f in envelope.__struct_fields__},
            "payload": envelope.payload[:-100],
        }
    )
    letter = decode_snapshot(_message(cut))
    assert isinstance(letter, DeadLetter) and letter.error_class is ErrorClass.UNPARSABLE
    multi = SnapshotEnvelope(
        **{
            **{f: getattr(envelope, f) for f in envelope.__struct_fields__},
            "payload": gzip.compress(b'{"gamePk": 744914, ') + gzip.compress(b'"x": 1}'),
        }
    )
    letter = decode_snapshot(_message(multi))  # two gzip members are read as one body
    assert isinstance(letter, DeadLetter) and letter.error_class is ErrorClass.MISSING_FIELD


def test_decode_snapshot_refuses_a_corrupt_gzip_payload() -> None:
    envelope = _envelope(orjson.dumps(MID_GAME))
    flags = bytearray(envelope.payload)
    flags[3] = 0xFF  # reserved header flags: no gzip reader accepts them
    garbage = envelope.payload[:10] + b"\xff" * 64  # a gzip header, then no deflate stream
    fields = {f: getattr(envelope, f) for f in envelope.__struct_fields__}
    for bad in (bytes(flags), garbage):
        letter = decode_snapshot(_message(SnapshotEnvelope(**{**fields, "payload": bad})))
        assert isinstance(letter, DeadLetter) and letter.error_class is ErrorClass.UNPARSABLE
        assert letter.reason.startswith("payload:"), letter.reason


def _without_timestamp(envelope: SnapshotEnvelope) -> SnapshotEnvelope:
    fields = {f: getattr(envelope, f) for f in envelope.__struct_fields__}
    return SnapshotEnvelope(**{**fields, "feed_timestamp": None})


def test_decode_snapshot_refuses_a_snapshot_without_a_feed_timestamp() -> None:
    """No silent drop: every store keys a snapshot by its feed time, so one without it is a
    dead letter (with its original bytes), whether the envelope or the feed lacks it."""
    body = _delete("metaData.timeStamp", MID_GAME)()
    no_stamp = make_envelope(
        game_pk=FIXTURE_GAME_PK,
        body=body,
        source_url="https://statsapi.mlb.com/api/v1.1/game/744914/feed/live",
        status_code=200,
        captured_at=datetime(2024, 7, 1, 20, tzinfo=UTC),
        feed=orjson.loads(body),
    )
    envelopes = [_without_timestamp(_envelope(orjson.dumps(MID_GAME))), no_stamp]
    assert envelopes[1].feed_timestamp is None  # the poller's envelope takes the feed's
    for envelope in envelopes:
        msg = _message(envelope)
        letter = decode_snapshot(msg)
        assert isinstance(letter, DeadLetter), envelope
        assert (letter.error_class, letter.gamePk) == (ErrorClass.MISSING_FIELD, FIXTURE_GAME_PK)
        assert letter.original_value == msg.value
