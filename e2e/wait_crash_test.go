package e2e

import (
	"testing"
	"time"

	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// kill -9 while many operations wait for a long replication, more of them
// than there are workers (waiting holds no worker): a successor finishes
// every one, and no ReplicateSecretToRegions is sent twice.
func TestCrashDuringLongReplicationWaits(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{ReplicationDelay: 8 * time.Second})
	c := newCluster(t, sm.URL)
	flags := []string{"--workers", "2", "--job-timeout", "4s", "--rescue-after", "6s"}
	p1 := c.start(t, "replicad-1", flags...)
	secrets := sm.seed(t, 12, "waitcrash")
	ops := submitWorkload(t, p1.client, secrets, 1, 17)
	replicates := 0
	for _, o := range ops {
		if o.replicate {
			replicates++
		}
	}
	if replicates < 3 {
		t.Fatalf("the workload has %d Replicates: too few to wait on more than 2 workers", replicates)
	}

	// Replicates are what waits (8 s for the stand-in to replicate):
	// counting RUNNING operations of every kind once let a Remove, RUNNING
	// for milliseconds, make up the three, finished by the kill.
	deadline := time.Now().Add(30 * time.Second)
	for countRunning(t, c.dbURL, "replicate") < 3 {
		if time.Now().After(deadline) {
			t.Fatal("fewer than 3 Replicates were waiting at once within 30s with 2 workers")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p1.kill9(t)
	if running := countRunning(t, c.dbURL, "replicate"); running < 3 {
		t.Fatalf("the kill hit %d RUNNING Replicates, want more than the 2 workers", running)
	}

	p2 := c.start(t, "replicad-2", flags...)
	waitAll(t, p2.client, ops, 90*time.Second)
	verifyFinalState(t, c.dbURL, sm, ops)
	if got := sm.Stats().Region("us-east-1").APIs["ReplicateSecretToRegions"].Requests; got != int64(replicates) {
		t.Errorf("ReplicateSecretToRegions sent %d times for %d Replicates on fresh secrets: a write was repeated", got, replicates)
	}
}
