package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

// Issue 14's crash case: kill -9 one of two replicad processes while they
// reconcile an ENFORCE policy over a few hundred secrets, each missing a
// Region, under a write budget that makes reconciliation last seconds. The
// survivor takes the dead process's running operations within 15 s of its
// last heartbeat and brings the fleet to compliance alone: every secret
// replicated (as the stand-in itself describes it), exactly one SUCCEEDED
// policy operation per secret, no ReplicateSecretToRegions sent twice for
// a (secret, Region), nothing left unfinished.
func TestKillDuringReconciliationLosesAndDuplicatesNothing(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	const (
		n      = 300
		policy = "crash-west"
		region = "us-west-2"
	)
	// Replicas take half a second to be InSync and executions poll inline, so
	// the kill lands on operations waiting for a write token and on others
	// whose write AWS has applied and which wait for InSync: the survivor
	// must finish those without writing again.
	sm := startWatchedStandin(t, standin.Options{ReplicationDelay: 500 * time.Millisecond, Faults: standin.Faults{Latency: 5 * time.Millisecond}})
	ctx := context.Background()
	var specs []standin.SeedSecret
	for i := range n {
		specs = append(specs, standin.SeedSecret{Region: "us-east-1", Name: fmt.Sprintf("policy-crash/svc-%03d", i), Tags: map[string]string{"team": "crash"}})
	}
	seeded, err := sm.SeedSecrets(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, sm.URL)
	// 300 writes at 40/s: about 7.5 s of reconciliation. Default heartbeat
	// and --rescue-after, as the failover crash test: only the heartbeat
	// rescue can meet the 15 s bound.
	flags := []string{"--workers", "16", "--inline-poll", "5s", "--aws-write-rate", "40", "--inventory-interval", "1s",
		"--policy-reconcile-interval", "200ms", "--policy-retry-backoff", "1h"}
	p1 := c.start(t, "replicad-1", flags...)
	p2 := c.start(t, "replicad-2", flags...)
	conn := connect(t, c.dbURL)

	// The scanner finds the fleet before the policy exists, so that the
	// policy's plan is the whole fleet from its first round.
	policies := replicadv1.NewPolicyServiceClient(p1.conn)
	pol := &replicadv1.ReplicationPolicy{
		Name:     policy,
		Selector: &replicadv1.PolicySelector{NameGlobs: []string{"policy-crash/**"}, Tags: map[string]string{"team": "crash"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: region}},
		Mode:     replicadv1.PolicyMode_POLICY_MODE_ENFORCE, WriteBudgetShare: 1,
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		plan, err := policies.PlanReplicationPolicy(ctx, &replicadv1.PlanReplicationPolicyRequest{Policy: pol, MaxSecrets: 1})
		if err != nil {
			t.Fatal(err)
		}
		if plan.GetSelected() == n && plan.GetOperationCount() == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("plan after 60s: %d selected, %d operations; want %d and %d", plan.GetSelected(), plan.GetOperationCount(), n, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: pol}); err != nil {
		t.Fatal(err)
	}
	created := time.Now()

	// Wait until some of the policy's operations have succeeded while
	// others are still to do, and pick as victim the process holding the
	// most running ones (its jobs carry its instance id).
	var (
		victim     string
		held       []int64
		succeeded0 int
	)
	deadline = time.Now().Add(60 * time.Second)
	for victim == "" {
		var done int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM operations WHERE origin_policy = $1 AND state = 'succeeded'`, policy).Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done >= 20 && done < n/2 {
			byHolder := map[string][]int64{}
			rows, err := conn.Query(ctx, `SELECT j.id, j.attempted_by[array_length(j.attempted_by, 1)] FROM river_job j
				JOIN operations o ON o.job_id = j.id WHERE j.state = 'running' AND o.origin_policy = $1`, policy)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id int64
				var holder string
				if err := rows.Scan(&id, &holder); err != nil {
					t.Fatal(err)
				}
				byHolder[holder] = append(byHolder[holder], id)
			}
			rows.Close()
			for h, ids := range byHolder {
				if len(ids) > len(held) {
					victim, held, succeeded0 = h, ids, done
				}
			}
		}
		if done >= n/2 && victim == "" {
			t.Fatalf("%d of %d operations succeeded before either process was seen running one: the kill would land too late", done, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no policy operation running with some succeeded within 60s (%d succeeded)", done)
		}
		time.Sleep(5 * time.Millisecond)
	}
	victimProc, survivor := p1, p2
	if !processIs(t, p1, victim) {
		victimProc, survivor = p2, p1
		if !processIs(t, p2, victim) {
			t.Fatalf("no process has instance id %s", victim)
		}
	}
	killedAt := time.Now()
	victimProc.kill9(t)
	var lastBeat time.Time
	if err := conn.QueryRow(ctx, `SELECT heartbeat FROM instances WHERE id = $1`, victim).Scan(&lastBeat); err != nil {
		t.Fatalf("the killed process's heartbeat: %v", err)
	}
	// What the kill interrupted: the policy jobs the dead process was
	// running. Nothing changes them until the survivor rescues them, only
	// after two silent heartbeats.
	var orphans []int64
	written := 0
	writesAtKill := sm.Writes()
	rows, err := conn.Query(ctx, `SELECT j.id, o.secret_key FROM river_job j JOIN operations o ON o.job_id = j.id
		WHERE j.state = 'running' AND o.state = 'running' AND o.origin_policy = $1
		AND j.attempted_by[array_length(j.attempted_by, 1)] = $2`, policy, victim)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			t.Fatal(err)
		}
		orphans = append(orphans, id)
		if writesAtKill[[3]string{"ReplicateSecretToRegions", key, region}] > 0 {
			written++
		}
	}
	rows.Close()
	t.Logf("killed %s %s after the policy was created: %d of %d operations succeeded; it held %d running, %d of them written to AWS",
		victimProc.name, killedAt.Sub(created).Round(time.Millisecond), succeeded0, n, len(orphans), written)
	if len(orphans) == 0 {
		t.Fatalf("the kill hit no running policy operation (%d seen running a moment before): the test would prove nothing", len(held))
	}

	// The survivor takes every one of them: the pickup time is the
	// database's attempted_at, on the heartbeat's clock.
	deadline = time.Now().Add(40 * time.Second)
	for {
		var moved int
		var newest *time.Time
		if err := conn.QueryRow(ctx, `SELECT count(*), max(attempted_at) FROM river_job
			WHERE id = ANY($1) AND attempted_by[array_length(attempted_by, 1)] <> $2`, orphans, victim).Scan(&moved, &newest); err != nil {
			t.Fatal(err)
		}
		if moved == len(orphans) {
			since := newest.Sub(lastBeat)
			t.Logf("%d jobs of the killed process resumed on the survivor %s after its last heartbeat", moved, since.Round(time.Millisecond))
			if since > 15*time.Second {
				t.Errorf("resumed %s after the last heartbeat, want at most 15s", since.Round(time.Millisecond))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs resumed 40s after the kill", moved, len(orphans))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Compliance with the survivor alone, read over REST as a dashboard
	// would, and nothing left unfinished.
	var st *replicadv1.ReplicationPolicyStatus
	deadline = time.Now().Add(2 * time.Minute)
	for {
		st = restPolicyStatus(t, survivor, policy)
		var active int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM operations WHERE state NOT IN ('succeeded', 'failed', 'cancelled')`).Scan(&active); err != nil {
			t.Fatal(err)
		}
		if st.GetCompliantAll() && st.GetSelected() == n && active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("2 min after the kill: %d operations not terminal, status %s", active, protojson.Format(st))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("compliant %s after the policy was created, %s after the kill", time.Since(created).Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond))
	got, err := replicadv1.NewPolicyServiceClient(survivor.conn).GetReplicationPolicyStatus(ctx, &replicadv1.GetReplicationPolicyStatusRequest{Name: policy})
	if err != nil {
		t.Fatal(err)
	}
	if g := got.GetStatus(); !g.GetCompliantAll() || g.GetOperationsFailed() != 0 || g.GetOperationsPending() != 0 || g.GetOperationsRunning() != 0 {
		t.Errorf("gRPC status: %s", protojson.Format(g))
	}
	if st.GetOperationsFailed() != 0 {
		t.Errorf("REST status: %s", protojson.Format(st))
	}

	// AWS's side, as the stand-in itself describes every secret.
	east := testenv.SecretsManager(sm.URL, "us-east-1")
	for _, arn := range seeded {
		d, err := east.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.ReplicationStatus) != 1 || aws.ToString(d.ReplicationStatus[0].Region) != region || d.ReplicationStatus[0].Status != "InSync" {
			t.Errorf("%s: replicas %+v, want %s InSync only", aws.ToString(d.Name), d.ReplicationStatus, region)
		}
	}

	// Exactly one operation per secret, and it SUCCEEDED: none created twice
	// by the two processes, by the survivor after the kill, or lost.
	rows, err = conn.Query(ctx, `SELECT secret_key, count(*), count(*) FILTER (WHERE state = 'succeeded')
		FROM operations WHERE origin_policy = $1 GROUP BY secret_key`, policy)
	if err != nil {
		t.Fatal(err)
	}
	keys := 0
	for rows.Next() {
		var key string
		var all, ok int
		if err := rows.Scan(&key, &all, &ok); err != nil {
			t.Fatal(err)
		}
		keys++
		if all != 1 || ok != 1 {
			t.Errorf("%s: %d policy operations, %d SUCCEEDED; want exactly one, SUCCEEDED", key, all, ok)
		}
	}
	rows.Close()
	if keys != n {
		t.Errorf("policy operations on %d secrets, want %d", keys, n)
	}
	var others int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM operations WHERE origin_policy IS DISTINCT FROM $1`, policy).Scan(&others); err != nil {
		t.Fatal(err)
	}
	if others != 0 {
		t.Errorf("%d operations of no policy or another", others)
	}

	// No write sent twice: one ReplicateSecretToRegions per (secret,
	// Region), and nothing else mutating.
	writes := sm.Writes()
	for k, c := range writes {
		if k[0] != "ReplicateSecretToRegions" || k[2] != region || c != 1 {
			t.Errorf("%s of %s to %s sent %d times", k[0], k[1], k[2], c)
		}
	}
	if len(writes) != n {
		t.Errorf("writes for %d (secret, Region)s, want %d", len(writes), n)
	}
	if got := sm.Stats().Region("us-east-1").APIs["ReplicateSecretToRegions"].Requests; got != n {
		t.Errorf("the stand-in counted %d ReplicateSecretToRegions for %d secrets", got, n)
	}
	if o := sm.Overlaps(); len(o) > 0 {
		t.Errorf("mutating calls overlapped on %v", o)
	}
	if lines := survivor.logs.lines("rescued the jobs of processes whose heartbeat stopped"); len(lines) == 0 {
		t.Error("the survivor did not log the rescue")
	}
}

// restPolicyStatus reads a policy's status through p's REST gateway.
func restPolicyStatus(t *testing.T, p *proc, name string) *replicadv1.ReplicationPolicyStatus {
	t.Helper()
	resp, err := http.Get("http://" + p.httpAddr + "/v1/policies/" + name + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET policy status: %d %s", resp.StatusCode, body)
	}
	var out replicadv1.GetReplicationPolicyStatusResponse
	if err := protojson.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode policy status: %v: %s", err, body)
	}
	return out.GetStatus()
}
