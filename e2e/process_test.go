package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// kill -9 in the middle of operations: after a restart every accepted
// operation reaches a terminal state and AWS's side matches.
func TestCrashRecovery(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	// Replication takes long enough that an operation seen RUNNING is still
	// RUNNING a moment later, when the kill lands.
	sm := startWatchedStandin(t, standin.Options{ReplicationDelay: 2 * time.Second, Faults: standin.Faults{Latency: 30 * time.Millisecond}})
	c := newCluster(t, sm.URL)
	crashFlags := []string{"--workers", "8", "--job-timeout", "4s", "--rescue-after", "6s"}
	p1 := c.start(t, "replicad-1", crashFlags...)
	secrets := sm.seed(t, 12, "crash")
	ops := submitWorkload(t, p1.client, secrets, 5, 7)

	deadline := time.Now().Add(30 * time.Second)
	for countState(t, c.dbURL, "running") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no operation started within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p1.kill9(t)
	// Nothing writes to the database between the kill and the next start:
	// this is what the kill interrupted.
	if running := countState(t, c.dbURL, "running"); running == 0 {
		t.Fatal("the kill hit no RUNNING operation: the test would prove nothing about recovery")
	}

	p2 := c.start(t, "replicad-2", crashFlags...)
	waitAll(t, p2.client, ops, 90*time.Second)
	verifyFinalState(t, c.dbURL, sm, ops)
}

// Two processes on one database split the work and never run one operation
// (or two operations on one secret) at the same time.
func TestTwoProcessesShareTheWork(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{ReplicationDelay: 50 * time.Millisecond, Faults: standin.Faults{Latency: 20 * time.Millisecond}})
	c := newCluster(t, sm.URL)
	p1 := c.start(t, "replicad-a", "--workers", "4")
	p2 := c.start(t, "replicad-b", "--workers", "4")
	secrets := sm.seed(t, 16, "shared")
	// Half the requests through each process.
	ops := submitWorkload(t, p1.client, secrets[:8], 4, 11)
	ops = append(ops, submitWorkload(t, p2.client, secrets[8:], 4, 13)...)
	waitAll(t, p1.client, ops, 60*time.Second)
	verifyFinalState(t, c.dbURL, sm, ops)

	ctx := context.Background()
	conn := connect(t, c.dbURL)
	var workers int
	if err := conn.QueryRow(ctx, "SELECT count(DISTINCT w) FROM river_job, unnest(attempted_by) w").Scan(&workers); err != nil {
		t.Fatal(err)
	}
	if workers < 2 {
		t.Errorf("jobs were worked by %d process(es), want both", workers)
	}
}

// SIGTERM drains: in-flight work finishes or is handed back within the
// drain timeout, and nothing stays RUNNING: a successor finishes it all
// without waiting for the crash-rescue delay.
func TestSIGTERMDrains(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{ReplicationDelay: 3 * time.Second})
	c := newCluster(t, sm.URL)
	// A rescue delay far beyond the test: only hand-back can finish the work.
	flags := []string{"--workers", "8", "--drain-timeout", "1s", "--job-timeout", "2m", "--rescue-after", "10m"}
	p1 := c.start(t, "replicad-1", flags...)
	secrets := sm.seed(t, 8, "drain")
	ops := submitWorkload(t, p1.client, secrets, 1, 3)
	deadline := time.Now().Add(10 * time.Second)
	for countState(t, c.dbURL, "running") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no operation started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := p1.term(t, 15*time.Second); took > 8*time.Second {
		t.Errorf("SIGTERM took %s with a 1s drain", took)
	}
	p2 := c.start(t, "replicad-2", flags...)
	waitAll(t, p2.client, ops, 40*time.Second)
	verifyFinalState(t, c.dbURL, sm, ops)
}

// countRunning counts the RUNNING operations of one kind.
func countRunning(t *testing.T, dbURL, kind string) int {
	t.Helper()
	conn := connect(t, dbURL)
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM operations WHERE state = 'running' AND kind = $1", kind).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func countState(t *testing.T, dbURL, state string) int {
	t.Helper()
	ctx := context.Background()
	conn := connect(t, dbURL)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM operations WHERE state = $1", state).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
