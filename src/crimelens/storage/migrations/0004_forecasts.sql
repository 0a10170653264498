-- 0004: stored forecast runs (one row each, with the ledger entry that logged them), their
-- per-cell surfaces, and backtest summaries.

CREATE TABLE forecast_runs (
    run_id        VARCHAR PRIMARY KEY,
    created_at    TIMESTAMPTZ NOT NULL,
    user_name     VARCHAR NOT NULL,
    purpose       VARCHAR NOT NULL,
    dataset       VARCHAR,
    offense       VARCHAR,
    model         VARCHAR NOT NULL,             -- class name, e.g. TimeWeightedCounts
    model_version VARCHAR NOT NULL,
    params        VARCHAR NOT NULL,             -- JSON of get_params()
    window_start  TIMESTAMPTZ NOT NULL,
    window_end    TIMESTAMPTZ NOT NULL,
    area          VARCHAR NOT NULL,             -- JSON study-area definition
    crs           VARCHAR,
    n_cells       BIGINT NOT NULL,
    n_training    BIGINT NOT NULL,
    coverage      DOUBLE NOT NULL,              -- share of cells flagged
    data_hash     VARCHAR NOT NULL,             -- SHA-256 of the training incidents
    output_hash   VARCHAR NOT NULL,             -- SHA-256 of the surface (RiskSurface.hash)
    ledger_seq    BIGINT NOT NULL,
    mark          VARCHAR                       -- e.g. 'research — not for operational use'
);

CREATE TABLE forecast_cells (
    run_id   VARCHAR NOT NULL,
    cell     BIGINT NOT NULL,                   -- 0-based index in the study area
    cell_id  BIGINT NOT NULL,                   -- grid index (row-major from SW) or H3 index
    x_m      DOUBLE NOT NULL,                   -- cell centre, data CRS
    y_m      DOUBLE NOT NULL,
    risk     DOUBLE NOT NULL,                   -- expected recorded incidents in the window
    "rank"   BIGINT NOT NULL,                   -- 1 = highest; ties by ascending cell
    flagged  BOOLEAN NOT NULL
);

CREATE TABLE forecast_backtests (
    run_id        VARCHAR PRIMARY KEY,
    created_at    TIMESTAMPTZ NOT NULL,
    user_name     VARCHAR NOT NULL,
    purpose       VARCHAR NOT NULL,
    dataset       VARCHAR,
    offense       VARCHAR,
    models        VARCHAR NOT NULL,             -- JSON list
    summary       VARCHAR NOT NULL,             -- JSON: BacktestResult.summary()
    data_hash     VARCHAR NOT NULL,
    output_hash   VARCHAR NOT NULL,
    ledger_seq    BIGINT NOT NULL
);
