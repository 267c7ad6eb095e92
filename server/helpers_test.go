package server_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/testenv"
)

// startAPIOnly starts replicad without workers: accepted operations stay
// PENDING, which is what contract tests of the API want. The AWS endpoint
// is unreachable on purpose.
func startAPIOnly(t testing.TB, configure ...func(*daemon.Config)) *testenv.Env {
	t.Helper()
	return testenv.Start(t, testenv.Options{
		AWSEndpoint: "http://127.0.0.1:1",
		Configure: func(c *daemon.Config) {
			c.Engine.Queue.InsertOnly = true
			for _, f := range configure {
				f(c)
			}
		},
	})
}

// escape percent-encodes a secret id for a REST path segment, as the README
// tells users to: "/" as %2F and ":" as %3A.
func escape(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
}

// violations extracts google.rpc.BadRequest field violations from a gRPC error.
func violations(t *testing.T, err error) (codes.Code, map[string]string) {
	t.Helper()
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

// restError is the JSON body of a REST error (google.rpc.Status).
type restError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string `json:"@type"`
		Reason          string `json:"reason"`
		FieldViolations []struct {
			Field  string `json:"field"`
			Reason string `json:"reason"`
		} `json:"field_violations"`
	} `json:"details"`
}

func restViolations(t *testing.T, body []byte) (restError, map[string]string) {
	t.Helper()
	var e restError
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("REST error body is not JSON: %v: %s", err, body)
	}
	out := map[string]string{}
	for _, d := range e.Details {
		for _, v := range d.FieldViolations {
			out[v.Field] = v.Reason
		}
	}
	return e, out
}
