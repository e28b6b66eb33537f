-- Raw tier: every snapshot of mlb.raw.game-snapshots as JSONB with its envelope.
-- Partitioned by month of the game's official date; one row per (game, feed timestamp):
-- a snapshot polled twice, or replayed, lands once.

CREATE TABLE raw_game_snapshots (
    game_pk          bigint      NOT NULL,
    game_date        date        NOT NULL,
    feed_timestamp   text        NOT NULL,
    captured_at      timestamptz NOT NULL,
    ingested_at      timestamptz NOT NULL,
    source_url       text        NOT NULL,
    status_code      integer     NOT NULL,
    payload          jsonb       NOT NULL,
    payload_bytes    integer     NOT NULL,
    s3_key           text,
    kafka_topic      text,
    kafka_partition  integer,
    kafka_offset     bigint,
    stored_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (game_pk, feed_timestamp, game_date)
) PARTITION BY RANGE (game_date);

-- Monthly partitions for the seasons this system serves, plus a default for the rest.
DO $$
DECLARE
    month date := date '2015-01-01';
BEGIN
    WHILE month < date '2031-01-01' LOOP
        EXECUTE format(
            'CREATE TABLE raw_game_snapshots_%s PARTITION OF raw_game_snapshots '
            'FOR VALUES FROM (%L) TO (%L)',
            to_char(month, 'YYYY_MM'), month, (month + interval '1 month')::date
        );
        month := (month + interval '1 month')::date;
    END LOOP;
END
$$;

CREATE TABLE raw_game_snapshots_default PARTITION OF raw_game_snapshots DEFAULT;

CREATE INDEX raw_game_snapshots_game_idx ON raw_game_snapshots (game_pk, captured_at);
