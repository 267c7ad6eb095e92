package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/testenv"
)

const testARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-a1b2c3"

// call sends one request over gRPC or REST. Every validation case runs both
// ways: the gateway must surface exactly what the gRPC server decided.
type call struct {
	grpc func(context.Context, replicadv1.ReplicationServiceClient) error
	// REST method, path and body.
	method, path string
	body         proto.Message
}

func replicateCall(req *replicadv1.ReplicateRequest) call {
	body := proto.Clone(req).(*replicadv1.ReplicateRequest)
	body.SecretId = ""
	return call{
		grpc: func(ctx context.Context, c replicadv1.ReplicationServiceClient) error {
			_, err := c.Replicate(ctx, req)
			return err
		},
		method: http.MethodPost, path: "/v1/secrets/" + escape(req.GetSecretId()) + ":replicate", body: body,
	}
}

func removeCall(req *replicadv1.RemoveRequest) call {
	body := proto.Clone(req).(*replicadv1.RemoveRequest)
	body.SecretId = ""
	return call{
		grpc: func(ctx context.Context, c replicadv1.ReplicationServiceClient) error {
			_, err := c.Remove(ctx, req)
			return err
		},
		method: http.MethodPost, path: "/v1/secrets/" + escape(req.GetSecretId()) + ":removeRegions", body: body,
	}
}

func promoteCall(req *replicadv1.PromoteRequest) call {
	body := proto.Clone(req).(*replicadv1.PromoteRequest)
	body.SecretId, body.Region = "", ""
	return call{
		grpc: func(ctx context.Context, c replicadv1.ReplicationServiceClient) error {
			_, err := c.Promote(ctx, req)
			return err
		},
		method: http.MethodPost, path: "/v1/secrets/" + escape(req.GetSecretId()) + "/replicas/" + escape(req.GetRegion()) + ":promote", body: body,
	}
}

func regions(rs ...string) []*replicadv1.ReplicaRegion {
	out := make([]*replicadv1.ReplicaRegion, len(rs))
	for i, r := range rs {
		out[i] = &replicadv1.ReplicaRegion{Region: r}
	}
	return out
}

