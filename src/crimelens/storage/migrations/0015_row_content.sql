-- 0015: a hash of the content of each stored row whose id is FILE:LINE, and the distortion of an ingest's CRS.
--
-- A layout without an id column (chicago_code, police.uk's anti-social behaviour rows, Vancouver, Portland)
-- makes each id from the file name and line, so an updated export that repeats earlier rows gives them new
-- ids and the duplicate-id check cannot see them. incident_rows keeps, per such row, a 128-bit hash of its
-- content as stored (offense text, times, lon/lat, premise, area, source, narrative, M.O. and audit
-- attributes; crimelens.ingest._rowhash); an ingest quarantines a new row whose content matches a stored
-- row's, one stored row per copy.
-- A row is named by its ingest (and so its dataset) and line: its incident has that ingest_id and line.
CREATE TABLE incident_rows (
    ingest_id    VARCHAR NOT NULL,
    line         BIGINT NOT NULL,
    h1           UBIGINT NOT NULL,           -- the hash's two 64-bit words
    h2           UBIGINT NOT NULL
);

-- The ingests whose FILE:LINE rows are hashed, and how (crimelens.ingest._rowhash.ROW_HASH_SCHEME). An
-- ingest missing here (every ingest stored before this migration) has its rows hashed from what the store
-- holds at the next ingest into its dataset.
CREATE TABLE row_hash_ingests (
    ingest_id    VARCHAR NOT NULL,
    scheme       VARCHAR NOT NULL
);

-- The smallest and largest scale factor of the target CRS over the landed points (Tissot's indicatrix at
-- the corners, edge midpoints and centre of their box). NULL for ingests before this.
ALTER TABLE ingests ADD COLUMN crs_scale_min DOUBLE;
ALTER TABLE ingests ADD COLUMN crs_scale_max DOUBLE;
