"""``mlbsts simulate|events|boxscore``: the pure snapshot engine on files."""

from __future__ import annotations
