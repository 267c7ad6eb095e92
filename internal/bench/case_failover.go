package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/standin"
)

// Case 9's Regions: the primary's (down for the whole failover), the
// target, and the Region every secret's other replica is in.
const (
	failoverSource = primaryRegion
	failoverTarget = "us-west-2"
	failoverOther  = "eu-west-1"
	failoverEUKey  = "alias/bench-eu"
)

// Case 9: the failover of a whole Region (issue 15). Every secret has its
// primary in us-east-1 and InSync replicas in us-west-2 and eu-west-1;
// us-east-1 refuses every request (the stand-in's Region-down fault), and
// one Failover moves every primary to us-west-2 and re-establishes
// replication to eu-west-1. Per secret that is two writes in us-west-2
// (the promotion, then ReplicateSecretToRegions from the new primary) and
// one in eu-west-1 (the stranded replica's promotion): us-west-2's write
// budget bounds the whole, so the ideal is 2 × secrets ÷ the budget.
func (r *Runner) failover(ctx context.Context, res *Result) (err error) {
	n := r.Sizes.FailoverSecrets
	rate := awssm.WriteRateDefault
	res.Size["secrets"] = n
	res.Settings["replicad_flags"] = []string{"(defaults)"}
	res.note("%d secrets with primary in %s and InSync replicas in %s and %s (under %s), in the inventory; %s down (every request refused) from before the Failover request to the end.",
		n, failoverSource, failoverTarget, failoverOther, failoverEUKey, failoverSource)
	res.note("Ideal = 2 writes per secret in %s ÷ the default write budget (%g/s); completion runs from the Failover request to the failover's end_time.", failoverTarget, rate)
	sm, err := r.Stack.StartStandin(ctx, "standin-failover")
	if err != nil {
		return err
	}
	defer stopInto(&err, sm.process)
	arns, err := seedReplicated(ctx, sm, secretNames("bench/failover/s", n))
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	db, err := r.Stack.NewDatabase(ctx, "bench_failover")
	if err != nil {
		return err
	}
	if err := insertInventory(ctx, db, arns, "bench/failover/s"); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	rd, err := r.Stack.StartReplicad(ctx, ReplicadOptions{Name: "replicad-failover", DatabaseURL: db, AWSEndpoint: sm.URL})
	if err != nil {
		return err
	}
	defer stopInto(&err, rd.process)
	if err := sm.SetFaults(ctx, map[string]any{"downRegions": []string{failoverSource}}); err != nil {
		return err
	}
	before, err := sm.Stats(ctx)
	if err != nil {
		return err
	}
	cl, err := dial(rd.GRPCAddr, 1)
	if err != nil {
		return err
	}
	defer cl.Close()
	ideal := float64(2*n) / rate
	began := time.Now()
	resp, err := replicadv1.NewDisasterRecoveryServiceClient(cl.conns[0]).Failover(ctx,
		&replicadv1.FailoverRequest{SourceRegion: failoverSource, TargetRegion: failoverTarget})
	if err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	r.Stack.logf("  failover of %d secrets accepted in %.2fs (ideal completion %.1fs)", n, time.Since(began).Seconds(), ideal)
	if _, err := waitTerminal(ctx, db, time.Duration(3*ideal+120)*time.Second, rd.Alive); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	var (
		state     string
		ended     time.Time
		succeeded int64
	)
	if err := conn.QueryRow(ctx, `SELECT p.state, p.ended_at,
		(SELECT count(*) FROM operations c WHERE c.parent_id = p.id AND c.state = 'succeeded')
		FROM operations p WHERE p.id = $1`, resp.GetOperation().GetId()).Scan(&state, &ended, &succeeded); err != nil {
		return err
	}
	// Where the time went: before the first write in the target, between
	// the first and the last (the budget's pace), and after the last (the
	// replicas' InSync seen, the children and the parent ended).
	var first, last, lastChild time.Time
	if err := conn.QueryRow(ctx, `SELECT min((c->>'time')::timestamptz), max((c->>'time')::timestamptz),
		(SELECT max(ended_at) FROM operations WHERE parent_id = $1)
		FROM operations o, jsonb_array_elements(o.aws_calls) c
		WHERE o.parent_id = $1 AND c->>'region' = $2 AND c->>'api' IN ('StopReplicationToReplica', 'ReplicateSecretToRegions')`,
		resp.GetOperation().GetId(), failoverTarget).Scan(&first, &last, &lastChild); err != nil {
		return err
	}
	after, err := sm.Stats(ctx)
	if err != nil {
		return err
	}
	calls := func(region, api string) float64 {
		return float64(after.Region(region).APIs[api].Requests - before.Region(region).APIs[api].Requests)
	}
	completion := ended.Sub(began).Seconds()
	ratio := completion / ideal
	r.Stack.logf("  failover %s in %.1fs, ideal %.1fs: %.2f×", state, completion, ideal, ratio)
	res.metric("completion time", completion, "s")
	res.metric("ideal time (2 × secrets / write budget)", ideal, "s")
	res.metric("completion / ideal", ratio, "×")
	res.metric("secrets failed over", float64(succeeded), "secrets")
	res.metric(failoverTarget+" StopReplicationToReplica", calls(failoverTarget, "StopReplicationToReplica"), "calls")
	res.metric(failoverOther+" StopReplicationToReplica", calls(failoverOther, "StopReplicationToReplica"), "calls")
	res.metric(failoverTarget+" ReplicateSecretToRegions", calls(failoverTarget, "ReplicateSecretToRegions"), "calls")
	res.metric(failoverTarget+" write rate over the whole failover", 2*float64(n)/completion, "calls/s")
	res.metric("request → first write in "+failoverTarget, first.Sub(began).Seconds(), "s")
	res.metric("first → last write in "+failoverTarget, last.Sub(first).Seconds(), "s")
	if span := last.Sub(first).Seconds(); span > 0 {
		res.metric(failoverTarget+" write rate between its first and last write", float64(2*n-1)/span, "calls/s")
	}
	res.metric("last write in "+failoverTarget+" → the last secret's end", lastChild.Sub(last).Seconds(), "s")
	res.metric("the last secret's end → the failover's end", ended.Sub(lastChild).Seconds(), "s")
	res.metric(failoverTarget+" writes in the busiest second (stand-in)", float64(after.Region(failoverTarget).Writes.MaxPerSecond), "calls")
	res.metric("requests to the down Region", float64(after.Region(failoverSource).Total().Requests-before.Region(failoverSource).Total().Requests), "requests")
	res.target("Failover of a Region: completion", fmt.Sprintf("within 10%% of 2 × %d / %g s = %.1f s (≤ %.1f s)", n, rate, ideal, 1.1*ideal),
		completion, 1.1*ideal, "s", false)
	if state != "succeeded" || succeeded != int64(n) {
		return fmt.Errorf("failover %s with %d of %d secrets failed over", state, succeeded, n)
	}
	return nil
}

