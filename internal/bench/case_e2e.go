package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/replicad/replicad/internal/queue"
)

// unlimitedAWS turns replicad's own AWS rate budgets off: the stand-in has
// none either, so nothing but replicad's work paces the run.
func unlimitedAWS() []string { return []string{"--aws-write-rate=-1", "--aws-read-rate=-1"} }

// Case 3: a backlog worked through to SUCCEEDED against the stand-in with
// no latency and no budgets, against River alone working as many jobs that
// make the same AWS calls (DescribeSecret, ReplicateSecretToRegions,
// DescribeSecret) with the same worker count, on the same server and
// stand-in.
func (r *Runner) endToEnd(ctx context.Context, res *Result) (err error) {
	n, secrets := r.Sizes.E2EOps, r.Sizes.E2ESecrets
	res.Size["operations"] = n
	res.Size["secrets"] = secrets
	res.Settings["replicad_flags"] = unlimitedAWS()
	res.Settings["replicad_workers"] = queue.WorkersDefault
	res.Settings["standin_flags"] = []string{"(defaults: --replication-delay 0, no faults)"}
	res.Settings["river_baseline"] = fmt.Sprintf("river v0.51 + riverpgxv5 in the benchmark process, %d workers, pool of %d connections, FetchCooldown %s, FetchPollInterval %s (replicad's queue settings); jobs inserted up front with InsertManyFast; each job calls DescribeSecret, ReplicateSecretToRegions and DescribeSecret on the same stand-in through aws-sdk-go-v2 (one client, keep-alive connections), with no replicad bookkeeping",
		queue.WorkersDefault, riverBaselineConns, queue.FetchCooldownDefault, queue.FetchPollIntervalDefault)
	res.note("The backlog is accepted first by an API-only replicad (not timed), then a replicad with workers works it. Throughput is operations / (last job completed − first job attempted), both read from river_job; the River baseline is timed the same way on its own database on the same server.")
	res.note("Each operation is DescribeSecret, RUNNING, ReplicateSecretToRegions (answered InProgress), a wait of --poll-initial (default 200 ms), DescribeSecret (InSync), SUCCEEDED with its job completed and the secret's next operation enqueued in one transaction.")
	res.note("CPU per operation/job is by process over the working span; harness = the benchmark process (here: polling for the end; for River: the River client itself).")

	sm, err := r.Stack.StartStandin(ctx, "standin-e2e")
	if err != nil {
		return err
	}
	defer stopInto(&err, sm.process)
	main, err := r.drain(ctx, sm, "e2e", n, secrets, unlimitedAWS(), 0)
	if err != nil {
		return err
	}
	rate := float64(main.Counts["succeeded"]) / main.Span.Seconds()
	r.Stack.logf("  replicad: %d succeeded in %.1fs: %.0f ops/s", main.Counts["succeeded"], main.Span.Seconds(), rate)

	rdb, err := r.Stack.NewEmptyDatabase(ctx, "bench_river")
	if err != nil {
		return err
	}
	riverNames := secretNames("bench/river/s", secrets)
	if err := sm.Seed(ctx, riverNames); err != nil {
		return fmt.Errorf("seed River's secrets: %w", err)
	}
	rr, err := r.Stack.riverBaseline(ctx, rdb, sm, riverNames, n, queue.WorkersDefault)
	if err != nil {
		return err
	}
	rrate := float64(rr.Jobs) / rr.Span.Seconds()
	r.Stack.logf("  River alone: %d jobs in %.1fs: %.0f jobs/s", rr.Jobs, rr.Span.Seconds(), rrate)

	res.metric("replicad operations succeeded", float64(main.Counts["succeeded"]), "operations")
	res.metric("replicad operations failed", float64(main.Counts["failed"]+main.Counts["cancelled"]), "operations")
	res.metric("replicad jobs completed", float64(main.Jobs), "jobs")
	res.metric("replicad working span", main.Span.Seconds(), "s")
	res.metric("replicad wall time (process start to last SUCCEEDED)", main.Wall.Seconds(), "s")
	res.metric("replicad throughput", rate, "operations/s")
	res.metric("AWS calls per operation", main.Calls/float64(n), "calls")
	res.cpuMetrics("replicad ", main.CPU, float64(main.Counts["succeeded"]), "operation", main.CPUSpan)
	res.metric("River jobs completed", float64(rr.Jobs), "jobs")
	res.metric("River working span", rr.Span.Seconds(), "s")
	res.metric("River wall time (Start to last completed)", rr.Wall.Seconds(), "s")
	res.metric("River throughput", rrate, "jobs/s")
	res.cpuMetrics("River ", rr.CPU, float64(rr.Jobs), "job", rr.Wall)
	ratio := rate / rrate
	res.metric("replicad / River", ratio, "ratio")
	res.target("End-to-end throughput", "≥ 50% of River doing the same AWS calls", ratio, 0.5, "× River", true)
	if ok := main.Counts["succeeded"]; ok > 0 {
		perOp := ms(main.CPU.total()) / float64(ok)
		res.metric("replicad CPU per operation, machine-wide (every process above)", perOp, "ms")
		res.target("CPU per operation", "≤ 3 ms machine-wide", perOp, 3, "ms", false)
	}
	if main.Counts["succeeded"] != int64(n) {
		return fmt.Errorf("%d of %d operations SUCCEEDED (states: %v)", main.Counts["succeeded"], n, main.Counts)
	}

	if r.ProfileDir == "" {
		return nil
	}
	vn, vs := r.Sizes.ProfileE2EOps, r.Sizes.ProfileE2ESecrets
	prof, err := r.drain(ctx, sm, "e2e-profile", vn, vs, unlimitedAWS(), r.Sizes.ProfileSeconds)
	if err != nil {
		return err
	}
	res.note("Profiles: a separate replicad working a backlog of %d operations on %d secrets with the flags above; CPU over its first %d s, allocations over its life (%.0f s: it is stopped once profiled, before the backlog is worked through).",
		vn, vs, r.Sizes.ProfileSeconds, prof.Wall.Seconds())
	return nil
}

