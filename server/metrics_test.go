package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/smtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// scrape parses /metrics.
func scrape(t *testing.T, env *testenv.Env) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	status, body := env.REST(t, "GET", "/metrics", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d", status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams, string(body)
}

// value returns the value of the series with exactly these labels (0 if
// absent).
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetHistogram() != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	env, sm := startWithStandin(t)
	ctx := context.Background()
	if _, err := sm.Seed(ctx, "us-east-1", "metered/secret", "v"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, region := range []string{"eu-west-1", "eu-west-3"} {
		resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "metered/secret", Regions: regions(region)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.GetOperation().GetId())
	}
	resp, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "missing/secret", Regions: regions("eu-west-1")})
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, resp.GetOperation().GetId())
	for _, id := range ids {
		env.WaitOperation(t, id, 10*time.Second)
	}
	if status, _ := env.REST(t, "POST", "/v1/secrets/metered%2Fsecret:replicate", `{"regions": []}`); status != http.StatusBadRequest {
		t.Fatal("want 400")
	}

	fams, text := scrape(t, env)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"grpc_server_handled_total", map[string]string{"grpc_method": "Replicate", "grpc_code": "OK", "transport": "grpc"}, 3},
		{"grpc_server_handled_total", map[string]string{"grpc_method": "Replicate", "grpc_code": "InvalidArgument", "transport": "rest"}, 1},
		{"grpc_server_handling_seconds", map[string]string{"grpc_method": "Replicate", "transport": "grpc"}, 3},
		{"replicad_operations_accepted_total", map[string]string{"kind": "replicate"}, 3},
		{"replicad_operations_finished_total", map[string]string{"kind": "replicate", "state": "succeeded"}, 2},
		{"replicad_operations_finished_total", map[string]string{"kind": "replicate", "state": "failed"}, 1},
		{"replicad_operation_duration_seconds", map[string]string{"kind": "replicate", "state": "succeeded"}, 2},
		{"replicad_operations", map[string]string{"kind": "replicate", "state": "succeeded"}, 2},
		{"replicad_operations", map[string]string{"kind": "replicate", "state": "failed"}, 1},
		{"replicad_queue_depth", nil, 0},
		{"replicad_aws_requests_total", map[string]string{"api": "ReplicateSecretToRegions", "region": "us-east-1", "outcome": "ok"}, 2},
		{"replicad_aws_requests_total", map[string]string{"api": "DescribeSecret", "region": "us-east-1", "outcome": "not_found"}, 1},
		{"replicad_aws_rate_limit_wait_seconds", map[string]string{"api": "ReplicateSecretToRegions", "region": "us-east-1"}, 2},
		{"replicad_aws_request_duration_seconds", map[string]string{"api": "ReplicateSecretToRegions", "region": "us-east-1"}, 2},
	}
	for _, c := range checks {
		if got := value(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := fams["replicad_oldest_pending_operation_age_seconds"]; !ok {
		t.Error("no oldest pending age gauge")
	}
	// The table-backed gauge agrees with the table.
	var n float64
	if err := env.DB.QueryRow(ctx, "SELECT count(*) FROM operations WHERE state = 'succeeded'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if got := value(fams, "replicad_operations", map[string]string{"kind": "replicate", "state": "succeeded"}); got != n {
		t.Errorf("gauge %v, table %v", got, n)
	}
	for _, forbidden := range []string{"metered/secret", "missing/secret"} {
		if strings.Contains(text, forbidden) {
			t.Errorf("/metrics holds a secret name: %s", forbidden)
		}
	}
}

// With --metrics-addr, /metrics moves to its own plain-HTTP listener (for
// Prometheus, without client credentials) and leaves the API listener.
func TestMetricsOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	_, awsURL := standinURL(t)
	env := testenv.Start(t, testenv.Options{AWSEndpoint: awsURL, Configure: func(c *daemon.Config) {
		c.MetricsAddr = "127.0.0.1:0"
	}})
	if strings.HasPrefix(env.MetricsURL, env.BaseURL) {
		t.Fatalf("metrics at %s, on the API listener %s", env.MetricsURL, env.BaseURL)
	}
	resp, err := http.Get(env.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "replicad_queue_depth") {
		t.Errorf("GET %s: %d, replicad metrics present: %v", env.MetricsURL, resp.StatusCode, strings.Contains(string(body), "replicad_queue_depth"))
	}
	if status, _ := env.REST(t, "GET", "/metrics", nil); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the API listener: %d, want 404", status)
	}
}

// What operators watch: an operation is counted finished once however
// often it is cancelled, each finished operation is one log line, routine
// reads do not flood the log at INFO, and the build, the audit writer and
// the database pools have series of their own.
func TestOperationsAndInternalsAreObservable(t *testing.T) {
	t.Parallel()
	logs := &testenv.Buffer{}
	sm, srvURL := smtest.Serve(t, standin.Options{ReplicationDelay: 200 * time.Millisecond})
	env := testenv.Start(t, testenv.Options{AWSEndpoint: srvURL, Logs: logs})
	ctx := context.Background()
	if _, err := sm.Seed(ctx, "us-east-1", "observed/secret", "v"); err != nil {
		t.Fatal(err)
	}
	first, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "observed/secret", Regions: regions("eu-west-1")})
	if err != nil {
		t.Fatal(err)
	}
	queued, err := env.Client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "observed/secret", Regions: regions("eu-west-3")})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := env.Client.CancelOperation(ctx, &replicadv1.CancelOperationRequest{Id: queued.GetOperation().GetId()}); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 { // a client waiting on the operation
		if _, err := env.Client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: first.GetOperation().GetId()}); err != nil {
			t.Fatal(err)
		}
	}
	env.WaitOperation(t, first.GetOperation().GetId(), 20*time.Second)
	fams, _ := scrape(t, env)
	if got := value(fams, "replicad_operations_finished_total", map[string]string{"kind": "replicate", "state": "cancelled"}); got != 1 {
		t.Errorf("cancelled three times, counted finished %v times", got)
	}
	for _, name := range []string{"replicad_build_info", "replicad_audit_batch_size", "replicad_audit_events_failed_total",
		"replicad_audit_queued_events", "replicad_db_pool_connections", "replicad_db_pool_acquires_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s series", name)
		}
	}
	if got := value(fams, "replicad_db_pool_connections", map[string]string{"pool": "api", "state": "max"}); got != 20 {
		t.Errorf("api pool max connections %v, want 20", got)
	}
	// One line per finished operation, with its outcome.
	text := logs.String()
	for _, id := range []string{first.GetOperation().GetId(), queued.GetOperation().GetId()} {
		if n := strings.Count(text, `"msg":"operation finished","operation_id":"`+id+`"`); n != 1 {
			t.Errorf("operation %s: %d finish lines", id, n)
		}
	}
	infoReads := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, `"msg":"audit_event"`) && strings.Contains(line, "GetOperation") && strings.Contains(line, `"level":"INFO"`) {
			infoReads++
		}
	}
	if infoReads != 0 {
		t.Errorf("%d successful GetOperation calls logged at INFO, want none (DEBUG)", infoReads)
	}
	if !strings.Contains(text, `"drain_timeout":"5s"`) {
		t.Error("the configuration log does not show durations as text")
	}
}
