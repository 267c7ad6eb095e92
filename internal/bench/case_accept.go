package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// acceptFlags run replicad as an API-only process: workers off, so only
// acceptance is measured (operation, job and audit event committed before
// the reply; every request names a new secret, so every one enqueues a job).
func acceptFlags() []string { return []string{"--api-only"} }

// Case 1: Replicate over gRPC against a pgbench baseline inserting one
// comparable row per transaction at the same concurrency.
func (r *Runner) acceptGRPC(ctx context.Context, res *Result) error {
	sz := r.Sizes
	res.Size["clients"] = sz.AcceptClients
	res.Size["warmup_s"] = sz.AcceptWarmup.Seconds()
	res.Size["duration_s"] = sz.AcceptDuration.Seconds()
	res.Settings["replicad_flags"] = acceptFlags()
	res.Settings["pgbench_script"] = pgbenchScript
	res.Settings["pgbench_accept_script"] = pgbenchAcceptScript
	res.note("Two baselines per level: pgbench inserting one operations row per transaction, and pgbench doing what an accept promises, a River job, an operation and an audit event inserted in one transaction per request (pgbench_accept_script), each on its own fresh database.")
	res.note("Each level runs on a fresh database: pgbench, then replicad (one gRPC connection per client, every request a new secret so every request inserts an operation, a River job and an audit event, all committed before the reply).")
	res.note("Only requests started after the warm-up count; p99 is over every request of the measured window.")
	r.grpcAccept = map[int]float64{}
	for _, c := range sz.AcceptClients {
		db, err := r.Stack.NewDatabase(ctx, fmt.Sprintf("bench_pgbench_c%d", c))
		if err != nil {
			return err
		}
		pb, err := r.Stack.runPgbench(ctx, dbName(db), c, sz.AcceptWarmup, sz.AcceptDuration)
		if err != nil {
			return err
		}
		pbWidth, err := rowWidth(ctx, db)
		if err != nil {
			return err
		}
		res.Settings[fmt.Sprintf("pgbench_command_c%d", c)] = pb.Command
		r.Stack.logf("  pgbench c=%d: %.0f tps, p99 %.1f ms", c, pb.TPS, pb.Latency.P99)
		db3, err := r.Stack.NewDatabase(ctx, fmt.Sprintf("bench_pgbench3_c%d", c))
		if err != nil {
			return err
		}
		pb3, err := r.Stack.runPgbenchScript(ctx, dbName(db3), "accept.sql", pgbenchAcceptScript, c, sz.AcceptWarmup, sz.AcceptDuration)
		if err != nil {
			return err
		}
		res.Settings[fmt.Sprintf("pgbench_accept_command_c%d", c)] = pb3.Command
		r.Stack.logf("  pgbench three inserts c=%d: %.0f tps, p99 %.1f ms", c, pb3.TPS, pb3.Latency.P99)

		g, err := r.acceptLoad(ctx, "grpc", c, res)
		if err != nil {
			return err
		}
		r.grpcAccept[c] = g.Throughput
		r.Stack.logf("  gRPC c=%d: %.0f req/s, p99 %.1f ms (errors %d)", c, g.Throughput, g.Latency.P99, g.Errors)

		p := fmt.Sprintf("c=%d ", c)
		res.metric(p+"pgbench TPS", pb.TPS, "tx/s")
		res.metric(p+"pgbench latency p50", pb.Latency.P50, "ms")
		res.metric(p+"pgbench latency p99", pb.Latency.P99, "ms")
		res.metric(p+"pgbench row width", pbWidth, "bytes")
		res.cpuMetrics(p+"pgbench ", pb.CPU, pb.TPS*sz.AcceptDuration.Seconds(), "transaction", sz.AcceptDuration)
		res.metric(p+"gRPC accepted", g.Throughput, "req/s")
		res.latency(p+"gRPC latency", g.Latency)
		res.metric(p+"gRPC errors", float64(g.Errors), "requests")
		res.metric(p+"operations row width", g.Width, "bytes")
		res.cpuMetrics(p+"gRPC ", g.CPU, float64(g.Requests), "request", sz.AcceptDuration)
		ratio := g.Throughput / pb.TPS
		res.metric(p+"gRPC / pgbench", ratio, "ratio")
		res.target(fmt.Sprintf("gRPC accept rate, %d clients", c), "≥ 50% of pgbench TPS", ratio, 0.5, "× pgbench", true)
		res.metric(p+"pgbench three inserts TPS", pb3.TPS, "tx/s")
		res.metric(p+"pgbench three inserts latency p50", pb3.Latency.P50, "ms")
		res.metric(p+"pgbench three inserts latency p99", pb3.Latency.P99, "ms")
		res.cpuMetrics(p+"pgbench three inserts ", pb3.CPU, pb3.TPS*sz.AcceptDuration.Seconds(), "transaction", sz.AcceptDuration)
		ratio3 := g.Throughput / pb3.TPS
		res.metric(p+"gRPC / pgbench three inserts", ratio3, "ratio")
		res.target(fmt.Sprintf("gRPC accept rate, %d clients, vs three inserts per transaction", c), "≥ 100% of pgbench three-insert TPS", ratio3, 1.0, "× pgbench (3 inserts)", true)
		if g.Errors > 0 {
			res.note("c=%d: %d requests failed, first: %s", c, g.Errors, g.FirstError)
		}
	}
	if r.ProfileDir == "" {
		return nil
	}
	return r.profileAccept(ctx, res)
}

