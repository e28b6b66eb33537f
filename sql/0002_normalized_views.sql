-- Box score views over the normalized event tables (retracted rows excluded), with MLB's
-- field names (liveData.boxscore.teams.<side>.players.ID<n>.stats.batting|pitching).
--
-- The scoring rules are those of flows/game/boxscore.py, checked there against MLB's official
-- box score of every game in the corpus:
-- - a plate appearance is a completed play whose eventType is not a base-running event
--   (caught stealing, pickoff, wild pitch, ...) and, when the play lists runner
--   movements, in which the batter moved from home (start_base 'B');
-- - at-bats exclude walks (intentional included), hit by pitch, sacrifices, interference;
-- - a player entering the batting order by substitution has a (maybe all-zero) line;
-- - the batter's result is charged to the play's pitcher; outs to the pitcher on the
--   mound at the event that made them; runs (and earned runs, when MLB marks the run
--   earned) to the runner's responsible pitcher, else the pitcher on the mound;
-- - numberOfPitches counts thrown pitches only; strikes, those that are strikes or put
--   in play.

CREATE VIEW plate_appearances AS
    SELECT p.*,
           CASE WHEN p.half_inning = 'top' THEN 'away' ELSE 'home' END AS bat_side,
           CASE WHEN p.half_inning = 'top' THEN 'home' ELSE 'away' END AS field_side
    FROM plays AS p
    WHERE NOT p.retracted
      AND p.event_type IS NOT NULL
      AND p.event_type !~ ('^(caught_stealing|pickoff|stolen_base|wild_pitch|passed_ball'
                           '|balk|other_advance|defensive_indiff|runner_double_play'
                           '|forced_balk)')
      AND (
          NOT EXISTS (
              SELECT 1 FROM runner_events AS r
              WHERE r.game_pk = p.game_pk AND r.at_bat_index = p.at_bat_index
                AND NOT r.retracted
          )
          OR EXISTS (
              SELECT 1 FROM runner_events AS r
              WHERE r.game_pk = p.game_pk AND r.at_bat_index = p.at_bat_index
                AND NOT r.retracted AND r.start_base = 'B' AND r.runner_id = p.batter_id
          )
      );

CREATE VIEW boxscore_batting AS
    WITH lines (
        game_pk, side, person_id, at_bats, runs, hits, doubles, triples, home_runs, rbi,
        walks, strikeouts, hit_by_pitch, stolen_bases
    ) AS (
        SELECT game_pk, bat_side, batter_id,
               (event_type NOT IN ('walk', 'intent_walk', 'hit_by_pitch', 'sac_fly',
                                   'sac_bunt', 'sac_fly_double_play',
                                   'sac_bunt_double_play', 'catcher_interf',
                                   'fielders_interference'))::integer,
               0,
               (event_type IN ('single', 'double', 'triple', 'home_run'))::integer,
               (event_type = 'double')::integer,
               (event_type = 'triple')::integer,
               (event_type = 'home_run')::integer,
               rbi,
               (event_type IN ('walk', 'intent_walk'))::integer,
               (event_type IN ('strikeout', 'strikeout_double_play',
                               'strikeout_triple_play'))::integer,
               (event_type = 'hit_by_pitch')::integer,
               0
        FROM plate_appearances
        UNION ALL
        SELECT game_pk,
               CASE WHEN (half_inning = 'top') = (action = 'offensive_substitution')
                    THEN 'away' ELSE 'home' END,
               player_id, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        FROM game_actions
        WHERE NOT retracted AND is_substitution
          AND batting_order IS NOT NULL AND half_inning IS NOT NULL
        UNION ALL
        SELECT game_pk,
               CASE WHEN half_inning = 'top' THEN 'away' ELSE 'home' END,
               runner_id, 0, (end_base IS NOT DISTINCT FROM 'score')::integer,
               0, 0, 0, 0, 0, 0, 0, 0,
               (coalesce(movement_reason, '') LIKE 'r\_stolen\_base%')::integer
        FROM runner_events
        WHERE NOT retracted
          AND (end_base = 'score' OR movement_reason LIKE 'r\_stolen\_base%')
    )
    SELECT game_pk, side, person_id,
           sum(at_bats)::integer      AS "atBats",
           sum(runs)::integer         AS "runs",
           sum(hits)::integer         AS "hits",
           sum(doubles)::integer      AS "doubles",
           sum(triples)::integer      AS "triples",
           sum(home_runs)::integer    AS "homeRuns",
           sum(rbi)::integer          AS "rbi",
           sum(walks)::integer        AS "baseOnBalls",
           sum(strikeouts)::integer   AS "strikeOuts",
           sum(hit_by_pitch)::integer AS "hitByPitch",
           sum(stolen_bases)::integer AS "stolenBases"
    FROM lines
    WHERE person_id IS NOT NULL
    GROUP BY game_pk, side, person_id;

CREATE VIEW boxscore_pitching AS
    WITH lines (
        game_pk, side, person_id, outs, hits, runs, earned_runs, walks, strikeouts,
        home_runs, pitches, strikes, batters_faced
    ) AS (
        SELECT game_pk, field_side, pitcher_id, 0,
               (event_type IN ('single', 'double', 'triple', 'home_run'))::integer,
               0, 0,
               (event_type IN ('walk', 'intent_walk'))::integer,
               (event_type IN ('strikeout', 'strikeout_double_play',
                               'strikeout_triple_play'))::integer,
               (event_type = 'home_run')::integer,
               0, 0, 1
        FROM plate_appearances
        UNION ALL
        SELECT game_pk,
               CASE WHEN half_inning = 'top' THEN 'home' ELSE 'away' END,
               pitcher_id, 0, 0, 0, 0, 0, 0, 0, 1, (is_strike OR is_in_play)::integer, 0
        FROM pitch_events
        WHERE NOT retracted AND is_pitch
        UNION ALL
        SELECT game_pk,
               CASE WHEN half_inning = 'top' THEN 'home' ELSE 'away' END,
               pitcher_id, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0
        FROM runner_events
        WHERE NOT retracted AND is_out
        UNION ALL
        SELECT game_pk,
               CASE WHEN half_inning = 'top' THEN 'home' ELSE 'away' END,
               coalesce(responsible_pitcher_id, pitcher_id),
               0, 0, 1, earned::integer, 0, 0, 0, 0, 0, 0
        FROM runner_events
        WHERE NOT retracted AND end_base = 'score'
    )
    SELECT game_pk, side, person_id,
           sum(outs)::integer          AS "outs",
           sum(hits)::integer          AS "hits",
           sum(runs)::integer          AS "runs",
           sum(earned_runs)::integer   AS "earnedRuns",
           sum(walks)::integer         AS "baseOnBalls",
           sum(strikeouts)::integer    AS "strikeOuts",
           sum(home_runs)::integer     AS "homeRuns",
           sum(pitches)::integer       AS "numberOfPitches",
           sum(strikes)::integer       AS "strikes",
           sum(batters_faced)::integer AS "battersFaced"
    FROM lines
    WHERE person_id IS NOT NULL
    GROUP BY game_pk, side, person_id;
