package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/replicad/replicad/internal/domain"
)

// Policy errors.
var (
	// ErrPolicyNotFound: no policy has the name.
	ErrPolicyNotFound = errors.New("replication policy not found")
	// ErrPolicyExists: a policy with the name exists already.
	ErrPolicyExists = errors.New("replication policy already exists")
	// ErrPolicyETag: the etag given is not the stored one.
	ErrPolicyETag = errors.New("replication policy etag mismatch")
)

const policyColumns = "name, spec, etag, created_at, updated_at, updated_by"

// LockPolicies takes the transaction-scoped lock that serialises policy
// writes, so that the overlap check of one write sees every policy
// committed before it and no two overlapping policies commit together.
func LockPolicies(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('replicad.policies', 0))`); err != nil {
		return fmt.Errorf("lock policies: %w", err)
	}
	return nil
}

// LockDrift takes the transaction-scoped lock under which one page of
// stale drift is computed and stored, so that processes and requests
// computing drift at once take turns over pages instead of doing the same
// rows twice.
func LockDrift(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('replicad.drift', 0))`); err != nil {
		return fmt.Errorf("lock drift: %w", err)
	}
	return nil
}

// TryLockPolicyReconcile takes, if free, the transaction-scoped lock that
// lets one process at a time reconcile the policy.
func TryLockPolicyReconcile(ctx context.Context, tx pgx.Tx, name string) (bool, error) {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended('replicad.policy-reconcile:' || $1, 0))`, name).Scan(&ok); err != nil {
		return false, fmt.Errorf("lock policy reconciliation: %w", err)
	}
	return ok, nil
}

// InsertPolicy stores a new policy; p.CreatedAt and p.UpdatedAt are set.
func (s *Store) InsertPolicy(ctx context.Context, db DB, p *domain.Policy) error {
	spec, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode policy: %w", err)
	}
	err = db.QueryRow(ctx, `INSERT INTO replication_policies (name, spec, etag, updated_by) VALUES ($1, $2, $3, $4)
		RETURNING created_at, updated_at`, p.Name, spec, p.ETag, p.UpdatedBy).Scan(&p.CreatedAt, &p.UpdatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return ErrPolicyExists
	}
	if err != nil {
		return fmt.Errorf("insert policy: %w", err)
	}
	return nil
}

// UpdatePolicy replaces a policy's specification if its etag is still
// oldETag; p.ETag is the new etag.
func (s *Store) UpdatePolicy(ctx context.Context, db DB, p *domain.Policy, oldETag string) error {
	spec, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode policy: %w", err)
	}
	err = db.QueryRow(ctx, `UPDATE replication_policies SET spec = $2, etag = $3, updated_by = $4, updated_at = now()
		WHERE name = $1 AND etag = $5 RETURNING created_at, updated_at`, p.Name, spec, p.ETag, p.UpdatedBy, oldETag).
		Scan(&p.CreatedAt, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, getErr := s.GetPolicy(ctx, db, p.Name); getErr != nil {
			return getErr
		}
		return ErrPolicyETag
	}
	if err != nil {
		return fmt.Errorf("update policy: %w", err)
	}
	return nil
}

// DeletePolicy deletes a policy; a non-empty etag must match.
func (s *Store) DeletePolicy(ctx context.Context, db DB, name, etag string) (domain.Policy, error) {
	rows, err := db.Query(ctx, `DELETE FROM replication_policies WHERE name = $1 AND ($2 = '' OR etag = $2)
		RETURNING `+policyColumns, name, etag)
	if err != nil {
		return domain.Policy{}, fmt.Errorf("delete policy: %w", err)
	}
	list, err := scanPolicies(rows)
	if err != nil {
		return domain.Policy{}, err
	}
	if len(list) == 0 {
		if _, getErr := s.GetPolicy(ctx, db, name); getErr != nil {
			return domain.Policy{}, getErr
		}
		return domain.Policy{}, ErrPolicyETag
	}
	return list[0], nil
}

// GetPolicy returns one policy.
func (s *Store) GetPolicy(ctx context.Context, db DB, name string) (domain.Policy, error) {
	rows, err := db.Query(ctx, `SELECT `+policyColumns+` FROM replication_policies WHERE name = $1`, name)
	if err != nil {
		return domain.Policy{}, fmt.Errorf("get policy: %w", err)
	}
	list, err := scanPolicies(rows)
	if err != nil {
		return domain.Policy{}, err
	}
	if len(list) == 0 {
		return domain.Policy{}, ErrPolicyNotFound
	}
	return list[0], nil
}

// ListPolicies returns up to limit policies named after `after`, by name.
func (s *Store) ListPolicies(ctx context.Context, db DB, after string, limit int) ([]domain.Policy, error) {
	rows, err := db.Query(ctx, `SELECT `+policyColumns+` FROM replication_policies WHERE name > $1 ORDER BY name LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	return scanPolicies(rows)
}

