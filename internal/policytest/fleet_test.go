package policytest_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/awssm"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

const otherAccount = "210987654321"

var fleetRegions = []string{"us-east-1", "eu-west-1", "ap-southeast-2"}

// TestPolicyFleetTwoAccountsThreeRegions (issue 14's "done when"): 1,000
// secrets in two accounts and three Regions, found by the inventory
// scanner (STS AssumeRole into each account), converge to compliance under
// one ENFORCE policy: one Replicate per secret, each in its own account,
// none duplicated. POLICY_FLEET_TOTAL overrides the size.
func TestPolicyFleetTwoAccountsThreeRegions(t *testing.T) {
	testtier.Slow(t)
	total := 1000
	if v := os.Getenv("POLICY_FLEET_TOTAL"); v != "" {
		var err error
		if total, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	accounts := []string{standin.AccountIDDefault, otherAccount}
	f := startWith(t, standin.Options{}, nil, func(c *daemon.Config) {
		for _, a := range accounts {
			c.AWS.Accounts = append(c.AWS.Accounts, awssm.Account{ID: a, RoleARN: "arn:aws:iam::" + a + ":role/replicad", Regions: fleetRegions})
		}
		c.Inventory.Interval = 500 * time.Millisecond
		c.Inventory.Poll = 100 * time.Millisecond
		c.AWS.WriteRate = 1000
	})
	for _, a := range accounts {
		f.kmsKey(t, a, "us-west-2", "alias/gold")
	}
	var specs []standin.SeedSecret
	for i := range total {
		specs = append(specs, standin.SeedSecret{Account: accounts[i%2], Region: fleetRegions[(i/2)%3],
			Name: fmt.Sprintf("fleet/svc-%04d", i), Tags: map[string]string{"tier": "gold"}})
	}
	if _, err := f.sm.SeedSecrets(context.Background(), specs); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pol := &replicadv1.ReplicationPolicy{
		Name:     "gold",
		Selector: &replicadv1.PolicySelector{Accounts: accounts, Tags: map[string]string{"tier": "gold"}, NameGlobs: []string{"fleet/**"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "us-west-2", KmsKeyId: "alias/gold"}, {Region: "sa-east-1"}},
		Mode:     replicadv1.PolicyMode_POLICY_MODE_ENFORCE, WriteBudgetShare: 1,
	}
	// The scanner finds them all.
	waitFor(t, 2*time.Minute, "the inventory", func() (bool, string) {
		plan, err := f.policies.PlanReplicationPolicy(ctx, &replicadv1.PlanReplicationPolicyRequest{Policy: pol, MaxSecrets: 1})
		if err != nil {
			t.Fatal(err)
		}
		return plan.GetSelected() == int32(total) && plan.GetOperationCount() == int32(total), fmt.Sprint(plan.GetSelected(), plan.GetOperationCount())
	})
	if _, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: pol}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 6*time.Minute, "compliance", func() (bool, string) {
		st := f.status(t, "gold")
		return st.GetCompliantAll() && st.GetSelected() == int32(total), protojson.Format(st)
	})
	t.Logf("%d secrets in 2 accounts x 3 Regions compliant %s after the policy was created", total, time.Since(start).Round(time.Millisecond))
	if st := f.restStatus(t, "gold"); !st.GetCompliantAll() || st.GetOperationsFailed() != 0 {
		t.Errorf("REST status: %s", protojson.Format(st))
	}
	var ops, distinct, accountsTouched int
	if err := f.env.DB.QueryRow(ctx, `SELECT count(*), count(DISTINCT secret_key) FROM operations WHERE origin_policy = 'gold'`).Scan(&ops, &distinct); err != nil {
		t.Fatal(err)
	}
	// Names are unique across the fleet, so one key per secret.
	if ops != total || distinct != total {
		t.Errorf("%d operations on %d secrets, want exactly one per secret (%d)", ops, distinct, total)
	}
	if err := f.env.DB.QueryRow(ctx, `SELECT count(DISTINCT account) FROM inventory_secrets WHERE replicas @> '[{"region": "us-west-2", "status": "InSync"}]'`).Scan(&accountsTouched); err != nil {
		t.Fatal(err)
	}
	if accountsTouched != 2 {
		t.Errorf("replicas InSync in %d accounts, want 2", accountsTouched)
	}
}
