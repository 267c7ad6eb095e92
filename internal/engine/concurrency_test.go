package engine_test

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

// Many interleaved operations on a few secrets, submitted concurrently:
// each secret's operations run one at a time in acceptance order, and the
// final state equals a serial run of them in that order.
func TestPerSecretOrderingUnderConcurrency(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	_, endpoint := smtest.Serve(t, standin.Options{ReplicationDelay: 20 * time.Millisecond})
	env := start(t, endpoint)
	ctx := context.Background()
	regionPool := []string{"eu-west-1", "eu-west-3", "us-west-2", "ap-south-1"}
	secrets := make([]string, 4)
	for i := range secrets {
		secrets[i] = uniqueName("order/s")
		seedSecret(t, endpoint, "us-east-1", secrets[i])
	}

	type submitted struct {
		secret  string
		replica bool
		regions []string
		id      string
	}
	const perSecret = 12
	var (
		mu  sync.Mutex
		all []submitted
		wg  sync.WaitGroup
	)
	rng := rand.New(rand.NewPCG(1, 2))
	var jobs []submitted
	for _, s := range secrets {
		for range perSecret {
			n := 1 + rng.IntN(2)
			regions := append([]string(nil), regionPool...)
			rng.Shuffle(len(regions), func(i, j int) { regions[i], regions[j] = regions[j], regions[i] })
			jobs = append(jobs, submitted{secret: s, replica: rng.IntN(3) > 0, regions: regions[:n]})
		}
	}
	rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	work := make(chan submitted)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				var op *replicadv1.Operation
				if j.replica {
					var rr []*replicadv1.ReplicaRegion
					for _, r := range j.regions {
						rr = append(rr, &replicadv1.ReplicaRegion{Region: r})
					}
					resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: j.secret, Regions: rr})
					if err != nil {
						t.Error(err)
						continue
					}
					op = resp.GetOperation()
				} else {
					resp, err := env.Client.Remove(ctx, &replicadv1.RemoveRequest{SecretId: j.secret, Regions: j.regions})
					if err != nil {
						t.Error(err)
						continue
					}
					op = resp.GetOperation()
				}
				j.id = op.GetId()
				mu.Lock()
				all = append(all, j)
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()

	// Acceptance order is the operations table's seq.
	seq := map[string]int64{}
	rows, err := env.DB.Query(ctx, "SELECT id::text, seq FROM operations")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var s int64
		if err := rows.Scan(&id, &s); err != nil {
			t.Fatal(err)
		}
		seq[id] = s
	}
	rows.Close()
	sort.Slice(all, func(i, j int) bool { return seq[all[i].id] < seq[all[j].id] })

	expected := map[string]map[string]bool{}
	var lastEnd = map[string]time.Time{}
	for _, j := range all {
		op := env.WaitOperation(t, j.id, 60*time.Second)
		if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
			t.Fatalf("operation failed: %s", protojson.Format(op))
		}
		set := expected[j.secret]
		if set == nil {
			set = map[string]bool{}
			expected[j.secret] = set
		}
		for _, r := range j.regions {
			set[r] = j.replica
		}
		// One at a time, in order: each started after the previous ended.
		start := op.GetStartTime().AsTime()
		if prev, ok := lastEnd[j.secret]; ok && start.Before(prev) {
			t.Errorf("secret %s: operation %s started %s before its predecessor ended %s", j.secret, j.id, start, prev)
		}
		lastEnd[j.secret] = op.GetEndTime().AsTime()
	}
	for _, s := range secrets {
		got := replicaSet(describe(t, endpoint, "us-east-1", s))
		for _, r := range regionPool {
			if _, present := got[r]; present != expected[s][r] {
				t.Errorf("secret %s: replica in %s present=%v, serial run says %v (replicas %v)", s, r, present, expected[s][r], got)
			}
		}
	}
}

// With the stand-in throttling 30% of requests and failing 10% with 5xx,
// every operation still succeeds.
func TestTransientFaultsAreRetried(t *testing.T) {
	t.Parallel()
	sm, endpoint := smtest.Serve(t, standin.Options{})
	env := start(t, endpoint)
	ctx := context.Background()
	var secrets []string
	for range 10 {
		s := uniqueName("faulty")
		seedSecret(t, endpoint, "us-east-1", s)
		secrets = append(secrets, s)
	}
	if err := sm.SetFaults(standin.Faults{ThrottleRate: 0.3, ErrorRate: 0.1}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, s := range secrets {
		for _, region := range []string{"eu-west-1", "eu-west-3"} {
			resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: s, Regions: []*replicadv1.ReplicaRegion{{Region: region}}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, resp.GetOperation().GetId())
		}
		if i%2 == 0 {
			resp, err := env.Client.Remove(ctx, &replicadv1.RemoveRequest{SecretId: s, Regions: []string{"eu-west-1"}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, resp.GetOperation().GetId())
		}
	}
	retried := 0
	for _, id := range ids {
		op := env.WaitOperation(t, id, 90*time.Second)
		if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
			t.Errorf("under transient faults an operation ended %s: %s", op.GetState(), op.GetError().GetMessage())
		}
		for _, c := range op.GetAwsCalls() {
			if c.GetErrorCode() != "" {
				retried++
			}
		}
	}
	st := sm.Stats().Region("us-east-1").Total()
	if st.RandomThrottles == 0 || st.ServerErrors == 0 || retried == 0 {
		t.Errorf("faults were not exercised: %+v, %d failed attempts recorded", st, retried)
	}
	_ = sm.SetFaults(standin.Faults{})
	for i, s := range secrets {
		got := replicaSet(describe(t, endpoint, "us-east-1", s))
		if _, ok := got["eu-west-1"]; ok == (i%2 == 0) {
			t.Errorf("secret %s replicas %v", s, got)
		}
	}
}

