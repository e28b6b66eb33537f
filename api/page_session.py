"""Page sessions, pure: a short-lived signed cookie that stands for an API key in a browser.

Why: the live page (``api/static/``) follows a game with the browser's ``EventSource``,
which cannot send the ``X-API-Key`` header, and a key in a URL's path or query lands in
access logs, proxies and the browser's history. So the page takes the key from the URL's
*fragment* (``#key=…``, which a browser never sends to a server), trades it once for a
session cookie (``POST /v1/session`` with the key in the header), removes the fragment
from the address bar and keeps the key in memory only, to renew the session. (A browser
may still list the URL first opened in its own history; the page's key form avoids that.)

The token is ``<key id>.<expires, epoch seconds>.<mac>``, the mac an HMAC-SHA256 of
``<key id>.<expires>`` under a key derived from the API key's stored salted hash
(``HMAC(secret_hash, "mlbsts page session v1")``). Consequences:

- every API process can check a token (they share the ``api_keys`` table): no new secret
  to deploy or rotate;
- a session is worth exactly its key: the same scopes and rate-limit bucket, and revoking
  the key ends its sessions (the key record is read again on every request, cached
  ``MLBSTS_API_KEY_CACHE_S``);
- nobody can mint a token without the stored hash, which never leaves the server.

The cookie is ``HttpOnly`` (the page's scripts cannot read it), ``SameSite=Strict`` (a
page of another site cannot make the browser send it), ``Path=/v1``, lives
:data:`SESSION_S` seconds, and is ``Secure`` when the API is reached over https.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from api.keys import KeyRecord

__all__ = ["SESSION_COOKIE", "SESSION_S", "SessionToken", "issue", "parse_token", "valid"]

SESSION_COOKIE = "mlbsts_session"
SESSION_S = 3600
_CONTEXT = b"mlbsts page session v1"
_TOKEN = re.compile(r"([0-9a-f]{12})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class SessionToken:
    key_id: str
    expires: int  # epoch seconds
    mac: str


def _mac(record: KeyRecord, expires: int) -> str:
    signing = hmac.new(record.secret_hash, _CONTEXT, hashlib.sha256).digest()
    message = f"{record.key_id}.{expires}".encode("ascii")
    digest = hmac.new(signing, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def issue(record: KeyRecord, now: float, ttl_s: int = SESSION_S) -> tuple[str, int]:
    """A token for ``record``'s key valid ``ttl_s`` seconds from ``now``, and its expiry."""
    expires = int(now) + ttl_s
    return f"{record.key_id}.{expires}.{_mac(record, expires)}", expires


def parse_token(text: str) -> SessionToken | None:
    """The parts of a well-formed token, else ``None``."""
    match = _TOKEN.fullmatch(text.strip())
    if match is None:
        return None
    return SessionToken(match.group(1), int(match.group(2)), match.group(3))


def valid(record: KeyRecord, token: SessionToken, now: float) -> bool:
    """Whether ``token`` was issued for ``record``'s key and has not expired (the mac is
    compared in constant time)."""
    if token.key_id != record.key_id or token.expires <= now:
        return False
    return hmac.compare_digest(_mac(record, token.expires), token.mac)
