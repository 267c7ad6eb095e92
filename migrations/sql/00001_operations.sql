-- +goose Up
-- operations holds every accepted Replicate, Remove and Promote request until
-- (and after) it reaches a terminal state. Everything a worker needs to
-- execute it is in `params`, sealed with the data key (AES-256-GCM): the KMS
-- key ARNs and secret ARNs there carry account ids, which are sensitive. The
-- other columns are printable and hold only redacted forms.
CREATE TABLE operations (
    id                 uuid        PRIMARY KEY,
    -- Acceptance order: operations on one secret run in seq order.
    seq                bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    kind               text        NOT NULL CHECK (kind IN ('replicate', 'remove', 'promote')),
    state              text        NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
    -- Serialisation key: the secret's name with any ARN suffix stripped, so a
    -- name and an ARN of the same secret queue behind each other.
    secret_key         text        NOT NULL,
    -- The secret id as given, with the account id fingerprinted.
    secret_display     text        NOT NULL,
    -- Region the mutating AWS call goes to.
    aws_region         text        NOT NULL,
    -- Sealed replicad.v1 OperationParams-equivalent JSON (see store.Params).
    params             bytea       NOT NULL,
    -- Per-Region progress: [{region, state, replication_status, message}].
    regions            jsonb       NOT NULL,
    force              boolean     NOT NULL DEFAULT false,
    principal          text        NOT NULL,
    request_id         text,
    -- Keyed MAC of the canonical request, for AIP-155 replay checks.
    request_hash       bytea,
    reason_fingerprint text        NOT NULL DEFAULT '',
    -- Label keys to fingerprints of their values.
    labels             jsonb       NOT NULL DEFAULT '{}',
    error_code         integer,
    error_message      text,
    -- Every AWS call made: [{api, region, request_id, error_code, time}].
    aws_calls          jsonb       NOT NULL DEFAULT '[]',
    attempts           integer     NOT NULL DEFAULT 0,
    -- The River job carrying the operation; NULL while it waits behind an
    -- earlier operation on the same secret.
    job_id             bigint,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    ended_at           timestamptz,
    CONSTRAINT operations_request_hash CHECK ((request_id IS NULL) = (request_hash IS NULL)),
    CONSTRAINT operations_error CHECK ((error_code IS NULL) = (error_message IS NULL))
);

-- AIP-155: a request_id names one request per principal.
CREATE UNIQUE INDEX operations_principal_request_id ON operations (principal, request_id)
    WHERE request_id IS NOT NULL;
-- The head of each secret's queue, and whether a secret has work in flight.
CREATE INDEX operations_secret_active ON operations (secret_key, seq)
    WHERE state IN ('pending', 'running');
-- ListOperations: newest first, optionally by secret and/or state.
CREATE INDEX operations_secret_seq ON operations (secret_key, seq DESC);
CREATE INDEX operations_state_seq ON operations (state, seq DESC);

-- +goose Down
DROP TABLE operations;
