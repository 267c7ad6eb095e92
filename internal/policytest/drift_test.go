package policytest_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
)

// replicate adds replicas behind replicad's back, as another tool would.
func (f *fixture) replicate(t *testing.T, region, arn string, force bool, regions ...[2]string) {
	t.Helper()
	in := &secretsmanager.ReplicateSecretToRegionsInput{SecretId: aws.String(arn), ForceOverwriteReplicaSecret: force}
	for _, r := range regions {
		rr := smtypes.ReplicaRegionType{Region: aws.String(r[0])}
		if r[1] != "" {
			rr.KmsKeyId = aws.String(r[1])
		}
		in.AddReplicaRegions = append(in.AddReplicaRegions, rr)
	}
	if _, err := f.client(region).ReplicateSecretToRegions(context.Background(), in); err != nil {
		t.Fatalf("ReplicateSecretToRegions: %v", err)
	}
}

func driftsOf(plan *replicadv1.PlanReplicationPolicyResponse) map[string][]string {
	out := map[string][]string{}
	for _, s := range plan.GetSecrets() {
		for _, d := range s.GetDrifts() {
			out[s.GetName()] = append(out[s.GetName()], d.GetKind().String()+"@"+d.GetRegion())
		}
	}
	return out
}

// TestPolicyDriftKindsAndBehaviours: every drift kind is detected and
// classified; with every behaviour off only a missing Region is fixed
// (a Failed replica is not retried, an extra replica stays, a key change
// is reported); retry_failed retries without force, then with it once the
// policy allows; prune removes the extra replica and recreation fixes the
// key; an unexpected primary and a scheduled deletion are only reported.
func TestPolicyDriftKindsAndBehaviours(t *testing.T) {
	t.Parallel()
	f := start(t)
	f.kmsKey(t, "", "eu-west-1", "alias/eu")
	f.kmsKey(t, "", "eu-west-1", "alias/other")
	ctx := context.Background()
	const euKey = "alias/eu"
	missing := f.seed(t, "us-east-1", "drift/missing", nil)

	// A standalone secret of the same name in eu-west-1 makes replication
	// there Failed.
	// there Failed. It stays out of the inventory: it is another secret.
	if _, err := f.client("eu-west-1").CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("drift/failed"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	failedARN := f.seed(t, "us-east-1", "drift/failed", nil)
	f.replicate(t, "us-east-1", failedARN, false, [2]string{"eu-west-1", euKey}, [2]string{"ap-south-1", ""})

	kms := f.seed(t, "us-east-1", "drift/kms", nil)
	f.replicate(t, "us-east-1", kms, false, [2]string{"eu-west-1", "alias/other"}, [2]string{"ap-south-1", ""})

	extra := f.seed(t, "us-east-1", "drift/extra", nil)
	f.replicate(t, "us-east-1", extra, false, [2]string{"eu-west-1", euKey}, [2]string{"ap-south-1", ""}, [2]string{"sa-east-1", ""})

	elsewhere := f.seed(t, "us-west-2", "drift/elsewhere", nil)
	f.replicate(t, "us-west-2", elsewhere, false, [2]string{"eu-west-1", euKey}, [2]string{"ap-south-1", ""})

	deleted := f.seed(t, "us-east-1", "drift/deleted", nil)
	if _, err := f.client("us-east-1").DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String(deleted), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	compliant := f.seed(t, "us-east-1", "drift/compliant", nil)
	f.replicate(t, "us-east-1", compliant, false, [2]string{"eu-west-1", euKey}, [2]string{"ap-south-1", ""})
	for _, s := range []struct{ region, arn string }{{"us-east-1", failedARN}, {"us-east-1", kms}, {"us-east-1", extra},
		{"us-west-2", elsewhere}, {"us-east-1", deleted}, {"us-east-1", compliant}} {
		f.record(t, s.region, s.arn, nil)
	}
	_ = missing

	pol := &replicadv1.ReplicationPolicy{
		Name:     "drift",
		Selector: &replicadv1.PolicySelector{NameGlobs: []string{"drift/**"}, PrimaryRegions: []string{"us-east-1"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "eu-west-1", KmsKeyId: euKey}, {Region: "ap-south-1"}},
		Mode:     replicadv1.PolicyMode_POLICY_MODE_ENFORCE, WriteBudgetShare: 1,
	}
	plan, err := f.policies.PlanReplicationPolicy(ctx, &replicadv1.PlanReplicationPolicyRequest{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"drift/missing":   {"DRIFT_KIND_MISSING_REGION@ap-south-1", "DRIFT_KIND_MISSING_REGION@eu-west-1"},
		"drift/failed":    {"DRIFT_KIND_FAILED_REPLICA@eu-west-1"},
		"drift/kms":       {"DRIFT_KIND_KMS_KEY_DIFFERS@eu-west-1"},
		"drift/extra":     {"DRIFT_KIND_EXTRA_REGION@sa-east-1"},
		"drift/elsewhere": {"DRIFT_KIND_UNEXPECTED_PRIMARY@us-west-2"},
		"drift/deleted":   {"DRIFT_KIND_SCHEDULED_FOR_DELETION@us-east-1"},
	}
	got := driftsOf(plan)
	for name, w := range want {
		if !slices.Equal(got[name], w) {
			t.Errorf("plan: %s drifts %v, want %v", name, got[name], w)
		}
	}
	if plan.GetSelected() != 7 || plan.GetCompliant() != 1 || plan.GetOperationCount() != 1 {
		t.Fatalf("plan: %s", protojson.Format(plan))
	}
	for _, s := range plan.GetSecrets() {
		if s.GetName() == "drift/failed" && !slices.ContainsFunc(s.GetDrifts(), func(d *replicadv1.Drift) bool { return d.GetMessage() != "" }) {
			t.Errorf("the Failed replica's drift carries no AWS message: %s", protojson.Format(s))
		}
	}

	created, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the missing Regions fixed", func() (bool, string) {
		st := f.status(t, "drift")
		return st.GetDrifted()["MISSING_REGION"] == 0 && st.GetOperationsSucceeded() == 1, protojson.Format(st)
	})
	f.reconciledRounds(t, "drift", 3)
	st := f.status(t, "drift")
	for kind, n := range map[string]int32{"FAILED_REPLICA": 1, "KMS_KEY_DIFFERS": 1, "EXTRA_REGION": 1, "UNEXPECTED_PRIMARY": 1, "SCHEDULED_FOR_DELETION": 1, "MISSING_REGION": 0} {
		if st.GetDrifted()[kind] != n {
			t.Errorf("with every behaviour off: %s = %d, want %d (%s)", kind, st.GetDrifted()[kind], n, protojson.Format(st))
		}
	}
	if st.GetUnfixable() != 5 || st.GetCompliant() != 2 {
		t.Errorf("unfixable %d compliant %d, want 5 and 2", st.GetUnfixable(), st.GetCompliant())
	}
	if ops := f.policyOps(t, "drift"); len(ops) != 1 || ops[0].Key != "drift/missing" {
		t.Fatalf("operations with every behaviour off: %+v, want one on drift/missing", ops)
	}

	// retry_failed without force: one retry, which fails again (the
	// same-named secret is still there), and no loop of retries.
	pol.Etag, pol.RetryFailed = created.GetPolicy().GetEtag(), true
	upd, err := f.policies.UpdateReplicationPolicy(ctx, &replicadv1.UpdateReplicationPolicyRequest{Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the retry of the Failed replica", func() (bool, string) {
		ops := f.policyOps(t, "drift")
		return len(ops) == 2 && ops[1].State == "failed", js(ops)
	})
	f.reconciledRounds(t, "drift", 3)
	ops := f.policyOps(t, "drift")
	if len(ops) != 2 || ops[1].Key != "drift/failed" || ops[1].Force {
		t.Fatalf("after retry_failed without force: %+v", ops)
	}

	// With force overwrite allowed (over REST), prune and recreation.
	pol.Etag, pol.ForceOverwrite, pol.Prune, pol.RecreateOnKmsChange = upd.GetPolicy().GetEtag(), true, true, true
	body, err := protojson.Marshal(pol)
	if err != nil {
		t.Fatal(err)
	}
	if code, out := f.env.REST(t, "PATCH", "/v1/policies/drift", body); code != 200 {
		t.Fatalf("PATCH: %d %s", code, out)
	}
	// The old etag is stale now.
	if code, out := f.env.REST(t, "PATCH", "/v1/policies/drift", body); code != 409 {
		t.Errorf("PATCH with a stale etag: %d %s, want 409 (ABORTED)", code, out)
	}
	waitFor(t, time.Minute, "everything fixable fixed", func() (bool, string) {
		st := f.status(t, "drift")
		d := st.GetDrifted()
		return d["FAILED_REPLICA"] == 0 && d["KMS_KEY_DIFFERS"] == 0 && d["EXTRA_REGION"] == 0 && st.GetOperationsPending() == 0 &&
			st.GetOperationsRunning() == 0, protojson.Format(st)
	})
	st = f.status(t, "drift")
	if st.GetDrifted()["UNEXPECTED_PRIMARY"] != 1 || st.GetDrifted()["SCHEDULED_FOR_DELETION"] != 1 || st.GetUnfixable() != 2 || st.GetCompliant() != 5 {
		t.Errorf("final status: %s", protojson.Format(st))
	}
	byKey := map[string][]string{}
	for _, o := range f.policyOps(t, "drift")[2:] {
		byKey[o.Key] = append(byKey[o.Key], o.Kind+":"+o.State)
	}
	wantOps := map[string][]string{
		"drift/failed": {"replicate:succeeded"},
		"drift/extra":  {"remove:succeeded"},
		"drift/kms":    {"remove:succeeded", "replicate:succeeded"},
	}
	for k, w := range wantOps {
		if !slices.Equal(byKey[k], w) {
			t.Errorf("operations on %s: %v, want %v", k, byKey[k], w)
		}
	}
	if len(byKey) != len(wantOps) {
		t.Errorf("operations: %v, want only %v", byKey, wantOps)
	}
	// AWS agrees.
	d, err := f.client("us-east-1").DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(kms)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range d.ReplicationStatus {
		if aws.ToString(r.Region) == "eu-west-1" && aws.ToString(r.KmsKeyId) != euKey {
			t.Errorf("drift/kms in eu-west-1 has key %q, want %q", aws.ToString(r.KmsKeyId), euKey)
		}
	}
}
