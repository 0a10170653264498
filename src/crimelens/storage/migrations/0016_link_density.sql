-- 0016: a dataset's candidate pairs under a linker's blocking, kept so that a one-shot `link similar`
-- (the CLI) reads the density its warning compares with the linker's training data instead of
-- indexing the whole dataset on every query (seconds on a city of a million incidents).
-- Incidents are only ever added, so a row holds while the dataset has n_records stored records.
CREATE TABLE link_density (
    dataset            VARCHAR NOT NULL,
    linker_sha256      VARCHAR NOT NULL,  -- the linker artefact's hash: its blocking and offense families
    n_records          BIGINT NOT NULL,   -- records stored when counted (the key's freshness)
    n_incidents        BIGINT NOT NULL,   -- incidents counted (each once: further records ID#2 left out)
    n_candidate_pairs  DOUBLE NOT NULL,   -- counted, or estimated from a seeded sample (sampled)
    sampled            BOOLEAN NOT NULL,
    computed_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dataset, linker_sha256, n_records)
);
