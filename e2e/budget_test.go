package e2e

import (
	"testing"
	"time"

	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// Two processes configured with one write budget share it: the stand-in
// never sees more than the budget from both together.
func TestWriteBudgetIsSharedAcrossProcesses(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	const budget = 8
	// A heartbeat of a second drops a peer from the share only after three
	// silent seconds, which no scheduling delay on a loaded machine reaches;
	// a shorter one would let a late heartbeat double a process's rate.
	flags := []string{"--aws-write-rate", "8", "--heartbeat-interval", "1s", "--workers", "8"}
	p1 := c.start(t, "replicad-1", flags...)
	p2 := c.start(t, "replicad-2", flags...)
	// Both must have taken their half before the first write.
	for _, p := range []*proc{p1, p2} {
		waitMetric(t, p, "replicad_aws_budget_share_instances", 2, 30*time.Second)
	}
	secrets := sm.seed(t, 40, "shared-budget")
	// Workers start writing as soon as the first operation is accepted: the
	// clock starts before the first request.
	began := time.Now()
	var ops []submitted
	for i, s := range secrets {
		client := p1.client
		if i%2 == 1 {
			client = p2.client
		}
		ops = append(ops, submitWorkload(t, client, []string{s}, 1, uint64(i))...)
	}
	waitAll(t, p1.client, ops, 60*time.Second)
	elapsed := time.Since(began)
	w := sm.Stats().Region("us-east-1").Writes
	if w.MaxPerSecond > budget {
		t.Errorf("the stand-in saw %d writes in one second from two processes sharing a budget of %d", w.MaxPerSecond, budget)
	}
	if float64(w.Requests) > budget*elapsed.Seconds()+budget {
		t.Errorf("%d writes in %s exceed the budget", w.Requests, elapsed)
	}
}

// waitMetric waits until a process's /metrics shows series at want.
func waitMetric(t *testing.T, p *proc, series string, want float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, ok := scrape(t, p)[series]
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is %v (present %v) after %s, want %v", p.name, series, got, ok, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
