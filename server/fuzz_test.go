package server_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// FuzzREST sends arbitrary methods, paths and bodies through the real
// gateway and gRPC server: nothing may panic or answer 5xx.
func FuzzREST(f *testing.F) {
	// A real AWS endpoint, so Status answers what AWS would (404 for an
	// unknown secret) rather than 503 for an unreachable endpoint.
	sm, err := standin.New(standin.Options{})
	if err != nil {
		f.Fatal(err)
	}
	aws := httptest.NewServer(sm)
	f.Cleanup(aws.Close)
	env := testenv.Start(f, testenv.Options{
		AWSEndpoint: aws.URL,
		Configure:   func(c *daemon.Config) { c.Engine.Queue.InsertOnly = true },
	})
	f.Add("POST", "/v1/secrets/prod%2Fdb:replicate", `{"regions": [{"region": "eu-west-1"}]}`)
	f.Add("POST", "/v1/secrets/prod%2Fdb:removeRegions", `{"regions": ["eu-west-1"], "request_id": "x"}`)
	f.Add("POST", "/v1/secrets/a/replicas/eu-west-3:promote", `{"force": true, "labels": {"k": "v"}}`)
	f.Add("GET", "/v1/operations?page_size=3&state=OPERATION_STATE_PENDING", "")
	f.Add("GET", "/v1/operations/0193a5d2-7c4e-7e1a-8a3b-1c2d3e4f5a6b", "")
	f.Add("POST", "/v1/operations/0193a5d2-7c4e-7e1a-8a3b-1c2d3e4f5a6b:cancel", `{"reason": "\u0000"}`)
	f.Add("GET", "/v1/secrets/arn:aws:secretsmanager:us-east-1:123456789012:secret:x-abcdef/replication", "")
	f.Add("POST", "/v1/secrets/%zz:replicate", `{"regions": [{"region": 7}]}`)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		switch method {
		case "GET", "POST", "PUT", "DELETE", "PATCH":
		default:
			method = "POST"
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		u, err := url.ParseRequestURI(env.BaseURL + path)
		if err != nil {
			return // not a request an HTTP client could send
		}
		req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s %q: HTTP %d", method, path, body, resp.StatusCode)
		}
	})
}
