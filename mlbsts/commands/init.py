"""``mlbsts init``: create topics, bucket and tables on the servers of the settings, and
register every topic's value schema when a Schema Registry is configured.

Production's one-shot job (docker-compose ``init`` service, Kubernetes ``init`` Job); the
local stack does the same on ``mlbsts stack up``. Idempotent: what exists is left alone.
"""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()


def init() -> None:
    """Create every topic, the bucket, apply SQL migrations and register the schemas
    (idempotent)."""
    from connectors.schema_registry import SchemaRegistryError
    from mlbsts.settings import get_settings
    from mlbsts.stack.errors import StackError
    from mlbsts.stack.kafka import create_topics
    from mlbsts.stack.migrations import apply_migrations
    from mlbsts.stack.s3 import ensure_buckets
    from mlbsts.topics import ALL_TOPICS

    settings = get_settings()
    try:
        created = create_topics(settings, ALL_TOPICS, settings.kafka_topic_partitions)
        console.print(
            f"kafka {settings.kafka_bootstrap_servers}: {len(created)} topics created, "
            f"{len(ALL_TOPICS) - len(created)} already there"
        )
        register()
        ensure_buckets(settings, [settings.s3_bucket])
        console.print(f"s3 {settings.s3_endpoint}: bucket {settings.s3_bucket} ready")
        applied = apply_migrations(settings.postgres_dsn.get_secret_value())
        console.print(f"postgres: {applied} migration(s) applied")
    except (StackError, SchemaRegistryError) as e:
        console.print(f"[bold red]error:[/] {e}")
        raise typer.Exit(1) from e


def register() -> None:
    """Every Avro topic's value schema under ``<topic>-value``, its compatibility level set;
    nothing without ``MLBSTS_SCHEMA_REGISTRY_URL``."""
    from connectors.topic_codecs import register_schemas, registry_client
    from mlbsts.settings import get_settings

    settings = get_settings()
    client = registry_client(settings)
    if client is None:
        console.print("schema registry: none configured (single-object encoding)")
        return
    done = register_schemas(client, settings.schema_registry_compatibility)
    ids = ", ".join(f"{r.subject}={r.schema_id}" for r in done)
    console.print(
        f"schema registry {client.url}: {len(done)} subjects at "
        f"{settings.schema_registry_compatibility}: {ids}"
    )
