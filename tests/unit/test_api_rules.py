"""The API's pure rules: key format and hash, scopes, cursors, stream ids, ETags,
If-None-Match, Cache-Control, and the published schema's optional parameters."""

from __future__ import annotations

import hashlib

import pytest

from api.app import _not_null, create_app
from api.cursor import decode_page, encode_page, parse_last_event_id, stream_id
from api.http_cache import cache_control, etag_of, matches, store_ttl_s
from api.keys import KeyRecord, hash_secret, new_key, parse_key, parse_scopes, verify
from mlbsts.settings import Settings

pytestmark = pytest.mark.unit


def _record(made_salt: bytes, made_hash: bytes, revoked: bool = False) -> KeyRecord:
    from datetime import UTC, datetime

    return KeyRecord(
        key_id="0123456789ab",
        name="t",
        scopes=frozenset({"live"}),
        rate_per_min=60,
        salt=made_salt,
        secret_hash=made_hash,
        revoked_at=datetime.now(UTC) if revoked else None,
    )


def test_a_new_key_parses_back_and_verifies_only_with_its_secret() -> None:
    made = new_key()
    parsed = parse_key(made.key)
    assert parsed is not None and parsed[0] == made.key_id
    secret = parsed[1]
    assert len(secret) == 43 and secret not in made.secret_hash.hex()
    assert made.secret_hash == hashlib.sha256(made.salt + secret.encode()).digest()
    record = _record(made.salt, made.secret_hash)
    assert verify(record, secret)
    assert not verify(record, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    other = new_key()
    assert other.key != made.key and other.salt != made.salt
    assert hash_secret(other.salt, secret) != made.secret_hash  # the salt matters


@pytest.mark.parametrize(
    "text",
    [
        "",
        "mlbsts_",
        "mlbsts_0123456789ab_short",
        "mlbsts_0123456789AB_" + "a" * 43,  # id is lower-case hex
        "xx_0123456789ab_" + "a" * 43,
        "mlbsts_0123456789ab_" + "a" * 42 + "!",
        "mlbsts_0123456789ab_" + "a" * 44,
    ],
)
def test_malformed_keys_do_not_parse(text: str) -> None:
    assert parse_key(text) is None


def test_scopes_parse_in_canonical_order_and_unknown_ones_are_refused() -> None:
    assert parse_scopes("stream, live") == ("live", "stream")
    assert parse_scopes("history,history") == ("history",)
    with pytest.raises(ValueError, match="unknown scope"):
        parse_scopes("live,admin")
    with pytest.raises(ValueError, match="no scope"):
        parse_scopes(" , ")


def test_page_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    assert decode_page("plays", encode_page("plays", 12), 1) == (12,)
    assert decode_page("pitches", encode_page("pitches", 3, 7), 2) == (3, 7)
    for kind, cursor, parts in [
        ("pitches", encode_page("plays", 12), 2),  # another route's cursor
        ("plays", encode_page("plays", 1, 2), 1),
        ("plays", "0", 1),
        ("plays", "é", 1),
        ("plays", "cGxheXM6LTE", 1),  # plays:-1 (no negative at-bat index)
    ]:
        with pytest.raises(ValueError):
            decode_page(kind, cursor, parts)


def test_stream_ids_round_trip_with_every_event_id_form() -> None:
    for event_id in [
        "pitch:744914:3:2",
        "play:744914:12",
        "runner:744914:5:-1:592450:B:2",
        "game:744914:status",
        "game:744914:40:review",
    ]:
        key = ("20240701_192932", event_id)
        assert parse_last_event_id(stream_id(key)) == key
    for bad in ["", "20240701_192932", "x/pitch:1", "20240701_192932/PITCH:1", "1/pitch:1\n2"]:
        with pytest.raises(ValueError):
            parse_last_event_id(bad)


def test_etags_depend_on_route_parameters_and_version_only() -> None:
    tag = etag_of("plays", [744914, 100], "20240701_214404:68:3")
    assert tag == etag_of("plays", [744914, 100], "20240701_214404:68:3")
    assert tag.startswith('"') and tag.endswith('"')
    others = {
        etag_of("pitches", [744914, 100], "20240701_214404:68:3"),
        etag_of("plays", [744914, 50], "20240701_214404:68:3"),
        etag_of("plays", [744914, 100], "20240701_214404:69:3"),
    }
    assert tag not in others and len(others) == 3


def test_if_none_match_forms() -> None:
    tag = '"abc"'
    assert matches('"abc"', tag)
    assert matches('W/"abc"', tag)
    assert matches('"x", "abc"', tag)
    assert matches("*", tag)
    assert not matches(None, tag)
    assert not matches('"abcd"', tag)
    assert not matches("", tag)


def test_cache_control_and_store_ttl_follow_the_game_state() -> None:
    assert cache_control(False, 2, 3600) == "private, max-age=2"
    assert cache_control(True, 2, 3600) == "private, max-age=3600"
    assert store_ttl_s(False, 2, 3600) == 60
    assert store_ttl_s(True, 2, 3600) == 3600


def test_optional_parameters_are_published_without_null() -> None:
    optional = {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "null"}], "title": "X"}
    assert _not_null(optional) == {"type": "string", "maxLength": 5, "title": "X"}
    both = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert _not_null(both) == both
    schema = create_app(Settings()).openapi()
    for path, item in schema["paths"].items():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                assert {"type": "null"} not in parameter["schema"].get("anyOf", []), path


def test_every_v1_route_needs_a_key_and_documents_its_errors() -> None:
    schema = create_app(Settings()).openapi()
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "description": schema["components"]["securitySchemes"]["ApiKey"]["description"],
        "in": "header",
        "name": "X-API-Key",
    }
    assert schema["paths"]["/v1/session"]["post"]["security"] == [{"ApiKey": []}]
    paths = schema["paths"].items()
    v1 = {p: item["get"] for p, item in paths if p.startswith("/v1/") and "get" in item}
    assert len(v1) == 10
    for path, operation in v1.items():  # the key, or a page session standing for one
        assert operation["security"] == [{"ApiKey": []}, {"PageSession": []}], path
        for status in ("401", "403", "404", "422", "429", "503"):
            content = operation["responses"][status]["content"]
            assert list(content) == ["application/json"], (path, status)
