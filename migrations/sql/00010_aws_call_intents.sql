-- +goose Up
-- aws_call_intents is the write-ahead record of replicad's mutating AWS
-- calls (ReplicateSecretToRegions, RemoveRegionsFromReplication,
-- StopReplicationToReplica). A row is committed before its call is sent and
-- completed with the outcome after the answer, so a call cut off by a crash
-- (kill -9 between sending and recording) is never invisible: its row stays
-- without an outcome, GetOperation shows it in aws_calls as "outcome
-- unknown", and the next execution adopts it (outcome 'unknown') and decides
-- from DescribeSecret whether anything is left to send. It holds Region
-- names and API names only: nothing sensitive.
CREATE TABLE aws_call_intents (
    id             uuid        PRIMARY KEY,
    operation_id   uuid        NOT NULL REFERENCES operations (id) ON DELETE CASCADE,
    -- The Secrets Manager action, and the Region the call is sent to.
    api            text        NOT NULL,
    aws_region     text        NOT NULL,
    -- The Regions the call names (AddReplicaRegions, RemoveReplicaRegions).
    target_regions text[]      NOT NULL DEFAULT '{}',
    started_at     timestamptz NOT NULL,
    -- NULL while the call is in flight or was cut off; 'succeeded' or
    -- 'failed' once its answer was recorded; 'unknown' once a later
    -- execution adopted a call cut off before its answer was recorded.
    outcome        text        CHECK (outcome IN ('succeeded', 'failed', 'unknown')),
    ended_at       timestamptz,
    -- AWS's x-amzn-RequestId of the last attempt, and its error code.
    request_id     text,
    error_code     text,
    CONSTRAINT aws_call_intents_outcome CHECK ((outcome IS NULL) = (ended_at IS NULL))
);

-- GetOperation and ListOperations show an operation's unfinished intents,
-- and an execution adopts them: both look them up by operation (partial:
-- completed rows are never looked up by it, and most rows are completed).
CREATE INDEX aws_call_intents_open ON aws_call_intents (operation_id) WHERE outcome IS NULL;

-- +goose Down
DROP TABLE aws_call_intents;
