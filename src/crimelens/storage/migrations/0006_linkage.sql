-- 0006: crime-series linkage: trained linkers, scored pairs, candidate series, analyst series labels.

CREATE TABLE link_models (
    linker_id              VARCHAR PRIMARY KEY,
    dataset                VARCHAR NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    user_name              VARCHAR NOT NULL,
    label_source           VARCHAR NOT NULL,   -- e.g. 'attrs.series_id + analyst labels'
    cutoff                 TIMESTAMPTZ,        -- trained on labelled incidents before this time
    params                 VARCHAR NOT NULL,   -- JSON of get_params()
    features               VARCHAR NOT NULL,   -- JSON list of feature names
    training               VARCHAR NOT NULL,   -- JSON counts of the training pairs
    evaluation             VARCHAR,            -- JSON held-out figures (after the cutoff)
    protected_descriptors  VARCHAR NOT NULL,   -- JSON list; '[]' unless the audited option was enabled
    artefact               BLOB NOT NULL,      -- the pickled PairwiseLinker
    artefact_sha256        VARCHAR NOT NULL
);

CREATE TABLE link_runs (
    run_id        VARCHAR PRIMARY KEY,
    linker_id     VARCHAR NOT NULL,
    dataset       VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL,            -- 'pairs' or 'series'
    created_at    TIMESTAMPTZ NOT NULL,
    user_name     VARCHAR NOT NULL,
    purpose       VARCHAR NOT NULL,
    params        VARCHAR NOT NULL,            -- JSON
    n_candidates  BIGINT NOT NULL,             -- candidate pairs scored
    n_rows        BIGINT NOT NULL,             -- pairs or series kept
    output_hash   VARCHAR NOT NULL
);

CREATE TABLE link_pairs (
    run_id         VARCHAR NOT NULL,
    incident_id_a  VARCHAR NOT NULL,
    incident_id_b  VARCHAR NOT NULL,
    score          DOUBLE NOT NULL,            -- calibrated link probability
    cheap_score    DOUBLE NOT NULL             -- first-pass probability
);

CREATE TABLE link_series (
    run_id      VARCHAR NOT NULL,
    series_id   VARCHAR NOT NULL,
    n_members   INTEGER NOT NULL,
    first_from  TIMESTAMPTZ NOT NULL,
    last_to     TIMESTAMPTZ NOT NULL,
    cohesion    DOUBLE NOT NULL,
    summary     VARCHAR NOT NULL               -- JSON: common M.O., area, span
);

CREATE TABLE link_series_members (
    run_id       VARCHAR NOT NULL,
    series_id    VARCHAR NOT NULL,
    incident_id  VARCHAR NOT NULL,
    position     INTEGER NOT NULL,             -- time order within the series
    explanation  VARCHAR NOT NULL              -- JSON: mean/strongest link and its drivers
);

-- Series membership recorded by an analyst after ingest (an offender id, a confirmed pattern).
CREATE TABLE series_labels (
    dataset      VARCHAR NOT NULL,
    incident_id  VARCHAR NOT NULL,
    label        VARCHAR NOT NULL,
    recorded_by  VARCHAR NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    note         VARCHAR
);
