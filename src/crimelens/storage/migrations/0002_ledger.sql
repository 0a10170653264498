-- 0002: the append-only usage ledger (RFC 6962 leaves; tree heads are computed from these).

CREATE TABLE ledger (
    seq        BIGINT PRIMARY KEY,          -- 0-based leaf index
    at_utc     TIMESTAMPTZ NOT NULL,
    action     VARCHAR NOT NULL,
    user_name  VARCHAR NOT NULL,
    outcome    VARCHAR NOT NULL,            -- 'ok' or 'refused'
    payload    VARCHAR NOT NULL,            -- canonical JSON of the entry: the bytes that are hashed
    leaf_hash  VARCHAR NOT NULL             -- hex SHA-256(0x00 || payload)
);
