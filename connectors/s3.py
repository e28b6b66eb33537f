"""S3 edge (MinIO in production, SeaweedFS locally): the raw snapshot archive.

Keys are deterministic, so writing the same snapshot twice replaces it with identical
bytes. Every request is bounded by ``s3_timeout_s`` (to connect, and for each read of the
answer), so a hung server costs one timeout per attempt, never a blocked worker. Exceptions::

    ObjectStoreError (connectors.sink_retry.ServerError)   the S3 server refused or could
                                      not be reached; says which bucket and key;
                                      ``transient`` for a network error, a timeout, 5xx,
                                      429 or S3's own "slow down" codes
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, MinioException, S3Error, ServerError

from connectors.sink_retry import ServerError as SinkServerError
from mlbsts.settings import Settings

#: Retries of `client(retries=True)`: connection errors and 5xx, 3 times, backoff from 0.2 s.
_RETRY = urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504))

#: S3 error codes that say "later", whatever the HTTP status
TRANSIENT_CODES = frozenset(
    {"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError", "OperationAborted"}
)


class ObjectStoreError(SinkServerError):
    """Broken infrastructure: the S3 server refused a request or is unreachable."""

    server = "S3"


def raw_snapshot_key(game_date: date, game_pk: int, feed_timestamp: str) -> str:
    """``raw/date=YYYY-MM-DD/game_pk=N/<timeStamp>.json.gz`` (contract of the archive)."""
    return f"raw/date={game_date.isoformat()}/game_pk={game_pk}/{feed_timestamp}.json.gz"


def client(settings: Settings, *, retries: bool = True, timeout: float | None = None) -> Minio:
    """An S3 client of ``settings.s3_endpoint``; what to do on failure is the caller's choice.

    ``retries``: a connection error or 5xx is retried up to 3 times with a short backoff;
    ``False``: one attempt per request (the sinks, whose own policy retries and logs;
    health checks, provisioning). ``timeout``: seconds to connect and for each read;
    ``None``: ``settings.s3_timeout_s``.
    """
    seconds = settings.s3_timeout_s if timeout is None else timeout
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
        region=settings.s3_region,
        http_client=urllib3.PoolManager(
            maxsize=16,  # concurrent PUTs of a batch reuse their connections
            timeout=urllib3.Timeout(connect=seconds, read=seconds),
            retries=_RETRY if retries else False,
        ),
    )


def is_transient(error: Exception) -> bool:
    """Waiting may help: no answer (network error, timeout), a 5xx or 429 answer, or an S3
    code meaning "later". Other answers (access denied, no such bucket) will not change."""
    if isinstance(error, S3Error):
        return (
            error.response.status >= 500
            or error.response.status == 429
            or (error.code in TRANSIENT_CODES)
        )
    # ServerError: a 5xx without an S3 body; InvalidResponseError: a non-S3 answer (a proxy's
    # error page); urllib3 and OS errors: no answer at all
    return isinstance(
        error, ServerError | InvalidResponseError | urllib3.exceptions.HTTPError | OSError
    )


def put_bytes(s3: Minio, bucket: str, key: str, data: bytes, *, content_type: str) -> None:
    try:
        s3.put_object(bucket, key, io.BytesIO(data), length=len(data), content_type=content_type)
    except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
        raise ObjectStoreError(
            f"s3://{bucket}/{key}: put failed: {e}", transient=is_transient(e)
        ) from e


class ObjectWriter:
    """Puts many objects of one bucket concurrently (a PUT is mostly waiting on the server).

    ``put_all`` returns once every object is stored, or raises ``ObjectStoreError`` for the
    first that failed: a batch is written completely or the call fails (and is retried).
    """

    def __init__(self, client: Minio, bucket: str, concurrency: int = 8) -> None:
        self._client = client
        self._bucket = bucket
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="s3-put")

    def put_all(self, objects: list[tuple[str, bytes]], *, content_type: str) -> None:
        def put(obj: tuple[str, bytes]) -> None:
            put_bytes(self._client, self._bucket, obj[0], obj[1], content_type=content_type)

        list(self._pool.map(put, objects))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def sink_writer(settings: Settings) -> ObjectWriter:
    """The writer of an S3 sink: one attempt per request, each bounded by ``s3_timeout_s``
    (the sink's ``connectors.sink_retry`` policy retries within the outage budget)."""
    return ObjectWriter(client(settings, retries=False), settings.s3_bucket)
