-- 0002: the append-only usage ledger (RFC 6962 leaves), its signed tree heads and signing keys.
--
-- payload is the exact byte string hashed as the RFC 6962 leaf: canonical JSON of the entry with
-- its 0-based sequence number as the first key ({"seq":N,...}). The query columns are virtual:
-- DuckDB computes them from the payload, so they cannot disagree with it.

CREATE TABLE ledger (
    seq         BIGINT NOT NULL,             -- 0-based leaf index (unique: appends serialise on ledger_tip)
    payload     BLOB NOT NULL,               -- the leaf data: {"seq":N, ...sorted fields}
    leaf_hash   BLOB NOT NULL,               -- SHA-256(0x00 || payload), 32 bytes
    -- query columns, computed from the payload on read (never stored, so never out of step)
    at_utc      TIMESTAMPTZ GENERATED ALWAYS AS (try(CAST(json_extract_string(try(decode(payload)), '$.at') AS TIMESTAMPTZ))) VIRTUAL,
    action      VARCHAR GENERATED ALWAYS AS (try(json_extract_string(try(decode(payload)), '$.action'))) VIRTUAL,
    user_name   VARCHAR GENERATED ALWAYS AS (try(json_extract_string(try(decode(payload)), '$.user'))) VIRTUAL,
    role        VARCHAR GENERATED ALWAYS AS (try(json_extract_string(try(decode(payload)), '$.role'))) VIRTUAL,
    purpose     VARCHAR GENERATED ALWAYS AS (try(json_extract_string(try(decode(payload)), '$.purpose'))) VIRTUAL,
    outcome     VARCHAR GENERATED ALWAYS AS (try(json_extract_string(try(decode(payload)), '$.outcome'))) VIRTUAL,
    deployment  VARCHAR GENERATED ALWAYS AS (try(json_extract_string(try(decode(payload)), '$.deployment'))) VIRTUAL
);

-- One signed tree head per appending transaction.
CREATE TABLE ledger_heads (
    tree_size     BIGINT PRIMARY KEY,
    root_hash     BLOB NOT NULL,
    timestamp_ms  BIGINT NOT NULL,
    key_id        VARCHAR NOT NULL,
    signature     BLOB NOT NULL
);

-- The tip of the log: its size and the compact range (roots of the perfect subtrees, largest
-- first) that lets an append compute the new root in O(log n) without reading old leaves.
CREATE TABLE ledger_tip (
    id         INTEGER PRIMARY KEY,          -- always 1
    tree_size  BIGINT NOT NULL,
    frontier   BLOB NOT NULL
);

CREATE TABLE ledger_keys (
    key_id      VARCHAR PRIMARY KEY,
    public_key  BLOB NOT NULL,               -- raw Ed25519 public key, 32 bytes
    created_at  TIMESTAMPTZ NOT NULL
);
