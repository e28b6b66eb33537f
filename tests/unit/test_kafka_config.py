"""librdkafka accepts our client configurations (it validates them when a client is built)."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer

from connectors.kafka_io import consumer_config, producer_config
from mlbsts.settings import Settings

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("max_bytes", [1024 * 1024, 8 * 1024 * 1024, 64 * 1024 * 1024])
def test_clients_build_with_our_configs(max_bytes: int) -> None:
    settings = Settings(kafka_max_message_bytes=max_bytes)
    Producer(producer_config(settings)).flush(0)
    consumer = Consumer({**consumer_config(settings), "group.id": "config-check"})
    consumer.close()


def test_a_late_game_feed_fits() -> None:
    # A late-game feed is up to ~2.8 MB of JSON; the envelope gzips it, and the limit
    # must hold the largest uncompressed one anyway.
    settings = Settings()
    assert producer_config(settings)["message.max.bytes"] >= 3 * 1024 * 1024
    assert consumer_config(settings)["fetch.message.max.bytes"] >= 3 * 1024 * 1024
