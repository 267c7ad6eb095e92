-- +goose Up
-- instances lists the replicad processes sharing this database, by
-- heartbeat: each takes an equal share of the configured AWS rate budgets,
-- so the budget holds for the whole deployment, not per process.
CREATE TABLE instances (
    id         text        PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    heartbeat  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE instances;
