-- +goose Up
-- inventory_secrets is the inventory: one row per secret per (account,
-- Region) as the scanner last saw it with ListSecrets, or DescribeSecret
-- after one of replicad's own operations. Rows are never deleted by a scan:
-- a secret a complete scan no longer lists is marked gone.
CREATE TABLE inventory_secrets (
    account      text        NOT NULL,
    -- The Region the secret was listed in: its primary Region.
    region       text        NOT NULL,
    arn          text        NOT NULL,
    name         text        NOT NULL,
    kms_key_id   text        NOT NULL DEFAULT '',
    -- [{region, kms_key_id, status, status_message, last_accessed}]
    replicas     jsonb       NOT NULL DEFAULT '[]',
    tags         jsonb       NOT NULL DEFAULT '{}',
    deleted      boolean     NOT NULL DEFAULT false,
    last_changed timestamptz,
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    -- When the request that produced this reading was sent: a reading only
    -- replaces one sent earlier, so a slow ListSecrets page never overwrites
    -- a fresher DescribeSecret.
    read_at      timestamptz NOT NULL,
    gone         boolean     NOT NULL DEFAULT false,
    gone_since   timestamptz,
    PRIMARY KEY (account, region, arn)
);

CREATE UNIQUE INDEX inventory_secrets_arn ON inventory_secrets (arn);
CREATE INDEX inventory_secrets_name ON inventory_secrets (account, region, name text_pattern_ops);
CREATE INDEX inventory_secrets_replicas ON inventory_secrets USING gin (replicas jsonb_path_ops);
CREATE INDEX inventory_secrets_tags ON inventory_secrets USING gin (tags);

-- +goose Down
DROP TABLE inventory_secrets;
