"""A record Kafka refuses for its data becomes a small ``kafka_rejected`` dead letter; every
other refusal still raises (connectors/kafka_io.py). The producer here is a fake of the
three calls the sink makes (``produce``, ``poll``, ``flush``); the real broker is in
tests/integration/test_log_rejects.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from connectors.kafka_io import (
    DATA_ERRORS,
    FLUSH_MARGIN_S,
    SIZE_ERRORS,
    CheckedKafkaSink,
    DeliveryTracker,
    KafkaDeliveryError,
    OutRecord,
    _CheckedSinkPartition,
    flush_timeout_s,
    is_data_error,
    produce_all,
    producer_config,
)
from connectors.records import dead_letter_record, decode_dead_letter, rejected_letter
from flows.game.dead_letters import DeadLetter, ErrorClass
from mlbsts import topics
from mlbsts.settings import Settings

pytestmark = pytest.mark.unit

DATA = [
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.INVALID_MSG_SIZE,
    KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.INVALID_MSG,
    KafkaError.INVALID_RECORD,
]
INFRASTRUCTURE = [
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.NOT_ENOUGH_REPLICAS,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.INVALID_TIMESTAMP,
    KafkaError.UNSUPPORTED_FOR_MESSAGE_FORMAT,
]


@pytest.mark.parametrize("code", DATA)
def test_errors_about_the_record_are_data_errors(code: int) -> None:
    assert is_data_error(KafkaError(code))


@pytest.mark.parametrize("code", INFRASTRUCTURE)
def test_errors_about_the_servers_are_not(code: int) -> None:
    assert not is_data_error(KafkaError(code))


def test_size_errors_are_data_errors() -> None:
    assert SIZE_ERRORS < DATA_ERRORS


class _Msg:
    """The part of ``confluent_kafka.Message`` a delivery callback reads."""

    def __init__(self, record: OutRecord) -> None:
        self._record = record

    def topic(self) -> str:
        return self._record.topic

    def key(self) -> bytes | None:
        return self._record.key

    def value(self) -> bytes:
        return self._record.value


class _FakeProducer:
    """Refuses at ``produce()`` what ``refuse_now`` says, reports at ``flush()`` what
    ``report`` says (``None``: delivered); keeps what was delivered."""

    def __init__(
        self,
        refuse_now: Callable[[OutRecord], int | None] = lambda r: None,
        report: Callable[[OutRecord], int | None] = lambda r: None,
    ) -> None:
        self.refuse_now, self.report = refuse_now, report
        self.pending: list[tuple[OutRecord, Any]] = []
        self.delivered: list[OutRecord] = []

    def produce(self, topic: str, value: bytes, key: bytes | None, on_delivery: Any) -> None:
        record = OutRecord(topic, key, value)
        code = self.refuse_now(record)
        if code is not None:
            raise KafkaException(KafkaError(code))
        self.pending.append((record, on_delivery))

    def poll(self, timeout: float) -> int:
        return 0

    def flush(self, timeout: float) -> int:
        pending, self.pending = self.pending, []
        for record, callback in pending:
            code = self.report(record)
            callback(None if code is None else KafkaError(code), _Msg(record))
            if code is None:
                self.delivered.append(record)
        return 0


def _sink(producer: _FakeProducer) -> _CheckedSinkPartition:
    return _CheckedSinkPartition(producer, 10.0, "fake:9092")  # type: ignore[arg-type]


def _event(n: int, size: int = 10) -> OutRecord:
    return OutRecord(topics.EVENTS_PITCH, b"744914", bytes([n]) * size)


def _letters(producer: _FakeProducer) -> list[DeadLetter]:
    return [
        decode_dead_letter(r.value)
        for r in producer.delivered
        if r.topic == topics.DLQ_GAME_SNAPSHOTS
    ]


def test_a_record_refused_at_produce_is_dead_lettered_and_the_rest_written() -> None:
    producer = _FakeProducer(
        refuse_now=lambda r: KafkaError.MSG_SIZE_TOO_LARGE if len(r.value) > 500 else None
    )
    part = _sink(producer)
    part.write_batch([_event(1), _event(2, size=1000), _event(3)])
    part.snapshot()
    assert [r.value for r in producer.delivered[:2]] == [b"\x01" * 10, b"\x03" * 10]
    [letter] = _letters(producer)
    assert letter.error_class == ErrorClass.KAFKA_REJECTED
    assert letter.gamePk == 744914 and letter.original_key == b"744914"
    assert letter.original_value is None  # its size was the problem
    assert "1000 bytes for topic mlb.events.pitch" in letter.reason
    assert "MSG_SIZE_TOO_LARGE" in letter.reason or "too large" in letter.reason


def test_a_delivery_report_with_a_data_error_is_dead_lettered() -> None:
    producer = _FakeProducer(
        report=lambda r: KafkaError.INVALID_RECORD if r.value == b"\x02" * 10 else None
    )
    part = _sink(producer)
    part.write_batch([_event(1), _event(2), _event(3)])
    part.snapshot()
    [letter] = _letters(producer)
    assert letter.original_value == b"\x02" * 10  # small, and not refused for its size
    assert "validate record" in letter.reason


def test_an_infrastructure_failure_still_raises() -> None:
    producer = _FakeProducer(report=lambda r: KafkaError._MSG_TIMED_OUT)
    part = _sink(producer)
    part.write_batch([_event(1)])
    with pytest.raises(KafkaDeliveryError, match=r"1 of 1 records refused.*mlb\.events\.pitch"):
        part.snapshot()


def test_an_infrastructure_error_at_produce_raises_naming_the_record() -> None:
    producer = _FakeProducer(refuse_now=lambda r: KafkaError._UNKNOWN_TOPIC)
    with pytest.raises(KafkaDeliveryError, match=r"topic mlb.events.pitch key b'744914'"):
        _sink(producer).write_batch([_event(1)])


def test_a_refused_dead_letter_raises_rather_than_loop() -> None:
    """The kafka_rejected letter itself refused: nothing smaller is left to send."""
    producer = _FakeProducer(refuse_now=lambda r: KafkaError.MSG_SIZE_TOO_LARGE)
    part = _sink(producer)
    part.write_batch([_event(1)])
    with pytest.raises(KafkaDeliveryError, match="produce refused"):
        part.snapshot()


def test_produce_all_dead_letters_too() -> None:
    producer = _FakeProducer(
        refuse_now=lambda r: KafkaError.MSG_SIZE_TOO_LARGE if r.value == b"big" else None
    )
    records = [_event(1), OutRecord(topics.RAW_GAME_SNAPSHOTS, b"x", b"big"), _event(3)]
    assert produce_all(producer, records) == 3  # type: ignore[arg-type]
    [letter] = _letters(producer)
    assert letter.gamePk is None and letter.original_key == b"x"
    assert topics.RAW_GAME_SNAPSHOTS in letter.reason


def _letter(**fields: Any) -> DeadLetter:
    base: dict[str, Any] = {
        "error_class": ErrorClass.UNPARSABLE,
        "reason": "envelope: not Avro",
        "detected_at": datetime(2024, 7, 1, tzinfo=UTC),
    }
    return DeadLetter(**(base | fields))


def test_a_refused_dead_letter_keeps_where_its_original_is_not_its_bytes() -> None:
    inner = _letter(
        gamePk=744914,
        source_topic=topics.RAW_GAME_SNAPSHOTS,
        source_partition=2,
        source_offset=41,
        original_key=b"744914",
        original_value=b"\x00" * 5000,
    )
    letter = rejected_letter(
        dead_letter_record(inner), "Broker: Message size too large", size_error=True
    )
    assert letter.error_class == ErrorClass.KAFKA_REJECTED
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        topics.RAW_GAME_SNAPSHOTS,
        2,
        41,
    )
    assert letter.gamePk == 744914 and letter.original_value is None
    assert "unparsable: envelope: not Avro" in letter.reason


def test_a_record_keyed_by_something_else_has_no_game() -> None:
    record = OutRecord(topics.STATS_WINDOWS, b"2024-07-01T18:05:00+00:00", b"v")
    assert rejected_letter(record, "x", size_error=False).gamePk is None


def test_tracker_sorts_reports() -> None:
    tracker = DeliveryTracker()
    tracker(None, _Msg(_event(1)))  # type: ignore[arg-type]
    tracker(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), _Msg(_event(2)))  # type: ignore[arg-type]
    tracker(KafkaError(KafkaError._MSG_TIMED_OUT), _Msg(_event(3)))  # type: ignore[arg-type]
    assert [r.value for r, _ in tracker.refused] == [b"\x02" * 10]
    assert [key for _, key, _ in tracker.failed] == [b"744914"]
    strict = DeliveryTracker(strict=True)
    strict(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), _Msg(_event(2)))  # type: ignore[arg-type]
    assert len(strict.failed) == 1 and not strict.refused


@pytest.mark.parametrize("budget_s", [0.5, 30.0, 300.0, 3600.0])
def test_delivery_follows_the_outage_budget_and_flush_waits_longer(budget_s: float) -> None:
    config = producer_config(Settings(sink_outage_budget_s=budget_s))
    assert config["delivery.timeout.ms"] == max(1000, round(budget_s * 1000))
    assert flush_timeout_s(config) == int(config["delivery.timeout.ms"]) / 1000 + FLUSH_MARGIN_S
    Producer(config).flush(0)  # librdkafka accepts it


def test_the_producer_queue_is_bounded_and_holds_two_of_the_largest_records() -> None:
    settings = Settings(sink_queue_bytes=1024 * 1024, kafka_max_message_bytes=8 * 1024 * 1024)
    config = producer_config(settings)
    assert config["queue.buffering.max.kbytes"] == 2 * 8 * 1024
    assert producer_config(Settings())["queue.buffering.max.kbytes"] == 64 * 1024


def test_flush_timeout_of_a_config_without_a_delivery_timeout_is_librdkafkas() -> None:
    assert flush_timeout_s({}) == 300 + FLUSH_MARGIN_S
    assert flush_timeout_s({"message.timeout.ms": 500}) == 0.5 + FLUSH_MARGIN_S


def test_the_sink_flushes_with_the_timeout_of_its_config() -> None:
    sink = CheckedKafkaSink({"bootstrap.servers": "127.0.0.1:1", "message.timeout.ms": 2000})
    part = sink.build_part("log", "0", None)
    assert part._flush_timeout == 2.0 + FLUSH_MARGIN_S
    part.close()


def test_an_outage_error_is_waited_out_by_producing_the_epoch_again_in_order() -> None:
    """A broker whose storage hung answers "Unknown broker error" for some records: the
    sink produces the whole epoch again (in order: the taken ones repeat as exact
    duplicates) until the broker takes it, within the outage budget, and does not raise."""
    attempts = {"n": 0}

    def report(record: OutRecord) -> int | None:
        if record.value == b"\x01" * 10:
            attempts["n"] += 1
        return KafkaError.UNKNOWN if attempts["n"] == 1 and record.value == b"\x02" * 10 else None

    producer = _FakeProducer(report=report)
    part = _sink(producer)
    part.write_batch([_event(1), _event(2), _event(3)])
    part.snapshot()
    values = [r.value[0] for r in producer.delivered]
    assert values == [1, 3, 1, 2, 3]  # the first attempt's takers, then the epoch again
    assert _letters(producer) == []  # an outage is not the records' fault
    part.write_batch([_event(4)])
    part.snapshot()  # the next epoch starts afresh: only its own record
    assert [r.value[0] for r in producer.delivered][5:] == [4]
