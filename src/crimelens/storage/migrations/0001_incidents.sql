-- 0001: incidents, their provenance, quarantined rows, audit-only attributes, areas.

CREATE TABLE ingests (
    ingest_id            VARCHAR PRIMARY KEY,
    dataset              VARCHAR NOT NULL,
    file                 VARCHAR NOT NULL,
    file_sha256          VARCHAR NOT NULL,
    file_bytes           BIGINT NOT NULL,
    reader               VARCHAR NOT NULL,
    mapping              VARCHAR,            -- the TOML mapping used, verbatim
    crs_from             VARCHAR,
    crs_to               VARCHAR,
    transform            VARCHAR,            -- PROJ pipeline description
    transform_accuracy_m DOUBLE,             -- PROJ's stated accuracy; NULL if unknown
    n_read               BIGINT NOT NULL,
    n_landed             BIGINT NOT NULL,
    n_quarantined        BIGINT NOT NULL,
    started_at           TIMESTAMPTZ NOT NULL,
    finished_at          TIMESTAMPTZ NOT NULL,
    user_name            VARCHAR NOT NULL,
    notes                VARCHAR
);

CREATE TABLE incidents (
    dataset        VARCHAR NOT NULL,
    incident_id    VARCHAR NOT NULL,
    offense        VARCHAR NOT NULL,
    offense_raw    VARCHAR,
    occurred_from  TIMESTAMPTZ NOT NULL,
    occurred_to    TIMESTAMPTZ NOT NULL,
    reported_at    TIMESTAMPTZ,
    x_m            DOUBLE NOT NULL,
    y_m            DOUBLE NOT NULL,
    lon            DOUBLE,
    lat            DOUBLE,
    crs            VARCHAR NOT NULL,
    premise        VARCHAR,
    area           VARCHAR,
    source         VARCHAR NOT NULL,
    narrative      VARCHAR,
    attrs          VARCHAR,                  -- JSON object of M.O. attributes
    ingest_id      VARCHAR NOT NULL,
    line           BIGINT NOT NULL           -- 1-based line (or record) number in the file
);

-- Audit-only attributes (protected attributes, demographics): never joined into features.
CREATE TABLE audit_attributes (
    dataset      VARCHAR NOT NULL,
    incident_id  VARCHAR NOT NULL,
    name         VARCHAR NOT NULL,
    value        VARCHAR,
    ingest_id    VARCHAR NOT NULL
);

CREATE TABLE quarantine (
    ingest_id  VARCHAR NOT NULL,
    file       VARCHAR NOT NULL,
    line       BIGINT NOT NULL,
    "column"   VARCHAR,
    value      VARCHAR,
    reason     VARCHAR NOT NULL,
    raw        VARCHAR                      -- the row as read, JSON
);

CREATE TABLE areas (
    dataset     VARCHAR NOT NULL,
    area_id     VARCHAR NOT NULL,
    name        VARCHAR,
    population  BIGINT,
    crs         VARCHAR NOT NULL,
    wkt         VARCHAR NOT NULL,
    audit       VARCHAR,                     -- JSON: demographic composition etc. (audit only)
    ingest_id   VARCHAR
);
