-- 0003: users, model registry, datasheets, deployments and their approvals, human review,
-- kill switch, incident reports, complaints. Every change here also has a ledger entry
-- (ledger_seq); counts in reports are recomputed from the ledger, not from these tables.

CREATE TABLE users (
    name          VARCHAR PRIMARY KEY,
    role          VARCHAR NOT NULL,
    token_id      VARCHAR NOT NULL,           -- public part of the token, for lookup
    token_sha256  VARCHAR NOT NULL,           -- SHA-256 of the whole token; the token itself is never stored
    active        BOOLEAN NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    VARCHAR NOT NULL
);

CREATE TABLE models (
    name                VARCHAR NOT NULL,
    version             VARCHAR NOT NULL,
    kind                VARCHAR,
    params              VARCHAR NOT NULL,     -- JSON
    training_dataset    VARCHAR,
    training_data_hash  VARCHAR,
    code_version        VARCHAR,
    artefact_hash       VARCHAR,
    evaluation          VARCHAR NOT NULL,     -- JSON: metrics, data, groups
    card_text           VARCHAR NOT NULL,     -- JSON: the free-text sections
    registered_at       TIMESTAMPTZ NOT NULL,
    registered_by       VARCHAR NOT NULL,
    ledger_seq          BIGINT,
    PRIMARY KEY (name, version)
);

CREATE TABLE datasheets (
    dataset     VARCHAR PRIMARY KEY,
    answers     VARCHAR NOT NULL,             -- JSON
    updated_at  TIMESTAMPTZ NOT NULL,
    updated_by  VARCHAR NOT NULL
);

CREATE TABLE deployments (
    name               VARCHAR PRIMARY KEY,
    model              VARCHAR NOT NULL,
    model_version      VARCHAR NOT NULL,
    description        VARCHAR NOT NULL,
    state              VARCHAR NOT NULL,
    policy             VARCHAR NOT NULL,      -- JSON UsePolicy
    assessment         VARCHAR,               -- JSON AIA result
    review_round       INTEGER NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    created_by         VARCHAR NOT NULL,
    comment_opened_at  TIMESTAMPTZ,
    review_opened_at   TIMESTAMPTZ,
    approved_at        TIMESTAMPTZ,
    approved_until     TIMESTAMPTZ,
    state_changed_at   TIMESTAMPTZ NOT NULL,
    state_reason       VARCHAR
);

CREATE TABLE deployment_events (
    deployment   VARCHAR NOT NULL,
    from_state   VARCHAR,
    to_state     VARCHAR NOT NULL,
    by_user      VARCHAR NOT NULL,
    by_role      VARCHAR NOT NULL,
    reason       VARCHAR,
    event_at     TIMESTAMPTZ NOT NULL,
    ledger_seq   BIGINT NOT NULL
);

CREATE TABLE deployment_comments (
    deployment   VARCHAR NOT NULL,
    stage        VARCHAR NOT NULL,            -- 'public' or 'board'
    author       VARCHAR NOT NULL,
    author_role  VARCHAR NOT NULL,
    body         VARCHAR NOT NULL,
    posted_at    TIMESTAMPTZ NOT NULL,
    ledger_seq   BIGINT NOT NULL
);

CREATE TABLE board_votes (
    deployment    VARCHAR NOT NULL,
    review_round  INTEGER NOT NULL,
    voter         VARCHAR NOT NULL,
    vote          VARCHAR NOT NULL,           -- 'approve', 'reject', 'abstain'
    reason        VARCHAR,
    voted_at      TIMESTAMPTZ NOT NULL,
    ledger_seq    BIGINT NOT NULL
);

CREATE TABLE review_items (
    item_id       VARCHAR PRIMARY KEY,
    deployment    VARCHAR,
    action        VARCHAR NOT NULL,
    source_seq    BIGINT NOT NULL,            -- the ledger entry of the recommendation
    requested_by  VARCHAR NOT NULL,
    summary       VARCHAR NOT NULL,           -- JSON
    status        VARCHAR NOT NULL,           -- 'pending', 'accepted', 'overridden', 'rejected'
    created_at    TIMESTAMPTZ NOT NULL,
    resolved_at   TIMESTAMPTZ
);

CREATE TABLE review_decisions (
    item_id      VARCHAR NOT NULL,
    reviewer     VARCHAR NOT NULL,
    decision     VARCHAR NOT NULL,            -- 'accept', 'override', 'reject'
    reason       VARCHAR NOT NULL,
    replacement  VARCHAR,                     -- JSON: what the reviewer decided instead (override)
    decided_at   TIMESTAMPTZ NOT NULL,
    ledger_seq   BIGINT NOT NULL
);

CREATE TABLE kill_switch (
    scope       VARCHAR PRIMARY KEY,          -- 'global'
    engaged     BOOLEAN NOT NULL,
    reason      VARCHAR,
    by_user     VARCHAR NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE incident_reports (
    report_id    VARCHAR PRIMARY KEY,
    deployment   VARCHAR,
    kind         VARCHAR NOT NULL,            -- 'error', 'harm', 'breach'
    severity     VARCHAR NOT NULL,            -- 'low', 'medium', 'high', 'critical'
    description  VARCHAR NOT NULL,
    reported_by  VARCHAR NOT NULL,
    reported_at  TIMESTAMPTZ NOT NULL,
    suspended    BOOLEAN NOT NULL,
    ledger_seq   BIGINT NOT NULL
);

CREATE TABLE complaints (
    complaint_id  VARCHAR PRIMARY KEY,
    deployment    VARCHAR,
    entry_seqs    VARCHAR NOT NULL,           -- JSON list of ledger sequence numbers complained about
    body          VARCHAR NOT NULL,
    complainant   VARCHAR NOT NULL,
    filed_at      TIMESTAMPTZ NOT NULL,
    status        VARCHAR NOT NULL,           -- 'open', 'answered'
    response      VARCHAR,
    ledger_seq    BIGINT NOT NULL
);
