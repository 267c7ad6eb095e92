package policytest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/moto"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/internal/testtier"
)

// TestPolicyConvergesAgainstMoto runs the policy path on what moto
// implements — ListSecrets for the scanner, DescribeSecret,
// ReplicateSecretToRegions and RemoveRegionsFromReplication — with nothing
// written behind replicad's back: the scanner fills the inventory, an
// ENFORCE policy replicates the missing Region, the policy changed (over
// REST, with its etag) to another Region with prune replicates that one
// and removes the first, and further rounds send nothing (moto appends a
// Failed entry when a Region is replicated twice, so a repeated write
// would show). The policy names no KMS key: moto ignores KmsKeyId.
//
// moto's ListSecrets carries neither PrimaryRegion nor ReplicationStatus,
// so its scanner rows never show a replica made outside replicad (AWS and
// the stand-in report PrimaryRegion for a replicated primary, which is what
// makes the scanner describe it). Replicas replicad made itself are in the
// inventory from the refresh after each operation, which is what prune
// relies on here.
func TestPolicyConvergesAgainstMoto(t *testing.T) {
	testtier.Slow(t) // moto is a second process
	srv := moto.Start(t)
	ctx := context.Background()
	env := testenv.Start(t, testenv.Options{AWSEndpoint: srv.URL, Configure: func(c *daemon.Config) {
		c.InventoryRegions = []string{"us-east-1"}
		c.Inventory.Interval = 200 * time.Millisecond
		c.Inventory.Poll = 100 * time.Millisecond
		c.Engine.ReconcileInterval = 100 * time.Millisecond
		c.Engine.PolicyRetryBackoff = time.Hour
		c.AWS.WriteRate, c.AWS.ReadRate, c.AWS.ScanRate = 400, 2000, -1
	}})
	policies := replicadv1.NewPolicyServiceClient(env.Conn)
	inventory := replicadv1.NewInventoryServiceClient(env.Conn)
	f := &fixture{env: env, policies: policies}
	sm := testenv.SecretsManager(srv.URL, "us-east-1")
	const n = 4
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("moto-fleet/app-%d", i)
		if _, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(names[i]), SecretString: aws.String("not-a-real-secret"),
			Tags: []smtypes.Tag{{Key: aws.String("team"), Value: aws.String("payments")}}}); err != nil {
			t.Fatal(err)
		}
	}
	// regionsInMoto asserts every secret's replicas as moto reports them.
	regionsInMoto := func(when string, want ...string) {
		t.Helper()
		for _, name := range names {
			d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range d.ReplicationStatus {
				got = append(got, aws.ToString(r.Region)+":"+string(r.Status))
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: %s in moto has %v, want %v", when, name, got, want)
			}
		}
	}
	policyOps := func() int {
		t.Helper()
		var count int
		if err := env.DB.QueryRow(ctx, `SELECT count(*) FROM operations WHERE origin_policy = 'moto-eu' AND state = 'succeeded'`).Scan(&count); err != nil {
			t.Fatal(err)
		}
		return count
	}
	compliant := func(what string) {
		t.Helper()
		waitFor(t, 2*time.Minute, what, func() (bool, string) {
			st := f.status(t, "moto-eu")
			return st.GetCompliantAll() && st.GetSelected() == n && st.GetOperationsPending() == 0 && st.GetOperationsRunning() == 0, protojson.Format(st)
		})
	}
	waitFor(t, time.Minute, "the scanner to list the secrets", func() (bool, string) {
		resp, err := inventory.ListSecrets(ctx, &replicadv1.ListSecretsRequest{NamePrefix: "moto-fleet/"})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.GetSecrets()) == n, protojson.Format(resp)
	})

	pol := &replicadv1.ReplicationPolicy{
		Name:     "moto-eu",
		Selector: &replicadv1.PolicySelector{NameGlobs: []string{"moto-fleet/**"}, Tags: map[string]string{"team": "payments"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "eu-west-1"}},
		Mode:     replicadv1.PolicyMode_POLICY_MODE_ENFORCE, Prune: true, WriteBudgetShare: 1,
	}
	plan, err := policies.PlanReplicationPolicy(ctx, &replicadv1.PlanReplicationPolicyRequest{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	if plan.GetSelected() != n || plan.GetOperationCount() != n || plan.GetDriftCounts()["MISSING_REGION"] != n {
		t.Fatalf("plan: %s; want %d secrets missing a Region, %d operations", protojson.Format(plan), n, n)
	}
	created, err := policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	compliant("compliance with eu-west-1")
	regionsInMoto("after the first policy", "eu-west-1:InSync")
	if got := policyOps(); got != n {
		t.Errorf("%d succeeded operations from the policy, want %d", got, n)
	}

	// Moved to ap-southeast-2 over REST: one Replicate and, with prune, one
	// Remove per secret.
	moved := created.GetPolicy()
	moved.Replicas = []*replicadv1.DesiredReplica{{Region: "ap-southeast-2"}}
	body, err := protojson.Marshal(moved)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := env.REST(t, "PATCH", "/v1/policies/moto-eu", body); code != 200 {
		t.Fatalf("PATCH /v1/policies/moto-eu: %d %s", code, out)
	}
	compliant("compliance with ap-southeast-2")
	regionsInMoto("after the policy moved", "ap-southeast-2:InSync")
	if got := policyOps(); got != 3*n {
		t.Errorf("%d succeeded operations from the policy, want %d (a Replicate, then a Replicate and a Remove per secret)", got, 3*n)
	}

	// More rounds and rescans send nothing more.
	f.reconciledRounds(t, "moto-eu", 3)
	if got := policyOps(); got != 3*n {
		t.Errorf("%d operations after further rounds, want still %d", got, 3*n)
	}
	regionsInMoto("after further rounds", "ap-southeast-2:InSync")
}
