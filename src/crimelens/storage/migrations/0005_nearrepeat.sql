-- 0005: near-repeat (Knox) runs and the alerts computed from them.

CREATE TABLE nearrepeat_runs (
    run_id          VARCHAR PRIMARY KEY,
    created_utc     TIMESTAMPTZ NOT NULL,
    user_name       VARCHAR NOT NULL,
    purpose         VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,         -- 'store' or the file path that was read
    dataset         VARCHAR,                  -- NULL for a file run
    offense         VARCHAR,                  -- NULL = all offenses of the input
    period_from     TIMESTAMPTZ,
    period_to       TIMESTAMPTZ,
    convention      VARCHAR NOT NULL,         -- 'nrc', 'standard' or 'pysal'
    distance_metric VARCHAR NOT NULL,         -- 'manhattan' or 'euclidean'
    time_of         VARCHAR NOT NULL,         -- which end of the incident window: from/mid/to
    n_events        BIGINT NOT NULL,
    n_permutations  INTEGER NOT NULL,
    seed            BIGINT,
    data_hash       VARCHAR NOT NULL,
    output_hash     VARCHAR NOT NULL,
    result_json     VARCHAR NOT NULL          -- KnoxResult.to_dict(), canonical JSON
);

CREATE TABLE nearrepeat_alerts (
    alert_id     VARCHAR PRIMARY KEY,
    created_utc  TIMESTAMPTZ NOT NULL,
    user_name    VARCHAR NOT NULL,
    purpose      VARCHAR NOT NULL,
    run_id       VARCHAR NOT NULL,            -- the Knox surface the alert was read from
    dataset      VARCHAR NOT NULL,
    incident_id  VARCHAR NOT NULL,
    n_elevated   INTEGER NOT NULL,
    n_cells      INTEGER NOT NULL,
    output_hash  VARCHAR NOT NULL,
    alert_json   VARCHAR NOT NULL
);