// seedReplicated creates the secrets in us-east-1 with InSync replicas in
// us-west-2 and eu-west-1, through the stand-in's seed endpoint (no
// request, no budget, no statistic), and returns their ARNs.
func seedReplicated(ctx context.Context, sm *Standin, names []string) ([]string, error) {
	specs := make([]standin.SeedSecret, len(names))
	for i, name := range names {
		specs[i] = standin.SeedSecret{Region: failoverSource, Name: name, Replicas: []standin.SeedReplica{
			{Region: failoverTarget}, {Region: failoverOther, KMSKeyID: failoverEUKey},
		}}
	}
	body, err := json.Marshal(map[string]any{"secrets": specs})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sm.URL+"/_standin/seed", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out, err := do(req)
	if err != nil {
		return nil, err
	}
	var got struct {
		ARNs []string `json:"arns"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return nil, err
	}
	if len(got.ARNs) != len(names) {
		return nil, fmt.Errorf("seeded %d of %d secrets", len(got.ARNs), len(names))
	}
	return got.ARNs, nil
}

// insertInventory records the seeded secrets in replicad's inventory as a
// scan would have found them before the outage.
func insertInventory(ctx context.Context, db string, arns []string, prefix string) error {
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	replicas, err := json.Marshal([]map[string]string{
		{"region": failoverTarget, "kms_key_id": standin.KMSKeyIDDefault, "status": "InSync"},
		{"region": failoverOther, "kms_key_id": failoverEUKey, "status": "InSync"},
	})
	if err != nil {
		return err
	}
	names := secretNames(prefix, len(arns))
	_, err = conn.Exec(ctx, `INSERT INTO inventory_secrets (account, region, arn, name, replicas, first_seen, last_seen, read_at)
		SELECT $1, $2, a, n, $5, now(), now(), now() FROM unnest($3::text[], $4::text[]) AS t(a, n)`,
		standin.AccountIDDefault, failoverSource, arns, names, replicas)
	return err
}
