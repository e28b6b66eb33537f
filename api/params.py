"""Parameters and documented error answers shared by the routes.

Every parameter is validated by FastAPI before a route runs (a 422 with
:class:`api.models.Problem` naming it); bounds keep every value inside what PostgreSQL's
columns hold, so no input reaches the database as an error.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AwareDatetime, BeforeValidator

from api.models import Problem

__all__ = ["ERRORS", "JSON_ERRORS", "NOT_MODIFIED", "GamePk", "IsoDate", "IsoInstant", "Limit"]
__all__ += ["PageCursor", "PlayerId"]

MAX_ID = 9_999_999_999  # ids are bigint columns; MLB's are far below this

GamePk = Annotated[
    int,
    Path(ge=1, le=MAX_ID, description="MLB's gamePk", examples=[744914]),
]
PlayerId = Annotated[int, Path(ge=1, le=MAX_ID, description="MLB's person id", examples=[684320])]


def _iso(pattern: str, what: str) -> BeforeValidator:
    """Only ISO 8601 text: pydantic alone would also read ``0`` as 1970-01-01."""
    form = re.compile(pattern)

    def check(value: object) -> object:
        if not isinstance(value, str) or not form.match(value):
            raise ValueError(f"expected {what}")
        return value

    return BeforeValidator(check)


IsoDate = Annotated[dt.date, _iso(r"\d{4}-\d{2}-\d{2}$", "a date YYYY-MM-DD")]
IsoInstant = Annotated[
    AwareDatetime,
    _iso(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", "an ISO 8601 date-time with a UTC offset"),
]
PageCursor = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="`next_cursor` of the previous page (omit for the first page)",
    ),
]


def Limit(default: int, most: int) -> Any:  # noqa: N802 - reads as a type in signatures
    return Query(default, ge=1, le=most, description=f"rows per page (1-{most})")


_ERROR_TEXTS = {
    401: "missing, malformed, unknown, wrong or revoked API key",
    403: "the API key lacks this route's scope",
    404: "no such game (or no such data for it yet)",
    422: "a parameter is invalid; `details` names it",
    429: "the key's rate limit is exceeded; see Retry-After",
    503: "PostgreSQL or Redis is unavailable; try again later",
}
#: the error answers of a JSON route
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in _ERROR_TEXTS.items()
}
#: the same for a route whose own answer is not JSON (the stream): errors still are
JSON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, text in _ERROR_TEXTS.items()
}
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "not modified since the ETag given in If-None-Match"}
}
