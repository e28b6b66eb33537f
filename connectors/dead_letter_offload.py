"""Dead letters of oversized originals carry a reference to S3, never bytes the broker cannot take.

A dead letter carries its original record's bytes (``original_value``) so people can see
what was refused. When those bytes are what was wrong (a 20 MB record the embedded broker
accepted, garbage just under the record limit), the letter could not be produced either,
and the flow would stop at that record on every restart. So a letter whose original is
larger than ``inline_limit`` is split (``offload_original``, pure): the bytes go to S3 at a
deterministic key (``original_key``) and the letter, now small, carries that key in
``original_ref``. ``DeadLetterOriginalsSink`` writes the objects; both halves are
idempotent (same letter, same key, same bytes).

The limit is 1 MiB, and never more than half the record limit (``kafka_max_message_bytes``)
so the letter's other fields always fit. 1 MiB is Apache Kafka's default topic limit, so the
dead-letter topic stays readable with default consumer settings; a normal snapshot record
(its feed gzip-compressed, at most a few hundred KB late in a game) still travels inline.

Keys (contract, ``s3_bucket``): ``dead-letters/<source topic>/<partition>/<offset>.bin``
when the letter knows its position, else ``dead-letters/no-offset/<sha256 of the bytes>.bin``.
"""

from __future__ import annotations

import hashlib
import logging

import msgspec
from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors import s3
from connectors.records import LETTER_VALUE_MAX
from connectors.sink_retry import RetryPolicy
from flows.game.dead_letters import DeadLetter
from mlbsts.settings import Settings

log = logging.getLogger(__name__)

INLINE_MAX = LETTER_VALUE_MAX  # the largest original a dead letter carries itself
CONTENT_TYPE = "application/octet-stream"

#: an original's bytes for S3: (key, bytes)
Original = tuple[str, bytes]


def inline_limit(max_message_bytes: int) -> int:
    """The largest original a letter carries inline, for records of ``max_message_bytes``."""
    return min(INLINE_MAX, max_message_bytes // 2)


def original_key(letter: DeadLetter, value: bytes) -> str:
    """The S3 key of a letter's original bytes ``value`` (module docstring)."""
    position = (letter.source_topic, letter.source_partition, letter.source_offset)
    topic, partition, offset = position
    if topic is not None and partition is not None and offset is not None:
        return f"dead-letters/{topic}/{partition}/{offset}.bin"
    return f"dead-letters/no-offset/{hashlib.sha256(value).hexdigest()}.bin"


def offload_original(
    letter: DeadLetter, limit: int = INLINE_MAX
) -> tuple[DeadLetter, Original | None]:
    """``letter`` as it may travel, and its original for S3 if that is larger than
    ``limit`` bytes (then the letter carries ``original_ref`` instead of the bytes)."""
    value = letter.original_value
    if value is None or len(value) <= limit:
        return letter, None
    key = original_key(letter, value)
    return msgspec.structs.replace(letter, original_value=None, original_ref=key), (key, value)


class _OriginalsPartition(StatelessSinkPartition[Original]):
    def __init__(self, writer: s3.ObjectWriter, retry: RetryPolicy, bucket: str) -> None:
        self._writer = writer
        self._retry = retry
        self._bucket = bucket

    def write_batch(self, items: list[Original]) -> None:
        for key, value in items:
            log.warning(
                "dead letter original of %d bytes to s3://%s/%s", len(value), self._bucket, key
            )
        what = f"{len(items)} dead-letter originals to s3://{self._bucket}"
        self._retry.call(lambda: self._writer.put_all(items, content_type=CONTENT_TYPE), what)

    def close(self) -> None:
        self._writer.close()


class DeadLetterOriginalsSink(DynamicSink[Original]):
    """Writes ``(key, bytes)`` originals into ``s3_bucket``; a transient S3 failure is
    retried for ``sink_outage_budget_s``, then stops the worker. Rare (only records that
    were too large), so it writes on the worker's thread."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _OriginalsPartition:
        settings = self._settings
        writer = s3.ObjectWriter(s3.client(settings), settings.s3_bucket)
        retry = RetryPolicy(settings.sink_outage_budget_s)
        return _OriginalsPartition(writer, retry, settings.s3_bucket)
