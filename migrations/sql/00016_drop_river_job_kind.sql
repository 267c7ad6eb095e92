-- +goose Up
-- River's index on river_job (kind) serves its job queries filtered by kind
-- (JobGetByKindMany; fetches restricted to kinds), which replicad never
-- runs: it reads its jobs by id (store.StrandedActive joins on
-- river_job.id) and River fetches by state, queue and priority
-- (river_job_prioritized_fetching_index). replicad has a single job kind
-- besides, replicad.operation, so the index holds one key and could narrow
-- no query down. Every accept paid an insert into it; the queue's
-- reindexer no longer names it (queue.New). River's later migrations do
-- not refer to it (only 002 creates it).
DROP INDEX IF EXISTS river_job_kind;

-- +goose Down
CREATE INDEX IF NOT EXISTS river_job_kind ON river_job USING btree (kind);
