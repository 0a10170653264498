-- 0009: evidence items (content-addressed), chain-of-custody events, redaction runs, their logs
-- and the human review queue. Clear-text PII is never stored here: logs keep hashes of redacted values.

CREATE TABLE evidence_items (
    item_id         VARCHAR PRIMARY KEY,     -- 'EV000001'
    case_id         VARCHAR NOT NULL,
    sha256          VARCHAR NOT NULL,        -- content address in the evidence folder
    size_bytes      BIGINT NOT NULL,
    mime_type       VARCHAR NOT NULL,
    original_name   VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,        -- where it came from (device, person, export)
    description     VARCHAR,
    added_at        TIMESTAMPTZ NOT NULL,
    added_by        VARCHAR NOT NULL,
    parent_item_id  VARCHAR,                 -- derivatives: the item they were made from
    parent_sha256   VARCHAR,
    derivation      VARCHAR,                 -- 'redacted', 'transcript', 'frame', ...; NULL for originals
    tool            VARCHAR,                 -- the tool that made a derivative
    tool_version    VARCHAR,
    tool_params     VARCHAR,                 -- JSON
    ledger_seq      BIGINT NOT NULL
);

CREATE TABLE evidence_custody (
    event_id     BIGINT PRIMARY KEY,
    item_id      VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,           -- intake | check_out | check_in | transfer
    from_party   VARCHAR,
    to_party     VARCHAR NOT NULL,
    event_time   TIMESTAMPTZ NOT NULL,       -- when it happened (may be before it was recorded)
    reason       VARCHAR,
    location     VARCHAR,
    recorded_at  TIMESTAMPTZ NOT NULL,
    recorded_by  VARCHAR NOT NULL,
    ledger_seq   BIGINT NOT NULL
);

CREATE TABLE redaction_runs (
    run_id         VARCHAR PRIMARY KEY,      -- 'RR000001'
    kind           VARCHAR NOT NULL,         -- text | image | video
    input_name     VARCHAR NOT NULL,
    input_sha256   VARCHAR NOT NULL,
    output_name    VARCHAR NOT NULL,
    output_sha256  VARCHAR NOT NULL,
    tool           VARCHAR NOT NULL,
    tool_version   VARCHAR NOT NULL,
    params         VARCHAR NOT NULL,         -- JSON
    n_units        BIGINT NOT NULL,          -- documents or frames
    n_detections   BIGINT NOT NULL,
    case_id        VARCHAR,
    source_item_id VARCHAR,
    output_item_id VARCHAR,
    status         VARCHAR NOT NULL,         -- pending_review | released
    created_at     TIMESTAMPTZ NOT NULL,
    created_by     VARCHAR NOT NULL,
    ledger_seq     BIGINT NOT NULL
);

CREATE TABLE redaction_log (
    run_id        VARCHAR NOT NULL,
    unit          VARCHAR NOT NULL,          -- report_id, or the frame number
    idx           INTEGER NOT NULL,          -- detection number within the unit
    type          VARCHAR NOT NULL,          -- PII type, or 'face' / 'plate'
    start_pos     BIGINT,                    -- text: character span
    end_pos       BIGINT,
    box_x         INTEGER,                   -- images: redacted box in pixels
    box_y         INTEGER,
    box_w         INTEGER,
    box_h         INTEGER,
    recogniser    VARCHAR NOT NULL,
    score         DOUBLE,
    replacement   VARCHAR,
    value_sha256  VARCHAR                    -- SHA-256 of the redacted text, never the text
);

CREATE TABLE redaction_review (
    run_id      VARCHAR NOT NULL,
    unit        VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,            -- pending | confirmed | corrected | rejected
    reviewer    VARCHAR,
    decided_at  TIMESTAMPTZ,
    correction  VARCHAR,                     -- JSON {"add": [[start, end, type]], "remove": [idx]}
    note        VARCHAR
);