func scanPolicies(rows pgx.Rows) ([]domain.Policy, error) {
	defer rows.Close()
	var out []domain.Policy
	for rows.Next() {
		var p domain.Policy
		var spec []byte
		var name, etag, by string
		var created, updated time.Time
		if err := rows.Scan(&name, &spec, &etag, &created, &updated, &by); err != nil {
			return nil, fmt.Errorf("scan policy: %w", err)
		}
		if err := json.Unmarshal(spec, &p); err != nil {
			return nil, fmt.Errorf("policy %s: decode: %w", name, err)
		}
		p.Name, p.ETag, p.CreatedAt, p.UpdatedAt, p.UpdatedBy = name, etag, created, updated, by
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	return out, nil
}

// PolicyOpStats counts a policy's operations: the active ones by state,
// and the finished ones by state since `since`.
func PolicyOpStats(ctx context.Context, db DB, policy string, since time.Time) (map[domain.State]int, error) {
	rows, err := db.Query(ctx, `SELECT state, count(*) FROM operations
		WHERE origin_policy = $1 AND (state IN ('pending', 'running', 'awaiting_approval') OR ended_at >= $2)
		GROUP BY state`, policy, since)
	if err != nil {
		return nil, fmt.Errorf("count policy operations: %w", err)
	}
	defer rows.Close()
	out := map[domain.State]int{}
	for rows.Next() {
		var st domain.State
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count policy operations: %w", err)
		}
		out[st] = n
	}
	return out, rows.Err()
}

// PolicyActivity is what reconciliation needs to know of a policy's
// operations on one secret.
type PolicyActivity struct {
	// Active kinds: operations of that kind pending or running.
	Active map[domain.Kind]bool
	// LastEnded is when the latest of its operations on the secret ended,
	// LastFailed when the latest that failed did.
	LastEnded, LastFailed time.Time
}

// PolicyActivities returns, per secret key, the policy's active operation
// kinds and when its last operation there ended: reconciliation creates no
// operation while one of the same kind is active, and trusts no inventory
// reading older than its last change.
func PolicyActivities(ctx context.Context, db DB, policy string) (map[string]*PolicyActivity, error) {
	rows, err := db.Query(ctx, `SELECT secret_key, kind, bool_or(state IN ('pending', 'running', 'awaiting_approval')), max(ended_at),
		max(ended_at) FILTER (WHERE state = 'failed')
		FROM operations WHERE origin_policy = $1 GROUP BY secret_key, kind`, policy)
	if err != nil {
		return nil, fmt.Errorf("policy activity: %w", err)
	}
	defer rows.Close()
	out := map[string]*PolicyActivity{}
	for rows.Next() {
		var key string
		var kind domain.Kind
		var active bool
		var ended, failed *time.Time
		if err := rows.Scan(&key, &kind, &active, &ended, &failed); err != nil {
			return nil, fmt.Errorf("policy activity: %w", err)
		}
		a := out[key]
		if a == nil {
			a = &PolicyActivity{Active: map[domain.Kind]bool{}}
			out[key] = a
		}
		if active {
			a.Active[kind] = true
		}
		if ended != nil && ended.After(a.LastEnded) {
			a.LastEnded = *ended
		}
		if failed != nil && failed.After(a.LastFailed) {
			a.LastFailed = *failed
		}
	}
	return out, rows.Err()
}

// MarkPolicyReconciled records that a reconciliation round for the policy
// runs now and returns the policy's write-budget clock (zero if never set)
// and the database's time now: every process reads the one clock, so
// budgets add up whichever process runs a round.
func MarkPolicyReconciled(ctx context.Context, db DB, name string) (budgetAt, now time.Time, err error) {
	var at *time.Time
	err = db.QueryRow(ctx, `UPDATE replication_policies SET reconciled_at = now()
		WHERE name = $1 RETURNING budget_at, now()`, name).Scan(&at, &now)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, time.Time{}, ErrPolicyNotFound
	}
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("mark policy reconciled: %w", err)
	}
	if at != nil {
		budgetAt = *at
	}
	return budgetAt, now, nil
}

// SetPolicyBudgetClock moves the policy's write-budget clock to at.
func SetPolicyBudgetClock(ctx context.Context, db DB, name string, at time.Time) error {
	if _, err := db.Exec(ctx, `UPDATE replication_policies SET budget_at = $2 WHERE name = $1`, name, at); err != nil {
		return fmt.Errorf("set policy budget clock: %w", err)
	}
	return nil
}