func TestValidationRules(t *testing.T) {
	t.Parallel()
	env, _ := startFake(t, allowRegions("us-east-1", "us-west-2", "eu-west-1", "eu-west-3", "ap-south-1", "cn-north-1", "cn-northwest-1", "us-gov-west-1"))
	tooManyLabels := map[string]string{}
	for i := range 17 {
		tooManyLabels[string(rune('a'+i))] = "v"
	}
	tooManyRegions := make([]*replicadv1.ReplicaRegion, 51)
	for i := range tooManyRegions {
		tooManyRegions[i] = &replicadv1.ReplicaRegion{Region: "eu-west-1"}
	}
	tests := []struct {
		name   string
		call   call
		field  string
		reason string
		// restStatus, when set, is what REST answers instead of a 400 with
		// the same violation (the request cannot be expressed the same way).
		restStatus int
	}{
		// An empty path segment matches no REST route.
		// Over REST the empty id leaves POST /v1/secrets/:replicate, a path
		// only GET /v1/secrets/{secret_id} (the inventory) matches.
		{"secret id required", replicateCall(&replicadv1.ReplicateRequest{Regions: regions("eu-west-1")}), "secret_id", "REQUIRED", http.StatusMethodNotAllowed},
		{"secret id too long", replicateCall(&replicadv1.ReplicateRequest{SecretId: strings.Repeat("a", 2049), Regions: regions("eu-west-1")}), "secret_id", "INVALID_SECRET_ID", 0},
		{"secret name characters", replicateCall(&replicadv1.ReplicateRequest{SecretId: "bad name!", Regions: regions("eu-west-1")}), "secret_id", "INVALID_SECRET_ID", 0},
		{"malformed ARN", replicateCall(&replicadv1.ReplicateRequest{SecretId: "arn:aws:kms:us-east-1:123456789012:key/x", Regions: regions("eu-west-1")}), "secret_id", "INVALID_SECRET_ID", 0},
		{"ARN Region not allowed", replicateCall(&replicadv1.ReplicateRequest{SecretId: "arn:aws:secretsmanager:sa-east-1:123456789012:secret:x-a1b2c3", Regions: regions("eu-west-1")}), "secret_id", "REGION_NOT_ALLOWED", 0},
		{"at least one Region", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db"}), "regions", "REQUIRED", 0},
		{"too many Regions", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: tooManyRegions}), "regions", "TOO_MANY", 0},
		{"Region code malformed", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("eu-west")}), "regions[0].region", "INVALID_REGION", 0},
		{"Region code empty", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("")}), "regions[0].region", "REQUIRED", 0},
		{"Region not allowed", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("ap-southeast-5")}), "regions[0].region", "REGION_NOT_ALLOWED", 0},
		{"duplicate Region", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("eu-west-1", "eu-west-1")}), "regions[1].region", "DUPLICATE_REGION", 0},
		{"replica in primary Region", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("us-east-1")}), "regions[0].region", "PRIMARY_REGION", 0},
		{"primary Region from ARN", replicateCall(&replicadv1.ReplicateRequest{SecretId: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-a1b2c3", Regions: regions("eu-west-1")}), "regions[0].region", "PRIMARY_REGION", 0},
		{"cross-partition Region", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("cn-north-1")}), "regions[0].region", "CROSS_PARTITION", 0},
		{"KMS key malformed", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1", KmsKeyId: "not a key"}}}), "regions[0].kms_key_id", "INVALID_KMS_KEY", 0},
		{"KMS key too long", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1", KmsKeyId: "alias/" + strings.Repeat("a", 2050)}}}), "regions[0].kms_key_id", "TOO_LONG", 0},
		{"KMS key in another Region", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1", KmsKeyId: "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}}), "regions[0].kms_key_id", "KMS_KEY_REGION", 0},
		{"request_id not a UUID", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("eu-west-1"), RequestId: "retry-1"}), "request_id", "INVALID_REQUEST_ID", 0},
		{"reason too long", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("eu-west-1"), Reason: strings.Repeat("r", 1025)}), "reason", "TOO_LONG", 0},
		{"too many labels", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("eu-west-1"), Labels: tooManyLabels}), "labels", "TOO_MANY", 0},
		{"label key", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("eu-west-1"), Labels: map[string]string{"Ticket": "1"}}), `labels["Ticket"]`, "INVALID_LABEL_KEY", 0},
		{"label value too long", replicateCall(&replicadv1.ReplicateRequest{SecretId: "prod/db", Regions: regions("eu-west-1"), Labels: map[string]string{"ticket": strings.Repeat("v", 257)}}), `labels["ticket"]`, "TOO_LONG", 0},
		{"remove needs Regions", removeCall(&replicadv1.RemoveRequest{SecretId: "prod/db"}), "regions", "REQUIRED", 0},
		{"remove duplicate Region", removeCall(&replicadv1.RemoveRequest{SecretId: "prod/db", Regions: []string{"eu-west-1", "eu-west-1"}}), "regions[1]", "DUPLICATE_REGION", 0},
		{"remove the primary", removeCall(&replicadv1.RemoveRequest{SecretId: "prod/db", Regions: []string{"us-east-1"}}), "regions[0]", "PRIMARY_REGION", 0},
		{"promote needs a well-formed Region", promoteCall(&replicadv1.PromoteRequest{SecretId: "prod/db", Region: "europe"}), "region", "INVALID_REGION", 0},
		// Issue 12 item 12: promoting the primary's own Region was accepted and then failed in the worker.
		{"promote the primary Region", promoteCall(&replicadv1.PromoteRequest{SecretId: "prod/db", Region: "us-east-1"}), "region", "PRIMARY_REGION", 0},
		{"promote the primary Region from ARN", promoteCall(&replicadv1.PromoteRequest{SecretId: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-a1b2c3", Region: "eu-west-1"}), "region", "PRIMARY_REGION", 0},
		{"status recent operations range", call{
			grpc: func(ctx context.Context, c replicadv1.ReplicationServiceClient) error {
				_, err := c.Status(ctx, &replicadv1.StatusRequest{SecretId: "prod/db", RecentOperations: 51})
				return err
			},
			method: http.MethodGet, path: "/v1/secrets/prod%2Fdb/replication?recent_operations=51",
		}, "recent_operations", "OUT_OF_RANGE", 0},
		{"list page size", call{
			grpc: func(ctx context.Context, c replicadv1.ReplicationServiceClient) error {
				_, err := c.ListOperations(ctx, &replicadv1.ListOperationsRequest{PageSize: -1})
				return err
			},
			method: http.MethodGet, path: "/v1/operations?page_size=-1",
		}, "page_size", "OUT_OF_RANGE", 0},
		{"list page token", call{
			grpc: func(ctx context.Context, c replicadv1.ReplicationServiceClient) error {
				_, err := c.ListOperations(ctx, &replicadv1.ListOperationsRequest{PageToken: "garbage"})
				return err
			},
			method: http.MethodGet, path: "/v1/operations?page_token=garbage",
		}, "page_token", "INVALID_PAGE_TOKEN", 0},
		{"list unknown state", call{
			grpc: func(ctx context.Context, c replicadv1.ReplicationServiceClient) error {
				_, err := c.ListOperations(ctx, &replicadv1.ListOperationsRequest{State: 99})
				return err
			},
			method: http.MethodGet, path: "/v1/operations?state=99",
		}, "state", "INVALID_ENUM", 0},
		{"operation id", call{
			grpc: func(ctx context.Context, c replicadv1.ReplicationServiceClient) error {
				_, err := c.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: "op-1"})
				return err
			},
			method: http.MethodGet, path: "/v1/operations/op-1",
		}, "id", "INVALID_OPERATION_ID", 0},
		{"cancel reason", call{
			grpc: func(ctx context.Context, c replicadv1.ReplicationServiceClient) error {
				_, err := c.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: "0193a5d2-7c4e-7e1a-8a3b-1c2d3e4f5a6b", Reason: strings.Repeat("r", 1025)})
				return err
			},
			method: http.MethodPost, path: "/v1/operations/0193a5d2-7c4e-7e1a-8a3b-1c2d3e4f5a6b:cancel", body: &replicadv1.CancelOperationRequest{Reason: strings.Repeat("r", 1025)},
		}, "reason", "TOO_LONG", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, got := violations(t, tt.call.grpc(context.Background(), env.Client))
			if code != codes.InvalidArgument || got[tt.field] != tt.reason {
				t.Errorf("gRPC: code %v, violations %v; want InvalidArgument with %s=%s", code, got, tt.field, tt.reason)
			}
			status, body := env.REST(t, tt.call.method, tt.call.path, tt.call.body)
			if tt.restStatus != 0 {
				if status != tt.restStatus {
					t.Errorf("REST: HTTP %d, %s; want %d", status, body, tt.restStatus)
				}
				return
			}
			e, restGot := restViolations(t, body)
			if tt.field == "state" && status == http.StatusBadRequest && e.Code == int(codes.InvalidArgument) {
				return // the gateway refuses an unknown enum number while decoding the query
			}
			if status != http.StatusBadRequest || e.Code != int(codes.InvalidArgument) || restGot[tt.field] != tt.reason {
				t.Errorf("REST: HTTP %d, %s; want 400 with %s=%s", status, body, tt.field, tt.reason)
			}
		})
	}
}

