package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/testenv"
)

// rawCodec sends bytes as they are, to put on the wire what no protobuf
// library would encode.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(mem.BufferSlice, any) error { return nil }
func (rawCodec) Name() string                         { return "proto" }

func invokeRaw(env *testenv.Env, method string, payload []byte) error {
	return env.Conn.Invoke(context.Background(), method, payload, new([]byte), grpc.ForceCodecV2(rawCodec{}))
}

// auditedRefusals returns the audit events of a method with outcome code.
func auditedRefusals(t *testing.T, env *testenv.Env, method, outcome string) []*replicadv1.AuditEvent {
	t.Helper()
	return listAll(t, env, &replicadv1.ListAuditEventsRequest{Method: method, Outcome: outcome})
}

// A POST with a form body to a GET route is not served as that GET: the
// gateway's fallback would skip the query guard (a misspelt filter
// ignored, an unfiltered list answered) and answer invalid values with 500.
func TestFormPOSTIsNotAGet(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	for _, form := range []string{"secret=x", "secret_id=%FF", "page_size=2"} {
		req, _ := http.NewRequest("POST", env.BaseURL+"/v1/operations", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST /v1/operations -d %q: HTTP %d, want 405", form, resp.StatusCode)
		}
	}
}

// A body is exactly one JSON value: data after it is refused, not ignored,
// and no operation is created.
func TestTrailingDataAfterTheBodyIsRefused(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	for _, body := range []string{
		`{"regions": [{"region": "eu-west-1"}]} xyz`,
		`{"regions": [{"region": "eu-west-1"}]}{"regions": [{"region": "eu-west-3"}]}`,
		`{"regions": [{"region": "eu-west-1"}]},`,
	} {
		code, out := env.REST(t, "POST", "/v1/secrets/prod%2Ftrailing:replicate", body)
		e, vs := restViolations(t, out)
		if code != http.StatusBadRequest || vs["body"] != "TRAILING_DATA" || !strings.Contains(e.Message, "after the JSON body") {
			t.Errorf("%s: HTTP %d %s, want 400 naming the trailing data", body, code, out)
		}
	}
	list, err := env.Client.ListOperations(context.Background(), &replicadv1.ListOperationsRequest{SecretId: "prod/trailing"})
	if err != nil || len(list.GetOperations()) != 0 {
		t.Errorf("operations accepted from refused bodies: %v %v", list, err)
	}
	// One object, trailing white space: accepted.
	if code, out := env.REST(t, "POST", "/v1/secrets/prod%2Ftrailing:replicate", "{\"regions\": [{\"region\": \"eu-west-1\"}]}\n \n"); code != http.StatusOK {
		t.Errorf("a body with trailing white space: HTTP %d %s", code, out)
	}
}

// Requests grpc cannot decode are the caller's fault and are audited like
// any refusal: InvalidArgument naming the field, not Internal answered
// before any interceptor ran; over REST, a body the gateway cannot decode
// is audited too.
func TestUndecodableRequestsAreRefusedAndAudited(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	const replicate = "/replicad.v1.ReplicationService/Replicate"
	badSecret := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "prod/\xff")
	region := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "eu-\xfe")
	badRegion := protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), region)
	tests := []struct {
		name    string
		payload []byte
		field   string
	}{
		{"invalid UTF-8 in secret_id", badSecret, "secret_id"},
		{"invalid UTF-8 in a nested field", append(append([]byte{}, badRegion...), badRegion...), "regions[0].region"},
		{"not a protobuf message", []byte{0xff, 0xff, 0xff}, ""},
	}
	for _, tt := range tests {
		err := invokeRaw(env, replicate, tt.payload)
		code, vs := violations(t, err)
		if _, named := vs[tt.field]; code != codes.InvalidArgument || !named {
			t.Errorf("%s: %v, want InvalidArgument with a violation of %q", tt.name, err, tt.field)
		}
	}
	code, out := env.REST(t, "POST", "/v1/secrets/prod%2Fx:replicate", `{"regions": [{"region": "eu-west-1", "kms_key": "k"}]}`)
	if e, vs := restViolations(t, out); code != http.StatusBadRequest || vs["kms_key"] != "UNKNOWN_FIELD" || !strings.Contains(e.Message, `unknown field "kms_key"`) {
		t.Errorf("REST unknown field: HTTP %d %s", code, out)
	}
	waitChained(t, env)
	events := auditedRefusals(t, env, "Replicate", "INVALID_ARGUMENT")
	var grpcEvents, restEvents int
	for _, e := range events {
		switch e.GetTransport() {
		case "grpc":
			grpcEvents++
		case "rest":
			restEvents++
		}
	}
	if grpcEvents != len(tests) || restEvents != 1 {
		t.Errorf("audited refusals: %d over gRPC (want %d), %d over REST (want 1)", grpcEvents, len(tests), restEvents)
	}
}

