"""The local stack in a folder only root can enter (a repository cloned under /root).

As root, PostgreSQL runs as ``nobody``, which cannot enter such a folder: the stack moves
the server's home to ``/var/lib/mlbsts`` and links it from ``stack_dir/postgres``. These
tests start a PostgreSQL of their own (another port, another ``stack_dir``) beside the
running local stack, so they never touch it.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mlbsts import stack
from mlbsts.settings import Settings
from mlbsts.stack import postgres, supervisor

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user"),
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A fresh folder every user may enter (pytest's own tmp_path sits in a 0700 folder)."""
    path = Path(tempfile.mkdtemp(prefix="mlbsts-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def private_settings(open_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings whose ``stack_dir`` sits in a 0700 folder, with PostgreSQL alone in the stack."""
    private = open_dir / "private"
    private.mkdir()
    private.chmod(0o700)
    settings = Settings(
        stack_dir=private / "repo" / ".mlbsts",
        postgres_dsn=f"postgresql://mlbsts:mlbsts@127.0.0.1:{free_port()}/mlbsts",
    )
    monkeypatch.setattr(supervisor, "SERVERS", (postgres.PostgresServer(),))
    yield settings
    stack.down(settings, purge=True)


def test_nobody_cannot_enter_a_private_folder(open_dir: Path) -> None:
    private = open_dir / "closed"
    private.mkdir()
    private.chmod(0o700)
    assert not postgres.can_enter("nobody", private / "not" / "made" / "yet")
    private.chmod(0o711)
    postgres.can_enter.cache_clear()  # asked once per process and path
    assert postgres.can_enter("nobody", private / "not" / "made" / "yet")


def test_postgres_runs_from_a_folder_only_root_can_enter(private_settings: Settings) -> None:
    status = stack.up(private_settings, timeout=60)
    assert status.healthy, status

    link = private_settings.stack_dir / "postgres"
    home = postgres.relocated_root(private_settings.stack_dir)
    assert link.is_symlink()
    assert link.resolve() == home.resolve()
    assert home.is_relative_to(postgres.RELOCATED_BASE)
    assert (home / "server" / "data" / "PG_VERSION").is_file()

    dsn = private_settings.postgres_dsn.get_secret_value()
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        row = conn.execute("SELECT current_user, count(*) FROM _yoyo_migration").fetchone()
    assert row is not None and row[0] == "mlbsts" and row[1] > 0  # migrations applied

    # a second `up` finds it running; `down` then `up` reuses the same data
    assert stack.up(private_settings, timeout=60).healthy
    assert stack.down(private_settings) == ["postgres"]
    assert stack.up(private_settings, timeout=60).healthy
    assert link.resolve() == home.resolve()

    stack.down(private_settings, purge=True)
    assert not link.exists() and not link.is_symlink()
    assert not home.exists()
