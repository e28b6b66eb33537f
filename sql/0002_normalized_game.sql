-- Normalized tier, game tables: what a feed/live snapshot says about a game, its venue,
-- teams, players, line score, lineups, officials and decisions.
--
-- Every row keeps the feed timestamp (``source_ts``, metaData.timeStamp) of the snapshot
-- that wrote it and is replaced only by a strictly newer one, so an old snapshot replayed
-- late changes nothing. The per-game tables (game_* and linescore_innings) hold the newest
-- snapshot's state: rows it no longer lists are removed when it is written.

CREATE TABLE venues (
    venue_id    bigint NOT NULL PRIMARY KEY,
    name        text,
    city        text,
    state       text,
    country     text,
    time_zone   text,
    capacity    integer,
    turf_type   text,
    roof_type   text,
    latitude    double precision,
    longitude   double precision,
    elevation   integer,
    source_ts   text   NOT NULL
);

CREATE TABLE teams (
    team_id        bigint NOT NULL PRIMARY KEY,
    name           text,
    abbreviation   text,
    team_name      text,
    location_name  text,
    league_id      bigint,
    division_id    bigint,
    venue_id       bigint,
    source_ts      text   NOT NULL
);

CREATE TABLE players (
    player_id         bigint NOT NULL PRIMARY KEY,
    full_name         text,
    first_name        text,
    last_name         text,
    boxscore_name     text,
    primary_number    text,
    birth_date        date,
    height            text,
    weight            integer,
    bat_side          text,
    pitch_hand        text,
    primary_position  text,
    mlb_debut_date    date,
    active            boolean,
    source_ts         text   NOT NULL
);

CREATE TABLE games (
    game_pk              bigint NOT NULL PRIMARY KEY,
    game_date            date   NOT NULL,
    season               text,
    game_type            text,
    double_header        text,
    game_number          integer,
    day_night            text,
    start_time           timestamptz,
    first_pitch          timestamptz,
    home_team_id         bigint,
    away_team_id         bigint,
    venue_id             bigint,
    abstract_game_state  text,
    detailed_state       text,
    coded_game_state     text,
    status_code          text,
    current_inning       integer,
    inning_half          text,
    scheduled_innings    integer,
    home_runs            integer,
    home_hits            integer,
    home_errors          integer,
    away_runs            integer,
    away_hits            integer,
    away_errors          integer,
    attendance           integer,
    duration_minutes     integer,
    weather_condition    text,
    weather_temp         text,
    weather_wind         text,
    official_scorer_id   bigint,
    source_ts            text   NOT NULL
);

CREATE INDEX games_date_idx ON games (game_date);

-- liveData.linescore.innings; runs is null while MLB shows none (half not over, no run).
CREATE TABLE linescore_innings (
    game_pk       bigint  NOT NULL,
    inning        integer NOT NULL,
    side          text    NOT NULL CHECK (side IN ('home', 'away')),
    runs          integer,
    hits          integer,
    errors        integer,
    left_on_base  integer,
    source_ts     text    NOT NULL,
    PRIMARY KEY (game_pk, inning, side)
);

-- liveData.boxscore.teams.<side>.players: who is on each team's game roster.
CREATE TABLE game_players (
    game_pk        bigint NOT NULL,
    player_id      bigint NOT NULL,
    side           text   NOT NULL CHECK (side IN ('home', 'away')),
    team_id        bigint,
    jersey_number  text,
    position       text,
    batting_order  text,
    status_code    text,
    is_substitute  boolean,
    source_ts      text   NOT NULL,
    PRIMARY KEY (game_pk, player_id)
);

-- The boxscore's per-team lists, in MLB's order (ordinal from 1): battingOrder,
-- batters, pitchers, bench, bullpen.
CREATE TABLE game_roster_lists (
    game_pk    bigint  NOT NULL,
    side       text    NOT NULL CHECK (side IN ('home', 'away')),
    list_name  text    NOT NULL
        CHECK (list_name IN ('battingOrder', 'batters', 'pitchers', 'bench', 'bullpen')),
    player_id  bigint  NOT NULL,
    ordinal    integer NOT NULL,
    source_ts  text    NOT NULL,
    PRIMARY KEY (game_pk, side, list_name, player_id)
);

CREATE VIEW batting_orders AS
    SELECT game_pk, side, ordinal AS slot, player_id, source_ts
    FROM game_roster_lists WHERE list_name = 'battingOrder';

CREATE TABLE game_officials (
    game_pk        bigint NOT NULL,
    official_type  text   NOT NULL,
    official_id    bigint NOT NULL,
    full_name      text,
    source_ts      text   NOT NULL,
    PRIMARY KEY (game_pk, official_type)
);

-- liveData.decisions (present once the game is decided).
CREATE TABLE game_decisions (
    game_pk    bigint NOT NULL PRIMARY KEY,
    winner_id  bigint,
    loser_id   bigint,
    save_id    bigint,
    source_ts  text   NOT NULL
);
