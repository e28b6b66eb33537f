"""The one reader of the environment: every setting of MLB-STS, frozen.

Each field is read from ``MLBSTS_<FIELD NAME IN CAPITALS>`` (for example
``MLBSTS_KAFKA_BOOTSTRAP_SERVERS``). The defaults point at the embedded local stack
(``mlbsts stack up``) on 127.0.0.1; production sets them to its own servers
(see ``docker-compose.yaml``). The stack binds each server to the port in these
addresses, so changing a port here moves the server too.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlbsts.paths import resolve


class Settings(BaseSettings):
    """MLB-STS configuration. Secrets are ``SecretStr`` and never logged."""

    model_config = SettingsConfigDict(env_prefix="MLBSTS_", frozen=True, extra="ignore")

    # log
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092", description="Kafka bootstrap servers, host:port[,host:port]"
    )
    kafka_topic_partitions: int = Field(3, ge=1, description="partitions of each topic created")
    kafka_max_message_bytes: int = Field(
        8 * 1024 * 1024, ge=1024 * 1024, description="largest record produced or fetched"
    )
    kafka_fetch_wait_max_ms: int = Field(
        50, ge=1, description="longest a broker holds an empty fetch (latency vs requests)"
    )
    kafka_subscriber_fetch_wait_ms: int = Field(
        500,
        ge=1,
        description="longest a broker holds a subscriber's fetch (mlbsts tail, the examples): "
        "the embedded broker answers empty when its storage work outlasts it",
    )
    kafka_idempotence: bool = Field(
        False,
        description="idempotent producers: true on Apache Kafka; false on the embedded broker, "
        "which loses acknowledged idempotent records when it is killed",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security.protocol of every producer and consumer"
    )
    kafka_sasl_mechanism: str | None = Field(
        None, description="Kafka sasl.mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)"
    )
    kafka_sasl_username: str | None = Field(None, description="Kafka SASL username")
    kafka_sasl_password: SecretStr | None = Field(None, description="Kafka SASL password")
    kafka_ssl_ca_location: Path | None = Field(
        None, description="CA certificate file (PEM) that signed the brokers' TLS certificates"
    )
    schema_registry_url: str | None = Field(
        None, description="Confluent Schema Registry; unset: Avro single-object encoding"
    )
    schema_registry_timeout_s: float = Field(
        10.0, gt=0, description="longest wait for one Schema Registry request"
    )
    schema_registry_compatibility: Literal[
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
        "NONE",
    ] = Field(
        "BACKWARD",
        description="compatibility level `mlbsts init` sets on every subject of the registry",
    )
    # objects
    s3_endpoint: str = Field("127.0.0.1:18333", description="S3 server host:port")
    s3_access_key: str = Field("mlbsts", description="S3 access key")
    s3_secret_key: SecretStr = Field(SecretStr("mlbsts-secret-key"), description="S3 secret key")
    s3_bucket: str = Field("mlbsts", description="bucket for raw snapshots and event batches")
    s3_secure: bool = Field(False, description="use https for S3")
    s3_region: str = Field("us-east-1", description="S3 region")
    # tables
    postgres_dsn: SecretStr = Field(
        SecretStr("postgresql://mlbsts:mlbsts@127.0.0.1:15432/mlbsts"),
        description="PostgreSQL connection string",
    )
    postgres_connect_timeout_s: float = Field(
        10.0, gt=0, description="longest wait to open a PostgreSQL connection"
    )
    postgres_statement_timeout_s: float = Field(
        60.0, gt=0, description="longest a statement may run (server side)"
    )
    postgres_request_timeout_s: float = Field(
        90.0, gt=0, description="longest the client waits for one write (a hung server)"
    )
    pg_versions_prefix: str = Field(
        "mlbsts",
        pattern=r"^[a-z][a-z0-9_]{0,40}$",
        description="table versions are schemas <prefix>_vN; readers' views in <prefix>_current",
    )
    # cache
    redis_url: str = Field("redis://127.0.0.1:16379/0", description="Redis URL")
    redis_timeout_s: float = Field(
        5.0, gt=0, description="Redis connect and socket timeout of one command"
    )
    # every sink
    sink_outage_budget_s: float = Field(
        300.0,
        gt=0,
        description="how long a sink waits out an unreachable server (retrying with backoff, "
        "the source paused) before the worker stops",
    )
    sink_queue_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024 * 1024,
        description="bytes queued per sink partition before the flow waits (backpressure)",
    )
    s3_timeout_s: float = Field(30.0, gt=0, description="S3 connect and read timeout")
    # dataflow
    flow_stop_at_end: bool = Field(
        False, description="stop the dataflow at the end of the raw topic (demo, batch replay)"
    )
    flow_batch_size: int = Field(100, ge=1, description="raw snapshots read per source poll")
    flow_sink_partitions: int = Field(
        2, ge=1, description="writer threads of each sink (games are spread over them)"
    )
    flow_input_topic: str = Field(
        "mlb.raw.game-snapshots",
        description="raw topic the dataflow reads (replays into a new table version, tests)",
    )
    stats_window_wait_s: float = Field(
        120.0, ge=0, description="event-time lateness allowed before a stats window closes"
    )
    redis_live_final_ttl_s: int = Field(
        86400, ge=1, description="Redis expiry of a game's live state once it is Final"
    )
    redis_live_ttl_s: int = Field(
        172800,
        ge=1,
        description="Redis expiry of an unfinished game's live state, renewed at every update",
    )
    game_max_idle_s: float = Field(
        172800.0,
        gt=0,
        description="per-game state of a game never Final is released after this long "
        "without news (event time)",
    )
    max_snapshot_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="largest uncompressed feed/live payload accepted"
    )
    # ingestion: MLB Stats API client and scheduler
    mlb_api_base_url: str = Field("https://statsapi.mlb.com", description="MLB Stats API root")
    mlb_api_rate_per_s: float = Field(5.0, gt=0, description="requests per second per host")
    mlb_api_burst: int = Field(5, ge=1, description="token-bucket burst per host")
    mlb_api_timeout_s: float = Field(10.0, gt=0, description="timeout of one request")
    mlb_api_max_attempts: int = Field(5, ge=1, description="attempts per call (1 = no retry)")
    mlb_api_backoff_base_s: float = Field(0.5, gt=0, description="first retry backoff ceiling")
    mlb_api_backoff_cap_s: float = Field(30.0, gt=0, description="largest retry backoff")
    mlb_api_breaker_threshold: int = Field(5, ge=1, description="failures that open the breaker")
    mlb_api_breaker_reset_s: float = Field(30.0, gt=0, description="open breaker's cool-down")
    schedule_cache_ttl_s: int = Field(60, ge=1, description="Redis TTL of schedule responses")
    ingest_max_parallel: int = Field(8, ge=1, description="games polled at the same time")
    ingest_far_s: float = Field(900.0, gt=0, description="poll gap of a game far from start")
    ingest_near_s: float = Field(60.0, gt=0, description="poll gap near or after first pitch")
    ingest_near_window_s: float = Field(1800.0, ge=0, description="'near' = this before start")
    ingest_live_min_s: float = Field(2.0, gt=0, description="shortest poll gap of a live game")
    ingest_delayed_s: float = Field(120.0, gt=0, description="poll gap of a delayed game")
    ingest_suspended_s: float = Field(900.0, gt=0, description="poll gap of a suspended game")
    ingest_final_grace_s: float = Field(600.0, ge=0, description="first re-poll after Final")
    ingest_schedule_refresh_s: float = Field(
        900.0, gt=0, description="schedule refresh of each followed date"
    )
    ingest_corrections: str = Field(
        "1h,6h,next 10:00",
        description="polls after Final for scoring changes: delays (s/m/h/d) and "
        "'next HH:MM' (New York time); empty: none",
    )
    ingest_log_window_h: float = Field(
        48.0, gt=0, description="recent log read at start to publish nothing twice"
    )
    ingest_publish_backoff_cap_s: float = Field(
        30.0, gt=0, description="longest wait between publish retries (broker down)"
    )
    # the public API (api/, `mlbsts api`)
    api_host: str = Field("127.0.0.1", description="address `mlbsts api` listens on")
    api_port: int = Field(8080, ge=1, le=65535, description="port `mlbsts api` listens on")
    api_timeout_s: float = Field(
        5.0, gt=0, description="longest the API waits for PostgreSQL or Redis before a 503"
    )
    api_pool_size: int = Field(8, ge=1, description="PostgreSQL connections per API process")
    api_redis_prefix: str = Field(
        "mlbsts:api:", description="prefix of the API's own Redis keys (cache, rate limits)"
    )
    api_key_cache_s: float = Field(
        5.0, ge=0, description="how long a looked-up API key is trusted (revocation delay)"
    )
    api_live_max_age_s: int = Field(
        2, ge=0, description="Cache-Control max-age of a game not Final"
    )
    api_final_max_age_s: int = Field(
        3600, ge=0, description="Cache-Control max-age of a Final game"
    )
    api_stream_poll_s: float = Field(
        0.25, gt=0, description="how often a game's stream asks PostgreSQL for new events"
    )
    # operating it: logs, metrics, traces, health (docs/operating.md)
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="logs as JSON lines or readable text; auto: text on a terminal"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "WARNING", description="least severe level logged (`mlbsts -v`: INFO)"
    )
    telemetry_host: str = Field(
        "127.0.0.1", description="address of the worker's and the poller's health and metrics"
    )
    worker_telemetry_port: int = Field(
        9464, ge=0, le=65535, description="the worker's /metrics, /livez, /readyz; 0: none"
    )
    ingest_telemetry_port: int = Field(
        9465, ge=0, le=65535, description="the poller's /metrics, /livez, /readyz; 0: none"
    )
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector (http://host:4318): metrics and traces pushed too"
    )
    otlp_headers: SecretStr | None = Field(
        None, description="headers of every OTLP request, k=v,k=v (a collector's API key)"
    )
    health_stall_s: float = Field(
        360.0,
        gt=0,
        description="liveness fails after this long without progress: the worker with input "
        "to read, the poller's loop (keep it above sink_outage_budget_s)",
    )
    storage_ops_enabled: bool = Field(
        True, description="the worker publishes each committed sink batch on mlb.storage.ops"
    )
    health_topic_every_s: float = Field(
        30.0, ge=0, description="each process publishes its health on mlb.system.health; 0: off"
    )
    # local
    stack_dir: Path = Field(Path(".mlbsts"), description="data and logs of the embedded stack")
    embedded_log_retention_s: float = Field(
        10800.0,
        ge=0,
        description="the embedded stack deletes batches of the derived topics (events, stats, "
        "dead letters, ops) older than this from its broker's bucket; 0: off (mlbsts.stack)",
    )
    data_dir: Path = Field(
        Path("../shared/data"), description="recorded MLB Stats API responses (read only)"
    )

    @field_validator("kafka_ssl_ca_location")
    @classmethod
    def _absolute_or_none(cls, value: Path | None) -> Path | None:
        return None if value is None else resolve(value)

    @field_validator("stack_dir", "data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return resolve(value)

    @property
    def kafka_port(self) -> int:
        return _port(self.kafka_bootstrap_servers.split(",")[0], default=9092)

    @property
    def s3_port(self) -> int:
        return _port(self.s3_endpoint, default=443 if self.s3_secure else 80)

    @property
    def postgres_port(self) -> int:
        return urlsplit(self.postgres_dsn.get_secret_value()).port or 5432

    @property
    def redis_port(self) -> int:
        return urlsplit(self.redis_url).port or 6379

    @property
    def pg_readers_schema(self) -> str:
        """The schema of the readers' views of the table versions (``mlbsts.versions``)."""
        return self.pg_versions_prefix + READERS_SUFFIX


#: ``<pg_versions_prefix>`` + this: the readers' schema (``mlbsts.versions``)
READERS_SUFFIX = "_current"


def _port(host_port: str, *, default: int) -> int:
    return urlsplit(f"//{host_port}").port or default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
