"""The retention trimmer of the embedded broker's log: a process of the local stack.

``mlbsts stack up`` starts it (:data:`ENTRY`) after the S3 server and Tansu when
``MLBSTS_EMBEDDED_LOG_RETENTION_S`` is above 0; ``down`` stops it first. Every
:func:`~mlbsts.stack.log_retention.trim_every_s` it lists the derived topics' partitions
in the log bucket, and deletes what :func:`~mlbsts.stack.log_retention.plan_trim` chooses
(batch objects older than the retention, never the newest of a partition, never a source
topic, never metadata), at most :data:`MAX_DELETES_PER_PASS` a pass (a pass that hits the
cap is followed after :data:`RETRY_AFTER_S`). Each S3 request is bounded by
:data:`REQUEST_TIMEOUT_S`; a pass that fails (S3 slow or away) is logged and tried again
after :data:`RETRY_AFTER_S`: the trimmer never stops the stack, and the broker never waits
for it. It writes what it did to ``run/trim.json`` (``mlbsts stack status``) and logs each
pass that deleted something (objects, bytes) to ``logs/trim.log``.

A reader fetching a batch at the moment it is deleted makes Tansu fail that fetch
(``UnknownServerError``) and close the connection; librdkafka reconnects and fetches again,
from the next batch kept, and the application sees no error (measured on Tansu 0.6.0).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException

from connectors import s3
from mlbsts.settings import Settings, get_settings
from mlbsts.stack.layout import Layout
from mlbsts.stack.log_retention import StoredObject, is_trimmed_topic, plan_trim, trim_every_s
from mlbsts.stack.s3 import LOG_BUCKET

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0
MAX_DELETES_PER_PASS = 5000
RETRY_AFTER_S = 30.0  # a failed pass, or one that hit the cap, is followed this soon
#: the process's command: ``-m`` would run this module a second time (``mlbsts.stack``
#: imports it first), so it is started by its ``main``
ENTRY = "from mlbsts.stack.log_trimmer import main; main()"
DELETE_CHUNK = 1000  # S3's limit of one DeleteObjects request
#: what a pass may fail on and be tried again: the S3 server's answers and the network
TRANSIENT = (MinioException, urllib3.exceptions.HTTPError, OSError)


@dataclass(frozen=True)
class PassResult:
    """One pass of the trimmer."""

    at: float  # epoch seconds, when it began
    seconds: float
    deleted: int
    bytes: int
    kept: int  # batch objects of the derived topics left
    partitions: int
    error: str | None = None


def status_path(layout: Layout) -> Path:
    return layout.run / "trim.json"


def _children(client: Minio, bucket: str, prefix: str) -> Iterator[str]:
    """The "folders" right under ``prefix``."""
    for obj in client.list_objects(bucket, prefix=prefix):
        if obj.is_dir and obj.object_name:
            yield obj.object_name


def list_log(client: Minio, bucket: str = LOG_BUCKET) -> Iterator[StoredObject]:
    """Every object of the derived topics' partitions (batches, watermarks) in ``bucket``."""
    for cluster in _children(client, bucket, "clusters/"):
        for topic in _children(client, bucket, f"{cluster}topics/"):
            if not is_trimmed_topic(topic.rstrip("/").rsplit("/", 1)[-1]):
                continue
            for obj in client.list_objects(bucket, prefix=f"{topic}partitions/", recursive=True):
                if obj.object_name and obj.last_modified is not None:
                    yield StoredObject(obj.object_name, obj.last_modified, obj.size or 0)


def delete(client: Minio, doomed: Sequence[StoredObject], bucket: str = LOG_BUCKET) -> int:
    """Delete ``doomed`` in chunks; the bytes of those deleted. A refused key is logged."""
    deleted_bytes = 0
    for start in range(0, len(doomed), DELETE_CHUNK):
        chunk = doomed[start : start + DELETE_CHUNK]
        errors = client.remove_objects(bucket, [DeleteObject(o.key) for o in chunk])
        refused = {e.name or "?" for e in errors}
        for key in sorted(refused)[:5]:
            logger.warning("trim: S3 refused to delete %s", key)
        deleted_bytes += sum(o.size for o in chunk if o.key not in refused)
    return deleted_bytes


