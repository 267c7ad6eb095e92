package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/seal"
	"github.com/replicad/replicad/migrations"
	"github.com/replicad/replicad/server"
)

// migrate applies replicad's schema (and River's) to an empty database.
func migrate(ctx context.Context, db string) error {
	p, err := pool(ctx, db)
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = migrations.Apply(ctx, p, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return err
}

func dbName(db string) string {
	u, err := url.Parse(db)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// rowWidth is the average stored size of an operations row, in bytes.
func rowWidth(ctx context.Context, db string) (float64, error) {
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return 0, err
	}
	defer func() { _ = conn.Close(ctx) }()
	var w float64
	err = conn.QueryRow(ctx, `SELECT coalesce(avg(pg_column_size(o.*)), 0)::float8 FROM operations o`).Scan(&w)
	return w, err
}

// stateCounts counts operations by state.
func stateCounts(ctx context.Context, db string) (map[string]int64, error) {
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(ctx) }()
	rows, err := conn.Query(ctx, `SELECT state, count(*) FROM operations GROUP BY state`)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// waitTerminal waits until no operation is pending or running, polling
// every 100 ms, and returns when it saw that. alive reports a process that
// died meanwhile.
func waitTerminal(ctx context.Context, db string, timeout time.Duration, alive func() error) (time.Time, error) {
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return time.Time{}, err
	}
	defer func() { _ = conn.Close(ctx) }()
	deadline := time.Now().Add(timeout)
	for {
		var open int64
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM operations WHERE state IN ('pending', 'running')`).Scan(&open); err != nil {
			return time.Time{}, err
		}
		if open == 0 {
			return time.Now(), nil
		}
		if err := alive(); err != nil {
			return time.Time{}, err
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d operations still unfinished after %s", open, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// queueWindow is the span River's jobs were worked in: from the first
// job's first attempt to the last job's completion, read from river_job, so
// replicad and the River baseline are timed the same way.
func queueWindow(ctx context.Context, db string) (jobs int64, span time.Duration, err error) {
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = conn.Close(ctx) }()
	var secs float64
	err = conn.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM max(finalized_at) - min(attempted_at)), 0)::float8
		FROM river_job WHERE state = 'completed'`).Scan(&jobs, &secs)
	return jobs, time.Duration(secs * float64(time.Second)), err
}

// insertHistory bulk-loads n finished operations with COPY, as replicad
// itself would have left them: SUCCEEDED Replicates of one Region, params
// sealed with the data key and bound to the row's id (so reads open them),
// a DescribeSecret, ReplicateSecretToRegions, DescribeSecret call record,
// no job, created over the past 30 days in id (and seq) order. They have no
// audit events: history would have them, but audit_events is not read by
// what this benchmark measures.
func insertHistory(ctx context.Context, db string, dataKey []byte, n int) error {
	box, err := seal.New(dataKey)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	now := time.Now()
	step := 30 * 24 * time.Hour / time.Duration(max(n, 1))
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i >= n {
			return nil, nil
		}
		created := now.Add(-30 * 24 * time.Hour).Add(time.Duration(i) * step)
		i++
		id := newV7At(created)
		secret := fmt.Sprintf("bench/history/s%d", i)
		region := replicaRegion(i)
		params, _ := json.Marshal(domain.Params{SecretID: secret, Replicas: []domain.ReplicaParam{{Region: region}}})
		regions, _ := json.Marshal([]domain.RegionProgress{{Region: region, State: domain.RegionSucceeded, ReplicationStatus: "InSync"}})
		started, ended := created.Add(20*time.Millisecond), created.Add(260*time.Millisecond)
		calls, _ := json.Marshal([]domain.AWSCall{
			{API: "DescribeSecret", Region: primaryRegion, RequestID: uuid.NewString(), Time: created.Add(15 * time.Millisecond)},
			{API: "ReplicateSecretToRegions", Region: primaryRegion, RequestID: uuid.NewString(), Time: started.Add(3 * time.Millisecond)},
			{API: "DescribeSecret", Region: primaryRegion, RequestID: uuid.NewString(), Time: ended.Add(-2 * time.Millisecond)},
		})
		return []any{id, string(domain.KindReplicate), string(domain.StateSucceeded), secret, secret, primaryRegion,
			box.Seal(params, id[:]), string(regions), server.Anonymous, "fp-history", "{}", string(calls), 1,
			created, ended, started, ended}, nil
	})
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"operations"},
		[]string{"id", "kind", "state", "secret_key", "secret_display", "aws_region", "params", "regions", "principal",
			"reason_fingerprint", "labels", "aws_calls", "attempts", "created_at", "updated_at", "started_at", "ended_at"}, src)
	if err != nil {
		return fmt.Errorf("copy history: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE operations")
	return err
}

// newV7At is a UUIDv7 stamped with t rather than the clock, so historical
// rows' ids are ordered as their creation times are.
func newV7At(t time.Time) uuid.UUID {
	u := uuid.New() // random, with the RFC 4122 variant bits
	ms := uint64(t.UnixMilli())
	for b := range 6 {
		u[b] = byte(ms >> (8 * (5 - b)))
	}
	u[6] = u[6]&0x0f | 0x70
	return u
}
