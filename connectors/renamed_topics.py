"""Writing the flow's log records to renamed topics: a replay into a table version.

``mlbsts replay --into vN`` writes events, statistics and dead letters to the project's
topics with a suffix (``mlb.events.pitch.mlbsts_v2``, docs/architecture.md section 1), so
that subscribers of the live topics never see a version before it is promoted.

- :class:`RenamedTopicsSink` wraps a :class:`connectors.kafka_io.CheckedKafkaSink`: each
  record goes to its topic plus the suffix, with the same key, value and guarantees.
- The sinks' ``rejects`` is ``connectors.rejects.DeadLetterProducer`` given the suffix: a
  row the database refused becomes a ``db_rejected`` dead letter on the renamed
  dead-letter topic.

Records the broker refuses for their data still become ``kafka_rejected`` letters on the
live dead-letter topic (``connectors/kafka_io.py`` writes those itself).
"""

from __future__ import annotations

from bytewax.outputs import StatefulSinkPartition

from connectors.background_sink import KeyedSink
from connectors.kafka_io import CheckedKafkaSink, OutRecord

__all__ = ["RenamedTopicsSink"]


class _RenamingPartition(StatefulSinkPartition[OutRecord, None]):
    def __init__(self, inner: StatefulSinkPartition[OutRecord, None], suffix: str) -> None:
        self._inner = inner
        self._suffix = suffix

    def write_batch(self, values: list[OutRecord]) -> None:
        suffix = self._suffix
        self._inner.write_batch([v.renamed(suffix) for v in values])

    def snapshot(self) -> None:
        self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class RenamedTopicsSink(KeyedSink[OutRecord]):
    """``inner`` writing every record to its topic name plus ``suffix``."""

    def __init__(self, inner: CheckedKafkaSink, suffix: str) -> None:
        super().__init__(inner.key, inner.partitions)
        self._inner = inner
        self._suffix = suffix

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _RenamingPartition:
        return _RenamingPartition(self._inner.build_part(step_id, for_part, None), self._suffix)
