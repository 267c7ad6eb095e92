package policytest_test

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/secretid"
)

func fieldViolations(err error) (codes.Code, map[string]string) {
	st, _ := status.FromError(err)
	out := map[string]string{}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				out[v.GetField()] = v.GetReason()
			}
		}
	}
	return st.Code(), out
}

func restFieldViolations(t *testing.T, body []byte) map[string]string {
	t.Helper()
	var e struct {
		Details []struct {
			FieldViolations []struct{ Field, Reason string } `json:"field_violations"`
		} `json:"details"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body: %v: %s", err, body)
	}
	out := map[string]string{}
	for _, d := range e.Details {
		for _, v := range d.FieldViolations {
			out[v.Field] = v.Reason
		}
	}
	return out
}

func basicPolicy(name string) *replicadv1.ReplicationPolicy {
	return &replicadv1.ReplicationPolicy{
		Name:     name,
		Selector: &replicadv1.PolicySelector{NameGlobs: []string{"app/**"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "eu-west-1"}},
		Mode:     replicadv1.PolicyMode_POLICY_MODE_REPORT,
	}
}

// TestPolicyValidation: every bad field of a policy is reported at once as
// a field violation, over gRPC and REST, and nothing is stored.
func TestPolicyValidation(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := context.Background()
	bad := &replicadv1.ReplicationPolicy{
		Name:     "Bad_Name",
		Selector: &replicadv1.PolicySelector{Accounts: []string{"12345"}, PrimaryRegions: []string{"mars-north-1"}},
		Replicas: []*replicadv1.DesiredReplica{
			{Region: "eu-west-1", KmsKeyId: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
			{Region: "xx-nowhere-9"},
			{Region: "eu-west-1"},
			{Region: "ap-south-1", KmsKeyId: "not a key"},
		},
		WriteBudgetShare: 1.5,
	}
	want := map[string]string{
		"policy.name":                        "INVALID_POLICY_NAME",
		"policy.mode":                        "REQUIRED",
		"policy.write_budget_share":          "OUT_OF_RANGE",
		"policy.selector":                    "SELECTS_EVERYTHING",
		"policy.selector.accounts[0]":        "INVALID_ACCOUNT",
		"policy.selector.primary_regions[0]": "INVALID_REGION",
		"policy.replicas[0].kms_key_id":      "KMS_KEY_REGION",
		"policy.replicas[1].region":          "REGION_NOT_ALLOWED",
		"policy.replicas[2].region":          "DUPLICATE_REGION",
		"policy.replicas[3].kms_key_id":      "INVALID_KMS_KEY",
	}
	_, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: bad})
	code, got := fieldViolations(err)
	if code != codes.InvalidArgument {
		t.Fatalf("gRPC: %v, want InvalidArgument", err)
	}
	for field, reason := range want {
		if got[field] != reason {
			t.Errorf("gRPC: %s = %q, want %q (all: %v)", field, got[field], reason, got)
		}
	}
	body, _ := protojson.Marshal(bad)
	rc, out := f.env.REST(t, "POST", "/v1/policies", body)
	if rc != 400 {
		t.Fatalf("REST: %d %s, want 400", rc, out)
	}
	if rg := restFieldViolations(t, out); len(rg) != len(got) {
		t.Errorf("REST violations %v, gRPC %v", rg, got)
	}
	// Selecting everything needs the explicit flag; with it the policy is
	// valid.
	all := basicPolicy("all")
	all.Selector = &replicadv1.PolicySelector{}
	if _, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: all, ValidateOnly: true}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a selector matching everything without select_all: %v", err)
	}
	all.Selector.SelectAll = true
	if _, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: all, ValidateOnly: true}); err != nil {
		t.Errorf("select_all: %v", err)
	}
	list, err := f.policies.ListReplicationPolicies(ctx, &replicadv1.ListReplicationPoliciesRequest{})
	if err != nil || len(list.GetPolicies()) != 0 {
		t.Errorf("after refused and validate_only writes: %v %v, want no policy", list, err)
	}
}

// TestPolicyLifecycle: create, validate_only (AIP-163), get, list in
// pages, update with the etag (AIP-154), delete, over gRPC and REST.
func TestPolicyLifecycle(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := context.Background()
	for _, name := range []string{"a", "b", "c"} {
		if _, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: basicPolicy(name)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: basicPolicy("a")}); status.Code(err) != codes.AlreadyExists {
		t.Errorf("creating a twice: %v", err)
	}
	vo, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: basicPolicy("d"), ValidateOnly: true})
	if err != nil || vo.GetPolicy().GetName() != "d" {
		t.Fatalf("validate_only: %v %v", vo, err)
	}
	if _, err := f.policies.GetReplicationPolicy(ctx, &replicadv1.GetReplicationPolicyRequest{Name: "d"}); status.Code(err) != codes.NotFound {
		t.Errorf("validate_only stored the policy: %v", err)
	}
	var names []string
	tok := ""
	for {
		page, err := f.policies.ListReplicationPolicies(ctx, &replicadv1.ListReplicationPoliciesRequest{PageSize: 2, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.GetPolicies() {
			names = append(names, p.GetName())
		}
		if tok = page.GetNextPageToken(); tok == "" {
			break
		}
	}
	if js(names) != `["a","b","c"]` {
		t.Errorf("listed %v", names)
	}
	code, body := f.env.REST(t, "GET", "/v1/policies/b", nil)
	if code != 200 {
		t.Fatalf("GET: %d %s", code, body)
	}
	var got replicadv1.GetReplicationPolicyResponse
	if err := protojson.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	p := got.GetPolicy()
	if p.GetEtag() == "" || p.GetUpdatedBy() == "" || p.GetWriteBudgetShare() != domain.DefaultWriteBudgetShare {
		t.Errorf("stored policy: %s", protojson.Format(p))
	}
	stale := p.GetEtag()
	p.Replicas = append(p.Replicas, &replicadv1.DesiredReplica{Region: "ap-south-1"})
	upd, err := f.policies.UpdateReplicationPolicy(ctx, &replicadv1.UpdateReplicationPolicyRequest{Policy: p})
	if err != nil || upd.GetPolicy().GetEtag() == stale || len(upd.GetPolicy().GetReplicas()) != 2 {
		t.Fatalf("update: %v %v", upd, err)
	}
	if _, err := f.policies.UpdateReplicationPolicy(ctx, &replicadv1.UpdateReplicationPolicyRequest{Policy: p}); status.Code(err) != codes.Aborted {
		t.Errorf("update with a stale etag: %v, want Aborted", err)
	}
	if _, err := f.policies.DeleteReplicationPolicy(ctx, &replicadv1.DeleteReplicationPolicyRequest{Name: "b", Etag: stale}); status.Code(err) != codes.Aborted {
		t.Errorf("delete with a stale etag: %v, want Aborted", err)
	}
	if code, body := f.env.REST(t, "DELETE", "/v1/policies/b", nil); code != 200 {
		t.Errorf("DELETE: %d %s", code, body)
	}
	if code, _ := f.env.REST(t, "GET", "/v1/policies/b", nil); code != 404 {
		t.Errorf("GET after delete: %d", code)
	}
}

// TestPolicyOverlapAndConflict: a policy selecting secrets another policy
// selects with different desires is refused at write time, naming the
// other policy (gRPC and REST); where the overlap appears only later (a tag
// added), the secret is in conflict for both policies and left alone by
// both, round after round.
func TestPolicyOverlapAndConflict(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := context.Background()
	arn := f.seed(t, "us-east-1", "app/shared", nil)
	f.seed(t, "us-east-1", "app/only-a", nil)

	// a only reports (it would otherwise replicate app/shared before the
	// overlap appears); b enforces.
	a := basicPolicy("a")
	if _, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: a}); err != nil {
		t.Fatal(err)
	}
	b := basicPolicy("b")
	b.Selector.NameGlobs = []string{"app/shared"}
	b.Replicas = []*replicadv1.DesiredReplica{{Region: "ap-south-1"}}
	_, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: b})
	st, _ := status.FromError(err)
	named := false
	for _, d := range st.Details() {
		if pf, ok := d.(*errdetails.PreconditionFailure); ok {
			for _, v := range pf.GetViolations() {
				named = named || v.GetSubject() == "policies/a"
			}
		}
	}
	if st.Code() != codes.FailedPrecondition || !named {
		t.Fatalf("overlapping policy: %v, want FailedPrecondition naming policies/a", err)
	}
	body, _ := protojson.Marshal(b)
	if code, out := f.env.REST(t, "POST", "/v1/policies", body); code != 400 || restFieldViolations(t, out)["policy.selector"] != "POLICY_OVERLAP" {
		t.Errorf("REST overlapping policy: %d %s", code, out)
	}
	// The same desires may overlap.
	same := basicPolicy("same")
	same.Selector.NameGlobs = []string{"app/shared"}
	if _, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: same}); err != nil {
		t.Errorf("a policy with the same desires: %v", err)
	}

	// Overlap found later: b selects by a tag nobody carries yet.
	b.Selector = &replicadv1.PolicySelector{Tags: map[string]string{"team": "x"}}
	b.Mode = replicadv1.PolicyMode_POLICY_MODE_ENFORCE
	if _, err := f.policies.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: b}); err != nil {
		t.Fatal(err)
	}
	f.seed(t, "us-east-1", "team/x-only", map[string]string{"team": "x"})
	f.record(t, "us-east-1", arn, map[string]string{"team": "x"})
	f.reconciledRounds(t, "b", 3)
	for _, name := range []string{"a", "b"} {
		if st := f.status(t, name); st.GetInConflict() != 1 {
			t.Errorf("%s: in_conflict %d, want 1: %s", name, st.GetInConflict(), protojson.Format(st))
		}
	}
	key := mustKey(t, arn)
	for _, name := range []string{"a", "b"} {
		for _, o := range f.policyOps(t, name) {
			if o.Key == key {
				t.Errorf("policy %s touched the secret in conflict: %+v", name, o)
			}
		}
	}
	// The inventory says so too: the secret's row names its policy and
	// the one it conflicts with, and it is neither drifted nor compliant.
	inv := replicadv1.NewInventoryServiceClient(f.env.Conn)
	g, err := inv.GetSecret(ctx, &replicadv1.GetSecretRequest{SecretId: arn})
	if err != nil || g.GetSecret().GetPolicy() != "a" || !g.GetSecret().GetInConflict() ||
		!slices.Equal(g.GetConflictingPolicies(), []string{"b"}) || len(g.GetDrifts()) != 0 || g.GetPolicy().GetName() != "a" {
		t.Errorf("GetSecret of the secret in conflict: %v %s", err, protojson.Format(g))
	}
	if code, out := f.env.REST(t, "GET", "/v1/secrets/"+strings.ReplaceAll(url.PathEscape(arn), ":", "%3A"), nil); code != 200 ||
		!strings.Contains(string(out), `"conflicting_policies":["b"]`) {
		t.Errorf("REST GetSecret of the secret in conflict: %d %s", code, out)
	}
	for _, d := range []replicadv1.DriftFilter{replicadv1.DriftFilter_DRIFT_FILTER_DRIFTED, replicadv1.DriftFilter_DRIFT_FILTER_COMPLIANT} {
		resp, err := inv.ListSecrets(ctx, &replicadv1.ListSecretsRequest{Drift: d, PageSize: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range resp.GetSecrets() {
			if s.GetArn() == arn {
				t.Errorf("%s lists the secret in conflict", d)
			}
		}
	}
	// b still fixes what is not in conflict.
	waitFor(t, 30*time.Second, "b's other secret replicated", func() (bool, string) {
		ops := f.policyOps(t, "b")
		return len(ops) == 1 && ops[0].Key == "team/x-only" && ops[0].State == "succeeded", js(ops)
	})
	f.reconciledRounds(t, "b", 2)
	if ops := f.policyOps(t, "b"); len(ops) != 1 {
		t.Errorf("b's operations: %s, want only the one on team/x-only", js(ops))
	}
	plan, err := f.policies.PlanReplicationPolicy(ctx, &replicadv1.PlanReplicationPolicyRequest{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if plan.GetInConflict() != 1 {
		t.Errorf("plan of a: %s", protojson.Format(plan))
	}
}

func mustKey(t *testing.T, arn string) string {
	t.Helper()
	id, err := secretid.Parse(arn)
	if err != nil {
		t.Fatal(err)
	}
	return id.Key()
}
