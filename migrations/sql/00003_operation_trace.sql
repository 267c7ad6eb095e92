-- +goose Up
-- The W3C traceparent of the request that accepted the operation: workers
-- continue that trace, so one trace runs from the RPC through the queue to
-- the AWS calls, even when the job was enqueued by another operation.
ALTER TABLE operations ADD COLUMN trace_parent text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE operations DROP COLUMN trace_parent;
