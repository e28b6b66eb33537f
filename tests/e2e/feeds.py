"""The real games the e2e runs read, and the raw input topic filled with their polling.

- :func:`real_feeds`: the fixture game kept in the repository (744914), and the shared
  corpus game 718594 when the corpus is there.
- :func:`publish_feeds`: each feed's polling sequence (``sim.simulate``, one snapshot every
  ``every`` pitches) published to a topic as the demo publishes it.
- :func:`raw_topic`: a fresh raw topic of 3 partitions on the dev stack holding them,
  deleted at the end (the input of ``test_recovery`` and ``test_statefulset_scaling``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic

from mlbsts import demo
from mlbsts.settings import Settings
from sim.simulate import simulate
from tests.conftest import corpus_feed_paths, load_fixture_feed
from tests.integration.conftest import unique

SECOND_GAME = "718594"  # besides the fixture game 744914
INPUT_PARTITIONS = 3


def real_feeds() -> list[dict[str, Any]]:
    """The fixture game's final feed, and the corpus game's when the corpus is there."""
    feeds = [load_fixture_feed()]
    feeds += [demo.load_feed(p) for p in corpus_feed_paths() if p.stem == SECOND_GAME]
    return feeds


def publish_feeds(settings: Settings, topic: str, feeds: list[dict[str, Any]], every: int) -> int:
    """Publish the polling sequence of each feed (a snapshot every ``every`` pitches) to
    ``topic``; the number of distinct snapshots published."""
    total = 0
    for feed in feeds:
        snapshots = simulate(feed, every)
        demo.publish(settings, int(feed["gamePk"]), snapshots, lambda *_: None, topic)
        total += len({s["metaData"]["timeStamp"] for s in snapshots})
    return total


@contextmanager
def raw_topic(settings: Settings, every: int) -> Iterator[tuple[str, int]]:
    """A fresh raw topic of ``INPUT_PARTITIONS`` partitions holding the polling of
    :func:`real_feeds`; ``(name, snapshots)``. The topic is deleted at the end."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    name = unique("test-raw-")
    for future in admin.create_topics([NewTopic(name, num_partitions=INPUT_PARTITIONS)]).values():
        future.result(timeout=30)
    try:
        yield name, publish_feeds(settings, name, real_feeds(), every)
    finally:
        for future in admin.delete_topics([name]).values():
            future.result(timeout=30)
