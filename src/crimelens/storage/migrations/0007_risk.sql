-- 0007: fitted risk models and fairness-audit reports (issue 6).

CREATE TABLE risk_models (
    model_id       VARCHAR PRIMARY KEY,      -- 'rm-' + first 12 hex of the artefact hash
    kind           VARCHAR NOT NULL,         -- PointScore, RuleList, LogisticRisk
    created_utc    TIMESTAMPTZ NOT NULL,
    user_name      VARCHAR NOT NULL,
    label          VARCHAR NOT NULL,         -- the label column it was fitted on
    features       VARCHAR NOT NULL,         -- JSON list of feature columns, in order
    params         VARCHAR NOT NULL,         -- JSON get_params()
    data_file      VARCHAR,
    data_hash      VARCHAR NOT NULL,         -- sha256 of the training file
    n_train        BIGINT NOT NULL,
    card           VARCHAR NOT NULL,         -- JSON: the model card (tables, measured figures)
    artefact       BLOB NOT NULL,            -- pickled fitted estimator
    artefact_hash  VARCHAR NOT NULL,         -- sha256 of artefact, checked before unpickling
    ledger_seq     BIGINT
);

CREATE TABLE audit_reports (
    report_id      VARCHAR PRIMARY KEY,      -- 'ar-' + first 12 hex of the JSON hash
    created_utc    TIMESTAMPTZ NOT NULL,
    user_name      VARCHAR NOT NULL,
    data_file      VARCHAR,
    data_hash      VARCHAR NOT NULL,
    score_name     VARCHAR NOT NULL,
    label_name     VARCHAR NOT NULL,
    group_columns  VARCHAR NOT NULL,         -- JSON list
    threshold      DOUBLE NOT NULL,
    model_id       VARCHAR,                  -- when the score came from a stored risk model
    report_json    VARCHAR NOT NULL,
    json_hash      VARCHAR NOT NULL,
    html_hash      VARCHAR,
    html_file      VARCHAR,
    ledger_seq     BIGINT
);
