package audit_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/internal/audit"
	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/pgserver"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
	"github.com/replicad/replicad/migrations"
)

// Issue 12 item 4: after a PostgreSQL restart, AWS-call events went only to
// stderr (audit_event_unstored). An AWS call attempt observed while the
// database is down is stored once it is back, and never logged as lost.
// Slow tier: it starts, stops and restarts a PostgreSQL server of its own.
func TestAWSCallEventsSurviveAPostgreSQLRestart(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "pg")
	srv, err := pgserver.Start(ctx, pgserver.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	pool, err := pgxpool.New(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := migrations.Apply(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	var logs testenv.Buffer
	w := audit.NewWriter(pool, audit.WriterConfig{})
	w.Run()
	red, err := redact.New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	trail := audit.NewTrail(w, red, slog.New(slog.NewJSONHandler(&logs, nil)))

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	calls := []string{"rid-replicate-1", "rid-remove-2", "rid-describe-3"}
	for i, api := range []string{"ReplicateSecretToRegions", "RemoveRegionsFromReplication", "DescribeSecret"} {
		trail.ObserveAttempt(ctx, awssm.Attempt{API: api, Region: "us-east-1", RequestID: calls[i], Time: time.Now(),
			Params: awssm.CallParams{SecretID: "prod/db"}, Caller: awssm.Caller{Principal: "worker", OperationID: "op-1"}})
	}
	// The DescribeSecret poll is routine: queued, then failed, later.
	for wait := time.Now().Add(30 * time.Second); w.Retrying() != len(calls); {
		if time.Now().After(wait) {
			t.Fatalf("%d events wait for the database, want %d", w.Retrying(), len(calls))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The same port and data directory: the pool's URL works again.
	srv, err = pgserver.Start(ctx, pgserver.Options{DataDir: dir, Port: srv.Port})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE kind = 'aws_call' AND aws_request_id = ANY($1)`, calls).Scan(&n)
		if err == nil && n == len(calls) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d AWS-call events stored 60s after the restart (last error %v)", n, len(calls), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.Close()
	if got := logs.String(); strings.Contains(got, "audit_event_unstored") || !strings.Contains(got, "audit_event_retrying") {
		t.Errorf("logs:\n%s", got)
	}
}
