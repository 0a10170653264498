-- 0011: mapping files kept in the store, so that an export of an agency's own records system can be
-- loaded through the service (POST /api/datasets/{dataset}/files?mapping=NAME) while it holds the
-- store. Every version is kept; an upload uses the newest.
CREATE TABLE ingest_mappings (
    name        VARCHAR NOT NULL,
    version     INTEGER NOT NULL,
    toml        VARCHAR NOT NULL,
    sha256      VARCHAR NOT NULL,
    added_at    TIMESTAMPTZ NOT NULL,
    added_by    VARCHAR NOT NULL,
    ledger_seq  BIGINT NOT NULL,
    PRIMARY KEY (name, version)
);
