-- API keys of the public API (api/, `mlbsts api-key create|list|revoke`).
--
-- Only a salted hash of each key's secret is kept: sha256(salt || secret), with a random
-- 16-byte salt per key (api/keys.py says why that is enough for a 256-bit random secret).
-- key_id is the public part of the key (mlbsts_<key_id>_<secret>). A revoked key keeps
-- its row, with revoked_at set, so `mlbsts api-key list` still shows it.

CREATE TABLE api_keys (
    key_id        text        NOT NULL PRIMARY KEY CHECK (key_id ~ '^[0-9a-f]{12}$'),
    name          text        NOT NULL,
    salt          bytea       NOT NULL CHECK (length(salt) = 16),
    secret_hash   bytea       NOT NULL CHECK (length(secret_hash) = 32),
    scopes        text[]      NOT NULL
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['live', 'history', 'stream']),
    rate_per_min  integer     NOT NULL CHECK (rate_per_min > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
