package replictl_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/replicad/replicad/internal/replictl"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// seedDR makes name a secret in us-east-1 with an InSync replica in
// us-west-2 (when west) and one in eu-west-1, and records it in the
// inventory as a scan would.
func (f *fixture) seedDR(t *testing.T, name string, west bool) string {
	t.Helper()
	ctx := context.Background()
	arn, err := f.standin.Seed(ctx, "us-east-1", name, "v")
	if err != nil {
		t.Fatal(err)
	}
	regions := []smtypes.ReplicaRegionType{{Region: aws.String("eu-west-1")}}
	if west {
		regions = append(regions, smtypes.ReplicaRegionType{Region: aws.String("us-west-2")})
	}
	east := testenv.SecretsManager(f.endpoint, "us-east-1")
	if _, err := east.ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{SecretId: aws.String(arn), AddReplicaRegions: regions}); err != nil {
		t.Fatal(err)
	}
	var reps []map[string]string
	for _, r := range regions {
		reps = append(reps, map[string]string{"region": aws.ToString(r.Region), "status": "InSync"})
	}
	rj, _ := json.Marshal(reps)
	if _, err := f.env.DB.Exec(ctx, `INSERT INTO inventory_secrets (account, region, arn, name, replicas, first_seen, last_seen, read_at)
		VALUES ('123456789012', 'us-east-1', $1, $2, $3, now(), now(), now())`, arn, name, rj); err != nil {
		t.Fatal(err)
	}
	return arn
}

// dr readiness counts; dr failover prints the plan, refuses to run without
// a confirmation, and with --yes --wait follows the failover to its end.
func TestDRReadinessAndFailover(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	f.seedDR(t, "app/ready-a", true)
	f.seedDR(t, "app/ready-b", true)
	f.seedDR(t, "app/west-less", false)
	// The replicas are InProgress for a moment: wait until the inventory's
	// InSync is true of the stand-in too.
	deadline := time.Now().Add(10 * time.Second)
	for len(describe(t, f, "app/ready-b")) < 2 || describe(t, f, "app/ready-b")["us-west-2"].Status != smtypes.StatusTypeInSync ||
		describe(t, f, "app/ready-b")["eu-west-1"].Status != smtypes.StatusTypeInSync ||
		describe(t, f, "app/ready-a")["eu-west-1"].Status != smtypes.StatusTypeInSync {
		if time.Now().After(deadline) {
			t.Fatal("replicas not InSync")
		}
		time.Sleep(50 * time.Millisecond)
	}

	r := f.run(t, "dr", "readiness", "--from", "us-east-1", "--to", "us-west-2")
	if r.code != replictl.ExitOK || !strings.Contains(r.stdout, "2 of 3 secrets with primary in us-east-1 are ready for us-west-2") ||
		!strings.Contains(r.stdout, "app/west-less") {
		t.Fatalf("readiness: exit %d\n%s", r.code, r.stdout)
	}

	if err := f.standin.SetFaults(standin.Faults{DownRegions: []string{"us-east-1"}}); err != nil {
		t.Fatal(err)
	}
	// Not a terminal and no --yes: the plan only.
	r = f.run(t, "dr", "failover", "--from", "us-east-1", "--to", "us-west-2")
	if r.code != replictl.ExitUsage || !strings.Contains(r.stdout, "StopReplicationToReplica in us-west-2") ||
		!strings.Contains(r.stdout, "skip ") || !strings.Contains(r.stderr, "--yes") ||
		!strings.Contains(r.stdout, "Failover plan us-east-1 -> us-west-2: 3 secrets, 2 planned, 1 skipped") || !strings.Contains(r.stdout, "at the write budget") {
		t.Fatalf("unconfirmed failover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// On a terminal, anything but "yes" stops it.
	r = runWith(t, replictl.IO{Terminal: true, Stdin: strings.NewReader("no\n")},
		"dr", "failover", "--from", "us-east-1", "--to", "us-west-2", "--server", f.env.GRPCAddr())
	if r.code == replictl.ExitOK || !strings.Contains(r.stderr, "not confirmed") {
		t.Fatalf("refused confirmation: exit %d\n%s", r.code, r.stderr)
	}
	if got := f.standin.Stats().Region("us-west-2").APIs["StopReplicationToReplica"].Requests; got != 0 {
		t.Fatalf("%d promotions before a confirmed failover", got)
	}

	r = f.run(t, "dr", "failover", "--from", "us-east-1", "--to", "us-west-2", "--yes", "--wait")
	if r.code != replictl.ExitOK || !strings.Contains(r.stdout, "succeeded 2  failed 0  remaining 0  skipped 1  (of 3)") {
		t.Fatalf("failover --yes --wait: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d, err := testenv.SecretsManager(f.endpoint, "us-west-2").DescribeSecret(context.Background(),
		&secretsmanager.DescribeSecretInput{SecretId: aws.String("app/ready-a")})
	if err != nil || aws.ToString(d.PrimaryRegion) != "us-west-2" {
		t.Fatalf("app/ready-a in us-west-2: %+v %v", d, err)
	}

	// us-east-1 returns: fail back the failover (its id is on the first
	// progress line).
	if err := f.standin.SetFaults(standin.Faults{}); err != nil {
		t.Fatal(err)
	}
	failoverID := ""
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.Contains(line, "  succeeded ") {
			failoverID = strings.Fields(line)[0]
			break
		}
	}
	r = f.run(t, "dr", "failback", failoverID, "--yes", "--wait")
	if r.code != replictl.ExitOK || !strings.Contains(r.stdout, "ReplicateSecretToRegions in us-west-2 -> us-east-1 (overwrite)") ||
		!strings.Contains(r.stdout, "Failback plan ") ||
		!strings.Contains(r.stdout, "succeeded 2  failed 0  remaining 0  skipped 0  (of 2)") {
		t.Fatalf("failback --yes --wait: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
