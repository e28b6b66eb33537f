-- Normalized tier, event tables: one row per event identity (docs/architecture.md section 2).
--
-- Every table's primary key is the event's natural identity, ``event_id`` (stable, built
-- from that identity) is unique too, and ``revision``/``source_ts`` say which version the
-- row holds. Writers upsert defensively: a row is replaced only by a version with a newer
-- ``source_ts`` (the feed's metaData.timeStamp, YYYYMMDD_HHMMSS, sortable as text), or the
-- same ``source_ts`` and a higher ``revision``. A retraction sets ``retracted`` under the
-- same guard; rows are never deleted. No foreign keys: events and game tables come from
-- different sinks, in any order.

CREATE TABLE plays (
    game_pk          bigint  NOT NULL,
    at_bat_index     integer NOT NULL,
    inning           integer NOT NULL,
    half_inning      text    NOT NULL,
    event_type       text,
    event            text,
    description      text,
    rbi              integer NOT NULL,
    is_out           boolean NOT NULL,
    outs             integer NOT NULL,
    away_score       integer NOT NULL,
    home_score       integer NOT NULL,
    batter_id        bigint,
    pitcher_id       bigint,
    is_scoring_play  boolean NOT NULL,
    has_review       boolean NOT NULL,
    start_time       timestamptz,
    end_time         timestamptz,
    event_id         text    NOT NULL UNIQUE,
    revision         integer NOT NULL,
    source_ts        text    NOT NULL,
    retracted        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (game_pk, at_bat_index)
);

-- Pitches and pitch-like events (pickoffs, step-offs, automatic balls/strikes); MLB's
-- pitchData and hitData flattened (coordinates.pX/pZ as plate_x/plate_z), raw dicts kept.
CREATE TABLE pitch_events (
    game_pk                 bigint  NOT NULL,
    at_bat_index            integer NOT NULL,
    play_event_index        integer NOT NULL,
    play_id                 text,
    type                    text    NOT NULL,
    is_pitch                boolean NOT NULL,
    pitch_number            integer,
    inning                  integer NOT NULL,
    half_inning             text    NOT NULL,
    code                    text,
    description             text,
    is_strike               boolean NOT NULL,
    is_ball                 boolean NOT NULL,
    is_in_play              boolean NOT NULL,
    is_out                  boolean NOT NULL,
    balls_before            integer NOT NULL,
    strikes_before          integer NOT NULL,
    outs_before             integer NOT NULL,
    balls_after             integer NOT NULL,
    strikes_after           integer NOT NULL,
    outs_after              integer NOT NULL,
    pitcher_id              bigint,
    batter_id               bigint,
    pitch_type              text,
    start_speed             double precision,
    end_speed               double precision,
    strike_zone_top         double precision,
    strike_zone_bottom      double precision,
    zone                    integer,
    type_confidence         double precision,
    plate_time              double precision,
    extension               double precision,
    spin_rate               double precision,
    spin_direction          double precision,
    break_angle             double precision,
    break_length            double precision,
    break_y                 double precision,
    break_vertical          double precision,
    break_vertical_induced  double precision,
    break_horizontal        double precision,
    plate_x                 double precision,
    plate_z                 double precision,
    pfx_x                   double precision,
    pfx_z                   double precision,
    x0                      double precision,
    y0                      double precision,
    z0                      double precision,
    vx0                     double precision,
    vy0                     double precision,
    vz0                     double precision,
    ax                      double precision,
    ay                      double precision,
    az                      double precision,
    launch_speed            double precision,
    launch_angle            double precision,
    total_distance          double precision,
    trajectory              text,
    hardness                text,
    hit_location            text,
    hit_coord_x             double precision,
    hit_coord_y             double precision,
    pitch_data              jsonb,
    hit_data                jsonb,
    start_time              timestamptz,
    end_time                timestamptz,
    event_id                text    NOT NULL UNIQUE,
    revision                integer NOT NULL,
    source_ts               text    NOT NULL,
    retracted               boolean NOT NULL DEFAULT false,
    PRIMARY KEY (game_pk, at_bat_index, play_event_index)
);

CREATE INDEX pitch_events_pitcher_idx ON pitch_events (pitcher_id, game_pk);

-- Runner movements. start_base 'B' is the batter starting from home (MLB's null, as in
-- event_id); play_event_index -1 when MLB names no play event; occurrence > 1 when MLB
-- lists the same runner, start and play event again (event_id suffix :2, :3 ...).
CREATE TABLE runner_events (
    game_pk                 bigint   NOT NULL,
    at_bat_index            integer  NOT NULL,
    play_event_index        integer  NOT NULL,
    runner_id               bigint   NOT NULL,
    start_base              text     NOT NULL,
    occurrence              smallint NOT NULL,
    end_base                text,
    out_base                text,
    is_out                  boolean  NOT NULL,
    out_number              integer,
    is_scoring_event        boolean  NOT NULL,
    rbi                     boolean  NOT NULL,
    earned                  boolean  NOT NULL,
    team_unearned           boolean  NOT NULL,
    responsible_pitcher_id  bigint,
    pitcher_id              bigint,
    inning                  integer  NOT NULL,
    half_inning             text     NOT NULL,
    event_type              text,
    event                   text,
    movement_reason         text,
    error_fielder_ids       bigint[] NOT NULL,
    event_id                text     NOT NULL UNIQUE,
    revision                integer  NOT NULL,
    source_ts               text     NOT NULL,
    retracted               boolean  NOT NULL DEFAULT false,
    PRIMARY KEY (game_pk, at_bat_index, play_event_index, runner_id, start_base, occurrence)
);

-- Actions within plays: substitutions, mound visits, ejections, ...
CREATE TABLE game_actions (
    game_pk             bigint  NOT NULL,
    at_bat_index        integer NOT NULL,
    play_event_index    integer NOT NULL,
    action              text    NOT NULL,
    inning              integer,
    half_inning         text,
    description         text,
    player_id           bigint,
    replaced_player_id  bigint,
    position            text,
    batting_order       text,
    is_substitution     boolean NOT NULL,
    event_id            text    NOT NULL UNIQUE,
    revision            integer NOT NULL,
    source_ts           text    NOT NULL,
    retracted           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (game_pk, at_bat_index, play_event_index)
);

-- Replay reviews, one per play (MLB's reviewDetails).
CREATE TABLE reviews (
    game_pk            bigint  NOT NULL,
    at_bat_index       integer NOT NULL,
    inning             integer,
    half_inning        text,
    review_type        text,
    is_overturned      boolean,
    in_progress        boolean,
    challenge_team_id  bigint,
    review             jsonb   NOT NULL,
    event_id           text    NOT NULL UNIQUE,
    revision           integer NOT NULL,
    source_ts          text    NOT NULL,
    retracted          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (game_pk, at_bat_index)
);

-- The game-status event: one row per game, its revisions are the status changes.
CREATE TABLE game_status (
    game_pk              bigint  NOT NULL PRIMARY KEY,
    abstract_game_state  text,
    detailed_state       text,
    coded_game_state     text,
    home_team_id         bigint,
    away_team_id         bigint,
    event_id             text    NOT NULL UNIQUE,
    revision             integer NOT NULL,
    source_ts            text    NOT NULL,
    retracted            boolean NOT NULL DEFAULT false
);

CREATE VIEW scoring_plays AS
    SELECT * FROM plays WHERE is_scoring_play AND NOT retracted;

CREATE VIEW substitutions AS
    SELECT * FROM game_actions WHERE is_substitution AND NOT retracted;
