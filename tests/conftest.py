"""Shared test fixtures: where the real recorded MLB data lives."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from mlbsts.settings import get_settings

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_GAME_PK = 744914


def shared_data_dir() -> Path:
    """The shared corpus (``MLBSTS_DATA_DIR``, default ``../shared/data``)."""
    return get_settings().data_dir


def corpus_feed_paths() -> list[Path]:
    """Every final ``feed/live`` in the shared corpus, or [] when it is absent."""
    return sorted((shared_data_dir() / "mlb" / "feed_live").glob("*.json"))


def load_fixture_feed() -> dict[str, Any]:
    """The one real final feed kept in the repository (game 744914)."""
    data: dict[str, Any] = orjson.loads(
        gzip.decompress((FIXTURES / "744914.feed_live.json.gz").read_bytes())
    )
    return data


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not (path / "mlb").is_dir():
        pytest.skip(f"shared MLB corpus not found at {path} (set MLBSTS_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def fixture_feed() -> dict[str, Any]:
    return load_fixture_feed()
