package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/domain"
)

// Beginner starts transactions (a pool or a transaction, for a nested
// one).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// ScanTarget is one (account, Region) the inventory scans. Account "" is
// the ambient credentials' account.
type ScanTarget struct {
	Account, Region string
}

// ScanLease is a claimed target: the process that holds it scans it alone
// until the lease ends.
type ScanLease struct {
	ScanTarget
	// Started is when this scan started (the scanner's clock).
	Started time.Time
	// AccountID is the ambient account's id learned by an earlier scan
	// ("" if none yet); for a configured account it is Account.
	AccountID string
}

// ScanState is what the database knows of one target's scans.
type ScanState struct {
	ScanTarget
	LeasedBy                    string
	CompletedStarted, Completed time.Time
	Listed, MarkedGone          int64
	AccountID, LastError        string
}

// EnsureScanTargets records targets that are not yet in inventory_scans.
func (s *Store) EnsureScanTargets(ctx context.Context, db DB, targets []ScanTarget) error {
	accounts, regions := splitTargets(targets)
	_, err := db.Exec(ctx, `
INSERT INTO inventory_scans (account, region)
SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT DO NOTHING`, accounts, regions)
	if err != nil {
		return fmt.Errorf("ensure scan targets: %w", err)
	}
	return nil
}

func splitTargets(targets []ScanTarget) (accounts, regions []string) {
	for _, t := range targets {
		accounts = append(accounts, t.Account)
		regions = append(regions, t.Region)
	}
	return accounts, regions
}

// ClaimScan leases one of targets that is due — never completed, or
// completed at least every ago — and not leased by a live process (its
// lease ended), the longest-waiting first. The lease lasts lease from the
// database's clock; started is recorded as the scan's start. It returns
// false when nothing is due. SKIP LOCKED lets concurrent claims pass each
// other, and the lease condition, checked under the row lock, lets only
// one of them win a target.
func (s *Store) ClaimScan(ctx context.Context, db DB, owner string, targets []ScanTarget, lease, every time.Duration, started time.Time) (ScanLease, bool, error) {
	accounts, regions := splitTargets(targets)
	var l ScanLease
	err := db.QueryRow(ctx, `
UPDATE inventory_scans s SET leased_by = $1, lease_until = now() + $2::interval, scan_started = $3
FROM (
    SELECT account, region FROM inventory_scans
    WHERE (account, region) IN (SELECT * FROM unnest($4::text[], $5::text[]))
      AND (lease_until IS NULL OR lease_until < now())
      AND (completed_at IS NULL OR completed_at <= now() - $6::interval)
    ORDER BY completed_at NULLS FIRST, account, region
    LIMIT 1
    FOR UPDATE SKIP LOCKED
) due
WHERE s.account = due.account AND s.region = due.region
RETURNING s.account, s.region, s.scan_started, s.account_id`,
		owner, lease, started, accounts, regions, every).Scan(&l.Account, &l.Region, &l.Started, &l.AccountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return ScanLease{}, false, nil
	}
	if err != nil {
		return ScanLease{}, false, fmt.Errorf("claim scan: %w", err)
	}
	if l.Account != "" {
		l.AccountID = l.Account
	}
	return l, true, nil
}

// RenewScan extends owner's lease on t. It returns false when owner no
// longer holds it (it expired and another process took it over): the
// scan must stop without marking anything gone.
func (s *Store) RenewScan(ctx context.Context, db DB, owner string, t ScanTarget, lease time.Duration) (bool, error) {
	tag, err := db.Exec(ctx, `
UPDATE inventory_scans SET lease_until = now() + $4::interval
WHERE account = $1 AND region = $2 AND leased_by = $3 AND lease_until >= now()`, t.Account, t.Region, owner, lease)
	if err != nil {
		return false, fmt.Errorf("renew scan lease: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CompleteScan ends owner's complete scan of l: in one transaction it marks
// gone every secret of the account and Region the scan did not see, and
// frees the lease. It returns how many it marked gone, and false (marking
// nothing) if owner had lost the lease.
func (s *Store) CompleteScan(ctx context.Context, db Beginner, owner string, l ScanLease, accountID string, listed int64) (int64, bool, error) {
	var gone int64
	held := false
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var got string
		err := tx.QueryRow(ctx, `
SELECT leased_by FROM inventory_scans
WHERE account = $1 AND region = $2 AND leased_by = $3 AND lease_until >= now()
FOR UPDATE`, l.Account, l.Region, owner).Scan(&got)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock scan lease: %w", err)
		}
		held = true
		if accountID != "" {
			if gone, err = s.MarkInventoryGone(ctx, tx, accountID, l.Region, l.Started); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `
UPDATE inventory_scans SET leased_by = NULL, lease_until = NULL, scan_started = NULL,
    completed_started = $3, completed_at = now(), listed = $4, marked_gone = $5, account_id = $6, last_error = ''
WHERE account = $1 AND region = $2`, l.Account, l.Region, l.Started, listed, gone, accountID)
		if err != nil {
			return fmt.Errorf("complete scan: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	return gone, held, nil
}

// FailScan frees owner's lease on t after a failed scan, recording why
// (an error code, nothing sensitive). The target stays due: another
// attempt may claim it at once.
func (s *Store) FailScan(ctx context.Context, db DB, owner string, t ScanTarget, reason string) error {
	_, err := db.Exec(ctx, `
UPDATE inventory_scans SET leased_by = NULL, lease_until = NULL, scan_started = NULL, last_error = $4
WHERE account = $1 AND region = $2 AND leased_by = $3`, t.Account, t.Region, owner, reason)
	if err != nil {
		return fmt.Errorf("fail scan: %w", err)
	}
	return nil
}

// ScanStates returns every target's scan state, by account and Region.
func (s *Store) ScanStates(ctx context.Context, db DB) ([]ScanState, error) {
	rows, err := db.Query(ctx, `
SELECT account, region, coalesce(leased_by, ''), completed_started, completed_at, listed, marked_gone, account_id, last_error
FROM inventory_scans ORDER BY account, region`)
	if err != nil {
		return nil, fmt.Errorf("scan states: %w", err)
	}
	defer rows.Close()
	var out []ScanState
	for rows.Next() {
		var st ScanState
		var cs, c *time.Time
		if err := rows.Scan(&st.Account, &st.Region, &st.LeasedBy, &cs, &c, &st.Listed, &st.MarkedGone, &st.AccountID, &st.LastError); err != nil {
			return nil, fmt.Errorf("scan states: %w", err)
		}
		if cs != nil {
			st.CompletedStarted = *cs
		}
		if c != nil {
			st.Completed = *c
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scan states: %w", err)
	}
	return out, nil
}

// InventoryByARN returns the stored rows of arns, keyed by ARN (absent ARNs
// are left out): a scanner compares a page against what it knew.
func (s *Store) InventoryByARN(ctx context.Context, db DB, arns []string) (map[string]domain.InventorySecret, error) {
	rows, err := db.Query(ctx, "SELECT "+inventoryColumns+" FROM inventory_secrets WHERE arn = ANY($1)", arns)
	if err != nil {
		return nil, fmt.Errorf("inventory by ARN: %w", err)
	}
	list, err := scanInventory(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string]domain.InventorySecret, len(list))
	for _, sec := range list {
		out[sec.ARN] = sec
	}
	return out, nil
}
