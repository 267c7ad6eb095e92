package policytest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// TestPolicyCanariesNeverLeak: the account ids a policy names (its
// selector's accounts, its KMS key ARNs, the secrets' ARNs) never reach
// the daemon's logs, the audit trail or an error, through every policy RPC
// over gRPC and REST, valid and invalid, and through reconciliation's own
// calls and operations.
func TestPolicyCanariesNeverLeak(t *testing.T) {
	t.Parallel()
	const account = "975310864201"
	logs := &testenv.Buffer{}
	f := startWith(t, standin.Options{AccountID: account}, logs)
	ctx := context.Background()
	for i := range 3 {
		f.seed(t, "us-east-1", fmt.Sprintf("canary/s%d", i), nil)
	}
	key := "arn:aws:kms:eu-west-1:" + account + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	pol := &replicadv1.ReplicationPolicy{
		Name:     "canary",
		Selector: &replicadv1.PolicySelector{Accounts: []string{account}, NameGlobs: []string{"canary/**"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "eu-west-1", KmsKeyId: key}},
		Mode:     replicadv1.PolicyMode_POLICY_MODE_ENFORCE, WriteBudgetShare: 1,
	}
	var errs []string
	record := func(err error) {
		if err != nil {
			errs = append(errs, status.Convert(err).Message(), fmt.Sprint(status.Convert(err).Details()))
		}
	}
	_, err := f.policies.PlanReplicationPolicy(ctx, &replicadv1.PlanReplicationPolicyRequest{Policy: pol})
	record(err)
	body, _ := protojson.Marshal(pol)
	if code, out := f.env.REST(t, "POST", "/v1/policies", body); code != 200 {
		t.Fatalf("create: %d %s", code, out)
	}
	// Invalid: the key in the wrong Region, a bad account next to a good one.
	bad := &replicadv1.ReplicationPolicy{Name: "bad", Mode: replicadv1.PolicyMode_POLICY_MODE_REPORT,
		Selector: &replicadv1.PolicySelector{Accounts: []string{account, account + "9"}, NameGlobs: []string{"x"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "ap-south-1", KmsKeyId: key}}}
	_, err = f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: bad})
	record(err)
	badBody, _ := protojson.Marshal(bad)
	_, out := f.env.REST(t, "POST", "/v1/policies", badBody)
	errs = append(errs, string(out))
	// Overlap.
	other := &replicadv1.ReplicationPolicy{Name: "other", Mode: replicadv1.PolicyMode_POLICY_MODE_REPORT,
		Selector: &replicadv1.PolicySelector{Accounts: []string{account}, NameGlobs: []string{"canary/s1"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "ap-south-1"}}}
	_, err = f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: other})
	record(err)
	if err == nil {
		t.Fatal("overlapping policy accepted")
	}
	// A missing alias, named by an alias ARN that carries the account.
	noAlias := &replicadv1.ReplicationPolicy{Name: "no-alias", Mode: replicadv1.PolicyMode_POLICY_MODE_REPORT,
		Selector: &replicadv1.PolicySelector{Accounts: []string{account}, NameGlobs: []string{"nothing/**"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "eu-west-1", KmsKeyId: "arn:aws:kms:eu-west-1:" + account + ":alias/canary-missing"}}}
	_, err = f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: noAlias})
	record(err)
	if err == nil {
		t.Fatal("a policy with a missing alias accepted")
	}
	noAliasBody, _ := protojson.Marshal(noAlias)
	_, out = f.env.REST(t, "POST", "/v1/policies:plan", []byte(`{"policy": `+string(noAliasBody)+`}`))
	errs = append(errs, string(out))
	waitFor(t, time.Minute, "compliance", func() (bool, string) {
		st := f.status(t, "canary")
		return st.GetCompliantAll(), protojson.Format(st)
	})
	plan, err := f.policies.PlanReplicationPolicy(ctx, &replicadv1.PlanReplicationPolicyRequest{Name: "canary"})
	record(err)
	f.env.Stop(t) // flush the audit trail

	for _, e := range errs {
		if strings.Contains(e, account) {
			t.Errorf("an error carries the account: %s", e)
		}
	}
	if strings.Contains(logs.String(), account) {
		i := strings.Index(logs.String(), account)
		t.Errorf("the logs carry the account: ...%s...", logs.String()[max(0, i-300):min(len(logs.String()), i+100)])
	}
	_ = plan
	var n int
	if err := f.env.DB.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE strpos(to_jsonb(audit_events)::text, $1) > 0`, account).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("%d audit events carry the account", n)
	}
	var total int
	if err := f.env.DB.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE method LIKE '%PolicyService%'`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	if total < 5 {
		t.Errorf("%d PolicyService audit events, want every call audited", total)
	}
	if err := f.env.DB.QueryRow(ctx, `SELECT count(*) FROM operations WHERE strpos(secret_display || regions::text || coalesce(error_message, ''), $1) > 0`, account).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("%d operations carry the account in printable columns", n)
	}
}
