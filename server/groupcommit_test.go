package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// TestAcceptsShareOneCommitWithTheirAuditEvents: concurrent Replicates over
// gRPC and REST are each durable with their job and their RPC's audit event
// in one transaction (same xmin), concurrent ones share transactions, and a
// request whose row the database refuses (a request_id taken by a
// different request in the same batch) fails alone: its neighbours in the batch are accepted.
func TestAcceptsShareOneCommitWithTheirAuditEvents(t *testing.T) {
	t.Parallel()
	_, srvURL := smtest.Serve(t, standin.Options{})
	env := testenv.Start(t, testenv.Options{AWSEndpoint: srvURL, Configure: func(c *daemon.Config) {
		// One committer gathering for a long window: every request below
		// is sent at once, so they meet in few transactions.
		c.Engine.AcceptCommitters = 1
		c.Engine.AcceptWindow = 500 * time.Millisecond
		c.Engine.Queue.InsertOnly = true // keep the jobs for the check
		// Keep the chainer off the accepts' events until the check:
		// linking an event updates its row, which gives it a new xmin.
		// (Holding its lock instead would hold up the audit writer too,
		// which chains as it inserts under that lock: a refused request's
		// event then waited 20 s.)
		c.AuditChainInterval = time.Hour
	}})
	ctx := context.Background()

	const n = 24
	var wg sync.WaitGroup
	start := make(chan struct{})
	reused := make(chan error, 2)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			name := fmt.Sprintf("gc/s%d", i%8) // several per secret: only the first heads its queue
			if i%2 == 0 {
				if _, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: name, Regions: regions("eu-west-1")}); err != nil {
					t.Errorf("gRPC Replicate %d: %v", i, err)
				}
				return
			}
			if code, body := env.REST(t, "POST", "/v1/secrets/"+escape(name)+":replicate", `{"regions": [{"region": "eu-west-1"}]}`); code != http.StatusOK {
				t.Errorf("REST Replicate %d: %d %s", i, code, body)
			}
		}()
	}
	// Two different requests with one request_id, in the same batch: the
	// second one's operation row is refused (unique request_id), which
	// must fail it alone.
	for _, region := range []string{"eu-west-1", "us-west-2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "gc/dup", Regions: regions(region), RequestId: "0192f3a0-7c1e-7a00-8000-00000000d0b1"})
			if err != nil {
				t.Logf("request_id shared, %s: %v", region, err)
			}
			reused <- err
		}()
	}
	close(start)
	wg.Wait()
	close(reused)
	failed := 0
	for err := range reused {
		if err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Fatalf("of two different requests sharing a request_id, %d failed, want 1", failed)
	}

	var ops, txs, heads, mismatched, unaudited int
	err := env.DB.QueryRow(ctx, `
		SELECT count(*), count(DISTINCT o.xmin::text), count(o.job_id),
			count(*) FILTER (WHERE a.xmin::text <> o.xmin::text OR j.xmin::text <> o.xmin::text),
			count(*) FILTER (WHERE a.id IS NULL)
		FROM operations o
		LEFT JOIN audit_events a ON a.operation_id = o.id AND a.kind = 'rpc' AND a.method = '/replicad.v1.ReplicationService/Replicate'
		LEFT JOIN river_job j ON j.id = o.job_id
		WHERE o.secret_key LIKE 'gc/s%'`).Scan(&ops, &txs, &heads, &mismatched, &unaudited)
	if err != nil {
		t.Fatal(err)
	}
	if ops != n || heads != 8 {
		t.Fatalf("%d operations with %d jobs, want %d with one job per secret (8)", ops, heads, n)
	}
	if mismatched != 0 {
		rows, err := env.DB.Query(ctx, `SELECT o.xmin::text, coalesce(a.xmin::text, ''), coalesce(j.xmin::text, ''), coalesce(a.chain_pos, 0)
			FROM operations o
			LEFT JOIN audit_events a ON a.operation_id = o.id AND a.kind = 'rpc' AND a.method = '/replicad.v1.ReplicationService/Replicate'
			LEFT JOIN river_job j ON j.id = o.job_id WHERE o.secret_key LIKE 'gc/s%' ORDER BY o.seq`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var o, a, j string
			var pos int64
			if err := rows.Scan(&o, &a, &j, &pos); err != nil {
				t.Fatal(err)
			}
			t.Logf("operation xmin %s, its event's %s (chain position %d), its job's %s", o, a, pos, j)
		}
		rows.Close()
	}
	if unaudited != 0 || mismatched != 0 {
		t.Fatalf("%d operations without their audit event, %d whose event or job committed in another transaction", unaudited, mismatched)
	}
	if txs >= n {
		t.Fatalf("%d accepts took %d transactions: none shared a commit", n, txs)
	}
	// Exactly one RPC event per accepted request (the engine stored it;
	// the interceptor did not add a second).
	var events int
	if err := env.DB.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE kind = 'rpc' AND method = '/replicad.v1.ReplicationService/Replicate' AND code = 0`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if events != n+1 {
		t.Fatalf("%d successful Replicate events, want %d", events, n+1)
	}
	// The accepts' events chained in their transactions (those that found
	// the chain lock free) verify: the hashes PostgreSQL computed are the
	// ones verification computes.
	rep, err := replicadv1.NewAuditServiceClient(env.Conn).VerifyAudit(ctx, &replicadv1.VerifyAuditRequest{})
	if err != nil || !rep.GetOk() || rep.GetVerified() == 0 {
		t.Fatalf("gRPC VerifyAudit after the accepts, chainer off: %v %v", rep, err)
	}
	// An accept alone finds the lock free: its event is chained as it is
	// inserted, the chainer being off.
	resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "gc/alone", Regions: regions("eu-west-1")})
	if err != nil {
		t.Fatal(err)
	}
	var chained bool
	if err := env.DB.QueryRow(ctx, `SELECT chain_pos IS NOT NULL FROM audit_events WHERE kind = 'rpc' AND operation_id = $1`,
		resp.GetOperation().GetId()).Scan(&chained); err != nil || !chained {
		t.Fatalf("a lone accept's event: chained %v (%v), want chained at insert", chained, err)
	}
	if code, body := env.REST(t, "POST", "/v1/audit:verify", `{}`); code != http.StatusOK || !strings.Contains(string(body), `"ok":true`) {
		t.Fatalf("REST verify after the accepts, chainer off: %d %s", code, body)
	}
	t.Logf("%d accepts in %d transactions", n, txs)
}
