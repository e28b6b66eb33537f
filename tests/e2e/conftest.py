"""The e2e tier uses the same real local stack as the integration tier."""

from __future__ import annotations

from tests.integration.conftest import stack_settings

__all__ = ["stack_settings"]
