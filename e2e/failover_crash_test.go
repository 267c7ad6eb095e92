package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

// Issue 15's crash case: kill -9 the process working a failover's children
// while us-east-1 is down. The survivor picks the killed process's
// children up within 15 s of its last heartbeat, and the failover ends
// with every step done exactly once: no step skipped, no promotion or
// replication sent twice.
func TestKillDuringFailoverResumesOnSurvivor(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	flags := []string{"--workers", "3"}
	p1 := c.start(t, "replicad-1", flags...)
	p2 := c.start(t, "replicad-2", flags...)
	ctx := context.Background()
	conn := connect(t, c.dbURL)
	east := testenv.SecretsManager(sm.URL, "us-east-1")
	const n = 30
	var arns []string
	for i := range n {
		name := fmt.Sprintf("dr-crash/%03d", i)
		arn, err := sm.Seed(ctx, "us-east-1", name, "v")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{SecretId: aws.String(arn),
			AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("us-west-2")}, {Region: aws.String("eu-west-1")}}}); err != nil {
			t.Fatal(err)
		}
		rj, _ := json.Marshal([]map[string]string{{"region": "us-west-2", "status": "InSync"}, {"region": "eu-west-1", "status": "InSync"}})
		if _, err := conn.Exec(ctx, `INSERT INTO inventory_secrets (account, region, arn, name, replicas, first_seen, last_seen, read_at)
			VALUES ('123456789012', 'us-east-1', $1, $2, $3, now(), now(), now())`, arn, name, rj); err != nil {
			t.Fatal(err)
		}
		arns = append(arns, arn)
	}
	// us-east-1 is lost; every other call is slow enough that the kill
	// lands on children in the middle of their steps.
	if err := sm.SetFaults(standin.Faults{DownRegions: []string{"us-east-1"}, Latency: 150 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	resp, err := replicadv1.NewDisasterRecoveryServiceClient(p1.conn).Failover(ctx, &replicadv1.FailoverRequest{SourceRegion: "us-east-1", TargetRegion: "us-west-2"})
	if err != nil {
		t.Fatal(err)
	}

	// Wait until p1 works children (its jobs carry its instance id).
	var victim string
	deadline := time.Now().Add(30 * time.Second)
	for victim == "" {
		rows, err := conn.Query(ctx, `SELECT j.attempted_by[array_length(j.attempted_by, 1)] FROM river_job j
			JOIN operations o ON o.job_id = j.id WHERE j.state = 'running' AND o.parent_id IS NOT NULL`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var holder string
			if err := rows.Scan(&holder); err != nil {
				t.Fatal(err)
			}
			if processIs(t, p1, holder) {
				victim = holder
			}
		}
		rows.Close()
		if time.Now().After(deadline) {
			t.Fatal("replicad-1 worked no failover child within 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var held []int64
	rows, err := conn.Query(ctx, `SELECT id FROM river_job WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`, victim)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		held = append(held, id)
	}
	rows.Close()
	p1.kill9(t)
	var lastBeat time.Time
	if err := conn.QueryRow(ctx, `SELECT heartbeat FROM instances WHERE id = $1`, victim).Scan(&lastBeat); err != nil {
		t.Fatal(err)
	}
	if len(held) == 0 {
		t.Fatal("the kill hit no running job: the test would prove nothing")
	}

	// The survivor takes every job the dead process held.
	deadline = time.Now().Add(40 * time.Second)
	for {
		var moved int
		var newest *time.Time
		if err := conn.QueryRow(ctx, `SELECT count(*), max(attempted_at) FROM river_job
			WHERE id = ANY($1) AND attempted_by[array_length(attempted_by, 1)] <> $2`, held, victim).Scan(&moved, &newest); err != nil {
			t.Fatal(err)
		}
		if moved == len(held) {
			since := newest.Sub(lastBeat)
			t.Logf("%d jobs of the killed process resumed on the survivor %s after its last heartbeat", len(held), since.Round(time.Millisecond))
			if since > 15*time.Second {
				t.Errorf("resumed %s after the last heartbeat, want at most 15s", since.Round(time.Millisecond))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs resumed 40s after the kill", moved, len(held))
		}
		time.Sleep(20 * time.Millisecond)
	}

	dr := replicadv1.NewReplicationServiceClient(p2.conn)
	var op *replicadv1.Operation
	deadline = time.Now().Add(2 * time.Minute)
	for {
		got, err := dr.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: resp.GetOperation().GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if op = got.GetOperation(); testenv.Terminal(op.GetState()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("failover unfinished: %s", protojson.Format(op.GetDisasterRecovery()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED || op.GetDisasterRecovery().GetSucceeded() != n {
		t.Fatalf("failover ended %s: %s", op.GetState(), protojson.Format(op.GetDisasterRecovery()))
	}
	for _, s := range op.GetDisasterRecovery().GetSecrets() {
		if len(s.GetSteps()) != 3 {
			t.Errorf("%s: %d steps", s.GetSecretId(), len(s.GetSteps()))
		}
		for _, st := range s.GetSteps() {
			if st.GetState() != replicadv1.DisasterRecoveryStepState_DISASTER_RECOVERY_STEP_STATE_SUCCEEDED {
				t.Errorf("%s: step %s in %s %s", s.GetSecretId(), st.GetApi(), st.GetRegion(), st.GetState())
			}
		}
	}
	for _, arn := range arns {
		d, err := testenv.SecretsManager(sm.URL, "us-west-2").DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{
			SecretId: aws.String(arn[:len("arn:aws:secretsmanager:")] + "us-west-2" + arn[len("arn:aws:secretsmanager:us-east-1"):])})
		if err != nil || aws.ToString(d.PrimaryRegion) != "us-west-2" || len(d.ReplicationStatus) != 1 ||
			aws.ToString(d.ReplicationStatus[0].Region) != "eu-west-1" {
			t.Errorf("%s in us-west-2 after the failover: %+v %v", arn, d, err)
		}
	}
	st := sm.Stats()
	for _, k := range [][2]string{{"us-west-2", "StopReplicationToReplica"}, {"eu-west-1", "StopReplicationToReplica"}, {"us-west-2", "ReplicateSecretToRegions"}} {
		if got := st.Region(k[0]).APIs[k[1]].Requests; got != n {
			t.Errorf("%s in %s sent %d times for %d secrets: a step was repeated or skipped", k[1], k[0], got, n)
		}
	}
	if o := sm.Overlaps(); len(o) > 0 {
		t.Errorf("mutating calls overlapped on %v", o)
	}
}
