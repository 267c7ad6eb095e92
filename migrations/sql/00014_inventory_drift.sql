-- +goose Up
-- Each inventory row carries its drift as last computed against the
-- replication policy that selects it (issue 14), so that ListSecrets can
-- filter by drift and kind in the database. The engine recomputes a row's
-- drift whenever the row's reading changes (drift_read_at differs from
-- read_at: a scan page, a refresh after an operation) or the set of
-- policies changes (drift_policies, a digest of every policy's name and
-- etag, differs from the current one), and clears it when no policy
-- selects the secret.
ALTER TABLE inventory_secrets
    -- The policy that selects the secret; NULL when none does.
    ADD COLUMN drift_policy      text,
    -- Other policies selecting it with different desires: in conflict,
    -- no drift computed.
    ADD COLUMN drift_conflicts   text[]      NOT NULL DEFAULT '{}',
    -- The distinct drift kinds (drift.Kind names), for the filters.
    ADD COLUMN drift_kinds       text[]      NOT NULL DEFAULT '{}',
    -- [{kind, region, message}]: message is AWS's for a Failed replica.
    ADD COLUMN drifts            jsonb       NOT NULL DEFAULT '[]',
    ADD COLUMN drift_computed_at timestamptz,
    -- The read_at of the reading the drift was computed from.
    ADD COLUMN drift_read_at     timestamptz,
    ADD COLUMN drift_policies    text;

CREATE INDEX inventory_secrets_drift_kinds ON inventory_secrets USING gin (drift_kinds);

-- +goose Down
DROP INDEX inventory_secrets_drift_kinds;
ALTER TABLE inventory_secrets
    DROP COLUMN drift_policy, DROP COLUMN drift_conflicts, DROP COLUMN drift_kinds, DROP COLUMN drifts,
    DROP COLUMN drift_computed_at, DROP COLUMN drift_read_at, DROP COLUMN drift_policies;
