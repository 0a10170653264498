-- 0013: how a forecast run counted the store's records. 'incident' (the default from now on) leaves out the
-- further records of an incident already counted (the ids ID#2, ID#3, ... that an ingest numbered for a
-- repeated id: one row per victim or offence, as in Cincinnati's export), in training and when the run is
-- scored. Runs stored before this counted every record ('all'). Backtests keep the same in their summary.
ALTER TABLE forecast_runs ADD COLUMN records VARCHAR DEFAULT 'all';
ALTER TABLE forecast_runs ADD COLUMN n_records_left_out BIGINT DEFAULT 0;
