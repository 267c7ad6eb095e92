package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/protobuf/encoding/protojson"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/testenv"
)

// decodeOperation reads the operation out of a REST response body.
func decodeOperation(t *testing.T, body []byte) *replicadv1.Operation {
	t.Helper()
	var resp replicadv1.ReplicateResponse // every mutating response is {"operation": ...}
	if err := protojson.Unmarshal(body, &resp); err != nil {
		t.Fatalf("response is not {\"operation\": ...}: %v: %s", err, body)
	}
	return resp.GetOperation()
}

func TestAcceptedOperationsAreDurable(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	ctx := context.Background()

	rep, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{
		SecretId: "prod/db/primary",
		Regions:  []*replicadv1.ReplicaRegion{{Region: "eu-west-3", KmsKeyId: "alias/replica"}, {Region: "us-west-2"}},
		Reason:   "DR drill",
		Labels:   map[string]string{"ticket": "CHG-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	op := rep.GetOperation()
	if op.GetState() != replicadv1.OperationState_OPERATION_STATE_PENDING || op.GetKind() != replicadv1.OperationKind_OPERATION_KIND_REPLICATE ||
		op.GetSecretId() != "prod/db/primary" || op.GetAwsRegion() != "us-east-1" || len(op.GetRegions()) != 2 ||
		op.GetRegions()[0].GetKmsKeyId() != "alias/replica" || op.GetCreateTime() == nil || op.GetReasonFingerprint() == "" {
		t.Fatalf("unexpected operation: %v", protojson.Format(op))
	}
	if strings.Contains(protojson.Format(op), "DR drill") || op.GetLabels()["ticket"] == "CHG-1" {
		t.Errorf("reason and label values must only appear as fingerprints: %v", protojson.Format(op))
	}

	status, body := env.REST(t, "POST", "/v1/secrets/prod%2Fdb%2Fprimary:removeRegions", `{"regions": ["us-west-2"]}`)
	if status != http.StatusOK {
		t.Fatalf("REST remove: %d %s", status, body)
	}
	removeOp := decodeOperation(t, body)
	status, body = env.REST(t, "POST", "/v1/secrets/prod%2Fdb%2Fprimary/replicas/eu-west-3:promote", `{"force": true}`)
	if status != http.StatusOK {
		t.Fatalf("REST promote: %d %s", status, body)
	}
	promoteOp := decodeOperation(t, body)
	if promoteOp.GetAwsRegion() != "eu-west-3" || !promoteOp.GetForce() || promoteOp.GetKind() != replicadv1.OperationKind_OPERATION_KIND_PROMOTE {
		t.Errorf("promote runs in the replica's Region with force: %v", protojson.Format(promoteOp))
	}

	env.Restart(t)

	for _, want := range []*replicadv1.Operation{op, removeOp, promoteOp} {
		got, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: want.GetId()})
		if err != nil {
			t.Fatalf("after restart, GetOperation(%s): %v", want.GetId(), err)
		}
		if got.GetOperation().GetKind() != want.GetKind() || got.GetOperation().GetSecretId() != want.GetSecretId() ||
			got.GetOperation().GetState() != replicadv1.OperationState_OPERATION_STATE_PENDING {
			t.Errorf("after restart: %v, want %v", protojson.Format(got.GetOperation()), protojson.Format(want))
		}
		status, body := env.REST(t, "GET", "/v1/operations/"+want.GetId(), nil)
		if status != http.StatusOK || !strings.Contains(string(body), want.GetId()) {
			t.Errorf("REST GET after restart: %d %s", status, body)
		}
	}
}

