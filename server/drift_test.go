package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// driftFleet is one secret per way of differing from the "drift" policy
// (and a few that do not), in two accounts.
type driftFleet struct {
	*inventoryEnv
	pol replicadv1.PolicyServiceClient
	// arns maps each fixture's name (the secret's name without "drift/")
	// to its ARN.
	arns map[string]string
}

const driftAccountA, driftAccountB = "333333333333", "444444444444"

// startDrift seeds the fleet, creates the KMS keys it names, and waits for
// the scanner to list it. alias/drift-eu exists in eu-west-1 of both
// accounts (a different key in each) and in us-west-2 of account A (yet
// another key); alias/other-eu is a second key in eu-west-1 of each account.
func startDrift(t *testing.T) *driftFleet {
	t.Helper()
	// Every scan describes every replicated secret again: the stand-in
	// leaves LastChangedDate alone when replication changes, which the
	// scanner otherwise takes as "unchanged" for an hour.
	e := startInventory(t, driftAccountA, driftAccountB, 0, 200*time.Millisecond, func(c *daemon.Config) {
		c.Inventory.RedescribeAfter = time.Nanosecond
		// The test waits for the background recomputation after a scan
		// twice: at the default 5 s interval that was ten seconds of the
		// fast tier spent waiting.
		c.Engine.DriftInterval = 100 * time.Millisecond
	})
	f := &driftFleet{inventoryEnv: e, pol: replicadv1.NewPolicyServiceClient(e.Conn), arns: map[string]string{}}
	key := func(account, region string, aliases ...string) string {
		_, arn, err := e.sm.CreateKMSKey(account, region, aliases...)
		if err != nil {
			t.Fatal(err)
		}
		return arn
	}
	euA := key(driftAccountA, "eu-west-1", "alias/drift-eu")
	euB := key(driftAccountB, "eu-west-1", "alias/drift-eu")
	westA := key(driftAccountA, "us-west-2", "alias/drift-eu")
	key(driftAccountA, "eu-west-1", "alias/other-eu")
	key(driftAccountB, "eu-west-1", "alias/other-eu")
	// Only in account A: a policy over both accounts cannot use it.
	key(driftAccountA, "ap-southeast-2", "alias/only-a")

	eu := func(k string) standin.SeedReplica { return standin.SeedReplica{Region: "eu-west-1", KMSKeyID: k} }
	ap := standin.SeedReplica{Region: "ap-southeast-2"}
	specs := []struct {
		name string
		spec standin.SeedSecret
	}{
		// The replica's key is reported as the ARN of the key the
		// policy's alias points to in eu-west-1: the same key.
		{"compliant-arn", standin.SeedSecret{Region: "us-east-1", Replicas: []standin.SeedReplica{eu(euA), ap}}},
		{"compliant-alias", standin.SeedSecret{Region: "us-east-1", Replicas: []standin.SeedReplica{eu("alias/drift-eu"), ap}}},
		// Account B's alias points to B's own key.
		{"compliant-b", standin.SeedSecret{Account: driftAccountB, Region: "us-east-1", Replicas: []standin.SeedReplica{eu(euB), ap}}},
		// On its way to InSync: AWS's own state, not drift.
		{"in-progress", standin.SeedSecret{Region: "us-east-1", Replicas: []standin.SeedReplica{
			{Region: "eu-west-1", KMSKeyID: "alias/drift-eu", InProgressFor: time.Hour}, {Region: "ap-southeast-2", InProgressFor: time.Hour}}}},
		{"missing", standin.SeedSecret{Region: "us-east-1", Replicas: []standin.SeedReplica{eu("alias/drift-eu")}}},
		{"failed", standin.SeedSecret{Region: "us-east-1", Replicas: []standin.SeedReplica{eu(euA),
			{Region: "ap-southeast-2", Failed: "Replication failed: simulated for " + driftAccountA}}}},
		{"kms-other", standin.SeedSecret{Region: "us-east-1", Replicas: []standin.SeedReplica{eu("alias/other-eu"), ap}}},
		// The alias's key in another Region is another key.
		{"kms-region", standin.SeedSecret{Region: "us-east-1", Replicas: []standin.SeedReplica{eu(westA), ap}}},
		// Account A's key for a secret of account B.
		{"kms-account", standin.SeedSecret{Account: driftAccountB, Region: "us-east-1", Replicas: []standin.SeedReplica{eu(euA), ap}}},
		{"extra", standin.SeedSecret{Region: "us-east-1", Replicas: []standin.SeedReplica{eu(euA), ap, {Region: "us-west-2"}}}},
		{"primary", standin.SeedSecret{Region: "eu-west-1", Replicas: []standin.SeedReplica{ap}}},
		{"deleting", standin.SeedSecret{Region: "us-east-1"}},
	}
	var seeds []standin.SeedSecret
	for _, s := range specs {
		s.spec.Name = "drift/" + s.name
		seeds = append(seeds, s.spec)
	}
	seeds = append(seeds, standin.SeedSecret{Region: "us-east-1", Name: "unselected/one"})
	arns, err := e.sm.SeedSecrets(context.Background(), seeds)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		e.seeded[arns[i]] = s
		f.arns[strings.TrimPrefix(s.Name, "drift/")] = arns[i]
	}
	sm := testenv.SecretsManager(e.endpoint, "us-east-1")
	if _, err := sm.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{
		SecretId: aws.String(f.arns["deleting"]), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	e.waitScanned(t)
	// The deletion is seen by a scan that began after it.
	waitUntil(t, 30*time.Second, "the deletion in the inventory", func() bool {
		got, err := e.inv.GetSecret(context.Background(), &replicadv1.GetSecretRequest{SecretId: f.arns["deleting"]})
		return err == nil && got.GetSecret().GetScheduledForDeletion()
	})
	return f
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond) // polls a condition
	}
}

