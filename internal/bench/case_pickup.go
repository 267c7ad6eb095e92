package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/queue"
)

// Case 5: one request at a time, the delay from the Replicate reply to the
// operation's first AWS call.
func (r *Runner) pickup(ctx context.Context, res *Result) (err error) {
	n := r.Sizes.PickupRequests
	const warmup = 5
	res.Size["requests"] = n
	res.Settings["replicad_flags"] = []string{"(defaults)"}
	res.Settings["queue"] = fmt.Sprintf("River FetchCooldown %s, FetchPollInterval %s (queue defaults, no flags); jobs inserted in the accepting transaction notify the workers through LISTEN/NOTIFY", queue.FetchCooldownDefault, queue.FetchPollIntervalDefault)
	res.note("Each request names a new secret and waits for its operation to end before the next is sent (%d unmeasured requests first).", warmup)
	res.note("Pickup = the time recorded for the operation's first AWS call (aws_calls[0].time, a DescribeSecret; the time an attempt *ended*) minus the time the client received the RPC reply. It therefore includes that DescribeSecret's round trip to the local stand-in (well under a millisecond) and overstates pickup by that much. Negative values would mean the worker started before the reply reached the client.")

	sm, err := r.Stack.StartStandin(ctx, "standin-pickup")
	if err != nil {
		return err
	}
	defer stopInto(&err, sm.process)
	names := secretNames("bench/pickup/s", n+warmup)
	if err := sm.Seed(ctx, names); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	db, err := r.Stack.NewDatabase(ctx, "bench_pickup")
	if err != nil {
		return err
	}
	rd, err := r.Stack.StartReplicad(ctx, ReplicadOptions{Name: "replicad-pickup", DatabaseURL: db, AWSEndpoint: sm.URL})
	if err != nil {
		return err
	}
	defer stopInto(&err, rd.process)
	cl, err := dial(rd.GRPCAddr, 1)
	if err != nil {
		return err
	}
	defer cl.Close()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()

	var pickups, replies, toRunning Latencies
	for i := range n + warmup {
		sent := time.Now()
		resp, err := cl.rpc[0].Replicate(ctx, replicateRequest(names[i], "eu-west-1"))
		if err != nil {
			return err
		}
		replied := time.Now()
		id := resp.GetOperation().GetId()
		var state string
		var firstCall, started time.Time
		for {
			err := conn.QueryRow(ctx, `SELECT state, coalesce((aws_calls->0->>'time')::timestamptz, 'epoch'), coalesce(started_at, 'epoch')
				FROM operations WHERE id = $1`, id).Scan(&state, &firstCall, &started)
			if err != nil {
				return err
			}
			if state == "succeeded" || state == "failed" || state == "cancelled" {
				break
			}
			if time.Since(replied) > time.Minute {
				return fmt.Errorf("operation %s still %s after a minute", id, state)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if state != "succeeded" {
			return fmt.Errorf("operation %s ended %s", id, state)
		}
		if i < warmup {
			continue
		}
		pickups.Add(firstCall.Sub(replied))
		toRunning.Add(started.Sub(replied))
		replies.Add(replied.Sub(sent))
	}
	p := pickups.Summarize()
	r.Stack.logf("  pickup p50 %.1f ms, p95 %.1f ms", p.P50, p.P95)
	res.latency("pickup (reply → first AWS call)", p)
	res.metric("pickup mean", p.Mean, "ms")
	res.latency("reply → RUNNING (started_at)", toRunning.Summarize())
	res.latency("Replicate RPC latency", replies.Summarize())
	res.target("Pickup latency p95", "≤ 50 ms", p.P95, 50, "ms", false)
	return nil
}
