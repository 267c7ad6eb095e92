-- +goose Up
-- Every index costs each accept an index insert and a share of its WAL
-- flush. Each index left on operations, audit_events and river_job is
-- justified by a query (docs/operations.md, "Indexes"); these two were not.
-- River's GIN indexes on a job's args and metadata serve River's job-list
-- filters by JSON containment, which replicad never runs: it reads its jobs
-- by id (store.StrandedActive joins on river_job.id) and River fetches by
-- state, queue and priority (river_job_prioritized_fetching_index). GIN
-- inserts are the most expensive kind. The queue's reindexer no longer
-- names them (queue.New).
DROP INDEX IF EXISTS river_job_args_index;
DROP INDEX IF EXISTS river_job_metadata_index;

-- +goose Down
CREATE INDEX IF NOT EXISTS river_job_args_index ON river_job USING GIN (args);
CREATE INDEX IF NOT EXISTS river_job_metadata_index ON river_job USING GIN (metadata);
