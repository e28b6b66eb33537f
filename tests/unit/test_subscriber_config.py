"""A subscriber's consumer settings (``connectors.kafka_follow.subscriber_config``): the
shared reader settings, with the subscriber's own fetch wait (bench/subscriber-report.md)."""

from __future__ import annotations

import pytest

from connectors.kafka_follow import subscriber_config
from connectors.kafka_io import consumer_config
from mlbsts.settings import Settings

pytestmark = pytest.mark.unit


def test_a_subscriber_waits_longer_than_the_worker_by_default() -> None:
    settings = Settings()
    config = subscriber_config(settings)
    assert config["fetch.wait.max.ms"] == settings.kafka_subscriber_fetch_wait_ms == 500
    assert consumer_config(settings)["fetch.wait.max.ms"] == settings.kafka_fetch_wait_max_ms
    assert settings.kafka_subscriber_fetch_wait_ms > settings.kafka_fetch_wait_max_ms


def test_the_wait_is_a_setting_and_everything_else_is_the_shared_reader_config() -> None:
    settings = Settings(kafka_subscriber_fetch_wait_ms=1200)
    config = subscriber_config(settings)
    shared = consumer_config(settings)
    assert config["fetch.wait.max.ms"] == 1200
    assert {k: v for k, v in config.items() if k != "fetch.wait.max.ms"} == {
        k: v for k, v in shared.items() if k != "fetch.wait.max.ms"
    }
