package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/replicad/replicad/internal/domain"
)

// ErrSecretNotFound is returned when no inventory row matches.
var ErrSecretNotFound = errors.New("secret not in inventory")

// InventoryCursor is the keyset position after the last row of a page
// (AIP-158): rows are ordered by (account, region, arn).
type InventoryCursor struct {
	Account, Region, ARN string
}

type inventoryReplica struct {
	Region        string    `json:"region"`
	KMSKeyID      string    `json:"kms_key_id,omitempty"`
	Status        string    `json:"status,omitempty"`
	StatusMessage string    `json:"status_message,omitempty"`
	LastAccessed  time.Time `json:"last_accessed,omitzero"`
}

const inventoryColumns = "account, region, arn, name, kms_key_id, replicas, tags, deleted, last_changed, " +
	"first_seen, last_seen, read_at, gone, gone_since, coalesce(drift_policy, ''), drift_conflicts, drifts, drift_computed_at"

type inventoryDrift struct {
	Kind    string `json:"kind"`
	Region  string `json:"region,omitempty"`
	Message string `json:"message,omitempty"`
}

// UpsertInventory records a reading of s. The reading replaces the stored
// one only when it was sent (s.ReadAt) no earlier than the stored reading,
// so a slow ListSecrets page never overwrites a newer DescribeSecret; a
// newer reading also brings a gone secret back. It reports whether the row
// changed.
func (s *Store) UpsertInventory(ctx context.Context, db DB, sec domain.InventorySecret) (bool, error) {
	args, err := upsertInventoryArgs(sec)
	if err != nil {
		return false, err
	}
	tag, err := db.Exec(ctx, upsertInventorySQL, args...)
	if err != nil {
		return false, fmt.Errorf("upsert inventory: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// QueueUpsertInventory queues UpsertInventory's statement in b.
func QueueUpsertInventory(b *pgx.Batch, sec domain.InventorySecret) error {
	args, err := upsertInventoryArgs(sec)
	if err != nil {
		return err
	}
	b.Queue(upsertInventorySQL, args...).Exec(func(pgconn.CommandTag) error { return nil })
	return nil
}

const upsertInventorySQL = `
INSERT INTO inventory_secrets (account, region, arn, name, kms_key_id, replicas, tags, deleted, last_changed,
                               first_seen, last_seen, read_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11)
ON CONFLICT (account, region, arn) DO UPDATE SET
    name = EXCLUDED.name, kms_key_id = EXCLUDED.kms_key_id, replicas = EXCLUDED.replicas, tags = EXCLUDED.tags,
    deleted = EXCLUDED.deleted, last_changed = EXCLUDED.last_changed,
    last_seen = greatest(inventory_secrets.last_seen, EXCLUDED.last_seen),
    read_at = EXCLUDED.read_at, gone = false, gone_since = NULL
WHERE inventory_secrets.read_at <= EXCLUDED.read_at`

func upsertInventoryArgs(sec domain.InventorySecret) ([]any, error) {
	reps := make([]inventoryReplica, 0, len(sec.Replicas))
	for _, r := range sec.Replicas {
		reps = append(reps, inventoryReplica{r.Region, r.KMSKeyID, string(r.Status), r.StatusMessage, r.LastAccessed})
	}
	rj, err := json.Marshal(reps)
	if err != nil {
		return nil, fmt.Errorf("encode replicas: %w", err)
	}
	tags := sec.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	tj, err := json.Marshal(tags)
	if err != nil {
		return nil, fmt.Errorf("encode tags: %w", err)
	}
	seen := sec.LastSeen
	if seen.IsZero() {
		seen = sec.ReadAt
	}
	var lastChanged *time.Time
	if !sec.LastChanged.IsZero() {
		lastChanged = &sec.LastChanged
	}
	return []any{sec.Account, sec.Region, sec.ARN, sec.Name, sec.KMSKeyID, rj, tj, sec.Deleted, lastChanged, seen, sec.ReadAt}, nil
}

// MarkInventoryGone marks gone every secret of (account, region) that no
// reading sent at or after scanStarted has seen: a complete scan that began
// at scanStarted listed every secret that still exists. It returns how
// many rows it marked.
func (s *Store) MarkInventoryGone(ctx context.Context, db DB, account, region string, scanStarted time.Time) (int64, error) {
	tag, err := db.Exec(ctx, `
UPDATE inventory_secrets SET gone = true, gone_since = now()
WHERE account = $1 AND region = $2 AND NOT gone AND last_seen < $3`, account, region, scanStarted)
	if err != nil {
		return 0, fmt.Errorf("mark inventory gone: %w", err)
	}
	return tag.RowsAffected(), nil
}

// GetInventory returns the row of the secret with arn.
func (s *Store) GetInventory(ctx context.Context, db DB, arn string) (domain.InventorySecret, error) {
	rows, err := db.Query(ctx, "SELECT "+inventoryColumns+" FROM inventory_secrets WHERE arn = $1", arn)
	if err != nil {
		return domain.InventorySecret{}, fmt.Errorf("get inventory: %w", err)
	}
	list, err := scanInventory(rows)
	if err != nil {
		return domain.InventorySecret{}, err
	}
	if len(list) == 0 {
		return domain.InventorySecret{}, ErrSecretNotFound
	}
	return list[0], nil
}

// ListInventory returns up to limit rows matching f after the cursor (nil:
// from the start), in (account, region, arn) order, and the cursor of the
// next page (nil on the last page).
func (s *Store) ListInventory(ctx context.Context, db DB, f domain.InventoryFilter, after *InventoryCursor, limit int) ([]domain.InventorySecret, *InventoryCursor, error) {
	if limit <= 0 {
		limit = 100
	}
	where, args, err := inventoryWhere(f, after)
	if err != nil {
		return nil, nil, err
	}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	q := "SELECT " + inventoryColumns + " FROM inventory_secrets"
	if where != "" {
		q += " WHERE " + where
	}
	q += " ORDER BY account, region, arn LIMIT " + arg(limit+1)
	return inventoryPage(ctx, db, "list inventory", q, args, limit)
}

// inventoryWhere is the WHERE clause (without the keyword; empty for none)
// and its arguments that select f's rows after the cursor.
func inventoryWhere(f domain.InventoryFilter, after *InventoryCursor) (string, []any, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if !f.IncludeGone {
		where = append(where, "NOT gone")
	}
	if f.Account != "" {
		where = append(where, "account = "+arg(f.Account))
	}
	if f.PrimaryRegion != "" {
		where = append(where, "region = "+arg(f.PrimaryRegion))
	}
	if f.NamePrefix != "" {
		where = append(where, "starts_with(name, "+arg(f.NamePrefix)+")")
	}
	if f.ReplicaRegion != "" || f.ReplicaStatus != "" {
		el := map[string]string{}
		if f.ReplicaRegion != "" {
			el["region"] = f.ReplicaRegion
		}
		if f.ReplicaStatus != "" {
			el["status"] = string(f.ReplicaStatus)
		}
		j, err := json.Marshal([]map[string]string{el})
		if err != nil {
			return "", nil, fmt.Errorf("encode replica filter: %w", err)
		}
		where = append(where, "replicas @> "+arg(string(j))+"::jsonb")
	}
	if f.TagKey != "" {
		if f.TagValue != "" {
			j, err := json.Marshal(map[string]string{f.TagKey: f.TagValue})
			if err != nil {
				return "", nil, fmt.Errorf("encode tag filter: %w", err)
			}
			where = append(where, "tags @> "+arg(string(j))+"::jsonb")
		} else {
			where = append(where, "tags ? "+arg(f.TagKey))
		}
	}
	switch f.Drift {
	case domain.DriftOnly:
		where = append(where, "cardinality(drift_kinds) > 0")
	case domain.CompliantOnly:
		where = append(where, "drift_policy IS NOT NULL AND cardinality(drift_conflicts) = 0 AND cardinality(drift_kinds) = 0")
	}
	if f.DriftKind != "" {
		where = append(where, "drift_kinds @> ARRAY["+arg(f.DriftKind)+"]::text[]")
	}
	if after != nil {
		where = append(where, "(account, region, arn) > ("+arg(after.Account)+", "+arg(after.Region)+", "+arg(after.ARN)+")")
	}
	return strings.Join(where, " AND "), args, nil
}

// CountInventory counts the rows matching f.
func (s *Store) CountInventory(ctx context.Context, db DB, f domain.InventoryFilter) (int64, error) {
	where, args, err := inventoryWhere(f, nil)
	if err != nil {
		return 0, err
	}
	q := "SELECT count(*) FROM inventory_secrets"
	if where != "" {
		q += " WHERE " + where
	}
	var n int64
	if err := db.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count inventory: %w", err)
	}
	return n, nil
}

// InventoryARNs lists the ARNs of the rows matching f, in no order: what
// a count restricted by an access policy checks one by one.
func (s *Store) InventoryARNs(ctx context.Context, db DB, f domain.InventoryFilter) ([]string, error) {
	where, args, err := inventoryWhere(f, nil)
	if err != nil {
		return nil, err
	}
	q := "SELECT arn FROM inventory_secrets"
	if where != "" {
		q += " WHERE " + where
	}
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list inventory ARNs: %w", err)
	}
	arns, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list inventory ARNs: %w", err)
	}
	return arns, nil
}

