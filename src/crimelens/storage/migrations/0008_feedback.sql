-- 0008: feedback-loop simulations and exposure audits (crimelens.feedback), one row per run.
CREATE TABLE feedback_runs (
    run_id       VARCHAR PRIMARY KEY,
    kind         VARCHAR NOT NULL,          -- 'simulate' or 'exposure'
    scenario     VARCHAR NOT NULL,          -- ensign-urn, oakland, synthetic, planted-city, or the audited dataset
    created_at   TIMESTAMPTZ NOT NULL,
    user_name    VARCHAR NOT NULL,
    purpose      VARCHAR NOT NULL,
    params       VARCHAR NOT NULL,          -- JSON: every parameter needed to re-run it
    summary      VARCHAR NOT NULL,          -- JSON: the measured figures
    output_hash  VARCHAR NOT NULL,          -- SHA-256 of the full result (also in the ledger entry)
    ledger_seq   BIGINT,
    mark         VARCHAR
);