// A request with several mistakes gets all of them named at once.
func TestValidationReportsEveryViolation(t *testing.T) {
	t.Parallel()
	env, _ := startFake(t)
	_, err := env.Client.Replicate(context.Background(), &replicadv1.ReplicateRequest{
		SecretId:  "prod/db",
		Regions:   []*replicadv1.ReplicaRegion{{Region: "nowhere"}, {Region: "eu-west-1", KmsKeyId: "bad"}},
		RequestId: "x",
	})
	code, got := violations(t, err)
	want := map[string]string{"regions[0].region": "INVALID_REGION", "regions[1].kms_key_id": "INVALID_KMS_KEY", "request_id": "INVALID_REQUEST_ID"}
	if code != codes.InvalidArgument || len(got) != len(want) {
		t.Fatalf("got %v %v, want %v", code, got, want)
	}
	for f, r := range want {
		if got[f] != r {
			t.Errorf("violation %s = %q, want %q", f, got[f], r)
		}
	}
}

// Malformed bodies, unknown fields and wrong types are the client's fault:
// 400, never 500, and the message never quotes the body.
func TestRESTDecodingErrors(t *testing.T) {
	t.Parallel()
	env, _ := startFake(t)
	const canary = "CANARY-7d1e9f"
	tests := []struct{ name, method, path, body string }{
		{"malformed JSON", "POST", "/v1/secrets/prod%2Fdb:replicate", `{"regions": [`},
		{"unknown field", "POST", "/v1/secrets/prod%2Fdb:replicate", `{"regions": [{"region": "eu-west-1"}], "colour": "blue"}`},
		{"wrong type", "POST", "/v1/secrets/prod%2Fdb:replicate", `{"regions": "eu-west-1"}`},
		{"unquoted value echo", "POST", "/v1/secrets/prod%2Fdb:replicate", `{"reason": ` + canary + `}`},
		{"unknown enum", "GET", "/v1/operations?state=SOMETIMES", ""},
		{"unknown query parameter", "GET", "/v1/operations?colour=blue", ""},
		{"not an object", "POST", "/v1/operations/0193a5d2-7c4e-7e1a-8a3b-1c2d3e4f5a6b:cancel", `[1,2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body any
			if tt.body != "" {
				body = tt.body
			}
			status, out := env.REST(t, tt.method, tt.path, body)
			if status != http.StatusBadRequest {
				t.Errorf("HTTP %d (%s), want 400", status, out)
			}
			if strings.Contains(string(out), canary) {
				t.Errorf("error body quotes the request: %s", out)
			}
		})
	}
}

func TestUnknownOperationIsNotFound(t *testing.T) {
	t.Parallel()
	env, _ := startFake(t)
	const id = "0193a5d2-7c4e-7e1a-8a3b-1c2d3e4f5a6b"
	_, err := env.Client.GetOperation(context.Background(), &replicadv1.GetOperationRequest{Id: id})
	if code, _ := violations(t, err); code != codes.NotFound {
		t.Errorf("gRPC GetOperation of unknown id: %v, want NotFound", err)
	}
	if status, body := env.REST(t, "GET", "/v1/operations/"+id, nil); status != http.StatusNotFound {
		t.Errorf("REST GET unknown operation: %d %s, want 404", status, body)
	}
	_, err = env.Client.CancelOperation(context.Background(), &replicadv1.CancelOperationRequest{Id: id})
	if code, _ := violations(t, err); code != codes.NotFound {
		t.Errorf("gRPC CancelOperation of unknown id: %v, want NotFound", err)
	}
	if status, body := env.REST(t, "POST", "/v1/operations/"+id+":cancel", "{}"); status != http.StatusNotFound {
		t.Errorf("REST cancel unknown operation: %d %s, want 404", status, body)
	}
	if status, _ := env.REST(t, "GET", "/v1/nothing-here", nil); status != http.StatusNotFound {
		t.Errorf("unknown REST path: %d, want 404", status)
	}
}

var _ = protojson.Format
var _ = testenv.Terminal
