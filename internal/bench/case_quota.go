package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/awssm"
)

// Case 4: a burst of Replicates on secrets whose primaries are all in one
// Region, against a stand-in enforcing a per-Region write budget, with
// replicad's write rate set below it. The backlog should drain at
// replicad's rate, with no throttling answered and nothing failed.
func (r *Runner) quota(ctx context.Context, res *Result) (err error) {
	n, budget, rate := r.Sizes.QuotaOps, r.Sizes.QuotaBudget, r.Sizes.QuotaRate
	flags := []string{fmt.Sprintf("--aws-write-rate=%g", rate), "--aws-read-rate=-1"}
	res.Size["operations"] = n
	res.Settings["standin_write_budget_per_region"] = budget
	res.Settings["replicad_flags"] = flags
	ideal := float64(n) / rate
	res.note("All %d secrets have their primary in %s, where every ReplicateSecretToRegions goes. They are seeded into the stand-in directly (POST /_standin/seed: no request), so seeding spends none of the write budget (POST /_standin/faults {\"writeBudget\": %d}).", n, primaryRegion, budget)
	res.note("Completion time runs from the first Replicate request sent to the last operation's end_time; the %d requests are sent as fast as 16 clients can while the workers already drain.", n)
	res.note("--aws-read-rate=-1: each operation also makes two DescribeSecret calls, which AWS budgets separately (far higher than writes); with replicad's default read rate of 50/s the reads, not the write budget, would pace this run (2 × %d reads at 49/s ≈ %.0f s).", n, 2*float64(n)/49)
	res.note("replicad spaces writes at %.0f%% of --aws-write-rate (awssm.JitterHeadroom), so the best possible completion is %.1f s, %.1f%% over %d/%g s.",
		100*awssm.JitterHeadroom, float64(n)/(rate*awssm.JitterHeadroom), 100*(1/awssm.JitterHeadroom-1), n, rate)

	sm, err := r.Stack.StartStandin(ctx, "standin-quota")
	if err != nil {
		return err
	}
	defer stopInto(&err, sm.process)
	names := secretNames("bench/quota/s", n)
	if err := sm.Seed(ctx, names); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := sm.SetFaults(ctx, map[string]any{"writeBudget": budget}); err != nil {
		return err
	}
	before, err := sm.Stats(ctx)
	if err != nil {
		return err
	}
	db, err := r.Stack.NewDatabase(ctx, "bench_quota")
	if err != nil {
		return err
	}
	rd, err := r.Stack.StartReplicad(ctx, ReplicadOptions{Name: "replicad-quota", DatabaseURL: db, AWSEndpoint: sm.URL, Flags: flags})
	if err != nil {
		return err
	}
	defer stopInto(&err, rd.process)
	cl, err := dial(rd.GRPCAddr, 16)
	if err != nil {
		return err
	}
	defer cl.Close()
	began := time.Now()
	err = forEach(ctx, n, 16, func(ctx context.Context, i int) error {
		_, err := cl.rpc[i%len(cl.rpc)].Replicate(ctx, replicateRequest(names[i], "eu-west-1"))
		return err
	})
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	acceptedIn := time.Since(began)
	r.Stack.logf("  accepted %d in %.1fs; draining at %g/s (ideal %.0fs)", n, acceptedIn.Seconds(), rate, ideal)
	if _, err := waitTerminal(ctx, db, time.Duration(3*ideal+120)*time.Second, rd.Alive); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	var lastEnd time.Time
	if err := conn.QueryRow(ctx, `SELECT max(ended_at) FROM operations`).Scan(&lastEnd); err != nil {
		return err
	}
	counts, err := stateCounts(ctx, db)
	if err != nil {
		return err
	}
	after, err := sm.Stats(ctx)
	if err != nil {
		return err
	}
	writeTimes, err := callTimes(ctx, conn, "ReplicateSecretToRegions")
	if err != nil {
		return err
	}
	busiest := busiestWindow(writeTimes)
	span := spendOf(writeTimes, began, lastEnd, rate*awssm.JitterHeadroom)
	b, a := before.Region(primaryRegion), after.Region(primaryRegion)
	throttles := (a.Total().BudgetThrottles + a.Total().RandomThrottles) - (b.Total().BudgetThrottles + b.Total().RandomThrottles)
	writes := a.APIs["ReplicateSecretToRegions"].Requests - b.APIs["ReplicateSecretToRegions"].Requests
	completion := lastEnd.Sub(began).Seconds()
	failed := counts["failed"] + counts["cancelled"]
	r.Stack.logf("  completed in %.1fs (ideal %.1fs), throttles %d, failed %d", completion, ideal, throttles, failed)

	res.metric("completion time", completion, "s")
	res.metric("ideal time (operations / --aws-write-rate)", ideal, "s")
	dev := 100 * (completion - ideal) / ideal
	res.metric("deviation from ideal", dev, "%")
	res.metric("acceptance time (all requests answered)", acceptedIn.Seconds(), "s")
	res.metric("ThrottlingException answered by the stand-in", float64(throttles), "responses")
	res.metric("ReplicateSecretToRegions calls", float64(writes), "calls")
	res.metric("busiest 1-s window of ReplicateSecretToRegions (recorded call times)", float64(busiest), "calls")
	// Where the time over the ideal went: before the first write, in the
	// write budget standing idle between writes (a gap longer than the
	// limiter's interval), and after the last write.
	res.metric("first write after the first request", span.first.Seconds(), "s")
	res.metric("write budget idle between writes (gaps beyond the limiter's interval)", span.idle.Seconds(), "s")
	res.metric("longest gap between writes", span.longest.Seconds(), "s")
	res.metric("last operation's end after the last write", span.tail.Seconds(), "s")
	res.metric("operations succeeded", float64(counts["succeeded"]), "operations")
	res.metric("operations failed or cancelled", float64(failed), "operations")
	res.target("Quota: completion time", fmt.Sprintf("within 5%% of %d / %g s = %.1f s (≤ %.1f s)", n, rate, ideal, 1.05*ideal), completion, 1.05*ideal, "s", false)
	res.target("Quota: ThrottlingException answered", "0", float64(throttles), 0, "responses", false)
	res.target("Quota: failed operations", "0", float64(failed), 0, "operations", false)
	if counts["succeeded"] != int64(n) {
		return fmt.Errorf("%d of %d operations SUCCEEDED (states: %v)", counts["succeeded"], n, counts)
	}
	return nil
}

