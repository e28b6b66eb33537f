"""Where things live on disk: the project root and paths relative to it."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def resolve(path: Path) -> Path:
    """An absolute path: relative paths are taken from the project root, not the cwd."""
    return path if path.is_absolute() else (PROJECT_ROOT / path).resolve()
