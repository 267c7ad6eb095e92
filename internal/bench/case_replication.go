package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/awssm"
)

// Case 8: realistic replication time. A burst of Replicates against a
// stand-in whose replicas stay InProgress for a delay, as AWS's do, with
// replicad's default settings. Waiting for AWS holds no worker (engine
// waiter.go), so completion should be bound by the write budget plus one
// delay, not by workers × delay.
func (r *Runner) replication(ctx context.Context, res *Result) error {
	n := r.Sizes.ReplicationOps
	rate := awssm.WriteRateDefault
	res.Size["operations"] = n
	res.Settings["replicad_flags"] = []string{"(defaults)"}
	res.note("Each delay runs against a fresh stand-in (--replication-delay) and database; %d secrets, one Replicate each to eu-west-1, sent by 16 clients while the workers drain.", n)
	res.note("Ideal = operations ÷ the default write budget (%g/s) + one delay; completion runs from the first request sent to the last end_time.", rate)
	for _, d := range r.Sizes.ReplicationDelays {
		if err := r.replicationAt(ctx, res, n, rate, d); err != nil {
			return fmt.Errorf("delay %s: %w", d, err)
		}
	}
	return nil
}

func (r *Runner) replicationAt(ctx context.Context, res *Result, n int, rate float64, delay time.Duration) (err error) {
	tag := fmt.Sprintf("delay %s: ", delay)
	sm, err := r.Stack.StartStandin(ctx, "standin-replication", "--replication-delay="+delay.String())
	if err != nil {
		return err
	}
	defer stopInto(&err, sm.process)
	names := secretNames("bench/replication/s", n)
	if err := sm.Seed(ctx, names); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	db, err := r.Stack.NewDatabase(ctx, fmt.Sprintf("bench_replication_%d", int(delay.Seconds())))
	if err != nil {
		return err
	}
	rd, err := r.Stack.StartReplicad(ctx, ReplicadOptions{Name: "replicad-replication", DatabaseURL: db, AWSEndpoint: sm.URL})
	if err != nil {
		return err
	}
	defer stopInto(&err, rd.process)
	cl, err := dial(rd.GRPCAddr, 16)
	if err != nil {
		return err
	}
	defer cl.Close()
	ideal := float64(n)/rate + delay.Seconds()
	began := time.Now()
	err = forEach(ctx, n, 16, func(ctx context.Context, i int) error {
		_, err := cl.rpc[i%len(cl.rpc)].Replicate(ctx, replicateRequest(names[i], "eu-west-1"))
		return err
	})
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	r.Stack.logf("  %saccepted %d in %.1fs (ideal completion %.0fs)", tag, n, time.Since(began).Seconds(), ideal)
	if _, err := waitTerminal(ctx, db, time.Duration(3*ideal+120)*time.Second, rd.Alive); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	var lastEnd time.Time
	var writes, reads int64
	if err := conn.QueryRow(ctx, `SELECT max(ended_at),
		(SELECT count(*) FROM operations, jsonb_array_elements(aws_calls) c WHERE c->>'api' = 'ReplicateSecretToRegions'),
		(SELECT count(*) FROM operations, jsonb_array_elements(aws_calls) c WHERE c->>'api' = 'DescribeSecret')
		FROM operations`).Scan(&lastEnd, &writes, &reads); err != nil {
		return err
	}
	counts, err := stateCounts(ctx, db)
	if err != nil {
		return err
	}
	completion := lastEnd.Sub(began).Seconds()
	ratio := completion / ideal
	r.Stack.logf("  %scompleted in %.1fs, ideal %.1fs: %.2f×", tag, completion, ideal, ratio)
	res.metric(tag+"completion time", completion, "s")
	res.metric(tag+"ideal time (operations / write budget + delay)", ideal, "s")
	res.metric(tag+"completion / ideal", ratio, "×")
	res.metric(tag+"operations succeeded", float64(counts["succeeded"]), "operations")
	res.metric(tag+"ReplicateSecretToRegions calls recorded", float64(writes), "calls")
	res.metric(tag+"DescribeSecret calls recorded (looks that changed nothing are not recorded)", float64(reads), "calls")
	res.target("Realistic replication "+delay.String()+": completion", fmt.Sprintf("within 10%% of %d / %g s + %s = %.1f s (≤ %.1f s)", n, rate, delay, ideal, 1.1*ideal),
		completion, 1.1*ideal, "s", false)
	if counts["succeeded"] != int64(n) {
		return fmt.Errorf("%d of %d operations SUCCEEDED (states: %v)", counts["succeeded"], n, counts)
	}
	return nil
}
