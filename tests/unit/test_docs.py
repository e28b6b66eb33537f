"""The README matches the code: every setting is documented, and no stale one is."""

from __future__ import annotations

import re

import pytest

from mlbsts.paths import PROJECT_ROOT
from mlbsts.settings import Settings

pytestmark = pytest.mark.unit


def test_readme_lists_every_setting_and_only_those() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `MLBSTS_([A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    fields = {name.upper() for name in Settings.model_fields}
    assert documented == fields


def test_readme_gives_the_two_setup_commands() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
