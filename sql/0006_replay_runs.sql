-- Replays (`mlbsts replay`, mlbsts/reprocess.py): one row per run into this schema's
-- tables, the live schema or a table version (schema mlbsts_vN, mlbsts/versions.py).
-- A version whose every run has finished_at set is complete: only then can
-- `mlbsts replay promote` show it to readers.

CREATE TABLE replay_runs (
    run_id       bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    input_topic  text        NOT NULL,
    ranges       jsonb       NOT NULL,  -- {"<partition>": [start, end)} offsets read
    games        bigint[],              -- --games, null: every game in the ranges
    records      bigint      NOT NULL,  -- records in the ranges
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,           -- null: running, or stopped before the end
    snapshots    bigint                 -- snapshots processed (the --games filter applied)
);
