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
