"""The retry policy of every sink, in one place.

Transient infrastructure errors (the ones a sink names) are retried with exponential backoff
and jitter: 5 attempts, at most 5 s apart. After that the error propagates and stops the
worker; Bytewax recovery resumes it from the last snapshot (sinks are idempotent, so the
repeated epoch lands nothing twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import (
    before_sleep_log,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

ATTEMPTS = 5


def sink_retry(*transient: type[BaseException]) -> Callable[[F], F]:
    """Decorator: retry the call on the ``transient`` exception types, then re-raise."""
    decorator: Callable[[F], F] = retry(
        retry=retry_if_exception_type(transient),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_exponential_jitter(initial=0.2, max=5.0),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    return decorator
