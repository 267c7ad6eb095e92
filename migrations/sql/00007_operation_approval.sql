-- +goose Up
-- Two-person approval: an operation the access policy says needs a second
-- person is accepted as 'awaiting_approval' and joins its secret's queue
-- (as 'pending') only once approved; unapproved, it is cancelled at
-- approval_expires_at by whichever replicad process sweeps first.
ALTER TABLE operations DROP CONSTRAINT operations_state_check;
ALTER TABLE operations ADD CONSTRAINT operations_state_check
    CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'awaiting_approval'));
-- {rule, requester, approver_groups, approvals: [{principal, time}],
--  expires_at, break_glass}: principals and group names only, nothing sensitive.
ALTER TABLE operations ADD COLUMN approval jsonb;
ALTER TABLE operations ADD COLUMN approval_expires_at timestamptz;
-- The expiry sweep: the few operations still waiting, soonest first.
CREATE INDEX operations_awaiting_approval ON operations (approval_expires_at)
    WHERE state = 'awaiting_approval';

-- Approval lifecycle and break-glass events in the audit trail.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_kind_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_kind_check
    CHECK (kind IN ('rpc', 'aws_call', 'approval', 'break_glass'));

-- +goose Down
ALTER TABLE audit_events DROP CONSTRAINT audit_events_kind_check;
-- The trail is append-only: events already written stay; only new ones are held to the old kinds.
ALTER TABLE audit_events ADD CONSTRAINT audit_events_kind_check CHECK (kind IN ('rpc', 'aws_call')) NOT VALID;
DROP INDEX operations_awaiting_approval;
ALTER TABLE operations DROP COLUMN approval_expires_at;
ALTER TABLE operations DROP COLUMN approval;
UPDATE operations SET state = 'cancelled', ended_at = coalesce(ended_at, now()),
    error_code = coalesce(error_code, 1), error_message = coalesce(error_message, 'approval dropped by a schema downgrade')
    WHERE state = 'awaiting_approval';
ALTER TABLE operations DROP CONSTRAINT operations_state_check;
ALTER TABLE operations ADD CONSTRAINT operations_state_check
    CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled'));