func TestRequestIDReplays(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	ctx := context.Background()
	const rid = "6f1c2b9e-3d4a-4c5b-8e7f-9a0b1c2d3e4f"
	req := &replicadv1.ReplicateRequest{SecretId: "prod/app", Regions: regions("eu-west-1"), RequestId: rid, Reason: "r"}

	first, err := env.Client.Replicate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.Client.Replicate(ctx, req)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if again.GetOperation().GetId() != first.GetOperation().GetId() {
		t.Errorf("replay created operation %s, want the first one %s", again.GetOperation().GetId(), first.GetOperation().GetId())
	}
	// The same request over REST is the same request.
	status, body := env.REST(t, "POST", "/v1/secrets/prod%2Fapp:replicate",
		`{"regions": [{"region": "eu-west-1"}], "request_id": "`+rid+`", "reason": "r"}`)
	if status != http.StatusOK || decodeOperation(t, body).GetId() != first.GetOperation().GetId() {
		t.Errorf("REST replay: %d %s, want operation %s", status, body, first.GetOperation().GetId())
	}

	// Same request_id, different body: refused, whatever differs.
	for _, changed := range []*replicadv1.ReplicateRequest{
		{SecretId: "prod/app", Regions: regions("eu-west-3"), RequestId: rid, Reason: "r"},
		{SecretId: "prod/app", Regions: regions("eu-west-1"), RequestId: rid, Reason: "other"},
		{SecretId: "prod/app", Regions: regions("eu-west-1"), RequestId: rid, Reason: "r", ForceOverwriteReplicaSecret: true},
	} {
		_, err := env.Client.Replicate(ctx, changed)
		if code, _ := violations(t, err); code != codes.AlreadyExists {
			t.Errorf("reused request_id with a different body: %v, want AlreadyExists", err)
		}
	}
	// A different method with the same request_id is a different request too.
	_, err = env.Client.Remove(ctx, &replicadv1.RemoveRequest{SecretId: "prod/app", Regions: []string{"eu-west-1"}, RequestId: rid})
	if code, _ := violations(t, err); code != codes.AlreadyExists {
		t.Errorf("reused request_id on another method: %v, want AlreadyExists", err)
	}
	status, body = env.REST(t, "POST", "/v1/secrets/prod%2Fapp:replicate", `{"regions": [{"region": "us-west-2"}], "request_id": "`+rid+`"}`)
	if status != http.StatusConflict {
		t.Errorf("REST reused request_id: %d %s, want 409", status, body)
	}

	// Concurrent duplicates: all get the same operation.
	const rid2 = "7a1c2b9e-3d4a-4c5b-8e7f-9a0b1c2d3e4f"
	ids := make(chan string, 8)
	for range 8 {
		go func() {
			resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "prod/other", Regions: regions("eu-west-1"), RequestId: rid2})
			if err != nil {
				ids <- "error: " + err.Error()
				return
			}
			ids <- resp.GetOperation().GetId()
		}()
	}
	firstID := <-ids
	for range 7 {
		if id := <-ids; id != firstID {
			t.Errorf("concurrent replays returned %s and %s", firstID, id)
		}
	}
}

