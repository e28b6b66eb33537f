-- Live statistics (flows/stats_flow.py): the latest box score of each game and the
-- league-wide event-time windows. Writers upsert defensively: a row is replaced only by a
-- strictly newer source_ts (metaData.timeStamp, YYYYMMDD_HHMMSS, compares as text), so an
-- old or repeated record never overwrites newer data.

CREATE TABLE live_box_scores (
    game_pk              bigint      PRIMARY KEY,
    source_ts            text        NOT NULL,
    abstract_game_state  text,
    detailed_state       text,
    away_runs            integer     NOT NULL,
    away_hits            integer     NOT NULL,
    away_errors          integer     NOT NULL,
    home_runs            integer     NOT NULL,
    home_hits            integer     NOT NULL,
    home_errors          integer     NOT NULL,
    box                  jsonb       NOT NULL,  -- shape of `mlbsts boxscore` (gamePk, teams, linescore)
    linescore            jsonb       NOT NULL,  -- box->'linescore'
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stats_windows (
    window_start       timestamptz      PRIMARY KEY,
    window_end         timestamptz      NOT NULL,
    source_ts          text             NOT NULL,
    games              integer          NOT NULL,
    pitches            integer          NOT NULL,
    balls_in_play      integer          NOT NULL,
    exit_velocity_n    integer          NOT NULL,
    exit_velocity_avg  double precision,
    home_runs          integer          NOT NULL,
    updated_at         timestamptz      NOT NULL DEFAULT now()
);
