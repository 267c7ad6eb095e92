package replictl_test

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/authtest"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/pgtest"
	"github.com/replicad/replicad/internal/replictl"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixture is a replicad on a fresh database in front of a stand-in.
type fixture struct {
	env      *testenv.Env
	standin  *standin.Server
	endpoint string
}

func start(t *testing.T, configure func(*daemon.Config)) *fixture {
	t.Helper()
	return startWith(t, testenv.Options{Configure: configure}, 0)
}

// startReplicating is start with a stand-in whose replicas stay InProgress
// for a while, so --wait has progress to show. Only the tests that look for
// that progress pay the wait.
func startReplicating(t *testing.T) *fixture {
	t.Helper()
	return startWith(t, testenv.Options{}, 1500*time.Millisecond)
}

// startTLS starts a replicad that serves TLS signed by pki.
func startTLS(t *testing.T, pki *authtest.PKI, configure func(*daemon.Config)) *fixture {
	t.Helper()
	return startWith(t, testenv.Options{Configure: configure, ClientTLS: pki.ClientTLS(t, "spiffe://test/cli")}, 0)
}

func startWith(t *testing.T, opts testenv.Options, replicationDelay time.Duration) *fixture {
	t.Helper()
	sm, err := standin.New(standin.Options{ReplicationDelay: replicationDelay})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(sm)
	t.Cleanup(hs.Close)
	opts.AWSEndpoint = hs.URL
	env := testenv.Start(t, opts)
	return &fixture{env: env, standin: sm, endpoint: hs.URL}
}

// seed creates a secret in us-east-1 (the default Region) and returns its
// name.
func (f *fixture) seed(t *testing.T, name string) string {
	t.Helper()
	if _, err := f.standin.Seed(context.Background(), "us-east-1", name, "value-of-"+name); err != nil {
		t.Fatal(err)
	}
	return name
}

// result is one replictl run.
type result struct {
	code           int
	stdout, stderr string
}

// run runs replictl in-process with its output captured (not a terminal).
func (f *fixture) run(t *testing.T, args ...string) result {
	t.Helper()
	return runWith(t, replictl.IO{}, append(args, "--server", f.env.GRPCAddr())...)
}

func runWith(t *testing.T, stdio replictl.IO, args ...string) result {
	t.Helper()
	var stdout, stderr testenv.Buffer
	if stdio.Stdout == nil {
		stdio.Stdout = &stdout
	}
	stdio.Stderr = &stderr
	if stdio.PollInterval == 0 {
		stdio.PollInterval = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := replictl.Run(ctx, args, stdio)
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	t.Logf("replictl %s -> %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}
