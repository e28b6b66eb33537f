"""Pure: which objects of the embedded broker's log the retention trimmer deletes.

Tansu 0.6 on its S3 engine stores each produced batch as one object,
``clusters/<cluster>/topics/<topic>/partitions/<partition:010>/records/<offset:020>.batch``
(the offset is the batch's base offset), beside ``watermark.json`` and the cluster's
metadata. A fetch lists every batch object of the partition, so its cost follows the
batches ever written; Tansu enforces no ``retention.ms`` and cannot ``DeleteRecords``.
The trimmer (:mod:`mlbsts.stack.log_trimmer`) deletes, outside the broker, what
:func:`plan_trim` chooses:

- only batch objects (never a watermark, topic or cluster metadata, consumer offsets);
- only of the *derived* topics (:data:`TRIMMED_TOPICS`: events, statistics, dead letters,
  system health, storage ops, and a table version's copies of them), never of the source
  topics (:data:`KEPT_TOPICS`) that replays, ``mlbsts coverage`` and the poller's start
  read from the beginning, nor of any topic the project does not name;
- per partition, the oldest batches whose object is older than the retention, as a
  prefix in offset order (the log kept is always the newest, unbroken run of batches),
  and never the newest batch.

What a reader then sees (Tansu 0.6, ``tansu-storage/src/dynostore.rs``, and measured):
``watermark.json`` is untouched and new records continue its offsets; the earliest
offset a reader is told becomes the oldest batch kept; a fetch at an offset whose batch
is gone answers with the next stored batches (no ``OFFSET_OUT_OF_RANGE``, no offset
reset): a reader from the beginning starts at the oldest batch kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mlbsts import topics

#: source topics: read again from the beginning (replays, coverage, the poller's start)
KEPT_TOPICS = frozenset({topics.RAW_GAME_SNAPSHOTS, topics.RAW_SCHEDULES})
#: every other topic of the project is derived from them, and trimmed
TRIMMED_TOPICS = tuple(name for name in topics.ALL_TOPICS if name not in KEPT_TOPICS)

BATCH_KEY = re.compile(
    r"clusters/(?P<cluster>[^/]+)/topics/(?P<topic>[^/]+)/partitions/(?P<partition>\d{10})"
    r"/records/(?P<offset>\d{20})\.batch"
)

#: the trimmer's pass interval: a quarter of the retention, within these bounds (s)
MIN_EVERY_S = 5.0
MAX_EVERY_S = 300.0


@dataclass(frozen=True)
class StoredObject:
    """One object of the log bucket as a listing gives it."""

    key: str
    last_modified: datetime  # timezone-aware
    size: int


@dataclass(frozen=True, order=True)
class Partition:
    cluster: str
    topic: str
    partition: int


@dataclass(frozen=True)
class TrimPlan:
    """The batch objects to delete (by partition, oldest first) and what stays."""

    doomed: tuple[StoredObject, ...]
    kept_batches: int  # batch objects of trimmed topics that stay
    partitions: int  # partitions of trimmed topics seen

    @property
    def bytes(self) -> int:
        return sum(obj.size for obj in self.doomed)


def is_trimmed_topic(name: str) -> bool:
    """A derived topic, or a table version's copy of one (``mlb.events.pitch.mlbsts_v2``)."""
    return any(name == topic or name.startswith(f"{topic}.") for topic in TRIMMED_TOPICS)


def batch_position(key: str) -> tuple[Partition, int] | None:
    """The partition and base offset of a batch object of a trimmed topic, else None."""
    match = BATCH_KEY.fullmatch(key)
    if match is None or not is_trimmed_topic(match["topic"]):
        return None
    partition = Partition(match["cluster"], match["topic"], int(match["partition"]))
    return partition, int(match["offset"])


def plan_trim(objects: Iterable[StoredObject], now: datetime, retention_s: float) -> TrimPlan:
    """The batches older than ``retention_s`` at ``now`` to delete; nothing when it is 0."""
    by_partition: dict[Partition, list[tuple[int, StoredObject]]] = {}
    for obj in objects:
        position = batch_position(obj.key)
        if position is not None:
            by_partition.setdefault(position[0], []).append((position[1], obj))
    total = sum(len(batches) for batches in by_partition.values())
    if retention_s <= 0:
        return TrimPlan((), total, len(by_partition))
    cutoff = now - timedelta(seconds=retention_s)
    doomed: list[StoredObject] = []
    for partition in sorted(by_partition):
        batches = sorted(by_partition[partition], key=lambda batch: batch[0])
        for _, obj in batches[:-1]:  # the newest batch always stays
            if obj.last_modified >= cutoff:
                break  # a prefix only: the log kept has no holes
            doomed.append(obj)
    return TrimPlan(tuple(doomed), total - len(doomed), len(by_partition))


def trim_every_s(retention_s: float) -> float:
    """How often the trimmer passes: a quarter of the retention, 5 s to 5 min."""
    return min(MAX_EVERY_S, max(MIN_EVERY_S, retention_s / 4))
