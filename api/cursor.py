"""Cursors, pure: the opaque page cursors of plays and pitches, and stream event ids.

A page cursor names the last row of the previous page by its natural key (``at_bat_index``
for plays; ``(at_bat_index, play_event_index)`` for pitches), as URL-safe base64 of
``plays:12`` or ``pitches:12:3``. Keyset pagination: a page is the rows after the cursor in
key order, so a row committed meanwhile is neither skipped nor repeated.

A stream event's id (``id:`` in server-sent events, sent back by a reconnecting client as
``Last-Event-ID``) is ``<source_ts>/<event_id>``: the order in which the stream sends a
game's events (``source_ts``, then ``event_id``, both compared byte-wise).
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = [
    "STREAM_ID_PATTERN",
    "StreamKey",
    "decode_page",
    "encode_page",
    "parse_last_event_id",
    "stream_id",
]

StreamKey = tuple[str, str]  # (source_ts, event_id)

_PAGE = re.compile(r"(plays|pitches):(\d{1,6})(?::(-?\d{1,6}))?")
STREAM_ID_PATTERN = r"^([0-9_]{1,32})/([a-z]{1,16}:[0-9A-Za-z:_-]{1,120})$"
_STREAM_ID = re.compile(STREAM_ID_PATTERN)


def encode_page(kind: str, *key: int) -> str:
    text = ":".join([kind, *(str(k) for k in key)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_page(kind: str, cursor: str, parts: int) -> tuple[int, ...]:
    """The key in a cursor made by :func:`encode_page` for ``kind``; ValueError if the
    cursor is not one."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise ValueError("not a cursor this API made") from e
    match = _PAGE.fullmatch(text)
    if match is None or match.group(1) != kind:
        raise ValueError(f"not a cursor of {kind}")
    key = tuple(int(g) for g in match.groups()[1:] if g is not None)
    if len(key) != parts:
        raise ValueError(f"not a cursor of {kind}")
    return key


def stream_id(key: StreamKey) -> str:
    return f"{key[0]}/{key[1]}"


def parse_last_event_id(text: str) -> StreamKey:
    """``(source_ts, event_id)`` of a stream event id; ValueError if it is not one."""
    match = _STREAM_ID.match(text.strip())
    if match is None:
        raise ValueError("not an event id of this stream (<source_ts>/<event_id>)")
    return match.group(1), match.group(2)
