package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// Case 6: Status and GetOperation from many concurrent clients, on a
// database holding finished operations.
func (r *Runner) reads(ctx context.Context, res *Result) (err error) {
	sz := r.Sizes
	flags := unlimitedAWS()
	res.Size["operations"] = sz.ReadOps
	res.Size["secrets"] = sz.ReadSecrets
	res.Size["clients"] = sz.ReadClients
	res.Size["warmup_s"] = sz.ReadWarmup.Seconds()
	res.Size["duration_s"] = sz.ReadDuration.Seconds()
	res.Settings["replicad_flags"] = flags
	res.note("%d Replicate operations on %d secrets are worked to SUCCEEDED first; then Status on a random secret, and GetOperation on a random operation, each from %d clients (one gRPC connection each) for the measured duration, one after the other.", sz.ReadOps, sz.ReadSecrets, sz.ReadClients)
	res.note("Status lists the secret's recent operations and describes the secret (DescribeSecret to the stand-in, no added latency), reusing an answer up to --status-cache-ttl (default 2 s) old: concurrent callers share one call, so with the cache warm most Status calls make none (the DescribeSecret calls per Status are counted by the stand-in over the measured window, warm-up included). The AWS rate budgets are off (flags above), so that the default write budget does not make populating slow. Both RPCs are audited; a successful read's event is group-committed without a wait (docs/operations.md).")

	sm, err := r.Stack.StartStandin(ctx, "standin-reads")
	if err != nil {
		return err
	}
	defer stopInto(&err, sm.process)
	names := secretNames("bench/reads/s", sz.ReadSecrets)
	if err := sm.Seed(ctx, names); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	db, err := r.Stack.NewDatabase(ctx, "bench_reads")
	if err != nil {
		return err
	}
	rd, err := r.Stack.StartReplicad(ctx, ReplicadOptions{Name: "replicad-reads", DatabaseURL: db, AWSEndpoint: sm.URL, Flags: flags, Pprof: r.ProfileDir != ""})
	if err != nil {
		return err
	}
	defer stopInto(&err, rd.process)
	cl, err := dial(rd.GRPCAddr, sz.ReadClients)
	if err != nil {
		return err
	}
	defer cl.Close()
	ids := make([]string, sz.ReadOps)
	err = forEach(ctx, sz.ReadOps, 32, func(ctx context.Context, i int) error {
		resp, err := cl.rpc[i%len(cl.rpc)].Replicate(ctx, replicateRequest(names[i%len(names)], replicaRegion(i/len(names))))
		if err != nil {
			return err
		}
		ids[i] = resp.GetOperation().GetId()
		return nil
	})
	if err != nil {
		return fmt.Errorf("populate: %w", err)
	}
	if _, err := waitTerminal(ctx, db, 10*time.Minute, rd.Alive); err != nil {
		return err
	}
	// CPU over each measured window, per process: on 2 shared cores the
	// latency of 64 closed-loop clients is set by CPU per call machine-wide
	// (replicad, PostgreSQL, the stand-in and these load generators).
	var before, after cpuSample
	procs := map[string]*process{"replicad": rd.process, "standin": sm.process}
	load := Load{Clients: sz.ReadClients, Warmup: sz.ReadWarmup, Duration: sz.ReadDuration,
		AtStart: func() { before = r.Stack.sampleCPU(procs) },
		AtEnd:   func() { after = r.Stack.sampleCPU(procs) }}
	statsBefore, err := sm.Stats(ctx)
	if err != nil {
		return err
	}
	var statusCalls atomic.Int64 // warm-up included, as the stand-in's count is
	statusDo := func(ctx context.Context, client int, _ int64) error {
		statusCalls.Add(1)
		_, err := cl.rpc[client].Status(ctx, &replicadv1.StatusRequest{SecretId: names[rand.IntN(len(names))]})
		return err
	}
	status := load.Run(ctx, statusDo)
	statusCPU := after.sub(before)
	statsAfter, err := sm.Stats(ctx)
	if err != nil {
		return err
	}
	getDo := func(ctx context.Context, client int, _ int64) error {
		resp, err := cl.rpc[client].GetOperation(ctx, &replicadv1.GetOperationRequest{Id: ids[rand.IntN(len(ids))]})
		if err == nil && resp.GetOperation().GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
			return fmt.Errorf("operation %s is %s", resp.GetOperation().GetId(), resp.GetOperation().GetState())
		}
		return err
	}
	get := load.Run(ctx, getDo)
	getCPU := after.sub(before)
	if err := rd.Alive(); err != nil {
		return err
	}
	if r.ProfileDir != "" {
		// After the measured loads, so that profiling does not slow them.
		for _, p := range []struct {
			name string
			do   func(context.Context, int, int64) error
		}{{"status", statusDo}, {"getoperation", getDo}} {
			if err := r.profileLoad(ctx, rd, 6, p.name, sz.ReadClients, p.do); err != nil {
				return err
			}
		}
		res.note("Profiles: after the measured loads, on the same replicad, CPU over %d s of each RPC's load from %d clients; allocations over the process's life.", r.Sizes.ProfileSeconds, sz.ReadClients)
		if err := r.allocsProfile(ctx, rd, 6, "reads"); err != nil {
			return err
		}
	}
	r.Stack.logf("  Status %.0f/s p99 %.1f ms; GetOperation %.0f/s p99 %.1f ms", status.Throughput, status.Latency.P99, get.Throughput, get.Latency.P99)
	res.metric("Status rate", status.Throughput, "req/s")
	res.latency("Status latency", status.Latency)
	res.metric("Status errors", float64(status.Errors), "requests")
	res.cpuMetrics("Status ", statusCPU, float64(status.Requests), "request", sz.ReadDuration)
	if n := statusCalls.Load(); n > 0 {
		calls := statsAfter.Region(primaryRegion).APIs["DescribeSecret"].Requests - statsBefore.Region(primaryRegion).APIs["DescribeSecret"].Requests
		res.metric("DescribeSecret calls per Status (cache)", float64(calls)/float64(n), "calls")
	}
	res.metric("GetOperation rate", get.Throughput, "req/s")
	res.latency("GetOperation latency", get.Latency)
	res.metric("GetOperation errors", float64(get.Errors), "requests")
	res.cpuMetrics("GetOperation ", getCPU, float64(get.Requests), "request", sz.ReadDuration)
	res.target(fmt.Sprintf("Status p99, %d clients, cache warm", sz.ReadClients), "≤ 20 ms", status.Latency.P99, 20, "ms", false)
	res.target(fmt.Sprintf("GetOperation p99, %d clients", sz.ReadClients), "≤ 10 ms", get.Latency.P99, 10, "ms", false)
	for _, l := range []struct {
		name string
		lr   LoadResult
	}{{"Status", status}, {"GetOperation", get}} {
		if l.lr.Errors > 0 {
			res.note("%s: %d requests failed, first: %s", l.name, l.lr.Errors, l.lr.FirstError)
		}
		if l.lr.Requests == 0 {
			return fmt.Errorf("%s: no request succeeded (first error: %s)", l.name, l.lr.FirstError)
		}
	}
	return nil
}