// REST errors say what is wrong and with which field or parameter; enum
// values are accepted in their short form, as replictl takes them.
func TestRESTErrorsNameTheProblem(t *testing.T) {
	t.Parallel()
	env := startAPIOnly(t)
	tests := []struct {
		name, method, path, body string
		status                   int
		field, message           string
	}{
		{"unknown query parameter", "GET", "/v1/operations?foo=1", "", 400, "foo", `unknown query parameter "foo"`},
		{"query parameter on a POST", "POST", "/v1/secrets/prod%2Fx:replicate?region=eu-west-1", `{}`, 400, "region", "JSON body"},
		{"unknown field", "POST", "/v1/secrets/prod%2Fx:replicate", `{"regions": [{"region": "eu-west-1", "kms_key": "x"}]}`, 400, "kms_key", `unknown field "kms_key"`},
		{"wrong type", "POST", "/v1/secrets/prod%2Fx:replicate", `{"regions": "eu-west-1"}`, 400, "body", "wrong type"},
		{"unknown enum value", "GET", "/v1/operations?state=done", "", 400, "state", `"done" is not an OperationState; use one of PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED`},
		{"not a number", "GET", "/v1/operations?page_size=many", "", 400, "page_size", "not a valid int32"},
		{"bad JSON", "POST", "/v1/secrets/prod%2Fx:replicate", `{"regions": [`, 400, "body", "not valid JSON"},
		{"short enum", "GET", "/v1/operations?state=succeeded", "", 200, "", ""},
		{"short enum, upper case", "GET", "/v1/operations?state=FAILED", "", 200, "", ""},
		{"full enum", "GET", "/v1/operations?state=OPERATION_STATE_PENDING", "", 200, "", ""},
		{"short audit kind", "GET", "/v1/audit/events?kind=aws_call", "", 200, "", ""},
		{"unencoded slash", "POST", "/v1/secrets/team/web/token:replicate", `{}`, 404, "", "%2F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body any
			if tt.body != "" {
				body = tt.body
			}
			code, out := env.REST(t, tt.method, tt.path, body)
			if code != tt.status {
				t.Fatalf("HTTP %d %s, want %d", code, out, tt.status)
			}
			if tt.status == 200 {
				return
			}
			e, vs := restViolations(t, out)
			if tt.field != "" {
				if _, ok := vs[tt.field]; !ok {
					t.Errorf("no violation of %q: %s", tt.field, out)
				}
			}
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message %q does not say %q", e.Message, tt.message)
			}
		})
	}
	// The short form filters as the long one does.
	if _, err := env.Client.Replicate(context.Background(), &replicadv1.ReplicateRequest{SecretId: "prod/enum", Regions: regions("eu-west-1")}); err != nil {
		t.Fatal(err)
	}
	_, short := env.REST(t, "GET", "/v1/operations?state=pending&secret_id="+url.QueryEscape("prod/enum"), nil)
	_, long := env.REST(t, "GET", "/v1/operations?state=OPERATION_STATE_PENDING&secret_id="+url.QueryEscape("prod/enum"), nil)
	if string(short) != string(long) || !strings.Contains(string(short), "prod/enum") {
		t.Errorf("state=pending lists %s; state=OPERATION_STATE_PENDING lists %s", short, long)
	}
	if _, other := env.REST(t, "GET", "/v1/operations?state=failed&secret_id="+url.QueryEscape("prod/enum"), nil); strings.Contains(string(other), "prod/enum") {
		t.Errorf("state=failed lists the pending operation: %s", other)
	}
}
