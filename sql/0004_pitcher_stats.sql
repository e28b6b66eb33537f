-- Per-pitcher live statistics (flows/stats/pitchers.py, PitcherStats; also on mlb.stats.live
-- as records of kind "pitcher"): one row per (game, pitcher) with his latest figures.
-- Writers upsert defensively: a row is replaced only by a strictly newer source_ts
-- (metaData.timeStamp, YYYYMMDD_HHMMSS, compares as text), so an old or repeated record
-- never overwrites newer data.

CREATE TABLE pitcher_live_stats (
    game_pk           bigint           NOT NULL,
    pitcher_id        bigint           NOT NULL,
    source_ts         text             NOT NULL,
    pitches           integer          NOT NULL,  -- thrown pitches (MLB's numberOfPitches)
    last_n            integer          NOT NULL,  -- tracked speeds in the rolling sample (<= 15)
    velo_mean         double precision,           -- mean startSpeed of his last 15 tracked pitches
    velo_max          double precision,
    window_start      timestamptz,                -- 5-minute event-time window of his latest pitch
    window_pitches    integer          NOT NULL,
    window_velo_mean  double precision,
    window_velo_max   double precision,
    fastballs         integer          NOT NULL,  -- tracked FF/SI/FT
    fb_baseline       double precision,           -- mean of his first 15 fastballs
    fb_recent         double precision,           -- mean of his last 15 fastballs
    fatigue           boolean          NOT NULL,  -- >= 30 fastballs and baseline - recent >= 1.5 mph
    updated_at        timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (game_pk, pitcher_id)
);