func TestListOperationsPagination(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	ctx := context.Background()
	var created []string
	for i := range 7 {
		secret := "app/a"
		if i%2 == 1 {
			secret = "app/b"
		}
		resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: secret, Regions: regions("eu-west-1")})
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, resp.GetOperation().GetId())
	}
	// gRPC: every operation exactly once, newest first, pages of 3.
	var got []string
	token := ""
	pages := 0
	for {
		resp, err := env.Client.ListOperations(ctx, &replicadv1.ListOperationsRequest{PageSize: 3, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, op := range resp.GetOperations() {
			got = append(got, op.GetId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	if pages != 3 || len(got) != 7 {
		t.Fatalf("got %d operations in %d pages, want 7 in 3", len(got), pages)
	}
	for i := range got {
		if got[i] != created[len(created)-1-i] {
			t.Fatalf("order: got %v, want newest first %v", got, created)
		}
	}

	// REST with a filter: app/a has 4 operations.
	var restIDs []string
	path := "/v1/operations?secret_id=app%2Fa&state=OPERATION_STATE_PENDING&page_size=2"
	for path != "" {
		status, body := env.REST(t, "GET", path, nil)
		if status != http.StatusOK {
			t.Fatalf("REST list: %d %s", status, body)
		}
		var resp replicadv1.ListOperationsResponse
		if err := protojson.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		for _, op := range resp.GetOperations() {
			if op.GetSecretId() != "app/a" {
				t.Errorf("filter by secret returned %s", op.GetSecretId())
			}
			restIDs = append(restIDs, op.GetId())
		}
		path = ""
		if resp.GetNextPageToken() != "" {
			path = "/v1/operations?secret_id=app%2Fa&state=OPERATION_STATE_PENDING&page_size=2&page_token=" + resp.GetNextPageToken()
		}
	}
	if len(restIDs) != 4 {
		t.Errorf("REST filtered listing returned %d operations, want 4", len(restIDs))
	}

	// A token is bound to its filter.
	first, err := env.Client.ListOperations(ctx, &replicadv1.ListOperationsRequest{SecretId: "app/a", PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Client.ListOperations(ctx, &replicadv1.ListOperationsRequest{SecretId: "app/b", PageSize: 1, PageToken: first.GetNextPageToken()})
	if code, v := violations(t, err); code != codes.InvalidArgument || v["page_token"] == "" {
		t.Errorf("token reused with another filter: %v, want InvalidArgument on page_token", err)
	}
	// An ARN filter finds operations that named the secret by name.
	byARN, err := env.Client.ListOperations(ctx, &replicadv1.ListOperationsRequest{SecretId: "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/b-AbCdEf"})
	if err != nil || len(byARN.GetOperations()) != 3 {
		t.Errorf("ARN filter: %d operations, %v; want 3", len(byARN.GetOperations()), err)
	}
}

// Secret names with "/" and full ARNs round-trip through REST paths when
// percent-encoded, as the README documents.
func TestRESTSecretIDRoundTrip(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	for _, id := range []string{"prod/db/primary", testARN, "a+b=c.d@e_f-g"} {
		for _, path := range []string{"/v1/secrets/" + escape(id) + ":replicate", "/v1/secrets/" + strings.ReplaceAll(escape(id), "%3A", ":") + ":replicate"} {
			status, body := env.REST(t, "POST", path, `{"regions": [{"region": "eu-west-1"}]}`)
			if status != http.StatusOK {
				t.Errorf("POST %s: %d %s", path, status, body)
				continue
			}
			if got := decodeOperation(t, body).GetSecretId(); got != id {
				t.Errorf("POST %s: secret_id %q, want %q", path, got, id)
			}
		}
	}
}

func TestHealthReadinessAndOpenAPI(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	ctx := context.Background()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/openapi.json": 200} {
		if status, body := env.REST(t, "GET", path, nil); status != want {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
	_, doc := env.REST(t, "GET", "/openapi.json", nil)
	var openapi struct {
		Swagger string                     `json:"swagger"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &openapi); err != nil || openapi.Swagger != "2.0" {
		t.Fatalf("openapi.json is not an OpenAPI v2 document: %v", err)
	}
	for _, p := range []string{"/v1/secrets/{secret_id}:replicate", "/v1/secrets/{secret_id}/replication", "/v1/operations/{id}", "/v1/operations"} {
		if _, ok := openapi.Paths[p]; !ok {
			t.Errorf("openapi.json lacks %s", p)
		}
	}

	health := healthpb.NewHealthClient(env.Conn)
	for _, svc := range []string{"", "replicad.v1.ReplicationService"} {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("grpc.health.v1 Check(%q) = %v, %v", svc, resp, err)
		}
	}

	stream, err := reflectionpb.NewServerReflectionClient(env.Conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range resp.GetListServicesResponse().GetService() {
		found = found || s.GetName() == "replicad.v1.ReplicationService"
	}
	if !found {
		t.Errorf("reflection does not list replicad.v1.ReplicationService: %v", resp)
	}

	// Not ready once the database is gone.
	if _, err := env.DB.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	if _, err := env.DB.Exec(ctx, "DROP TABLE replicad_schema_migrations"); err != nil {
		t.Fatal(err)
	}
	if status, _ := env.REST(t, "GET", "/readyz", nil); status != http.StatusServiceUnavailable {
		t.Errorf("readyz with migrations missing: %d, want 503", status)
	}
}

var _ = testenv.Terminal