// Case 2: the same over REST through the gateway, against case 1's gRPC
// rate at the same concurrency (measured here if case 1 did not run).
func (r *Runner) acceptREST(ctx context.Context, res *Result) error {
	sz := r.Sizes
	res.Size["clients"] = sz.AcceptClients
	res.Size["warmup_s"] = sz.AcceptWarmup.Seconds()
	res.Size["duration_s"] = sz.AcceptDuration.Seconds()
	res.Settings["replicad_flags"] = acceptFlags()
	res.note("POST /v1/secrets/{id}:replicate with a JSON body, keep-alive HTTP/1.1 connections (one per client); the gateway reaches gRPC through its in-process client connection.")
	for _, c := range sz.AcceptClients {
		ref, ok := r.grpcAccept[c]
		if !ok {
			g, err := r.acceptLoad(ctx, "grpc", c, res)
			if err != nil {
				return err
			}
			ref = g.Throughput
			res.note("c=%d: the gRPC reference was measured in this case (case 1 did not run).", c)
		}
		rest, err := r.acceptLoad(ctx, "rest", c, res)
		if err != nil {
			return err
		}
		r.Stack.logf("  REST c=%d: %.0f req/s, p99 %.1f ms (errors %d)", c, rest.Throughput, rest.Latency.P99, rest.Errors)
		p := fmt.Sprintf("c=%d ", c)
		res.metric(p+"REST accepted", rest.Throughput, "req/s")
		res.latency(p+"REST latency", rest.Latency)
		res.metric(p+"REST errors", float64(rest.Errors), "requests")
		res.cpuMetrics(p+"REST ", rest.CPU, float64(rest.Requests), "request", sz.AcceptDuration)
		res.metric(p+"gRPC accepted (reference)", ref, "req/s")
		ratio := rest.Throughput / ref
		res.metric(p+"REST / gRPC", ratio, "ratio")
		res.target(fmt.Sprintf("REST accept rate, %d clients", c), "≥ 70% of gRPC (case 1)", ratio, 0.7, "× gRPC", true)
		if rest.Errors > 0 {
			res.note("c=%d: %d requests failed, first: %s", c, rest.Errors, rest.FirstError)
		}
	}
	return nil
}

// acceptRun is one measured level of cases 1 and 2.
type acceptRun struct {
	LoadResult
	// Width is the average stored operations row, in bytes.
	Width float64
	// CPU is what each process used over the measured window.
	CPU cpuSample
}

