package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

func startWithStandin(t *testing.T) (*testenv.Env, *standin.Server) {
	t.Helper()
	sm, srvURL := smtest.Serve(t, standin.Options{})
	return testenv.Start(t, testenv.Options{AWSEndpoint: srvURL}), sm
}

// waitChained waits until the chainer linked every event.
func waitChained(t *testing.T, env *testenv.Env) *replicadv1.VerifyAuditResponse {
	t.Helper()
	audit := replicadv1.NewAuditServiceClient(env.Conn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep, err := audit.VerifyAudit(context.Background(), &replicadv1.VerifyAuditRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.GetUnchained() == 0 {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("events still unchained: %v", rep)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitForEvent waits until an RPC event of method over transport is stored.
func waitForEvent(t *testing.T, env *testenv.Env, method, transport string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range listAll(t, env, &replicadv1.ListAuditEventsRequest{Kind: replicadv1.AuditEventKind_AUDIT_EVENT_KIND_RPC}) {
			if e.GetMethod() == method && e.GetTransport() == transport {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s event over %s stored", method, transport)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listAll(t *testing.T, env *testenv.Env, req *replicadv1.ListAuditEventsRequest) []*replicadv1.AuditEvent {
	t.Helper()
	client := replicadv1.NewAuditServiceClient(env.Conn)
	var out []*replicadv1.AuditEvent
	for {
		resp, err := client.ListAuditEvents(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, resp.GetEvents()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func TestEveryRPCIsAuditedOnce(t *testing.T) {
	t.Parallel()
	env, sm := startWithStandin(t)
	ctx := context.Background()
	if _, err := sm.Seed(ctx, "us-east-1", "audited/secret", "v"); err != nil {
		t.Fatal(err)
	}
	rep, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "audited/secret", Regions: regions("eu-west-1"), Reason: "ticket 42"})
	if err != nil {
		t.Fatal(err)
	}
	op := env.WaitOperation(t, rep.GetOperation().GetId(), 10*time.Second)
	_, err = env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "audited/secret"}) // invalid
	if code, _ := violations(t, err); code != codes.InvalidArgument {
		t.Fatal(err)
	}
	if status, body := env.REST(t, "GET", "/v1/secrets/audited%2Fsecret/replication", nil); status != http.StatusOK {
		t.Fatalf("REST status: %d %s", status, body)
	}
	if status, _ := env.REST(t, "POST", "/v1/secrets/audited%2Fsecret:replicate", `{"regions": []}`); status != http.StatusBadRequest {
		t.Fatal("want 400")
	}
	if status, _ := env.REST(t, "GET", "/v1/operations/"+op.GetId(), nil); status != http.StatusOK {
		t.Fatal("want 200")
	}
	// A successful read's event is stored just after its reply (group
	// commit without a wait): wait for the last one before counting.
	waitForEvent(t, env, "/replicad.v1.ReplicationService/GetOperation", "rest")
	waitChained(t, env)

	rpcs := listAll(t, env, &replicadv1.ListAuditEventsRequest{Kind: replicadv1.AuditEventKind_AUDIT_EVENT_KIND_RPC})
	type key struct {
		method, transport string
		code              int32
	}
	got := map[key]int{}
	for _, e := range rpcs {
		if strings.Contains(e.GetMethod(), "AuditService") {
			continue // the test's own VerifyAudit and list calls
		}
		got[key{e.GetMethod(), e.GetTransport(), e.GetCode()}]++
		if e.GetPrincipal() != "anonymous" || e.GetClientAddress() == "" || e.GetId() == "" || e.GetHash() == "" {
			t.Errorf("incomplete event: %v", protojson.Format(e))
		}
	}
	want := map[key]int{
		{"/replicad.v1.ReplicationService/Replicate", "grpc", 0}:                            1,
		{"/replicad.v1.ReplicationService/Replicate", "grpc", int32(codes.InvalidArgument)}: 1,
		{"/replicad.v1.ReplicationService/Status", "rest", 0}:                               1,
		{"/replicad.v1.ReplicationService/Replicate", "rest", int32(codes.InvalidArgument)}: 1,
		{"/replicad.v1.ReplicationService/GetOperation", "rest", 0}:                         1,
	}
	// WaitOperation polled GetOperation over gRPC; count those separately.
	for k, n := range got {
		if k.method == "/replicad.v1.ReplicationService/GetOperation" && k.transport == "grpc" {
			if n < 1 {
				t.Errorf("no GetOperation events")
			}
			delete(got, k)
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%v: %d events, want %d", k, got[k], n)
		}
		delete(got, k)
	}
	for k, n := range got {
		t.Errorf("unexpected events %v x%d", k, n)
	}

	// The accepted Replicate's event names the operation, the secret, and a
	// fingerprint of the reason, never the reason.
	events := listAll(t, env, &replicadv1.ListAuditEventsRequest{OperationId: op.GetId()})
	var sawRPC, sawCall bool
	for _, e := range events {
		switch e.GetKind() {
		case replicadv1.AuditEventKind_AUDIT_EVENT_KIND_RPC:
			if e.GetMethod() == "/replicad.v1.ReplicationService/Replicate" {
				sawRPC = true
				text := protojson.Format(e)
				if e.GetSecret() != "audited/secret" || strings.Contains(text, "ticket 42") || !strings.Contains(text, "fp-") {
					t.Errorf("replicate event: %s", text)
				}
			}
		case replicadv1.AuditEventKind_AUDIT_EVENT_KIND_AWS_CALL:
			if e.GetMethod() == "ReplicateSecretToRegions" {
				sawCall = true
				if e.GetAwsRequestId() == "" || e.GetAwsRegion() != "us-east-1" || e.GetTransport() != "worker" || e.GetPrincipal() != "anonymous" {
					t.Errorf("AWS call event: %s", protojson.Format(e))
				}
			}
		}
	}
	if !sawRPC || !sawCall {
		t.Errorf("operation %s events: rpc=%v aws call=%v (%d events)", op.GetId(), sawRPC, sawCall, len(events))
	}
	// The AWS request ids recorded on the operation match audit events.
	for _, c := range op.GetAwsCalls() {
		found := false
		for _, e := range events {
			found = found || e.GetAwsRequestId() == c.GetRequestId()
		}
		if !found {
			t.Errorf("AWS call %s (%s) has no audit event", c.GetApi(), c.GetRequestId())
		}
	}
}

func TestListAuditEventsFiltersAndPages(t *testing.T) {
	t.Parallel()
	env, _ := startWithStandin(t)
	ctx := context.Background()
	began := time.Now()
	for i := range 7 {
		_, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: "0193a5d2-7c4e-7e1a-8a3b-1c2d3e4f5a6" + string(rune('0'+i))})
		if code, _ := violations(t, err); code != codes.NotFound {
			t.Fatal(err)
		}
	}
	waitChained(t, env)
	all := listAll(t, env, &replicadv1.ListAuditEventsRequest{Method: "GetOperation", Outcome: "NOT_FOUND", PageSize: 3})
	if len(all) != 7 {
		t.Fatalf("filtered listing: %d events, want 7", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].GetTime().AsTime().After(all[i-1].GetTime().AsTime()) {
			t.Error("events are not newest first")
		}
	}
	if got := listAll(t, env, &replicadv1.ListAuditEventsRequest{Method: "GetOperation", Outcome: "OK"}); len(got) != 0 {
		t.Errorf("outcome filter: %d events with OK", len(got))
	}
	if got := listAll(t, env, &replicadv1.ListAuditEventsRequest{Principal: "someone-else"}); len(got) != 0 {
		t.Errorf("principal filter: %d events", len(got))
	}
	// REST, with a time range.
	path := "/v1/audit/events?method=GetOperation&outcome=NOT_FOUND&start_time=" + began.Add(-time.Second).UTC().Format(time.RFC3339Nano) + "&page_size=100"
	status, body := env.REST(t, "GET", path, nil)
	if status != http.StatusOK {
		t.Fatalf("REST list: %d %s", status, body)
	}
	var resp replicadv1.ListAuditEventsResponse
	if err := protojson.Unmarshal(body, &resp); err != nil || len(resp.GetEvents()) != 7 {
		t.Errorf("REST list: %d events, %v", len(resp.GetEvents()), err)
	}
	// Bad filters are named.
	_, err := replicadv1.NewAuditServiceClient(env.Conn).ListAuditEvents(ctx, &replicadv1.ListAuditEventsRequest{Outcome: "MAYBE"})
	if code, v := violations(t, err); code != codes.InvalidArgument || v["outcome"] == "" {
		t.Errorf("bad outcome: %v", err)
	}
	// VerifyAudit over REST.
	status, body = env.REST(t, "POST", "/v1/audit:verify", `{}`)
	if status != http.StatusOK || !strings.Contains(string(body), `"ok":true`) {
		t.Errorf("REST verify: %d %s", status, body)
	}
}

// VerifyAudit checks retention anchors against the server's export
// directory, and an anchor added by hand to skip an edited event is itself
// reported, over gRPC and REST.
func TestVerifyAuditChecksRetentionAnchors(t *testing.T) {
	t.Parallel()
	exportDir := t.TempDir()
	env := startAPIOnly(t, func(c *daemon.Config) {
		c.AuditRetention, c.AuditPruneInterval, c.AuditExportDir = time.Second, 100*time.Millisecond, exportDir
	})
	ctx := context.Background()
	audit := replicadv1.NewAuditServiceClient(env.Conn)
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _ = env.Client.ListOperations(ctx, &replicadv1.ListOperationsRequest{})
		rep, err := audit.VerifyAudit(ctx, &replicadv1.VerifyAuditRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.GetAnchors() > 0 {
			if !rep.GetOk() || rep.GetExportsVerified() != rep.GetAnchors() {
				t.Fatalf("after retention: %v", rep)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("retention made no anchor")
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitChained(t, env)
	if _, err := env.DB.Exec(ctx, `INSERT INTO audit_anchors (chain_pos, hash, pruned, exported_to, export_sha256)
		SELECT chain_pos, hash, 1, 'audit-forged.jsonl', sha256('') FROM audit_events WHERE chain_pos = (SELECT max(chain_pos) FROM audit_events)`); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyAudit(ctx, &replicadv1.VerifyAuditRequest{})
	if err != nil || rep.GetOk() || !strings.Contains(rep.GetFirstBreak().GetReason(), "not made by retention") {
		t.Errorf("gRPC VerifyAudit after a forged anchor: %v %v", rep, err)
	}
	code, body := env.REST(t, "POST", "/v1/audit:verify", `{}`)
	if code != 200 || strings.Contains(string(body), `"ok":true`) || !strings.Contains(string(body), "not made by retention") {
		t.Errorf("REST verify after a forged anchor: %d %s", code, body)
	}
}
