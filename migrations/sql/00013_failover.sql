-- +goose Up
-- Region failover (issue 15): a parent operation with one child operation
-- per secret. The children are ordinary operations in their secrets'
-- queues, so a failover step is ordered with every other operation on the
-- same secret.
ALTER TABLE operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_kind_check
    CHECK (kind IN ('replicate', 'remove', 'promote', 'failover', 'failback'));
-- A child's parent: the parent reads its children to report per-secret
-- progress and totals, and finishes when they all have.
ALTER TABLE operations ADD COLUMN parent_id uuid REFERENCES operations (id);
-- A child's steps: [{api, region, targets: [{region}], state, request_id,
-- message}]. KMS keys are not here: they travel sealed in params.
ALTER TABLE operations ADD COLUMN steps jsonb;
-- The parent's reads of its children (GetOperation, and each of the
-- parent's progress checks): only children are indexed.
CREATE INDEX operations_parent ON operations (parent_id) WHERE parent_id IS NOT NULL;

-- +goose Down
DROP INDEX operations_parent;
ALTER TABLE operations DROP COLUMN steps;
ALTER TABLE operations DROP COLUMN parent_id;
UPDATE operations SET state = 'cancelled', ended_at = coalesce(ended_at, now()),
    error_code = coalesce(error_code, 1), error_message = coalesce(error_message, 'failover dropped by a schema downgrade')
    WHERE kind IN ('failover', 'failback') AND state NOT IN ('succeeded', 'failed', 'cancelled');
DELETE FROM operations WHERE kind IN ('failover', 'failback');
ALTER TABLE operations DROP CONSTRAINT operations_kind_check;
ALTER TABLE operations ADD CONSTRAINT operations_kind_check
    CHECK (kind IN ('replicate', 'remove', 'promote'));
