"""First step of the flow: a raw Kafka message becomes an accepted snapshot or a dead letter."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec
from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage

from connectors.avro_serde import SerdeError
from connectors.envelope_serde import decode_envelope
from flows.accepted import AcceptedSnapshot
from flows.dead_letters import DeadLetter, ErrorClass


class _Datetime(msgspec.Struct):
    officialDate: str | None = None  # noqa: N815


class _GameData(msgspec.Struct):
    datetime: _Datetime | None = None


class _Game(msgspec.Struct):
    pk: int | None = None


class _FeedHeader(msgspec.Struct):
    gamePk: int | None = None  # noqa: N815
    gameData: _GameData | None = None  # noqa: N815


_HEADER = msgspec.json.Decoder(_FeedHeader)


def decode_snapshot(
    msg: KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[bytes | None, bytes | None],
) -> AcceptedSnapshot | DeadLetter:
    """Decode the envelope and read the game's date; anything wrong is a dead letter.

    A ``KafkaError`` item (only with ``raise_on_errors=False`` sources) is broken
    infrastructure, not bad data: it raises.
    """
    if isinstance(msg, KafkaError):
        raise RuntimeError(f"Kafka error on {msg.msg.topic}[{msg.msg.partition}]: {msg.err}")

    def dead(error_class: ErrorClass, reason: str, game_pk: int | None = None) -> DeadLetter:
        return DeadLetter(
            error_class=error_class,
            reason=reason,
            detected_at=datetime.now(UTC),
            gamePk=game_pk,
            source_topic=msg.topic,
            source_partition=msg.partition,
            source_offset=msg.offset,
            original_key=msg.key,
            original_value=msg.value,
        )

    if msg.value is None:
        return dead(ErrorClass.UNPARSABLE, "empty record value")
    try:
        envelope = decode_envelope(msg.value)
    except (SerdeError, msgspec.ValidationError) as e:
        return dead(ErrorClass.UNPARSABLE, f"envelope: {e}")
    try:
        payload = envelope.payload_json()
        header = _HEADER.decode(payload)
    except (OSError, EOFError, msgspec.DecodeError) as e:
        return dead(ErrorClass.UNPARSABLE, f"payload: {e}", envelope.gamePk)
    except msgspec.ValidationError as e:
        return dead(ErrorClass.WRONG_TYPE, f"payload: {e}", envelope.gamePk)
    if header.gamePk is not None and header.gamePk != envelope.gamePk:
        return dead(
            ErrorClass.GAME_PK_MISMATCH,
            f"envelope gamePk {envelope.gamePk} but payload gamePk {header.gamePk}",
            envelope.gamePk,
        )
    return AcceptedSnapshot(
        envelope=envelope,
        raw_value=msg.value,
        payload_json=payload,
        game_date=_game_date(header, envelope.captured_at),
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
    )


def _game_date(header: _FeedHeader, captured_at: datetime) -> date:
    official: Any = (
        header.gameData.datetime.officialDate
        if header.gameData and header.gameData.datetime
        else None
    )
    if isinstance(official, str):
        try:
            return date.fromisoformat(official)
        except ValueError:
            pass
    return captured_at.date()