// busiestSecond is the most calls of one API made in any 1-second window
// (t-1s, t], from the call times recorded on the operations. (The
// stand-in's own busiest-second figure covers its whole life, seeding
// included.)
// callTimes are the recorded times of every call of api, in order.
func callTimes(ctx context.Context, conn *pgx.Conn, api string) ([]time.Time, error) {
	rows, err := conn.Query(ctx, `SELECT (c->>'time')::timestamptz AS t FROM operations, jsonb_array_elements(aws_calls) c
		WHERE c->>'api' = $1 ORDER BY t`, api)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[time.Time])
}

// busiestSecond is the most calls of api recorded in any 1-second window.
func busiestSecond(ctx context.Context, conn *pgx.Conn, api string) (int, error) {
	times, err := callTimes(ctx, conn, api)
	if err != nil {
		return 0, err
	}
	return busiestWindow(times), nil
}

// busiestWindow is the most of the ordered times in any 1-second window.
func busiestWindow(times []time.Time) int {
	best, lo := 0, 0
	for hi, t := range times {
		for !times[lo].After(t.Add(-time.Second)) {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// writeSpend splits a drain's time around its writes.
type writeSpend struct {
	first, idle, longest, tail time.Duration
}

// spendOf measures the ordered write times of a drain that began at began
// and ended at end, against a limiter releasing rate writes per second: the
// time to the first write, the budget's idle time (each gap's excess over
// the limiter's interval), the longest gap, and the time after the last.
func spendOf(times []time.Time, began, end time.Time, rate float64) writeSpend {
	if len(times) == 0 {
		return writeSpend{}
	}
	interval := time.Duration(float64(time.Second) / rate)
	s := writeSpend{first: times[0].Sub(began), tail: end.Sub(times[len(times)-1])}
	for i := 1; i < len(times); i++ {
		gap := times[i].Sub(times[i-1])
		s.longest = max(s.longest, gap)
		if gap > interval {
			s.idle += gap - interval
		}
	}
	return s
}
