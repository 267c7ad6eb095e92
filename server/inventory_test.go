package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

var invRegions = []string{"us-east-1", "eu-west-1", "ap-southeast-2"}

// inventoryEnv is replicad acting in two accounts through assumed roles,
// scanning both in three Regions, against the stand-in.
type inventoryEnv struct {
	*testenv.Env
	sm       *standin.Server
	endpoint string
	inv      replicadv1.InventoryServiceClient
	accounts [2]string
	logs     *testenv.Buffer
	// seeded maps each primary's ARN to its spec.
	seeded map[string]standin.SeedSecret
}

func startInventory(t *testing.T, accountA, accountB string, perRegion int, interval time.Duration, configure ...func(*daemon.Config)) *inventoryEnv {
	t.Helper()
	sm, err := standin.New(standin.Options{AccountID: accountA, RoleExternalIDs: map[string]string{
		"arn:aws:iam::" + accountB + ":role/replicad": "ext-b",
	}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sm)
	t.Cleanup(hs.Close)
	e := &inventoryEnv{sm: sm, endpoint: hs.URL, accounts: [2]string{accountA, accountB}, logs: &testenv.Buffer{}, seeded: map[string]standin.SeedSecret{}}
	var specs []standin.SeedSecret
	for _, a := range e.accounts {
		for ri, r := range invRegions {
			for i := range perRegion {
				sp := standin.SeedSecret{Account: a, Region: r, Name: fmt.Sprintf("inv/%s/%02d", r, i),
					Tags: map[string]string{"team": []string{"pay", "search"}[i%2]}}
				if i%3 == 0 {
					sp.Replicas = append(sp.Replicas, standin.SeedReplica{Region: invRegions[(ri+1)%3], KMSKeyID: "alias/inv"})
				}
				if i%4 == 0 {
					sp.Replicas = append(sp.Replicas, standin.SeedReplica{Region: invRegions[(ri+2)%3], Failed: "simulated failure"})
				}
				specs = append(specs, sp)
			}
		}
	}
	arns, err := sm.SeedSecrets(context.Background(), specs)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range arns {
		e.seeded[a] = specs[i]
	}
	// The accounts file, as an operator writes it.
	accountsFile := filepath.Join(t.TempDir(), "accounts.yaml")
	regions := strings.Join(invRegions, ", ")
	if err := os.WriteFile(accountsFile, []byte("accounts:\n"+
		"  - role_arn: arn:aws:iam::"+accountA+":role/replicad\n    regions: ["+regions+"]\n"+
		"  - role_arn: arn:aws:iam::"+accountB+":role/replicad\n    external_id: ext-b\n    regions: ["+regions+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Env = testenv.Start(t, testenv.Options{AWSEndpoint: hs.URL, Logs: e.logs, Configure: func(c *daemon.Config) {
		c.AccountsFile = accountsFile
		c.AllowedRegions = []string{"us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"}
		c.Inventory.Interval = interval
		c.Inventory.Poll = 50 * time.Millisecond
		c.Inventory.PageSize = 5
		// The scan budget's pacing is the awssm and inventory packages'
		// to test: here it would only make each scan wait a second or two
		// (10 calls/s), and every test waits for several scans.
		c.AWS.ScanRate = -1
		for _, f := range configure {
			f(c)
		}
	}})
	e.inv = replicadv1.NewInventoryServiceClient(e.Conn)
	return e
}

// listAll pages through ListSecrets over gRPC with req's filters.
func (e *inventoryEnv) listAll(t *testing.T, req *replicadv1.ListSecretsRequest) []*replicadv1.InventorySecret {
	t.Helper()
	var out []*replicadv1.InventorySecret
	for {
		resp, err := e.inv.ListSecrets(context.Background(), req)
		if err != nil {
			t.Fatalf("ListSecrets: %v", err)
		}
		if req.GetPageSize() > 0 && len(resp.GetSecrets()) > int(req.GetPageSize()) {
			t.Fatalf("a page of %d, asked for %d", len(resp.GetSecrets()), req.GetPageSize())
		}
		out = append(out, resp.GetSecrets()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// restAll pages through GET /v1/secrets with query.
func (e *inventoryEnv) restAll(t *testing.T, query url.Values) []*replicadv1.InventorySecret {
	t.Helper()
	var out []*replicadv1.InventorySecret
	for {
		code, body := e.REST(t, http.MethodGet, "/v1/secrets?"+query.Encode(), nil)
		if code != http.StatusOK {
			t.Fatalf("GET /v1/secrets?%s: %d %s", query.Encode(), code, body)
		}
		var resp replicadv1.ListSecretsResponse
		if err := protojson.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.GetSecrets()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		query.Set("page_token", resp.GetNextPageToken())
	}
}

// waitScanned waits until the inventory holds every seeded secret.
func (e *inventoryEnv) waitScanned(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if n := len(e.listAll(t, &replicadv1.ListSecretsRequest{PageSize: 1000})); n == len(e.seeded) {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("inventory holds %d secrets after 60s, want %d", n, len(e.seeded))
		}
		time.Sleep(50 * time.Millisecond) // polls a condition
	}
}

func arnSet(list []*replicadv1.InventorySecret) []string {
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, s.GetArn())
	}
	slices.Sort(out)
	return out
}

func (e *inventoryEnv) want(match func(standin.SeedSecret) bool) []string {
	var out []string
	for arn, sp := range e.seeded {
		if match(sp) {
			out = append(out, arn)
		}
	}
	slices.Sort(out)
	return out
}

func TestInventoryScanPagesAndFiltersOverGRPCAndREST(t *testing.T) {
	t.Parallel()
	const accountA, accountB = "111111111111", "222222222222"
	e := startInventory(t, accountA, accountB, 8, time.Hour)
	e.waitScanned(t)

	// Paging: every secret once, in pages of 4, on both transports.
	all := e.want(func(standin.SeedSecret) bool { return true })
	if got := arnSet(e.listAll(t, &replicadv1.ListSecretsRequest{PageSize: 4})); !slices.Equal(got, all) {
		t.Fatalf("gRPC pages: %d secrets, want %d", len(got), len(all))
	}
	if got := arnSet(e.restAll(t, url.Values{"page_size": {"4"}})); !slices.Equal(got, all) {
		t.Fatalf("REST pages: %d secrets, want %d", len(got), len(all))
	}

	hasReplica := func(sp standin.SeedSecret, region string, failed bool) bool {
		for _, r := range sp.Replicas {
			if (region == "" || r.Region == region) && (r.Failed != "") == failed {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		name  string
		req   *replicadv1.ListSecretsRequest
		query url.Values
		match func(standin.SeedSecret) bool
	}{
		{"account", &replicadv1.ListSecretsRequest{Account: accountB}, url.Values{"account": {accountB}},
			func(sp standin.SeedSecret) bool { return sp.Account == accountB }},
		{"primary Region", &replicadv1.ListSecretsRequest{PrimaryRegion: "eu-west-1"}, url.Values{"primary_region": {"eu-west-1"}},
			func(sp standin.SeedSecret) bool { return sp.Region == "eu-west-1" }},
		{"replica Region", &replicadv1.ListSecretsRequest{ReplicaRegion: "ap-southeast-2"}, url.Values{"replica_region": {"ap-southeast-2"}},
			func(sp standin.SeedSecret) bool {
				return hasReplica(sp, "ap-southeast-2", false) || hasReplica(sp, "ap-southeast-2", true)
			}},
		{"replica status", &replicadv1.ListSecretsRequest{ReplicaStatus: replicadv1.ReplicationStatus_REPLICATION_STATUS_FAILED},
			url.Values{"replica_status": {"REPLICATION_STATUS_FAILED"}},
			func(sp standin.SeedSecret) bool { return hasReplica(sp, "", true) }},
		{"replica Region and status", &replicadv1.ListSecretsRequest{ReplicaRegion: "eu-west-1", ReplicaStatus: replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_SYNC},
			url.Values{"replica_region": {"eu-west-1"}, "replica_status": {"REPLICATION_STATUS_IN_SYNC"}},
			func(sp standin.SeedSecret) bool { return hasReplica(sp, "eu-west-1", false) }},
		{"name prefix", &replicadv1.ListSecretsRequest{NamePrefix: "inv/us-east-1/0"}, url.Values{"name_prefix": {"inv/us-east-1/0"}},
			func(sp standin.SeedSecret) bool { return strings.HasPrefix(sp.Name, "inv/us-east-1/0") }},
		{"tag key", &replicadv1.ListSecretsRequest{Tag: "team"}, url.Values{"tag": {"team"}},
			func(standin.SeedSecret) bool { return true }},
		{"tag key and value", &replicadv1.ListSecretsRequest{Tag: "team=search"}, url.Values{"tag": {"team=search"}},
			func(sp standin.SeedSecret) bool { return sp.Tags["team"] == "search" }},
		{"several", &replicadv1.ListSecretsRequest{Account: accountA, PrimaryRegion: "us-east-1", Tag: "team=pay"},
			url.Values{"account": {accountA}, "primary_region": {"us-east-1"}, "tag": {"team=pay"}},
			func(sp standin.SeedSecret) bool {
				return sp.Account == accountA && sp.Region == "us-east-1" && sp.Tags["team"] == "pay"
			}},
	} {
		want := e.want(tc.match)
		if len(want) == 0 || len(want) == len(all) && tc.name != "tag key" {
			t.Fatalf("%s: the fixture does not exercise the filter (%d of %d)", tc.name, len(want), len(all))
		}
		tc.req.PageSize = 3
		if got := arnSet(e.listAll(t, tc.req)); !slices.Equal(got, want) {
			t.Errorf("%s over gRPC: %d secrets, want %d", tc.name, len(got), len(want))
		}
		tc.query.Set("page_size", "3")
		if got := arnSet(e.restAll(t, tc.query)); !slices.Equal(got, want) {
			t.Errorf("%s over REST: %d secrets, want %d", tc.name, len(got), len(want))
		}
		// Every page carries the total across pages (AIP-158).
		page, err := e.inv.ListSecrets(context.Background(), tc.req)
		if err != nil {
			t.Fatal(err)
		}
		if page.GetTotalSize() != int32(len(want)) {
			t.Errorf("%s over gRPC: total_size %d, want %d", tc.name, page.GetTotalSize(), len(want))
		}
		code, body := e.REST(t, http.MethodGet, "/v1/secrets?"+tc.query.Encode(), nil)
		var rp replicadv1.ListSecretsResponse
		if code != http.StatusOK || protojson.Unmarshal(body, &rp) != nil || rp.GetTotalSize() != int32(len(want)) {
			t.Errorf("%s over REST: total_size in %d %.200s, want %d", tc.name, code, body, len(want))
		}
	}

	// A row as the scan recorded it, through GetSecret on both transports.
	var failedARN string
	for arn, sp := range e.seeded {
		if sp.Account == accountB && hasReplica(sp, "", true) && hasReplica(sp, "", false) {
			failedARN = arn
			break
		}
	}
	got, err := e.inv.GetSecret(context.Background(), &replicadv1.GetSecretRequest{SecretId: failedARN})
	if err != nil {
		t.Fatal(err)
	}
	sp := e.seeded[failedARN]
	sec := got.GetSecret()
	if sec.GetArn() != failedARN || sec.GetAccount() != accountB || sec.GetName() != sp.Name || sec.GetPrimaryRegion() != sp.Region ||
		sec.GetTags()["team"] != sp.Tags["team"] || len(sec.GetReplicas()) != 2 || sec.GetLastSeenTime() == nil || sec.GetLastChangedTime() == nil || sec.GetGone() {
		t.Errorf("GetSecret: %v", protojson.Format(sec))
	}
	for _, r := range sec.GetReplicas() {
		switch r.GetStatus() {
		case replicadv1.ReplicationStatus_REPLICATION_STATUS_FAILED:
			if r.GetStatusMessage() != "simulated failure" {
				t.Errorf("Failed replica's message %q", r.GetStatusMessage())
			}
		case replicadv1.ReplicationStatus_REPLICATION_STATUS_IN_SYNC:
			if r.GetKmsKeyId() != "alias/inv" {
				t.Errorf("replica key %q", r.GetKmsKeyId())
			}
		default:
			t.Errorf("replica %v", protojson.Format(r))
		}
	}
	code, body := e.REST(t, http.MethodGet, "/v1/secrets/"+escape(failedARN), nil)
	var rest replicadv1.GetSecretResponse
	if code != http.StatusOK || protojson.Unmarshal(body, &rest) != nil || rest.GetSecret().GetArn() != failedARN || len(rest.GetSecret().GetReplicas()) != 2 {
		t.Errorf("REST GetSecret: %d %s", code, body)
	}

	// Bad requests: field violations on both transports, nothing echoed.
	for _, tc := range []struct {
		name, field, reason string
		req                 *replicadv1.ListSecretsRequest
		query               string
	}{
		{"account", "account", "INVALID_ACCOUNT", &replicadv1.ListSecretsRequest{Account: "12345"}, "account=12345"},
		{"Region", "primary_region", "INVALID_REGION", &replicadv1.ListSecretsRequest{PrimaryRegion: "moon"}, "primary_region=moon"},
		{"replica Region", "replica_region", "REGION_NOT_ALLOWED", &replicadv1.ListSecretsRequest{ReplicaRegion: "xx-east-9"}, "replica_region=xx-east-9"},
		{"drift kind", "drift_kind", "INVALID_DRIFT_KIND", &replicadv1.ListSecretsRequest{DriftKind: "WOBBLY"}, "drift_kind=WOBBLY"},
		{"drift kind with compliant", "drift_kind", "CONFLICTING_FILTERS", &replicadv1.ListSecretsRequest{DriftKind: "MISSING_REGION", Drift: replicadv1.DriftFilter_DRIFT_FILTER_COMPLIANT},
			"drift_kind=MISSING_REGION&drift=DRIFT_FILTER_COMPLIANT"},
		{"tag", "tag", "INVALID_TAG", &replicadv1.ListSecretsRequest{Tag: "=x"}, "tag=%3Dx"},
		{"name prefix", "name_prefix", "INVALID_NAME_PREFIX", &replicadv1.ListSecretsRequest{NamePrefix: "a b"}, "name_prefix=a%20b"},
		{"page token", "page_token", "INVALID_PAGE_TOKEN", &replicadv1.ListSecretsRequest{PageToken: "bm9wZQ"}, "page_token=bm9wZQ"},
	} {
		_, err := e.inv.ListSecrets(context.Background(), tc.req)
		if c, v := violations(t, err); c != codes.InvalidArgument || v[tc.field] != tc.reason {
			t.Errorf("%s over gRPC: %v %v, want %s=%s", tc.name, c, v, tc.field, tc.reason)
		}
		code, body := e.REST(t, http.MethodGet, "/v1/secrets?"+tc.query, nil)
		if _, v := restViolations(t, body); code != http.StatusBadRequest || v[tc.field] != tc.reason {
			t.Errorf("%s over REST: %d %s", tc.name, code, body)
		}
	}
	// A token from one filter is refused with another.
	first, err := e.inv.ListSecrets(context.Background(), &replicadv1.ListSecretsRequest{PageSize: 2, Account: accountA})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %v", err)
	}
	_, err = e.inv.ListSecrets(context.Background(), &replicadv1.ListSecretsRequest{PageSize: 2, Account: accountB, PageToken: first.GetNextPageToken()})
	if c, v := violations(t, err); c != codes.InvalidArgument || v["page_token"] != "INVALID_PAGE_TOKEN" {
		t.Errorf("a token reused with another filter: %v %v", c, v)
	}
	// Drift is computed against policies: with none, a Failed replica is
	// no drift and nothing is compliant either (drift_test.go covers each
	// kind under a policy).
	if n := len(e.want(func(sp standin.SeedSecret) bool { return hasReplica(sp, "", true) })); n == 0 {
		t.Fatal("the fixture has no Failed replica")
	}
	for _, d := range []replicadv1.DriftFilter{replicadv1.DriftFilter_DRIFT_FILTER_DRIFTED, replicadv1.DriftFilter_DRIFT_FILTER_COMPLIANT} {
		if got := e.listAll(t, &replicadv1.ListSecretsRequest{Drift: d}); len(got) != 0 {
			t.Errorf("%s without a policy: %d secrets", d, len(got))
		}
	}
	if got := e.restAll(t, url.Values{"drift_kind": {"FAILED_REPLICA"}}); len(got) != 0 {
		t.Errorf("REST drift_kind=FAILED_REPLICA without a policy: %d secrets", len(got))
	}
	for _, tc := range []struct{ id, reason string }{
		{"inv/us-east-1/00", "ARN_REQUIRED"},
		{"arn:aws:kms:us-east-1:" + accountA + ":key/x", "INVALID_SECRET_ID"},
		{"arn:aws:secretsmanager:sa-east-1:" + accountA + ":secret:x-AbCdEf", "REGION_NOT_ALLOWED"},
	} {
		_, err := e.inv.GetSecret(context.Background(), &replicadv1.GetSecretRequest{SecretId: tc.id})
		if c, v := violations(t, err); c != codes.InvalidArgument || v["secret_id"] != tc.reason {
			t.Errorf("GetSecret(%s): %v %v, want %s", tc.id, c, v, tc.reason)
		}
	}
	unknown := "arn:aws:secretsmanager:us-east-1:" + accountA + ":secret:never-AbCdEf"
	if _, err := e.inv.GetSecret(context.Background(), &replicadv1.GetSecretRequest{SecretId: unknown}); status.Code(err) != codes.NotFound {
		t.Errorf("GetSecret of an unknown ARN: %v", err)
	}
	if code, _ := e.REST(t, http.MethodGet, "/v1/secrets/"+escape(unknown), nil); code != http.StatusNotFound {
		t.Errorf("REST GetSecret of an unknown ARN: %d", code)
	}

	// The scan stayed within its budget: each page and each describe once.
	st := e.sm.Stats()
	for _, r := range invRegions {
		apis := st.Region(r).APIs
		// 8 primaries + 3 replicas (of the previous Region) + 0-2 more
		// listed per account: 3 pages of 5, in two accounts.
		if n := apis["ListSecrets"].Requests; n != 6 {
			t.Errorf("%s: %d ListSecrets pages, want 6", r, n)
		}
	}
	if st.AssumeRole != 2 || st.AssumeRoleRefused != 0 {
		t.Errorf("AssumeRole %d (refused %d), want 2: one per account, cached, the second with its external id", st.AssumeRole, st.AssumeRoleRefused)
	}

	// An operation refreshes its secret's row when it ends: no scan runs
	// (the interval is an hour), yet the inventory shows the new replica.
	var target string
	for arn, sp := range e.seeded {
		if sp.Account == accountB && sp.Region == "us-east-1" && len(sp.Replicas) == 0 {
			target = arn
			break
		}
	}
	before, err := e.inv.GetSecret(context.Background(), &replicadv1.GetSecretRequest{SecretId: target})
	if err != nil {
		t.Fatal(err)
	}
	describes := func() int64 { return e.sm.Stats().Region("us-east-1").APIs["DescribeSecret"].Requests }
	describesBefore := describes()
	rep, err := e.Client.Replicate(context.Background(), &replicadv1.ReplicateRequest{SecretId: target,
		Regions: []*replicadv1.ReplicaRegion{{Region: "us-west-2", KmsKeyId: "alias/west"}}})
	if err != nil {
		t.Fatal(err)
	}
	op := mustFinish(t, e.Env, rep.GetOperation().GetId())
	var after *replicadv1.GetSecretResponse
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The refresh follows the operation's end; wait for it.
		if after, err = e.inv.GetSecret(context.Background(), &replicadv1.GetSecretRequest{SecretId: target}); err != nil {
			t.Fatal(err)
		}
		if len(after.GetSecret().GetReplicas()) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polls a condition
	}
	r := after.GetSecret().GetReplicas()
	if len(r) != 1 || r[0].GetRegion() != "us-west-2" || r[0].GetKmsKeyId() != "alias/west" || !after.GetSecret().GetReadTime().AsTime().After(before.GetSecret().GetReadTime().AsTime()) {
		t.Errorf("after Replicate the inventory shows %v", protojson.Format(after.GetSecret()))
	}
	if len(after.GetRecentOperations()) != 1 || after.GetRecentOperations()[0].GetId() != op.GetId() {
		t.Errorf("recent operations %v, want the Replicate", after.GetRecentOperations())
	}
	if n := e.sm.Stats().Region("us-east-1").APIs["ListSecrets"].Requests; n != 6 {
		t.Errorf("%d ListSecrets pages in us-east-1 after the operation, want still 6: the refresh is a DescribeSecret", n)
	}
	// The stand-in answers InSync at the first look after the write: one
	// DescribeSecret before ReplicateSecretToRegions, one after, and the
	// refresh stores that second answer instead of asking a third time.
	if n := describes() - describesBefore; n != 2 {
		t.Errorf("%d DescribeSecret calls for the Replicate and its refresh, want 2", n)
	}
}

func mustFinish(t *testing.T, env *testenv.Env, id string) *replicadv1.Operation {
	t.Helper()
	op := env.WaitOperation(t, id, 30*time.Second)
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED {
		t.Fatalf("operation ended %s: %s", op.GetState(), protojson.Format(op))
	}
	return op
}

// TestInventoryGoneAndAccountsNeverLogged: a secret deleted under the
// inventory is marked gone by the next complete scan and kept; scans, a
// failing scan, reads and operations leave no account id in the logs or
// the audit trail.
func TestInventoryGoneAndAccountsNeverLogged(t *testing.T) {
	t.Parallel()
	c := &canaries{}
	accountA, accountB := c.account(), c.account()
	e := startInventory(t, accountA, accountB, 4, 200*time.Millisecond)
	e.waitScanned(t)
	var victim string
	for arn, sp := range e.seeded {
		if sp.Account == accountB && sp.Region == "eu-west-1" {
			victim = arn
			break
		}
	}
	if err := e.sm.ForceDelete(accountB, "eu-west-1", e.seeded[victim].Name); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := e.REST(t, http.MethodGet, "/v1/secrets/"+escape(victim), nil)
		var resp replicadv1.GetSecretResponse
		if code != http.StatusOK || protojson.Unmarshal(body, &resp) != nil {
			t.Fatalf("GetSecret: %d %s", code, body)
		}
		if resp.GetSecret().GetGone() {
			if resp.GetSecret().GetGoneTime() == nil {
				t.Error("gone without a time")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a deleted secret was never marked gone")
		}
		time.Sleep(50 * time.Millisecond) // polls a condition
	}
	visible := e.listAll(t, &replicadv1.ListSecretsRequest{Account: accountB})
	withGone := e.listAll(t, &replicadv1.ListSecretsRequest{Account: accountB, ShowGone: true})
	if len(visible) != len(withGone)-1 || !slices.Contains(arnSet(withGone), victim) || slices.Contains(arnSet(visible), victim) {
		t.Errorf("gone secret: %d listed, %d with gone", len(visible), len(withGone))
	}
	// A Region refusing every call: its scans fail, and say so.
	if err := e.sm.SetFaults(standin.Faults{DownRegions: []string{"ap-southeast-2"}}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(e.logs.String(), "inventory scan failed") {
		if time.Now().After(deadline) {
			t.Fatal("no failed scan logged with a Region down")
		}
		time.Sleep(50 * time.Millisecond) // polls a condition
	}
	// Reads with the account as a filter, and an operation.
	e.listAll(t, &replicadv1.ListSecretsRequest{Account: accountA, PageSize: 2})
	e.restAll(t, url.Values{"account": {accountB}, "page_size": {"2"}})
	var target string
	for arn, sp := range e.seeded {
		if sp.Account == accountA && sp.Region == "us-east-1" && len(sp.Replicas) == 0 {
			target = arn
		}
	}
	rep, err := e.Client.Replicate(context.Background(), &replicadv1.ReplicateRequest{SecretId: target, Regions: []*replicadv1.ReplicaRegion{{Region: "us-west-2"}}})
	if err != nil {
		t.Fatal(err)
	}
	mustFinish(t, e.Env, rep.GetOperation().GetId())
	if _, err := e.inv.GetSecret(context.Background(), &replicadv1.GetSecretRequest{SecretId: target}); err != nil {
		t.Fatal(err)
	}

	logs := e.logs.String()
	var audit string
	if err := e.DB.QueryRow(context.Background(), `SELECT coalesce(string_agg(e::text, ' '), '') FROM audit_events e`).Scan(&audit); err != nil {
		t.Fatal(err)
	}
	var scans string
	if err := e.DB.QueryRow(context.Background(), `SELECT coalesce(string_agg(last_error, ' '), '') FROM inventory_scans`).Scan(&scans); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{accountA, accountB} {
		if strings.Contains(logs, a) {
			t.Errorf("an account id reached the logs")
		}
		if strings.Contains(audit, a) {
			t.Errorf("an account id reached the audit trail")
		}
		if strings.Contains(scans, a) {
			t.Errorf("an account id reached the scan errors")
		}
	}
	if !strings.Contains(audit, "InventoryService/ListSecrets") || !strings.Contains(audit, "InventoryService/GetSecret") {
		t.Error("inventory reads are not audited")
	}
}
