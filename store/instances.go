package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Heartbeat records that instance id is alive and returns how many
// instances have sent a heartbeat within ttl (itself included).
func Heartbeat(ctx context.Context, db DB, id string, ttl time.Duration) (int, error) {
	var live int
	err := db.QueryRow(ctx, `WITH beat AS (
			INSERT INTO instances (id) VALUES ($1)
			ON CONFLICT (id) DO UPDATE SET heartbeat = now()
		)
		SELECT count(*) + 1 FROM instances WHERE id <> $1 AND heartbeat > now() - $2::interval`,
		id, ttl.String()).Scan(&live)
	if err != nil {
		return 0, fmt.Errorf("heartbeat: %w", err)
	}
	return live, nil
}

// DeleteInstance removes an instance on shutdown, so the others take its
// share at once, and forgets instances dead for longer than ttl.
func DeleteInstance(ctx context.Context, db DB, id string, ttl time.Duration) error {
	if _, err := db.Exec(ctx, `DELETE FROM instances WHERE id = $1 OR heartbeat < now() - $2::interval`, id, (10 * ttl).String()); err != nil {
		return fmt.Errorf("delete instance: %w", err)
	}
	return nil
}

// DeadInstances lists the instances whose last heartbeat is older than
// deadAfter by the database's clock (one clock for every process, so no
// process's skew declares another dead).
func DeadInstances(ctx context.Context, db DB, deadAfter time.Duration) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT id FROM instances WHERE heartbeat < now() - $1::interval ORDER BY id`, deadAfter.String())
	if err != nil {
		return nil, fmt.Errorf("dead instances: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("dead instances: %w", err)
	}
	return ids, nil
}