def trim_once(client: Minio, retention_s: float, *, now: datetime | None = None) -> PassResult:
    """One pass over the log bucket; raises what S3 raises (see :data:`TRANSIENT`)."""
    began, clock = time.time(), time.monotonic()
    plan = plan_trim(list_log(client), now or datetime.now(UTC), retention_s)
    doomed = plan.doomed[:MAX_DELETES_PER_PASS]
    deleted_bytes = delete(client, doomed)
    return PassResult(
        at=began,
        seconds=time.monotonic() - clock,
        deleted=len(doomed),
        bytes=deleted_bytes,
        kept=plan.kept_batches + len(plan.doomed) - len(doomed),
        partitions=plan.partitions,
    )


def write_status(path: Path, status: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=2) + "\n")
    tmp.replace(path)


def read_status(path: Path) -> dict[str, Any] | None:
    """What the trimmer last wrote, or None when there is nothing readable."""
    try:
        status = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def _pass(client: Minio, retention_s: float) -> PassResult:
    began = time.time()
    try:
        result = trim_once(client, retention_s)
    except TRANSIENT as e:
        logger.warning("trim: pass failed, trying again next pass: %s", e)
        return PassResult(began, time.time() - began, 0, 0, 0, 0, f"{type(e).__name__}: {e}")
    if result.deleted:
        logger.info(
            "trim: deleted %d batch objects (%d bytes) older than %.0f s; %d kept in %d "
            "partitions; %.2f s",
            *(result.deleted, result.bytes, retention_s, result.kept, result.partitions),
            result.seconds,
        )
    return result


def run(settings: Settings, path: Path, stop: threading.Event) -> None:
    """Pass every ``trim_every_s`` until ``stop`` is set, writing the status to ``path``."""
    retention_s = settings.embedded_log_retention_s
    every_s = trim_every_s(retention_s)
    client = s3.client(settings, retries=False, timeout=REQUEST_TIMEOUT_S)
    status: dict[str, Any] = {
        "retention_s": retention_s,
        "every_s": every_s,
        "heartbeat": time.time(),
        "passes": 0,
        "deleted_total": 0,
        "bytes_total": 0,
        "last": None,
        "failed_in_a_row": 0,
    }
    write_status(path, status)
    logger.info("trim: derived topics older than %.0f s, every %.0f s", retention_s, every_s)
    while not stop.is_set():
        result = _pass(client, retention_s) if retention_s > 0 else None
        status["heartbeat"] = time.time()
        if result is not None:
            status["passes"] += 1
            status["deleted_total"] += result.deleted
            status["bytes_total"] += result.bytes
            status["last"] = asdict(result)
            status["failed_in_a_row"] = status["failed_in_a_row"] + 1 if result.error else 0
        write_status(path, status)
        stop.wait(min(every_s, RETRY_AFTER_S) if _again_soon(result) else every_s)


def _again_soon(result: PassResult | None) -> bool:
    """A failed pass (a blip) or one that hit the cap (a backlog) is followed soon."""
    if result is None:
        return False
    return result.error is not None or result.deleted >= MAX_DELETES_PER_PASS


def main() -> None:
    """The trimmer process (:data:`ENTRY`): run until SIGTERM or SIGINT."""
    from mlbsts.telemetry.logs import secrets_of, setup_logging  # noqa: PLC0415

    settings = get_settings()
    setup_logging("log-trimmer", level="INFO", fmt="text", secrets=secrets_of(settings))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(settings, status_path(Layout(settings.stack_dir)), stop)
    logger.info("trim: stopped")


if __name__ == "__main__":
    main()
