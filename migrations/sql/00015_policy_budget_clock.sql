-- +goose Up
-- budget_at is a policy's write-budget clock: the time up to which its
-- share of the write budget has been spent. A reconciliation round may
-- spend what accrued since (rate × (now − budget_at)) and moves the clock
-- on by what it spent, so the fraction of an operation a short round could
-- not use is carried to the next round, by whichever process runs it,
-- instead of being lost at every round (reconciled_at, the round's own
-- time, cannot carry it).
ALTER TABLE replication_policies ADD COLUMN budget_at timestamptz;

-- +goose Down
ALTER TABLE replication_policies DROP COLUMN budget_at;
