package deploy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/replicad/replicad/internal/pgtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The manifests' probes and scrape annotation name livenessPath, readyPath
// and metricsPath; a real replicad must answer there, or a deployment
// restarts healthy pods and scrapes nothing.
func TestProbePathsAreServed(t *testing.T) {
	t.Parallel()
	sm, err := standin.New(standin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	aws := httptest.NewServer(sm)
	t.Cleanup(aws.Close)
	env := testenv.Start(t, testenv.Options{AWSEndpoint: aws.URL})
	if !strings.HasSuffix(env.MetricsURL, metricsPath) {
		t.Errorf("metrics are served at %s, not at %s", env.MetricsURL, metricsPath)
	}
	for _, tt := range []struct{ url, want string }{
		{env.BaseURL + livenessPath, "ok"},
		{env.BaseURL + readyPath, "ready"},
		{env.MetricsURL, "replicad_aws_budget_share_instances"},
	} {
		resp, err := http.Get(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tt.want) {
			t.Errorf("GET %s: %d, body without %q", tt.url, resp.StatusCode, tt.want)
		}
	}
}
