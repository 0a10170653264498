-- 0014: the SHA-256 of each ingested file's content: its decompressed bytes for a .gz, its own bytes
-- otherwise. A .gz and its unpacked CSV hold the same data; with this an ingest of one after the other
-- is recognised as already stored instead of landing every row twice (layouts without an id column
-- make ids from the file name and line, so the duplicate-id check cannot catch it). A plain file
-- stored before this keeps its own hash as its content's; a .gz stored before has none (NULL).
ALTER TABLE ingests ADD COLUMN content_sha256 VARCHAR;
UPDATE ingests SET content_sha256 = file_sha256 WHERE NOT lower(file) LIKE '%.gz';
