package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/pgtest"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testenv"
)

// binDir holds the binaries built once for the package's tests.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// Every test that starts a process is of the slow tier and
		// skips itself: no binaries to build.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "replicad-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "../cmd/...")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := pgtest.Main(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// keyFiles writes a data key and a fingerprint key for the test.
func keyFiles(t *testing.T) (data, fingerprint string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string) string {
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(k)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("data.key"), write("fingerprint.key")
}

// cluster is what several replicad processes share.
type cluster struct {
	dbURL, awsEndpoint string
	dataKey, fpKey     string
}

func newCluster(t *testing.T, awsEndpoint string) *cluster {
	data, fp := keyFiles(t)
	return &cluster{dbURL: pgtest.NewDatabase(t), awsEndpoint: awsEndpoint, dataKey: data, fpKey: fp}
}

// proc is one replicad process.
type proc struct {
	name     string
	cmd      *exec.Cmd
	grpcAddr string
	httpAddr string
	logs     *syncBuffer
	exited   chan struct{}
	exitErr  error
	client   replicadv1.ReplicationServiceClient
	conn     *grpc.ClientConn
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs bin/replicad in --insecure-dev mode with the cluster's
// settings plus extra flags and waits until it is ready.
func (c *cluster) start(t *testing.T, name string, extra ...string) *proc {
	t.Helper()
	return c.startTLS(t, name, nil, append([]string{"--insecure-dev"}, extra...)...)
}

// startTLS runs bin/replicad serving TLS (clientTLS is how the test
// connects; nil means plaintext) and waits until it is ready.
func (c *cluster) startTLS(t *testing.T, name string, clientTLS *tls.Config, extra ...string) *proc {
	t.Helper()
	p := &proc{name: name, grpcAddr: freeAddr(t), httpAddr: freeAddr(t), logs: &syncBuffer{}, exited: make(chan struct{})}
	args := append([]string{
		"--grpc-addr", p.grpcAddr, "--http-addr", p.httpAddr,
		"--database-url", c.dbURL,
		"--aws-endpoint", c.awsEndpoint,
		"--default-region", "us-east-1",
		"--data-key-file", c.dataKey, "--fingerprint-key-file", c.fpKey,
		"--aws-max-backoff", "200ms",
		"--poll-initial", "20ms", "--poll-max", "200ms",
		"--retry-base", "50ms", "--retry-max", "1s",
	}, extra...)
	p.cmd = exec.Command(filepath.Join(binDir, "replicad"), args...)
	p.cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=e2e", "AWS_SECRET_ACCESS_KEY=e2e", "AWS_EC2_METADATA_DISABLED=true")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("%s logs (last 4 KiB):\n%s", p.name, tail(p.logs.String(), 4096))
		}
	})
	scheme, httpClient := "http://", http.DefaultClient
	if clientTLS != nil {
		scheme, httpClient = "https://", &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS}}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := httpClient.Get(scheme + p.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited during start-up: %v\n%s", name, p.exitErr, p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 30s\n%s", name, p.logs.String())
		}
	}
	creds := insecure.NewCredentials()
	if clientTLS != nil {
		creds = credentials.NewTLS(clientTLS)
	}
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p.conn, p.client = conn, replicadv1.NewReplicationServiceClient(conn)
	return p
}

// connect opens a database connection for the test's own queries, closed
// at cleanup.
func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// kill9 kills the process without warning.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// term sends SIGTERM and returns how long the process took to exit.
func (p *proc) term(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(limit):
		t.Fatalf("%s did not exit within %s of SIGTERM", p.name, limit)
	}
	if p.exitErr != nil {
		t.Errorf("%s exited with %v after SIGTERM", p.name, p.exitErr)
	}
	return time.Since(began)
}