// acceptLoad starts an API-only replicad on a fresh database and sends
// Replicate requests over transport ("grpc" or "rest") from c clients.
func (r *Runner) acceptLoad(ctx context.Context, transport string, c int, res *Result) (ar acceptRun, err error) {
	db, err := r.Stack.NewDatabase(ctx, fmt.Sprintf("bench_accept_%s_c%d", transport, c))
	if err != nil {
		return ar, err
	}
	rd, err := r.Stack.StartReplicad(ctx, ReplicadOptions{Name: fmt.Sprintf("replicad-accept-%s-c%d", transport, c), DatabaseURL: db,
		AWSEndpoint: "http://127.0.0.1:1", Flags: acceptFlags()})
	if err != nil {
		return ar, err
	}
	defer func() {
		if stopErr := rd.Stop(15 * time.Second); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	do, closeClients, err := replicateFunc(rd, transport, c)
	if err != nil {
		return ar, err
	}
	defer closeClients()
	var before, after cpuSample
	procs := map[string]*process{"replicad": rd.process}
	ar.LoadResult = Load{Clients: c, Warmup: r.Sizes.AcceptWarmup, Duration: r.Sizes.AcceptDuration,
		AtStart: func() { before = r.Stack.sampleCPU(procs) },
		AtEnd:   func() { after = r.Stack.sampleCPU(procs) },
	}.Run(ctx, do)
	ar.CPU = after.sub(before)
	lr := ar.LoadResult
	if err := rd.Alive(); err != nil {
		return ar, err
	}
	if lr.Requests == 0 {
		return ar, fmt.Errorf("%s c=%d: no request succeeded (errors %d, first: %s)", transport, c, lr.Errors, lr.FirstError)
	}
	// Evidence that every accepted request stored all three rows.
	p, err := pool(ctx, db)
	if err != nil {
		return ar, err
	}
	defer p.Close()
	var ops, jobs, events int64
	err = p.QueryRow(ctx, `SELECT (SELECT count(*) FROM operations), (SELECT count(*) FROM river_job),
		(SELECT count(*) FROM audit_events WHERE kind = 'rpc' AND method LIKE '%Replicate')`).Scan(&ops, &jobs, &events)
	if err != nil {
		return ar, err
	}
	if ops != jobs || events < ops {
		return ar, fmt.Errorf("%s c=%d: %d operations, %d jobs, %d audit events: not one of each per request", transport, c, ops, jobs, events)
	}
	res.note("%s c=%d: stored %d operations, %d jobs and %d Replicate audit events (warm-up included).", transport, c, ops, jobs, events)
	ar.Width, err = rowWidth(ctx, db)
	return ar, err
}

// replicateFunc returns a request function for Load sending a Replicate
// for a new secret per request.
func replicateFunc(rd *Replicad, transport string, c int) (func(context.Context, int, int64) error, func(), error) {
	prefix := fmt.Sprintf("bench/%s-c%d/s", transport, c)
	switch transport {
	case "grpc":
		cl, err := dial(rd.GRPCAddr, c)
		if err != nil {
			return nil, nil, err
		}
		return func(ctx context.Context, client int, seq int64) error {
			_, err := cl.rpc[client].Replicate(ctx, replicateRequest(fmt.Sprint(prefix, seq), "eu-west-1"))
			return err
		}, cl.Close, nil
	case "rest":
		tr := &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c, DisableCompression: true}
		hc := &http.Client{Transport: tr, Timeout: time.Minute}
		base := "http://" + rd.HTTPAddr + "/v1/secrets/"
		const body = `{"regions": [{"region": "eu-west-1"}], "reason": "benchmark"}`
		return func(ctx context.Context, _ int, seq int64) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+url.PathEscape(fmt.Sprint(prefix, seq))+":replicate", strings.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer func() { _ = resp.Body.Close() }()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", resp.Status, b)
			}
			return nil
		}, tr.CloseIdleConnections, nil
	}
	return nil, nil, fmt.Errorf("unknown transport %q", transport)
}

// profileAccept profiles an API-only replicad under case 1's highest
// concurrency, in a pass of its own so profiling does not perturb the
// measured figures.
func (r *Runner) profileAccept(ctx context.Context, res *Result) (err error) {
	c := r.Sizes.AcceptClients[len(r.Sizes.AcceptClients)-1]
	db, err := r.Stack.NewDatabase(ctx, "bench_accept_profile")
	if err != nil {
		return err
	}
	rd, err := r.Stack.StartReplicad(ctx, ReplicadOptions{Name: "replicad-accept-profile", DatabaseURL: db,
		AWSEndpoint: "http://127.0.0.1:1", Flags: acceptFlags(), Pprof: true})
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := rd.Stop(15 * time.Second); stopErr != nil && err == nil {
			err = stopErr
		}
	}()
	do, closeClients, err := replicateFunc(rd, "grpc", c)
	if err != nil {
		return err
	}
	defer closeClients()
	secs := r.Sizes.ProfileSeconds
	loadDone := make(chan LoadResult, 1)
	go func() {
		loadDone <- Load{Clients: c, Warmup: time.Second, Duration: time.Duration(secs)*time.Second + time.Second}.Run(ctx, do)
	}()
	time.Sleep(time.Second) // profile the steady state, after the warm-up
	wait := r.cpuProfile(ctx, rd, 1, "grpc", secs)
	lr := <-loadDone
	if err := wait(); err != nil {
		return err
	}
	res.note("Profiles: a separate API-only replicad under %d gRPC clients; CPU over %d s of steady load (%.0f req/s while profiled), allocations over the process's life.", c, secs, lr.Throughput)
	return r.allocsProfile(ctx, rd, 1, "grpc")
}
