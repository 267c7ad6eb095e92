-- +goose Up
-- replication_policies holds the fleet's desired state (issue 14): each row
-- selects secrets from the inventory and says which Regions, with which KMS
-- keys, they must be replicated to. The specification is one JSON document
-- (engine.PolicySpec), replaced whole on every update; etag changes with it
-- (AIP-154). Account ids in the selector and KMS key ARNs are sensitive in
-- the API's logs and audit, as the inventory's ARNs are; they are stored as
-- the inventory stores them.
CREATE TABLE replication_policies (
    name        text        PRIMARY KEY,
    spec        jsonb       NOT NULL,
    etag        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- The principal that last created or updated the policy.
    updated_by  text        NOT NULL,
    -- When a reconciliation round last ran for the policy, by whichever
    -- process: the next round may create as many operations as the
    -- policy's share of the write budget allows for the time since.
    reconciled_at timestamptz
);

-- The policy whose reconciliation created an operation; NULL for an
-- interactive request.
ALTER TABLE operations ADD COLUMN origin_policy text;

-- Never a second operation for the same drift while one is in flight: at
-- most one active operation of each kind per (policy, secret), whichever
-- process or restart creates it. Partial, so interactive accepts (origin
-- NULL) never insert into it.
CREATE UNIQUE INDEX operations_policy_active ON operations (origin_policy, secret_key, kind)
    WHERE origin_policy IS NOT NULL AND state IN ('pending', 'running', 'awaiting_approval');
-- Policy status: a policy's operations counted by state.
CREATE INDEX operations_policy_state ON operations (origin_policy, state, ended_at)
    WHERE origin_policy IS NOT NULL;

-- +goose Down
DROP INDEX operations_policy_state;
DROP INDEX operations_policy_active;
ALTER TABLE operations DROP COLUMN origin_policy;
DROP TABLE replication_policies;