// watchedStandin serves the stand-in and records, per secret, whether two
// mutating calls were ever in flight at once: the observable sign of one
// operation running twice at the same time, or of two operations on one
// secret overlapping.
type watchedStandin struct {
	*standin.Server
	URL string

	mu       sync.Mutex
	inFlight map[string]int
	overlaps []string
	// writes counts the mutating calls the service received (see
	// ServeHTTP) per (API, secret key, Region named in the call): a count
	// above one is a write sent twice.
	writes map[[3]string]int
}

// receivedKey carries, in a mutating request's context, what counts it as
// sent once the stand-in receives it (standin.Options.Received).
type receivedKey struct{}

func startWatchedStandin(t *testing.T, opts standin.Options) *watchedStandin {
	t.Helper()
	if opts.Received != nil {
		t.Fatal("startWatchedStandin sets Options.Received itself")
	}
	opts.Received = func(ctx context.Context, _, _ string) {
		if count, ok := ctx.Value(receivedKey{}).(func()); ok {
			count()
		}
	}
	sm, err := standin.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	w := &watchedStandin{Server: sm, inFlight: map[string]int{}, writes: map[[3]string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: w}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	w.URL = "http://" + l.Addr().String()
	return w
}

var mutating = map[string]bool{
	"secretsmanager.ReplicateSecretToRegions":     true,
	"secretsmanager.RemoveRegionsFromReplication": true,
	"secretsmanager.StopReplicationToReplica":     true,
}

func (w *watchedStandin) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if !mutating[r.Header.Get("X-Amz-Target")] {
		w.Server.ServeHTTP(rw, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var in struct {
		SecretID          string `json:"SecretId"`
		AddReplicaRegions []struct {
			Region string
		}
		RemoveReplicaRegions []string
	}
	_ = json.Unmarshal(body, &in)
	key := in.SecretID
	if id, err := secretid.Parse(in.SecretID); err == nil {
		key = id.Key()
	}
	api := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	var named [][3]string
	for _, rr := range in.AddReplicaRegions {
		named = append(named, [3]string{api, key, rr.Region})
	}
	for _, region := range in.RemoveReplicaRegions {
		named = append(named, [3]string{api, key, region})
	}
	// A write is counted as sent when the service receives it, not when it
	// reaches this handler: one still crossing the stand-in's latency
	// (the network) when its process is killed never reached AWS, so the
	// execution that resumes the operation rightly finds no replica and
	// sends it again. Counted here it was a false "sent twice" (the
	// stand-in's own count of the API, which starts at the same point as
	// Received, said once).
	r = r.WithContext(context.WithValue(r.Context(), receivedKey{}, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, k := range named {
			w.writes[k]++
		}
	}))
	// Overlaps are the client's doing, judged on arrival: two mutating
	// calls on a secret on the wire at once are two too many, whether or
	// not the service received both.
	w.mu.Lock()
	w.inFlight[key]++
	if w.inFlight[key] > 1 {
		w.overlaps = append(w.overlaps, key)
	}
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.inFlight[key]--
		w.mu.Unlock()
	}()
	w.Server.ServeHTTP(rw, r)
}

func (w *watchedStandin) Overlaps() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.overlaps...)
}

// Writes returns the mutating calls counted per (API, secret key, Region).
func (w *watchedStandin) Writes() map[[3]string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[[3]string]int, len(w.writes))
	for k, n := range w.writes {
		out[k] = n
	}
	return out
}

func (w *watchedStandin) seed(t *testing.T, n int, prefix string) []string {
	t.Helper()
	var names []string
	for range n {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		name := prefix + "/" + hex.EncodeToString(b)
		if _, err := w.Seed(context.Background(), "us-east-1", name, "v"); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

func (w *watchedStandin) replicas(t *testing.T, name string) map[string]bool {
	t.Helper()
	out, err := testenv.SecretsManager(w.URL, "us-east-1").DescribeSecret(context.Background(),
		&secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, r := range out.ReplicationStatus {
		m[aws.ToString(r.Region)] = true
	}
	return m
}

// syncBuffer holds a process's logs.
type syncBuffer struct{ testenv.Buffer }

func (b *syncBuffer) lines(substr string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			out = append(out, sc.Text())
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
