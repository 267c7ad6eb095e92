package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Sizes are how big each case runs. Full is the sizes; a case that
// would take much more than a few minutes there is shrunk, and the report
// records the size used.
type Sizes struct {
	// Cases 1 and 2: concurrent clients, and how long each level is
	// measured after a warm-up.
	AcceptClients  []int
	AcceptWarmup   time.Duration
	AcceptDuration time.Duration
	// Case 3: operations worked through to SUCCEEDED, and on how many
	// secrets (operations on one secret run one after another).
	E2EOps, E2ESecrets int
	// Case 4: operations against a per-Region write budget, replicad's
	// write rate below it.
	QuotaOps    int
	QuotaBudget int
	QuotaRate   float64
	// Case 5: sequential requests.
	PickupRequests int
	// Case 6: operations and secrets to read, clients, duration.
	ReadOps, ReadSecrets int
	ReadClients          int
	ReadWarmup           time.Duration
	ReadDuration         time.Duration
	// Case 7: historical (terminal) operations and queued ones.
	MemoryStored, MemoryQueued int
	// Case 8: Replicates per stand-in replication delay.
	ReplicationOps    int
	ReplicationDelays []time.Duration
	// Case 9: secrets failed over from a Region that is down.
	FailoverSecrets int
	// Case 10: secrets in the fleet, the write budget per (account,
	// Region) (the policy may use all of it), and inventory rows for the
	// peak RSS.
	FleetSecrets       int
	FleetWriteRate     float64
	FleetInventoryRows int
	// Profiles: CPU profile length, and the backlog of case 3's
	// profiling pass.
	ProfileSeconds                   int
	ProfileE2EOps, ProfileE2ESecrets int
}

// Scales are the sizes by name: "full" for make bench, "small" while
// developing, "tiny" for the harness's own test.
func Scales() map[string]Sizes {
	return map[string]Sizes{
		"full": {
			// Measured windows of 10 s: at 1,000–4,000 requests/s that is
			// 10,000–40,000 requests per window, so a p99 rests on 100–400
			// requests above it and a rate's sampling error is well under
			// 1%, far below the spread other processes on a shared machine
			// add between runs.
			AcceptClients: []int{16, 64}, AcceptWarmup: 3 * time.Second, AcceptDuration: 10 * time.Second,
			E2EOps: 20000, E2ESecrets: 2000,
			QuotaOps: 5000, QuotaBudget: 50, QuotaRate: 45,
			PickupRequests: 200,
			ReadOps:        2000, ReadSecrets: 200, ReadClients: 64, ReadWarmup: 2 * time.Second, ReadDuration: 10 * time.Second,
			MemoryStored: 100000, MemoryQueued: 10000,
			ReplicationOps: 2000, ReplicationDelays: []time.Duration{10 * time.Second, time.Minute},
			FailoverSecrets: 500,
			FleetSecrets:    10000, FleetWriteRate: 50, FleetInventoryRows: 100000,
			ProfileSeconds: 10, ProfileE2EOps: 5000, ProfileE2ESecrets: 500,
		},
		"small": {
			AcceptClients: []int{16, 64}, AcceptWarmup: time.Second, AcceptDuration: 5 * time.Second,
			E2EOps: 2000, E2ESecrets: 200,
			QuotaOps: 500, QuotaBudget: 50, QuotaRate: 45,
			PickupRequests: 50,
			ReadOps:        500, ReadSecrets: 50, ReadClients: 64, ReadWarmup: time.Second, ReadDuration: 5 * time.Second,
			MemoryStored: 20000, MemoryQueued: 2000,
			ReplicationOps: 500, ReplicationDelays: []time.Duration{10 * time.Second},
			FailoverSecrets: 500,
			FleetSecrets:    2000, FleetWriteRate: 50, FleetInventoryRows: 100000,
			ProfileSeconds: 5, ProfileE2EOps: 1500, ProfileE2ESecrets: 150,
		},
		"tiny": {
			AcceptClients: []int{4, 8}, AcceptWarmup: 200 * time.Millisecond, AcceptDuration: time.Second,
			E2EOps: 60, E2ESecrets: 20,
			QuotaOps: 30, QuotaBudget: 20, QuotaRate: 18,
			PickupRequests: 10,
			ReadOps:        40, ReadSecrets: 10, ReadClients: 8, ReadWarmup: 200 * time.Millisecond, ReadDuration: time.Second,
			MemoryStored: 500, MemoryQueued: 50,
			ReplicationOps: 30, ReplicationDelays: []time.Duration{time.Second},
			FailoverSecrets: 20,
			FleetSecrets:    200, FleetWriteRate: 50, FleetInventoryRows: 2000,
			ProfileSeconds: 1, ProfileE2EOps: 40, ProfileE2ESecrets: 20,
		},
	}
}

