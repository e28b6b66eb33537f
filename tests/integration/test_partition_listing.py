"""The worker's input lists its partitions within a budget, with admin settings only.

Bytewax's own listing waits for the brokers without a limit and builds its admin client
from the consumer settings; ``ObservedKafkaSource.list_parts`` must answer from the real
broker, stop with a clear error when the broker is away or the topic missing, and give
librdkafka no property it warns about. The budgets bound a hang; nothing here is about
how fast anything is.
"""

from __future__ import annotations

import socket

import pytest

from connectors.kafka_io import admin_config, consumer_config
from connectors.observed_source import ObservedKafkaSource, PartitionListingError
from mlbsts.settings import Settings
from tests.integration.conftest import unique

pytestmark = pytest.mark.integration


def _source(settings: Settings, topic: str, budget_s: float) -> ObservedKafkaSource:
    """The source as ``flows.live_stats.production_flow`` builds it."""
    return ObservedKafkaSource(
        brokers=settings.kafka_bootstrap_servers.split(","),
        topics=[topic],
        add_config={k: str(v) for k, v in consumer_config(settings).items()},
        admin=admin_config(settings),
        list_budget_s=budget_s,
    )


def test_partitions_are_listed_from_the_broker_without_a_configuration_warning(
    stack_settings: Settings, kafka_topic: str, capfd: pytest.CaptureFixture[str]
) -> None:
    parts = _source(stack_settings, kafka_topic, 30.0).list_parts()
    partitions = stack_settings.kafka_topic_partitions
    assert parts == [f"{i}-{kafka_topic}" for i in range(partitions)]
    assert "CONFWARN" not in capfd.readouterr().err  # librdkafka writes to the C stderr


def test_a_missing_topic_stops_the_listing_with_its_name(stack_settings: Settings) -> None:
    topic = unique("never-created-")
    with pytest.raises(PartitionListingError, match=topic) as caught:
        _source(stack_settings, topic, 2.0).list_parts()
    assert "mlbsts init" in str(caught.value)


def test_an_unreachable_broker_stops_the_listing_after_the_budget() -> None:
    with socket.socket() as sock:  # a port nothing listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        settings = Settings(kafka_bootstrap_servers=f"127.0.0.1:{port}")
        with pytest.raises(
            PartitionListingError, match=f"cannot list the partitions .* on 127.0.0.1:{port}"
        ):
            _source(settings, "mlb.raw.snapshots", 2.0).list_parts()
