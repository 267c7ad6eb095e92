-- +goose Up
-- inventory_scans divides the inventory scan between the replicad processes
-- sharing the database: one row per (account, Region) to scan, leased by
-- the process scanning it. A lease is taken only when it is free or has
-- expired (its holder died), renewed after every page, and given up when
-- the scan completes, so two processes never scan the same (account,
-- Region) at once, and a crashed scanner's target is taken over after one
-- lease period.
CREATE TABLE inventory_scans (
    -- The account scanned: its id, or '' for the ambient credentials'
    -- account (no accounts configured).
    account        text        NOT NULL,
    region         text        NOT NULL,
    -- The process holding the lease and until when; NULL when free.
    leased_by      text,
    lease_until    timestamptz,
    -- When the scan in progress started (the process's clock, the same
    -- clock its readings' read_at use: mark-gone compares the two).
    scan_started   timestamptz,
    -- When the last complete scan started and ended, and how many secrets
    -- it listed and marked gone.
    completed_started timestamptz,
    completed_at   timestamptz,
    listed         bigint      NOT NULL DEFAULT 0,
    marked_gone    bigint      NOT NULL DEFAULT 0,
    -- The account id the ambient credentials' ARNs named, learned from a
    -- scan: marking gone needs it even when a Region lists nothing.
    account_id     text        NOT NULL DEFAULT '',
    -- Why the last scan failed (redacted: code only); '' after a success.
    last_error     text        NOT NULL DEFAULT '',
    PRIMARY KEY (account, region)
);

-- +goose Down
DROP TABLE inventory_scans;