// Our write rate toward one Region stays within the configured budget, as
// measured by the stand-in. Not parallel: the stand-in runs in this test
// process and stamps arrivals, and the limiter's headroom (3%, about 30 ms
// per second's worth of requests) is all the scheduling delay a one-second
// window can absorb; the other tests of the package would add their own.
func TestWriteRateBudget(t *testing.T) {
	testtier.Slow(t)
	sm, endpoint := smtest.Serve(t, standin.Options{})
	const budget = 8
	env := start(t, endpoint, func(c *daemon.Config) { c.AWS.WriteRate = budget })
	ctx := context.Background()
	const ops = 32
	names := seedUncounted(t, sm, "budget", ops)
	// Workers start on the first operation while the rest are accepted:
	// the clock starts before the first request.
	began := time.Now()
	var ids []string
	for _, s := range names {
		resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: s, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetOperation().GetId())
	}
	for _, id := range ids {
		mustSucceed(t, env, &replicadv1.Operation{Id: id})
	}
	elapsed := time.Since(began)
	w := sm.Stats().Region("us-east-1").Writes
	if w.Requests != ops {
		t.Errorf("the stand-in saw %d writes, want %d", w.Requests, ops)
	}
	// The window is the stand-in's, on arrival: replicad spaces its sends
	// 1/(0.97×budget) apart, and on a loaded machine (make test under the
	// race detector, once) a send can reach the stand-in ~30 ms later than
	// the next one is spaced from it, so nine arrivals fit in one second.
	// One over is that jitter (AWS would throttle it and replicad retry);
	// two over, or the elapsed time below, is pacing broken.
	if w.MaxPerSecond > budget+1 {
		t.Errorf("the stand-in saw %d writes in one second, budget %d", w.MaxPerSecond, budget)
	}
	if min := time.Duration(float64(ops-budget-1) / budget * float64(time.Second)); elapsed < min {
		t.Errorf("%d writes took %s, faster than the budget allows (%s)", ops, elapsed, min)
	}
}

// A backlog on a write budget holds no worker: operations waiting for
// their turn snooze, so the ones already written get the look that ends
// them while the backlog drains. Were the workers kept in the budget's
// line, the queue (oldest jobs first) would fetch every queued operation
// before any written one's look, and none would end before the last
// write (the tail that made bench case 4 miss its target).
func TestWriteBacklogHoldsNoWorker(t *testing.T) {
	testtier.Slow(t)
	sm, endpoint := smtest.Serve(t, standin.Options{})
	// Ten workers: the budget's line holds about 8 × 0.6 s of them
	// (budgetWaitMax), the rest are free for looks.
	const budget, workers, ops = 8, 10, 40
	env := start(t, endpoint, func(c *daemon.Config) {
		c.AWS.WriteRate = budget
		c.Engine.Queue.Workers = workers
	})
	ctx := context.Background()
	names := seedUncounted(t, sm, "backlog", ops)
	// Accepted together, well within the first operation's poll interval:
	// every queued job is older than the first look.
	ids := make([]string, ops)
	var g errgroup.Group
	for i, s := range names {
		g.Go(func() error {
			resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: s, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
			ids[i] = resp.GetOperation().GetId()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	// 40 writes at 8/s take about 5 s; the first operation to end does so
	// about one poll interval after its write, when a few writes were sent.
	var w int64
	for ended := false; !ended; {
		// The writes sent before this round of looks: an operation seen
		// ended here ended after no fewer writes than that.
		w = sm.Stats().Region("us-east-1").Writes.Requests
		for _, id := range ids {
			resp, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: id})
			if err != nil {
				t.Fatal(err)
			}
			if testenv.Terminal(resp.GetOperation().GetState()) {
				ended = true
				break
			}
		}
	}
	t.Logf("the first operation ended after %d of %d writes", w, ops)
	if w > ops/2 {
		t.Errorf("the first operation ended after %d of the backlog's %d writes: the written operations waited behind the backlog", w, ops)
	}
	for _, id := range ids {
		mustSucceed(t, env, &replicadv1.Operation{Id: id})
	}
	if w := sm.Stats().Region("us-east-1").Writes; w.Requests != ops || w.MaxPerSecond > budget+1 {
		t.Errorf("the stand-in saw %d writes, at most %d in one second; want %d within the budget %d", w.Requests, w.MaxPerSecond, ops, budget)
	}
}
