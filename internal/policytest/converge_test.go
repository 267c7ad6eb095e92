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
)

// fleetSize is how many secrets TestPolicyConvergesFleet creates
// (POLICY_FLEET_SIZE overrides; the 1,000 in two accounts and
// three Regions waits for the multi-account stand-in of the inventory
// branch).
func fleetSize(t *testing.T) int {
	if v := os.Getenv("POLICY_FLEET_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if testing.Short() {
		return 60
	}
	return 300
}

// TestPolicyConvergesFleet: an ENFORCE policy over a few hundred secrets
// whose primaries are in two Regions converges them to compliance through
// ordinary operations, each attributed to policy/NAME with the policy as
// origin, one Replicate per secret and no duplicate; the plan announced
// exactly those operations beforehand, and status says compliant over gRPC
// and REST.
func TestPolicyConvergesFleet(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.kmsKey(t, "", "eu-west-1", "alias/fleet-eu")
	ctx := context.Background()
	n := fleetSize(t)
	primaries := []string{"us-east-1", "us-west-2"}
	for i := range n {
		f.seed(t, primaries[i%2], fmt.Sprintf("fleet/app-%04d", i), map[string]string{"team": "payments"})
	}
	f.seed(t, "us-east-1", "other/not-selected", nil)

	pol := &replicadv1.ReplicationPolicy{
		Name:     "fleet-eu",
		Selector: &replicadv1.PolicySelector{NameGlobs: []string{"fleet/**", "nothing/**"}, Tags: map[string]string{"team": "payments"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "eu-west-1", KmsKeyId: "alias/fleet-eu"}, {Region: "ap-south-1"}},
		Mode:     replicadv1.PolicyMode_POLICY_MODE_ENFORCE, WriteBudgetShare: 1,
	}
	plan, err := f.policies.PlanReplicationPolicy(ctx, &replicadv1.PlanReplicationPolicyRequest{Policy: pol, MaxSecrets: 5})
	if err != nil {
		t.Fatal(err)
	}
	if plan.GetSelected() != int32(n) || plan.GetOperationCount() != int32(n) || plan.GetWriteCalls() != int32(n) || len(plan.GetSecrets()) != 5 {
		t.Fatalf("plan: selected %d, ops %d, writes %d, listed %d; want %d, %d, %d, 5", plan.GetSelected(), plan.GetOperationCount(),
			plan.GetWriteCalls(), len(plan.GetSecrets()), n, n, n)
	}
	if got := plan.GetDriftCounts()["MISSING_REGION"]; got != int32(n) {
		t.Errorf("plan drift counts: MISSING_REGION %d, want %d", got, n)
	}
	// n/2 writes per (account, Region) at 400/s.
	wantETA := time.Duration(float64(n/2) / 400 * float64(time.Second))
	if d := plan.GetEstimatedTimeToCompliance().AsDuration(); d < wantETA-time.Millisecond || d > wantETA+time.Millisecond {
		t.Errorf("plan ETA %s, want %s", d, wantETA)
	}
	if len(plan.GetWarnings()) != 1 || plan.GetWarnings()[0] != `name glob "nothing/**" matches no secret in the inventory` {
		t.Errorf("plan warnings %q, want the glob matching nothing", plan.GetWarnings())
	}
	// Planning changed nothing.
	if ops := f.policyOps(t, "fleet-eu"); len(ops) != 0 {
		t.Fatalf("plan created %d operations", len(ops))
	}

	// Created over REST.
	body, err := protojson.Marshal(pol)
	if err != nil {
		t.Fatal(err)
	}
	code, out := f.env.REST(t, "POST", "/v1/policies", body)
	if code != 200 {
		t.Fatalf("POST /v1/policies: %d %s", code, out)
	}
	start := time.Now()
	waitFor(t, 3*time.Minute, "compliance", func() (bool, string) {
		st := f.status(t, "fleet-eu")
		return st.GetCompliantAll() && st.GetSelected() == int32(n), protojson.Format(st)
	})
	t.Logf("%d secrets compliant %s after the policy was created", n, time.Since(start).Round(time.Millisecond))

	st := f.restStatus(t, "fleet-eu")
	if !st.GetCompliantAll() || st.GetCompliant() != int32(n) || st.GetOperationsSucceeded() != int32(n) || st.GetOperationsFailed() != 0 {
		t.Errorf("REST status: %s", protojson.Format(st))
	}
	ops := f.policyOps(t, "fleet-eu")
	perSecret := map[string]int{}
	for _, o := range ops {
		perSecret[o.Key+"/"+o.Kind]++
		if o.Kind != "replicate" || o.State != "succeeded" {
			t.Errorf("operation %+v, want a succeeded replicate", o)
		}
	}
	if len(ops) != n || len(perSecret) != n {
		t.Errorf("%d operations on %d secrets, want exactly one Replicate per secret (%d)", len(ops), len(perSecret), n)
	}
	// Visible in ListOperations with their origin and principal.
	list, err := f.env.Client.ListOperations(ctx, &replicadv1.ListOperationsRequest{PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range list.GetOperations() {
		if op.GetOriginPolicy() != "fleet-eu" || op.GetPrincipal() != "policy/fleet-eu" {
			t.Errorf("ListOperations: origin %q principal %q", op.GetOriginPolicy(), op.GetPrincipal())
		}
	}
	// A few more rounds change nothing: no operation for a drift fixed.
	f.reconciledRounds(t, "fleet-eu", 3)
	if again := f.policyOps(t, "fleet-eu"); len(again) != n {
		t.Errorf("%d operations after further rounds, want still %d", len(again), n)
	}
}