// drainRun is one backlog worked by one replicad.
type drainRun struct {
	Counts map[string]int64
	// Jobs completed and the span they were worked in (queueWindow).
	Jobs int64
	Span time.Duration
	// Wall is from the worker process's start to the last operation seen
	// ended.
	Wall time.Duration
	// Calls is the AWS requests the stand-in answered meanwhile.
	Calls float64
	// CPU is by process from the worker's readiness to the end (CPUSpan).
	CPU     cpuSample
	CPUSpan time.Duration
}

// drain seeds secrets, has an API-only replicad accept n operations on
// them (operation i on secret i%secrets, toward the (i/secrets)-th Region),
// then starts a replicad with workers and flags and waits until every
// operation has ended. With profileSeconds > 0 it instead saves a CPU
// profile of that long from the start and the allocations after it, and
// returns then (only Wall is set).
func (r *Runner) drain(ctx context.Context, sm *Standin, name string, n, secrets int, flags []string, profileSeconds int) (dr drainRun, err error) {
	names := secretNames("bench/"+name+"/s", secrets)
	if err := sm.Seed(ctx, names); err != nil {
		return dr, fmt.Errorf("seed: %w", err)
	}
	db, err := r.Stack.NewDatabase(ctx, "bench_"+dbSafe(name))
	if err != nil {
		return dr, err
	}
	if _, err := r.acceptBacklog(ctx, "replicad-"+name+"-accept", db, sm.URL, n, func(i int) (string, string) {
		return names[i%secrets], replicaRegion(i / secrets)
	}); err != nil {
		return dr, err
	}
	before, err := sm.Stats(ctx)
	if err != nil {
		return dr, err
	}
	began := time.Now()
	rd, err := r.Stack.StartReplicad(ctx, ReplicadOptions{Name: "replicad-" + name, DatabaseURL: db, AWSEndpoint: sm.URL, Flags: flags, Pprof: profileSeconds > 0})
	if err != nil {
		return dr, err
	}
	defer stopInto(&err, rd.process)
	procs := map[string]*process{"replicad": rd.process, "standin": sm.process}
	cpuBefore, cpuFrom := r.Stack.sampleCPU(procs), time.Now()
	if profileSeconds > 0 {
		// A profiling pass measures nothing, so it ends with its profiles:
		// working the rest of the backlog (about half of it at full scale)
		// would only take time. Its replicad is stopped mid-backlog.
		if err := r.cpuProfile(ctx, rd, 3, "e2e", profileSeconds)(); err != nil {
			return dr, err
		}
		if err := r.allocsProfile(ctx, rd, 3, "e2e"); err != nil {
			return dr, err
		}
		dr.Wall = time.Since(began)
		return dr, rd.Alive()
	}
	doneAt, err := waitTerminal(ctx, db, 20*time.Minute, rd.Alive)
	if err != nil {
		return dr, err
	}
	dr.Wall = doneAt.Sub(began)
	dr.CPU = r.Stack.sampleCPU(procs).sub(cpuBefore)
	dr.CPUSpan = doneAt.Sub(cpuFrom)
	if dr.Counts, err = stateCounts(ctx, db); err != nil {
		return dr, err
	}
	if dr.Jobs, dr.Span, err = queueWindow(ctx, db); err != nil {
		return dr, err
	}
	after, err := sm.Stats(ctx)
	if err != nil {
		return dr, err
	}
	dr.Calls = float64(after.Region(primaryRegion).Total().Requests - before.Region(primaryRegion).Total().Requests)
	return dr, nil
}

// acceptBacklog accepts n Replicate operations through an API-only
// replicad (64 requests in flight over 16 connections), then stops it.
// pick names operation i's secret and target Region. It returns the
// operation ids in i order.
func (r *Runner) acceptBacklog(ctx context.Context, name, db, awsEndpoint string, n int, pick func(i int) (secret, region string)) (ids []string, err error) {
	rd, err := r.Stack.StartReplicad(ctx, ReplicadOptions{Name: name, DatabaseURL: db, AWSEndpoint: awsEndpoint, Flags: []string{"--api-only"}})
	if err != nil {
		return nil, err
	}
	defer stopInto(&err, rd.process)
	cl, err := dial(rd.GRPCAddr, 16)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ids = make([]string, n)
	began := time.Now()
	err = forEach(ctx, n, 64, func(ctx context.Context, i int) error {
		secret, region := pick(i)
		resp, err := cl.rpc[i%len(cl.rpc)].Replicate(ctx, replicateRequest(secret, region))
		if err != nil {
			return err
		}
		ids[i] = resp.GetOperation().GetId()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accept backlog: %w", err)
	}
	r.Stack.logf("  accepted %d operations in %.1fs", n, time.Since(began).Seconds())
	return ids, nil
}

func secretNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(prefix, i)
	}
	return out
}

func dbSafe(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

// stopInto stops p and records a failure to stop in *err unless an earlier
// error is there.
func stopInto(err *error, p *process) {
	if stopErr := p.Stop(15 * time.Second); stopErr != nil && *err == nil {
		*err = stopErr
	}
}
