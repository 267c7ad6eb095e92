package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

func standinURL(t *testing.T) (*standin.Server, string) {
	t.Helper()
	return smtest.Serve(t, standin.Options{ReplicationDelay: 30 * time.Millisecond})
}

// One trace runs from a REST call, through the gRPC server and the
// database, across the queue to the worker and on to the AWS call.
func TestOneTraceFromRESTToAWS(t *testing.T) {
	t.Parallel()
	sm, url := standinURL(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	env := testenv.Start(t, testenv.Options{AWSEndpoint: url, Configure: func(c *daemon.Config) { c.TracerProvider = tp }})
	ctx := context.Background()
	if _, err := sm.Seed(ctx, "us-east-1", "traced/secret", "v"); err != nil {
		t.Fatal(err)
	}
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", env.BaseURL+"/v1/secrets/traced%2Fsecret:replicate", strings.NewReader(`{"regions": [{"region": "eu-west-1"}]}`))
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rep replicadv1.ReplicateResponse
	if err := protojson.Unmarshal(body, &rep); err != nil {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	env.WaitOperation(t, rep.GetOperation().GetId(), 10*time.Second)

	want := map[string]trace.SpanKind{
		"replicad.v1.ReplicationService/Replicate": trace.SpanKindServer,
		"replicad.operation.replicate":             trace.SpanKindInternal,
		"SecretsManager/DescribeSecret":            trace.SpanKindClient,
		"SecretsManager/ReplicateSecretToRegions":  trace.SpanKindClient,
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		found := map[string]bool{}
		// The worker's own transactions (sent as pipelined batches) must be
		// in the trace too, under the operation's span, not only the
		// accepting RPC's statements.
		db, workerDB := 0, 0
		var opSpan trace.SpanID
		for _, s := range rec.Ended() {
			if s.Name() == "replicad.operation.replicate" && s.SpanContext().TraceID().String() == traceID {
				opSpan = s.SpanContext().SpanID()
			}
		}
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID().String() != traceID {
				continue
			}
			if k, ok := want[s.Name()]; ok && s.SpanKind() == k {
				found[s.Name()] = true
			}
			if strings.HasPrefix(s.Name(), "query") || strings.HasPrefix(s.Name(), "batch") || strings.Contains(s.Name(), "INSERT") || strings.Contains(s.Name(), "SELECT") {
				db++
				if opSpan.IsValid() && s.Parent().SpanID() == opSpan {
					workerDB++
				}
			}
			for _, a := range s.Attributes() {
				if strings.Contains(a.Value.String(), "traced/secret") && !strings.HasPrefix(s.Name(), "replicad.v1") {
					t.Errorf("span %s records a secret name in %s", s.Name(), a.Key)
				}
			}
		}
		if len(found) == len(want) && db > 0 && workerDB > 0 {
			return
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range rec.Ended() {
				names = append(names, s.Name()+"@"+s.SpanContext().TraceID().String()[:8])
			}
			t.Fatalf("trace %s: found %v and %d database spans, %d of them the worker's; all spans: %v", traceID, found, db, workerDB, names)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// With --otlp-endpoint, spans are exported by OTLP/HTTP.
func TestOTLPExport(t *testing.T) {
	t.Parallel()
	sm, url := standinURL(t)
	var mu sync.Mutex
	var names []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
			http.Error(w, "bad export", http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	defer collector.Close()
	env := testenv.Start(t, testenv.Options{AWSEndpoint: url, Configure: func(c *daemon.Config) {
		c.Tracing.OTLPEndpoint = collector.URL
		c.Tracing.Insecure = true
	}})
	ctx := context.Background()
	if _, err := sm.Seed(ctx, "us-east-1", "exported/secret", "v"); err != nil {
		t.Fatal(err)
	}
	rep, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "exported/secret", Regions: regions("eu-west-1")})
	if err != nil {
		t.Fatal(err)
	}
	env.WaitOperation(t, rep.GetOperation().GetId(), 10*time.Second)
	env.Stop(t) // flushes the exporter
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(names, " ")
	for _, want := range []string{"replicad.v1.ReplicationService/Replicate", "replicad.operation.replicate", "SecretsManager/ReplicateSecretToRegions"} {
		if !strings.Contains(joined, want) {
			t.Errorf("exported spans lack %s: %v", want, names)
		}
	}
	_ = bytes.MinRead
}
