package migrations_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/replicad/replicad/internal/pgtest"
	"github.com/replicad/replicad/migrations"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestCheckReportsPendingOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewEmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := migrations.Check(ctx, pool); !errors.Is(err, migrations.ErrPending) {
		t.Fatalf("Check on empty database = %v, want ErrPending", err)
	}
}

// Several instances starting at once must all succeed: one migrates, the
// others wait on the advisory lock and then find nothing to do.
func TestConcurrentApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewEmptyDatabase(t)
	const instances = 4
	results := make([]migrations.Result, instances)
	var g errgroup.Group
	for i := range instances {
		g.Go(func() error {
			pool, err := pgxpool.New(ctx, url)
			if err != nil {
				return err
			}
			defer pool.Close()
			results[i], err = migrations.Apply(ctx, pool, discard())
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("concurrent Apply: %v", err)
	}
	migrators := 0
	for _, r := range results {
		if len(r.Applied) > 0 {
			migrators++
			if len(r.RiverApplied) == 0 {
				t.Errorf("the instance that applied our migrations applied no River migrations: %+v", r)
			}
		}
	}
	if migrators != 1 {
		t.Fatalf("%d instances applied migrations, want exactly 1: %+v", migrators, results)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := migrations.Check(ctx, pool); err != nil {
		t.Fatalf("Check after Apply: %v", err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM operations").Scan(&n); err != nil {
		t.Fatalf("operations table missing: %v", err)
	}
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM river_job").Scan(&n); err != nil {
		t.Fatalf("river_job table missing: %v", err)
	}
}

// Every index on the accept path's tables costs each accept; each one here
// is justified by a query (docs/operations.md, "Indexes"). A new index must
// be added to this list with the query that needs it.
func TestIndexesAreTheJustifiedOnes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pgtest.NewEmptyDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := migrations.Apply(ctx, pool, discard()); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		// operations
		"operations_pkey": true, "operations_seq_key": true, "operations_principal_request_id": true,
		"operations_secret_active": true, "operations_secret_seq": true, "operations_state_seq": true,
		// store.ExpiredApprovals: the expiry sweep (partial: awaiting_approval rows only)
		"operations_awaiting_approval": true,
		// reconciliation: one active operation per (policy, secret, kind);
		// policy status counts (both partial: policy operations only)
		"operations_policy_active": true, "operations_policy_state": true,
		// store.Children and store.ChildStates: a failover parent's children (partial: children only)
		"operations_parent": true,
		// audit_events
		"audit_events_pkey": true, "audit_events_id_key": true, "audit_events_chain_pos_key": true,
		"audit_events_time": true, "audit_events_unchained": true, "audit_events_principal": true,
		"audit_events_secret": true, "audit_events_operation": true,
		// river_job: River's own fetch, completion, cleaner and unique paths
		// (not river_job_kind: migration 00016)
		"river_job_pkey": true, "river_job_state_and_finalized_at_index": true,
		"river_job_prioritized_fetching_index": true, "river_job_unique_idx": true,
	}
	rows, err := pool.Query(ctx, `SELECT indexname FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename IN ('operations', 'audit_events', 'river_job')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got[n] = true
		if !want[n] {
			t.Errorf("index %s is not in the justified list", n)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for n := range want {
		if !got[n] {
			t.Errorf("justified index %s is missing", n)
		}
	}
}