// Runner runs cases against one Stack.
type Runner struct {
	Stack *Stack
	Sizes Sizes
	// ProfileDir receives the CPU and allocation profiles of cases 1, 3
	// and 6; empty skips the profiling passes.
	ProfileDir string
	// PgStat records PostgreSQL's busiest statements per case (the stack
	// must have been started with PgStatSettings).
	PgStat bool
	// PacedApart runs the paced cases one after another instead of side by
	// side (to see whether running together moved a figure).
	PacedApart bool

	// grpcAccept is case 1's rate per client count, the reference of case 2.
	grpcAccept map[int]float64
	profiles   []Profile
}

// Case is one benchmark of the issue.
type Case struct {
	ID   int
	Name string
	// Paced: the case's length is set by an AWS budget or a replication
	// delay, not by how fast the machine works, and its figures are
	// judged against that pace. Paced cases use a small share of the
	// cores (tens of operations per second), so make bench runs them side
	// by side, each on its own replicad, stand-in and database, after the
	// cases that measure how much work the cores can do: one after
	// another, their paced waits alone came to some 14 minutes.
	Paced bool
	run   func(r *Runner, ctx context.Context, res *Result) error
}

// Cases lists every case in the order make bench runs them.
func Cases() []Case {
	return []Case{
		{1, "Accept rate over gRPC vs pgbench", false, (*Runner).acceptGRPC},
		{2, "Accept rate over REST (gateway) vs gRPC", false, (*Runner).acceptREST},
		{3, "End to end through SUCCEEDED vs River alone", false, (*Runner).endToEnd},
		{4, "Draining a backlog within an AWS write quota", true, (*Runner).quota},
		{5, "Pickup latency at low load", false, (*Runner).pickup},
		{6, "Read latency: Status and GetOperation", false, (*Runner).reads},
		{7, "Peak memory with a large history and backlog", false, (*Runner).memory},
		{8, "Realistic replication time", true, (*Runner).replication},
		{9, "Failover of a Region that is down", true, (*Runner).failover},
		{10, "Fleet: inventory scan, time to compliance, memory", true, (*Runner).fleet},
	}
}

// Run runs the cases with the given ids (all when empty): the unpaced ones
// one after another, then the paced ones side by side (one after another
// with PacedApart). A case that fails is reported with its error; the
// others still run.
func (r *Runner) Run(ctx context.Context, ids []int) []*Result {
	want := map[int]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var unpaced, paced []Case
	for _, c := range Cases() {
		switch {
		case len(want) > 0 && !want[c.ID]:
		case c.Paced && !r.PacedApart:
			paced = append(paced, c)
		default:
			unpaced = append(unpaced, c)
		}
	}
	var out []*Result
	for _, c := range unpaced {
		if ctx.Err() != nil {
			return out
		}
		out = append(out, r.runCase(ctx, c, r.PgStat))
	}
	if len(paced) == 0 || ctx.Err() != nil {
		return out
	}
	// The template database is made once, before the cases that copy it
	// start together.
	if err := r.Stack.ensureTemplate(ctx); err != nil {
		r.Stack.logf("template database: %v", err)
	}
	together := make([]*Result, len(paced))
	var wg sync.WaitGroup
	for i, c := range paced {
		wg.Go(func() {
			// pg_stat_statements is one table for the whole server: the
			// cases running together could not be told apart in it.
			together[i] = r.runCase(ctx, c, false)
			if len(paced) > 1 {
				together[i].note("Run side by side with the other paced cases (%s), each on its own replicad, stand-in and database; %s.", pacedIDs(paced), "Took is this case's own wall time")
			}
		})
	}
	wg.Wait()
	return append(out, together...)
}

func (r *Runner) runCase(ctx context.Context, c Case, pgStat bool) *Result {
	res := newResult(c.ID, c.Name)
	r.Stack.logf("case %d: %s", c.ID, c.Name)
	began := time.Now()
	res.Began = began
	pgstat := pgStat && r.Stack.resetStatements(ctx)
	if err := c.run(r, ctx, res); err != nil {
		res.Error = err.Error()
		r.Stack.logf("case %d failed: %v", c.ID, err)
	}
	if pgstat {
		if st, err := r.Stack.topStatements(ctx, 25); err == nil {
			res.Statements = st
		}
	}
	res.Seconds = time.Since(began).Seconds()
	r.Stack.logf("case %d done in %.0fs", c.ID, res.Seconds)
	return res
}

func pacedIDs(cs []Case) string {
	out := ""
	for i, c := range cs {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprint(c.ID)
	}
	return "cases " + out
}

// Profiles are the profiles the run saved.
func (r *Runner) Profiles() []Profile { return r.profiles }
