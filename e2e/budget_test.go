package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/replicad/replicad/standin"
)

// Two processes configured with one write budget share it: the stand-in
// never sees more than the budget from both together.
func TestWriteBudgetIsSharedAcrossProcesses(t *testing.T) {
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	const budget = 8
	flags := []string{"--aws-write-rate", "8", "--heartbeat-interval", "300ms", "--workers", "8"}
	p1 := c.start(t, "replicad-1", flags...)
	p2 := c.start(t, "replicad-2", flags...)
	time.Sleep(time.Second) // both have seen each other's heartbeat
	secrets := sm.seed(t, 40, "shared-budget")
	var ops []submitted
	for i, s := range secrets {
		client := p1.client
		if i%2 == 1 {
			client = p2.client
		}
		ops = append(ops, submitWorkload(t, client, []string{s}, 1, uint64(i))...)
	}
	began := time.Now()
	waitAll(t, p1.client, ops, 60*time.Second)
	w := sm.Stats().Region("us-east-1").Writes
	if w.MaxPerSecond > budget {
		t.Errorf("the stand-in saw %d writes in one second from two processes sharing a budget of %d", w.MaxPerSecond, budget)
	}
	if elapsed := time.Since(began); float64(w.Requests) > budget*elapsed.Seconds()+budget {
		t.Errorf("%d writes in %s exceed the budget", w.Requests, elapsed)
	}
	_ = context.Background
}