func scanInventory(rows pgx.Rows) ([]domain.InventorySecret, error) {
	defer rows.Close()
	var out []domain.InventorySecret
	for rows.Next() {
		var (
			sec                   domain.InventorySecret
			rj, tj                []byte
			lastChanged, goneSinc *time.Time
			dj                    []byte
			computed              *time.Time
		)
		if err := rows.Scan(&sec.Account, &sec.Region, &sec.ARN, &sec.Name, &sec.KMSKeyID, &rj, &tj, &sec.Deleted,
			&lastChanged, &sec.FirstSeen, &sec.LastSeen, &sec.ReadAt, &sec.Gone, &goneSinc,
			&sec.Drift.Policy, &sec.Drift.Conflicts, &dj, &computed); err != nil {
			return nil, fmt.Errorf("scan inventory: %w", err)
		}
		var reps []inventoryReplica
		if err := json.Unmarshal(rj, &reps); err != nil {
			return nil, fmt.Errorf("decode replicas: %w", err)
		}
		for _, r := range reps {
			sec.Replicas = append(sec.Replicas, domain.Replica{
				Region: r.Region, KMSKeyID: r.KMSKeyID, Status: domain.ReplicationStatus(r.Status),
				StatusMessage: r.StatusMessage, LastAccessed: r.LastAccessed,
			})
		}
		if err := json.Unmarshal(tj, &sec.Tags); err != nil {
			return nil, fmt.Errorf("decode tags: %w", err)
		}
		if lastChanged != nil {
			sec.LastChanged = *lastChanged
		}
		if goneSinc != nil {
			sec.GoneSince = *goneSinc
		}
		var drifts []inventoryDrift
		if err := json.Unmarshal(dj, &drifts); err != nil {
			return nil, fmt.Errorf("decode drift: %w", err)
		}
		for _, d := range drifts {
			sec.Drift.Findings = append(sec.Drift.Findings, domain.DriftFinding{Kind: d.Kind, Region: d.Region, Message: d.Message})
		}
		if len(sec.Drift.Conflicts) == 0 {
			sec.Drift.Conflicts = nil
		}
		if computed != nil {
			sec.Drift.ComputedAt = *computed
		}
		out = append(out, sec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list inventory: %w", err)
	}
	return out, nil
}

// DriftUpdate is a secret's drift computed from the reading sent at ReadAt.
type DriftUpdate struct {
	ARN    string
	ReadAt time.Time
	Drift  domain.SecretDrift
}

type driftRecord struct {
	ARN       string           `json:"arn"`
	ReadAt    time.Time        `json:"read_at"`
	Policy    *string          `json:"policy"`
	Conflicts []string         `json:"conflicts"`
	Kinds     []string         `json:"kinds"`
	Drifts    []inventoryDrift `json:"drifts"`
}

// SetInventoryDrift stores each update, computed at computedAt under the
// policies whose digest is policies, on its row in one statement, unless
// the row's reading changed since the one the drift was computed from:
// that row is stale again and its own computation follows. It returns how
// many rows it updated.
func (s *Store) SetInventoryDrift(ctx context.Context, db DB, policies string, computedAt time.Time, updates []DriftUpdate) (int64, error) {
	if len(updates) == 0 {
		return 0, nil
	}
	recs := make([]driftRecord, 0, len(updates))
	for _, u := range updates {
		r := driftRecord{ARN: u.ARN, ReadAt: u.ReadAt, Conflicts: u.Drift.Conflicts, Kinds: u.Drift.Kinds(),
			Drifts: make([]inventoryDrift, 0, len(u.Drift.Findings))}
		if u.Drift.Policy != "" {
			r.Policy = &u.Drift.Policy
		}
		// Never JSON null: jsonb_array_elements_text refuses a scalar.
		if r.Conflicts == nil {
			r.Conflicts = []string{}
		}
		if r.Kinds == nil {
			r.Kinds = []string{}
		}
		for _, f := range u.Drift.Findings {
			r.Drifts = append(r.Drifts, inventoryDrift{f.Kind, f.Region, f.Message})
		}
		recs = append(recs, r)
	}
	j, err := json.Marshal(recs)
	if err != nil {
		return 0, fmt.Errorf("encode drift: %w", err)
	}
	tag, err := db.Exec(ctx, `
UPDATE inventory_secrets i SET drift_policy = u.policy,
    drift_conflicts = ARRAY(SELECT jsonb_array_elements_text(coalesce(u.conflicts, '[]'))),
    drift_kinds = ARRAY(SELECT jsonb_array_elements_text(coalesce(u.kinds, '[]'))),
    drifts = u.drifts, drift_computed_at = $2, drift_read_at = i.read_at, drift_policies = $3
FROM jsonb_to_recordset($1::jsonb) AS u(arn text, read_at timestamptz, policy text, conflicts jsonb, kinds jsonb, drifts jsonb)
WHERE i.arn = u.arn AND i.read_at = u.read_at`, string(j), computedAt, policies)
	if err != nil {
		return 0, fmt.Errorf("set inventory drift: %w", err)
	}
	return tag.RowsAffected(), nil
}

// StaleDrift returns up to limit rows after the cursor (nil: from the
// start), in (account, region, arn) order, whose stored drift is not that
// of their current reading under the policies with digest policies: never
// computed, computed from an older reading or other policies, or still set
// on a secret since found gone. It returns the cursor of the next page
// (nil on the last).
func (s *Store) StaleDrift(ctx context.Context, db DB, policies string, after *InventoryCursor, limit int) ([]domain.InventorySecret, *InventoryCursor, error) {
	q := "SELECT " + inventoryColumns + ` FROM inventory_secrets
WHERE (drift_read_at IS DISTINCT FROM read_at OR drift_policies IS DISTINCT FROM $1 OR (gone AND drift_policy IS NOT NULL))`
	args := []any{policies, limit + 1}
	if after != nil {
		q += " AND (account, region, arn) > ($3, $4, $5)"
		args = append(args, after.Account, after.Region, after.ARN)
	}
	q += " ORDER BY account, region, arn LIMIT $2"
	return inventoryPage(ctx, db, "stale drift", q, args, limit)
}

// inventoryPage runs q, which asks for up to limit+1 rows in (account,
// region, arn) order, and returns the first limit and, when there were
// more, the cursor after them.
func inventoryPage(ctx context.Context, db DB, what, q string, args []any, limit int) ([]domain.InventorySecret, *InventoryCursor, error) {
	rows, err := db.Query(ctx, q, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	list, err := scanInventory(rows)
	if err != nil {
		return nil, nil, err
	}
	if len(list) <= limit {
		return list, nil, nil
	}
	list = list[:limit]
	last := list[limit-1]
	return list, &InventoryCursor{Account: last.Account, Region: last.Region, ARN: last.ARN}, nil
}
