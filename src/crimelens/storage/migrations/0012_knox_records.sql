-- 0012: how a Knox run counted the store's records. 'incident' (the default from now on) leaves out the
-- further records of an incident already counted: the ids ID#2, ID#3, ... that an ingest numbered for a
-- repeated id (one row per victim or offence, as in Cincinnati's export, at jittered coordinates). Each
-- such row pairs with the first at a time gap of 0 and inflates the nearest bands. Runs stored before this
-- counted every record ('all').
ALTER TABLE nearrepeat_runs ADD COLUMN records VARCHAR DEFAULT 'all';
ALTER TABLE nearrepeat_runs ADD COLUMN n_records_left_out BIGINT DEFAULT 0;
