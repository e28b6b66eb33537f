"""S3 edge (MinIO in production, SeaweedFS locally): the raw snapshot archive.

Keys are deterministic, so writing the same snapshot twice replaces it with identical
bytes. Exceptions::

    ObjectStoreError (RuntimeError)   the S3 server refused or could not be reached; says
                                      which bucket and key
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import urllib3
from minio import Minio
from minio.error import MinioException

from mlbsts.settings import Settings

#: Retries of `client(retries=True)`: connection errors and 5xx, 3 times, backoff from 0.2 s.
_RETRY = urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504))


class ObjectStoreError(RuntimeError):
    """Broken infrastructure: the S3 server refused a request or is unreachable."""


def raw_snapshot_key(game_date: date, game_pk: int, feed_timestamp: str) -> str:
    """``raw/date=YYYY-MM-DD/game_pk=N/<timeStamp>.json.gz`` (contract of the archive)."""
    return f"raw/date={game_date.isoformat()}/game_pk={game_pk}/{feed_timestamp}.json.gz"


def client(settings: Settings, *, retries: bool = True, timeout: float | None = None) -> Minio:
    """An S3 client of ``settings.s3_endpoint``; what to do on failure is the caller's choice.

    ``retries``: a connection error or 5xx is retried up to 3 times with a short backoff
    (sinks); ``False``: one attempt per request (health checks, provisioning).
    ``timeout``: seconds to connect and to read; ``None``: 5 s to connect, 30 s to read.
    """
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        secure=settings.s3_secure,
        region=settings.s3_region,
        http_client=urllib3.PoolManager(
            maxsize=16,  # concurrent PUTs of a batch reuse their connections
            timeout=(
                urllib3.Timeout(connect=5.0, read=30.0)
                if timeout is None
                else urllib3.Timeout(connect=timeout, read=timeout)
            ),
            retries=_RETRY if retries else False,
        ),
    )


def put_bytes(s3: Minio, bucket: str, key: str, data: bytes, *, content_type: str) -> None:
    try:
        s3.put_object(bucket, key, io.BytesIO(data), length=len(data), content_type=content_type)
    except (MinioException, urllib3.exceptions.HTTPError, OSError) as e:
        raise ObjectStoreError(f"s3://{bucket}/{key}: put failed: {e}") from e


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
