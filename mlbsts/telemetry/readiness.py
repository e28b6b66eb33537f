"""Readiness checks: can this process reach its servers right now?

A check is a function that returns when its server answered and raises otherwise. They run
in parallel, each bounded by ``timeout_s`` (a stopped server, one that accepts connections
and never answers, counts as not reached once the time is up), and the verdict is cached
for ``cache_s`` so probes and scrapes do not hammer the servers. Error texts are passed
through the process's redactor (``mlbsts.telemetry.logs.Redactor``) before they are shown.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import psycopg
import redis
from confluent_kafka.admin import AdminClient

from mlbsts.telemetry.health import Verdict, readiness

__all__ = ["Check", "Readiness", "kafka_check", "postgres_check", "redis_check", "s3_check"]

Check = Callable[[], None]
TIMEOUT_S = 2.0
CACHE_S = 2.0


def kafka_check(config: Mapping[str, Any], topic: str, timeout_s: float = TIMEOUT_S) -> Check:
    """The brokers answer metadata for ``topic`` (``config``: the project's admin config)."""

    def check() -> None:
        metadata = AdminClient(dict(config)).list_topics(topic, timeout=timeout_s)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise RuntimeError(f"topic {topic}: {found.error if found else 'missing'}")

    return check


def postgres_check(dsn: str, timeout_s: float = TIMEOUT_S) -> Check:
    """A connection opens and answers ``SELECT 1``."""

    def check() -> None:
        timeout = max(1, math.ceil(timeout_s))
        with psycopg.connect(dsn, connect_timeout=timeout, autocommit=True) as conn:
            conn.execute("SELECT 1")

    return check


def s3_check(bucket_exists: Callable[[str], bool], bucket: str) -> Check:
    """The bucket exists (``bucket_exists``: the project's S3 client's method)."""

    def check() -> None:
        if not bucket_exists(bucket):
            raise RuntimeError(f"bucket {bucket} does not exist")

    return check


def redis_check(url: str, timeout_s: float = TIMEOUT_S) -> Check:
    """``PING`` answers."""

    def check() -> None:
        client = redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        try:
            client.ping()
        finally:
            client.close()

    return check


class Readiness:
    """Callable: the readiness verdict of ``checks``, ``required`` of them mandatory."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        required: Collection[str],
        *,
        timeout_s: float = TIMEOUT_S,
        cache_s: float = CACHE_S,
        redact: Callable[[str], str] = str,
    ) -> None:
        self._checks = dict(checks)
        self._required = frozenset(required)
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._redact = redact
        self._pool = ThreadPoolExecutor(max(1, len(checks)), thread_name_prefix="readiness")
        self._lock = threading.Lock()
        self._last: tuple[float, Verdict] | None = None

    def __call__(self) -> Verdict:
        with self._lock:
            if self._last is not None and time.monotonic() - self._last[0] < self._cache_s:
                return self._last[1]
            verdict = readiness(self.run(), self._required)
            self._last = (time.monotonic(), verdict)
            return verdict

    def run(self) -> dict[str, str | None]:
        """Every check once, in parallel: name → error (``None``: reached)."""
        futures = {name: self._pool.submit(check) for name, check in self._checks.items()}
        deadline = time.monotonic() + self._timeout_s
        results: dict[str, str | None] = {}
        for name, future in futures.items():
            try:
                future.result(timeout=max(0.0, deadline - time.monotonic()))
                results[name] = None
            except FutureTimeout:
                results[name] = f"no answer in {self._timeout_s:.1f} s"
            except Exception as e:
                results[name] = self._redact(f"{type(e).__name__}: {e}")[:300]
        return results
