"""On the real broker and S3: no record stops the log sink for its data.

What the embedded broker (Tansu) and librdkafka actually do with a record over the limit:
Tansu takes it even over its topic's ``max.message.bytes``; librdkafka refuses it itself,
at ``produce()``, when it is over the producer's ``message.max.bytes``. So the producer's
limit (``kafka_max_message_bytes``) is what refuses oversized records here, and the sink
must turn that refusal into a ``kafka_rejected`` dead letter and go on. An oversized
original's dead letter travels by reference: the original is in S3.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.testing import TestingSink, TestingSource, run_main
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from connectors import s3
from connectors.dead_letter_offload import DeadLetterOriginalsSink, inline_limit
from connectors.kafka_io import CheckedKafkaSink, OutRecord, produce_all, producer_config
from connectors.kafka_read import mark, read_topic
from connectors.records import decode_dead_letter
from flows.game.dead_letters import DeadLetter, ErrorClass
from flows.live_stats import FlowSinks, build_flow
from mlbsts import topics
from mlbsts.settings import Settings
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture
def limited_topic(kafka_admin: AdminClient) -> Iterator[str]:
    """A new one-partition topic whose ``max.message.bytes`` is 1 MiB, deleted after."""
    name = unique("test-limit-")
    new = NewTopic(name, num_partitions=1, config={"max.message.bytes": str(MiB)})
    for future in kafka_admin.create_topics([new]).values():
        future.result(timeout=15)
    yield name
    for future in kafka_admin.delete_topics([name]).values():
        future.result(timeout=15)


def _settings(base: Settings, **changes: Any) -> Settings:
    return base.model_copy(update=changes)


def _letters(settings: Settings, since: Any) -> list[DeadLetter]:
    records = read_topic(settings, topics.DLQ_GAME_SNAPSHOTS, start=since)
    return [decode_dead_letter(m.value() or b"") for m in records]


def test_the_broker_takes_a_record_over_its_topic_limit_but_librdkafka_refuses_it(
    stack_settings: Settings, limited_topic: str
) -> None:
    record = OutRecord(limited_topic, b"k", os.urandom(2 * MiB))
    generous = Producer(producer_config(_settings(stack_settings, kafka_max_message_bytes=8 * MiB)))
    assert produce_all(generous, [record], flush_timeout=60) == 1
    assert [len(m.value() or b"") for m in read_topic(stack_settings, limited_topic)] == [2 * MiB]

    strict = Producer(producer_config(_settings(stack_settings, kafka_max_message_bytes=MiB)))
    with pytest.raises(KafkaException) as refused:
        strict.produce(limited_topic, value=record.value, key=record.key)
    assert refused.value.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE


def test_the_log_sink_dead_letters_an_oversized_record_and_writes_the_rest(
    stack_settings: Settings, kafka_topic: str
) -> None:
    settings = _settings(stack_settings, kafka_max_message_bytes=MiB)
    game = str(uuid.uuid4().int % 10**12).encode()  # this test's letter, among others
    records = [
        OutRecord(kafka_topic, game, b"first"),
        OutRecord(kafka_topic, game, os.urandom(2 * MiB)),
        OutRecord(kafka_topic, game, b"second"),
    ]
    since = mark(settings, topics.DLQ_GAME_SNAPSHOTS)
    part = CheckedKafkaSink(producer_config(settings)).build_part("log", "0", None)
    part.write_batch(records)
    part.snapshot()  # no exception: the epoch completes
    part.close()

    assert [m.value() for m in read_topic(settings, kafka_topic)] == [b"first", b"second"]
    mine = [d for d in _letters(settings, since) if d.original_key == game]
    assert len(mine) == 1
    letter = mine[0]
    assert letter.error_class == ErrorClass.KAFKA_REJECTED
    assert letter.gamePk == int(game) and letter.original_value is None
    assert f"{2 * MiB} bytes for topic {kafka_topic}" in letter.reason
    assert "too large" in letter.reason


def _garbage_flow(settings: Settings, source_topic: str, garbage: bytes, *, offload: bool) -> None:
    """The flow over one garbage record, with the real log sink (and S3 originals sink)."""
    message = KafkaSourceMessage[bytes | None, bytes | None](
        key=b"744914", value=garbage, topic=source_topic, partition=0, offset=7
    )
    originals = DeadLetterOriginalsSink(settings) if offload else None
    sinks = FlowSinks(
        TestingSink([]),
        TestingSink([]),
        CheckedKafkaSink(producer_config(settings)),
        letter_originals=originals,
    )
    limit = inline_limit(settings.kafka_max_message_bytes)
    run_main(build_flow(TestingSource([message]), sinks, letter_inline_max=limit))


def test_an_oversized_original_lands_in_s3_and_its_letter_refers_to_it(
    stack_settings: Settings, s3_bucket: str
) -> None:
    settings = _settings(stack_settings, s3_bucket=s3_bucket)
    source_topic = unique("test-raw-")
    garbage = os.urandom(20 * 1000 * 1000)
    since = mark(settings, topics.DLQ_GAME_SNAPSHOTS)
    _garbage_flow(settings, source_topic, garbage, offload=True)
    _garbage_flow(settings, source_topic, garbage, offload=True)  # a replay: idempotent

    key = f"dead-letters/{source_topic}/0/7.bin"
    mine = [d for d in _letters(settings, since) if d.source_topic == source_topic]
    assert len(mine) == 2
    for letter in mine:
        assert letter.error_class == ErrorClass.UNPARSABLE
        assert (letter.original_ref, letter.original_value) == (key, None)
        assert letter.source_offset == 7 and letter.original_key == b"744914"
    client = s3.client(settings, retries=False)
    assert [o.object_name for o in client.list_objects(s3_bucket, recursive=True)] == [key]
    response = client.get_object(s3_bucket, key)
    try:
        assert response.read() == garbage
    finally:
        response.close()
        response.release_conn()


def test_without_offload_the_oversized_letter_becomes_kafka_rejected_not_a_crash(
    stack_settings: Settings,
) -> None:
    source_topic = unique("test-raw-")
    since = mark(stack_settings, topics.DLQ_GAME_SNAPSHOTS)
    _garbage_flow(stack_settings, source_topic, os.urandom(20 * 1000 * 1000), offload=False)

    mine = [d for d in _letters(stack_settings, since) if d.source_topic == source_topic]
    assert len(mine) == 1
    letter = mine[0]
    assert letter.error_class == ErrorClass.KAFKA_REJECTED
    assert (letter.source_partition, letter.source_offset) == (0, 7)
    assert letter.original_value is None
    assert "it was a dead letter (unparsable" in letter.reason