func driftPolicy(euKey string) *replicadv1.ReplicationPolicy {
	return &replicadv1.ReplicationPolicy{
		Name: "drift",
		Selector: &replicadv1.PolicySelector{Accounts: []string{driftAccountA, driftAccountB},
			PrimaryRegions: []string{"us-east-1"}, NameGlobs: []string{"drift/**"}},
		Replicas: []*replicadv1.DesiredReplica{{Region: "eu-west-1", KmsKeyId: euKey}, {Region: "ap-southeast-2"}},
		Mode:     replicadv1.PolicyMode_POLICY_MODE_REPORT,
	}
}

// names turns ARNs back into fixture names, sorted.
func (f *driftFleet) names(list []*replicadv1.InventorySecret) []string {
	out := []string{}
	for _, s := range list {
		for n, a := range f.arns {
			if a == s.GetArn() {
				out = append(out, n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// both lists with a filter on both transports and checks they agree.
func (f *driftFleet) both(t *testing.T, req *replicadv1.ListSecretsRequest, query url.Values) []string {
	t.Helper()
	req.PageSize = 2
	query.Set("page_size", "2")
	g := f.names(f.listAll(t, req))
	r := f.names(f.restAll(t, query))
	if !slices.Equal(g, r) {
		t.Errorf("%v: gRPC %v, REST %v", query, g, r)
	}
	return g
}

func TestDriftStoredPerSecretFilterableOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	f := startDrift(t)
	ctx := context.Background()

	// Before any policy: nothing is drifted, nothing compliant.
	if got := f.both(t, &replicadv1.ListSecretsRequest{Drift: replicadv1.DriftFilter_DRIFT_FILTER_DRIFTED},
		url.Values{"drift": {"DRIFT_FILTER_DRIFTED"}}); len(got) != 0 {
		t.Errorf("drifted without a policy: %v", got)
	}
	if _, err := f.pol.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: driftPolicy("alias/drift-eu")}); err != nil {
		t.Fatal(err)
	}

	kinds := map[string][]string{
		"MISSING_REGION":         {"missing"},
		"FAILED_REPLICA":         {"failed"},
		"KMS_KEY_DIFFERS":        {"kms-account", "kms-other", "kms-region"},
		"EXTRA_REGION":           {"extra"},
		"UNEXPECTED_PRIMARY":     {"primary"},
		"SCHEDULED_FOR_DELETION": {"deleting"},
	}
	var drifted []string
	for kind, want := range kinds {
		got := f.both(t, &replicadv1.ListSecretsRequest{DriftKind: kind}, url.Values{"drift_kind": {kind}})
		if !slices.Equal(got, want) {
			t.Errorf("drift_kind=%s: %v, want %v", kind, got, want)
		}
		drifted = append(drifted, want...)
	}
	slices.Sort(drifted)
	if got := f.both(t, &replicadv1.ListSecretsRequest{Drift: replicadv1.DriftFilter_DRIFT_FILTER_DRIFTED},
		url.Values{"drift": {"DRIFT_FILTER_DRIFTED"}}); !slices.Equal(got, drifted) {
		t.Errorf("drifted: %v, want %v", got, drifted)
	}
	compliant := []string{"compliant-alias", "compliant-arn", "compliant-b", "in-progress"}
	if got := f.both(t, &replicadv1.ListSecretsRequest{Drift: replicadv1.DriftFilter_DRIFT_FILTER_COMPLIANT},
		url.Values{"drift": {"DRIFT_FILTER_COMPLIANT"}}); !slices.Equal(got, compliant) {
		t.Errorf("compliant: %v, want %v", got, compliant)
	}
	// Filters combine: drifted in account B.
	if got := f.both(t, &replicadv1.ListSecretsRequest{Drift: replicadv1.DriftFilter_DRIFT_FILTER_DRIFTED, Account: driftAccountB},
		url.Values{"drift": {"DRIFT_FILTER_DRIFTED"}, "account": {driftAccountB}}); !slices.Equal(got, []string{"kms-account"}) {
		t.Errorf("drifted in account B: %v", got)
	}
	// Every row says its policy and kinds; the unselected secret has none.
	for _, s := range f.listAll(t, &replicadv1.ListSecretsRequest{PageSize: 100}) {
		n := f.names([]*replicadv1.InventorySecret{s})
		switch {
		case s.GetArn() == f.arns["unselected/one"]:
			if s.GetPolicy() != "" || len(s.GetDriftKinds()) != 0 {
				t.Errorf("unselected secret: policy %q kinds %v", s.GetPolicy(), s.GetDriftKinds())
			}
		case s.GetPolicy() != "drift" || s.GetDriftTime() == nil:
			t.Errorf("%v: policy %q drift time %v", n, s.GetPolicy(), s.GetDriftTime())
		}
	}

	// GetSecret: the policy, each drift with AWS's message (redacted as the
	// row's own status message is), on both transports.
	got, err := f.inv.GetSecret(ctx, &replicadv1.GetSecretRequest{SecretId: f.arns["failed"]})
	if err != nil {
		t.Fatal(err)
	}
	d := got.GetDrifts()
	if got.GetPolicy().GetName() != "drift" || len(d) != 1 || d[0].GetKind() != replicadv1.DriftKind_DRIFT_KIND_FAILED_REPLICA ||
		d[0].GetRegion() != "ap-southeast-2" || !strings.HasPrefix(d[0].GetMessage(), "Replication failed: simulated for ") ||
		d[0].GetMessage() != got.GetSecret().GetReplicas()[0].GetStatusMessage() || got.GetDriftTime() == nil {
		t.Errorf("GetSecret(failed): %s", protojson.Format(got))
	}
	code, body := f.REST(t, http.MethodGet, "/v1/secrets/"+escape(f.arns["failed"]), nil)
	var rest replicadv1.GetSecretResponse
	if code != http.StatusOK || protojson.Unmarshal(body, &rest) != nil || rest.GetPolicy().GetName() != "drift" ||
		len(rest.GetDrifts()) != 1 || rest.GetDrifts()[0].GetKind() != replicadv1.DriftKind_DRIFT_KIND_FAILED_REPLICA {
		t.Errorf("REST GetSecret(failed): %d %s", code, body)
	}
	got, err = f.inv.GetSecret(ctx, &replicadv1.GetSecretRequest{SecretId: f.arns["unselected/one"]})
	if err != nil || got.GetPolicy() != nil || len(got.GetDrifts()) != 0 {
		t.Errorf("GetSecret(unselected): %v %v", err, got)
	}

	// A change made outside replicad reaches the row with a scan; the
	// background computation follows it (an unfiltered read shows it).
	if _, err := testenv.SecretsManager(f.endpoint, "us-east-1").RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{
		SecretId: aws.String(f.arns["compliant-alias"]), RemoveReplicaRegions: []string{"ap-southeast-2"}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "the scan's reading's drift", func() bool {
		for _, s := range f.listAll(t, &replicadv1.ListSecretsRequest{NamePrefix: "drift/compliant-alias"}) {
			return slices.Equal(s.GetDriftKinds(), []replicadv1.DriftKind{replicadv1.DriftKind_DRIFT_KIND_MISSING_REGION})
		}
		return false
	})
	if got := f.both(t, &replicadv1.ListSecretsRequest{DriftKind: "MISSING_REGION"}, url.Values{"drift_kind": {"MISSING_REGION"}}); !slices.Equal(got, []string{"compliant-alias", "missing"}) {
		t.Errorf("missing Region after the change outside replicad: %v", got)
	}
	if _, err := testenv.SecretsManager(f.endpoint, "us-east-1").ReplicateSecretToRegions(ctx, &secretsmanager.ReplicateSecretToRegionsInput{
		SecretId: aws.String(f.arns["compliant-alias"]), AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("ap-southeast-2")}}}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "the repaired secret's drift", func() bool {
		for _, s := range f.listAll(t, &replicadv1.ListSecretsRequest{NamePrefix: "drift/compliant-alias"}) {
			return len(s.GetDriftKinds()) == 0
		}
		return false
	})

	// The row changes: an operation adds the missing Region; its refresh
	// recomputes the drift, and GetSecret shows the operation.
	rep, err := f.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: f.arns["missing"],
		Regions: []*replicadv1.ReplicaRegion{{Region: "ap-southeast-2"}}})
	if err != nil {
		t.Fatal(err)
	}
	op := mustFinish(t, f.Env, rep.GetOperation().GetId())
	waitUntil(t, 10*time.Second, "the refresh after the operation", func() bool {
		g, err := f.inv.GetSecret(ctx, &replicadv1.GetSecretRequest{SecretId: f.arns["missing"]})
		return err == nil && len(g.GetSecret().GetReplicas()) == 2
	})
	got, err = f.inv.GetSecret(ctx, &replicadv1.GetSecretRequest{SecretId: f.arns["missing"]})
	if err != nil || len(got.GetDrifts()) != 0 || len(got.GetRecentOperations()) != 1 || got.GetRecentOperations()[0].GetId() != op.GetId() {
		t.Errorf("GetSecret(missing) after Replicate: %v %s", err, protojson.Format(got))
	}
	if got := f.both(t, &replicadv1.ListSecretsRequest{DriftKind: "MISSING_REGION"}, url.Values{"drift_kind": {"MISSING_REGION"}}); len(got) != 0 {
		t.Errorf("missing Region after the fix: %v", got)
	}

	// The policy changes: with alias/other-eu desired, the secrets on
	// alias/drift-eu's key differ, and kms-other complies.
	cur, err := f.pol.GetReplicationPolicy(ctx, &replicadv1.GetReplicationPolicyRequest{Name: "drift"})
	if err != nil {
		t.Fatal(err)
	}
	upd := driftPolicy("alias/other-eu")
	upd.Etag = cur.GetPolicy().GetEtag()
	if _, err := f.pol.UpdateReplicationPolicy(ctx, &replicadv1.UpdateReplicationPolicyRequest{Policy: upd}); err != nil {
		t.Fatal(err)
	}
	gotKMS := f.both(t, &replicadv1.ListSecretsRequest{DriftKind: "KMS_KEY_DIFFERS"}, url.Values{"drift_kind": {"KMS_KEY_DIFFERS"}})
	if want := []string{"compliant-alias", "compliant-arn", "compliant-b", "failed", "extra", "in-progress", "kms-account", "kms-region", "missing"}; !sameSet(gotKMS, want) {
		t.Errorf("KMS key differs after the update: %v, want %v", gotKMS, want)
	}
	if got := f.both(t, &replicadv1.ListSecretsRequest{Drift: replicadv1.DriftFilter_DRIFT_FILTER_COMPLIANT},
		url.Values{"drift": {"DRIFT_FILTER_COMPLIANT"}}); !slices.Equal(got, []string{"kms-other"}) {
		t.Errorf("compliant after the update: %v", got)
	}

	// No policy any more: drift is cleared.
	if _, err := f.pol.DeleteReplicationPolicy(ctx, &replicadv1.DeleteReplicationPolicyRequest{Name: "drift"}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []replicadv1.DriftFilter{replicadv1.DriftFilter_DRIFT_FILTER_DRIFTED, replicadv1.DriftFilter_DRIFT_FILTER_COMPLIANT} {
		if got := f.both(t, &replicadv1.ListSecretsRequest{Drift: v}, url.Values{"drift": {v.String()}}); len(got) != 0 {
			t.Errorf("%s without a policy: %v", v, got)
		}
	}
	got, err = f.inv.GetSecret(ctx, &replicadv1.GetSecretRequest{SecretId: f.arns["failed"]})
	if err != nil || got.GetPolicy() != nil || len(got.GetDrifts()) != 0 || got.GetSecret().GetPolicy() != "" {
		t.Errorf("GetSecret(failed) without a policy: %v %s", err, protojson.Format(got))
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// A policy's alias must exist in its Region, in every account the policy
// selects from: refused at create, update and plan, on both transports.
func TestPolicyKMSAliasResolvedPerRegion(t *testing.T) {
	t.Parallel()
	f := startDrift(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		replica int
		pol     *replicadv1.ReplicationPolicy
	}{
		{"missing everywhere", 0, driftPolicy("alias/nope")},
		// alias/drift-eu exists in eu-west-1 and us-west-2, not ap-southeast-2.
		{"missing in that Region", 1, &replicadv1.ReplicationPolicy{Name: "drift", Mode: replicadv1.PolicyMode_POLICY_MODE_REPORT,
			Selector: &replicadv1.PolicySelector{NameGlobs: []string{"drift/**"}},
			Replicas: []*replicadv1.DesiredReplica{{Region: "eu-west-1", KmsKeyId: "alias/drift-eu"}, {Region: "ap-southeast-2", KmsKeyId: "alias/drift-eu"}}}},
		{"missing in one account", 0, &replicadv1.ReplicationPolicy{Name: "drift", Mode: replicadv1.PolicyMode_POLICY_MODE_REPORT,
			Selector: &replicadv1.PolicySelector{NameGlobs: []string{"drift/**"}},
			Replicas: []*replicadv1.DesiredReplica{{Region: "ap-southeast-2", KmsKeyId: "alias/only-a"}}}},
	} {
		field := fmt.Sprintf("policy.replicas[%d].kms_key_id", tc.replica)
		_, err := f.pol.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: tc.pol})
		if c, v := violations(t, err); c != codes.InvalidArgument || v[field] != "KMS_KEY_NOT_FOUND" || len(v) != 1 {
			t.Errorf("%s: create: %v %v", tc.name, c, v)
		}
		_, err = f.pol.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: tc.pol, ValidateOnly: true})
		if c, v := violations(t, err); c != codes.InvalidArgument || v[field] != "KMS_KEY_NOT_FOUND" {
			t.Errorf("%s: validate only: %v %v", tc.name, c, v)
		}
		_, err = f.pol.PlanReplicationPolicy(ctx, &replicadv1.PlanReplicationPolicyRequest{Policy: tc.pol})
		if c, v := violations(t, err); c != codes.InvalidArgument || v[field] != "KMS_KEY_NOT_FOUND" {
			t.Errorf("%s: plan: %v %v", tc.name, c, v)
		}
		b, _ := protojson.Marshal(tc.pol)
		code, body := f.REST(t, http.MethodPost, "/v1/policies", b)
		if _, v := restViolations(t, body); code != http.StatusBadRequest || v[field] != "KMS_KEY_NOT_FOUND" {
			t.Errorf("%s: REST create: %d %s", tc.name, code, body)
		}
		code, body = f.REST(t, http.MethodPost, "/v1/policies:plan", []byte(`{"policy": `+string(b)+`}`))
		if _, v := restViolations(t, body); code != http.StatusBadRequest || v[field] != "KMS_KEY_NOT_FOUND" {
			t.Errorf("%s: REST plan: %d %s", tc.name, code, body)
		}
	}
	if _, err := f.pol.GetReplicationPolicy(ctx, &replicadv1.GetReplicationPolicyRequest{Name: "drift"}); err == nil {
		t.Fatal("a refused policy was stored")
	}
	// Update: a stored policy cannot be changed to a missing alias.
	created, err := f.pol.CreateReplicationPolicy(ctx, &replicadv1.CreateReplicationPolicyRequest{Policy: driftPolicy("alias/drift-eu")})
	if err != nil {
		t.Fatal(err)
	}
	upd := driftPolicy("alias/nope")
	upd.Etag = created.GetPolicy().GetEtag()
	_, err = f.pol.UpdateReplicationPolicy(ctx, &replicadv1.UpdateReplicationPolicyRequest{Policy: upd})
	if c, v := violations(t, err); c != codes.InvalidArgument || v["policy.replicas[0].kms_key_id"] != "KMS_KEY_NOT_FOUND" {
		t.Errorf("update: %v %v", c, v)
	}
	b, _ := protojson.Marshal(upd)
	code, body := f.REST(t, http.MethodPatch, "/v1/policies/drift", b)
	if _, v := restViolations(t, body); code != http.StatusBadRequest || v["policy.replicas[0].kms_key_id"] != "KMS_KEY_NOT_FOUND" {
		t.Errorf("REST update: %d %s", code, body)
	}
	// An alias created afterwards is accepted at once (no cached refusal).
	if _, _, err := f.sm.CreateKMSKey(driftAccountA, "eu-west-1", "alias/nope"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.sm.CreateKMSKey(driftAccountB, "eu-west-1", "alias/nope"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pol.UpdateReplicationPolicy(ctx, &replicadv1.UpdateReplicationPolicyRequest{Policy: upd}); err != nil {
		t.Errorf("update once the alias exists: %v", err)
	}
	// The plan compares keys, not names: with alias/drift-eu desired, the
	// secrets under its key's ARN plan nothing for KMS.
	pl, err := f.pol.PlanReplicationPolicy(ctx, &replicadv1.PlanReplicationPolicyRequest{Policy: driftPolicy("alias/drift-eu"), MaxSecrets: 100})
	if err != nil {
		t.Fatal(err)
	}
	if n := pl.GetDriftCounts()["KMS_KEY_DIFFERS"]; n != 3 {
		t.Errorf("plan: %d secrets with KMS_KEY_DIFFERS, want 3 (%v)", n, pl.GetDriftCounts())
	}
}
