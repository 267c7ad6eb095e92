// Package testenv starts a whole replicad in-process for end-to-end tests:
// a fresh PostgreSQL database, the daemon on random loopback ports, a gRPC
// client and a REST helper — driving the public surface exactly as users do.
// The AWS endpoint (moto or the stand-in) is the caller's choice.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/pgtest"
)

// Credentials are the static AWS credentials tests use with moto and the
// stand-in.
var Credentials = credentials.NewStaticCredentialsProvider("AKIDTESTREPLICAD", "test-secret-key", "")

// Options configure Start.
type Options struct {
	// AWSEndpoint is the Secrets Manager endpoint (moto or the stand-in).
	AWSEndpoint string
	// DefaultRegion for bare secret names (default us-east-1).
	DefaultRegion string
	// Configure adjusts the daemon's configuration before it starts.
	Configure func(*daemon.Config)
	// Logs, if set, receives the daemon's JSON logs (for leak checks).
	Logs io.Writer
	// ClientTLS, if set, is how Client and REST connect (the server must be
	// configured for TLS by Configure).
	ClientTLS *tls.Config
}

// Env is a running replicad.
type Env struct {
	Client  replicadv1.ReplicationServiceClient
	Conn    *grpc.ClientConn
	BaseURL string
	// MetricsURL is where /metrics is served.
	MetricsURL string
	DB         *pgxpool.Pool
	Config     daemon.Config

	clientTLS *tls.Config
	http      *http.Client
	grpcAddr  string

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan error
}

// Start starts replicad on a fresh database; it stops at cleanup.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	if opts.DefaultRegion == "" {
		opts.DefaultRegion = "us-east-1"
	}
	logs := opts.Logs
	if logs == nil {
		logs = io.Discard
	}
	cfg := daemon.Config{
		GRPCAddr:       "127.0.0.1:0",
		HTTPAddr:       "127.0.0.1:0",
		DatabaseURL:    dbURL,
		DBMaxConns:     20,
		QueueMaxConns:  20,
		DefaultRegion:  opts.DefaultRegion,
		DataKeys:       [][]byte{randomKey(32)},
		FingerprintKey: randomKey(32),
		InsecureDev:    true,
		Drain:          5 * time.Second,
		Logger:         slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	cfg.AWS.Endpoint = opts.AWSEndpoint
	cfg.AWS.Credentials = Credentials
	cfg.AWS.MaxBackoff = 200 * time.Millisecond
	cfg.Engine.PollInitial = 20 * time.Millisecond
	cfg.Engine.PollMax = 200 * time.Millisecond
	cfg.Engine.RepairInterval = time.Second
	cfg.Engine.Queue.RetryBase = 50 * time.Millisecond
	cfg.Engine.Queue.RetryMax = time.Second
	cfg.Engine.Queue.FetchPollInterval = 50 * time.Millisecond
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e := &Env{DB: pool, Config: cfg, clientTLS: opts.ClientTLS, http: HTTPClient(opts.ClientTLS)}
	e.start(t)
	t.Cleanup(func() { e.Stop(t) })
	return e
}

func (e *Env) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.Start(ctx, e.Config)
	if err != nil {
		cancel()
		t.Fatalf("start replicad: %v", err)
	}
	conn, err := dial(d.GRPCAddr(), e.clientTLS)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	scheme := "http://"
	if e.Config.TLSCertFile != "" {
		scheme = "https://"
	}
	e.mu.Lock()
	e.Conn, e.Client, e.BaseURL, e.grpcAddr = conn, replicadv1.NewReplicationServiceClient(conn), scheme+d.HTTPAddr(), d.GRPCAddr()
	e.MetricsURL = e.BaseURL + "/metrics"
	if a := d.MetricsAddr(); a != "" {
		e.MetricsURL = "http://" + a + "/metrics"
	}
	e.cancel, e.done = cancel, done
	e.mu.Unlock()
}

// Connect returns an Env for a server that is already serving at grpcAddr
// and httpAddr (a server.Server built by a test around a fake engine, say):
// the same client and REST helper, without a daemon or a database. Stop and
// Restart do nothing on it.
func Connect(t testing.TB, grpcAddr, httpAddr string) *Env {
	t.Helper()
	conn, err := dial(grpcAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &Env{
		Client: replicadv1.NewReplicationServiceClient(conn), Conn: conn,
		BaseURL: "http://" + httpAddr, MetricsURL: "http://" + httpAddr + "/metrics",
		http: HTTPClient(nil), grpcAddr: grpcAddr,
	}
}

// Stop stops replicad gracefully (idempotent).
func (e *Env) Stop(t testing.TB) {
	t.Helper()
	e.mu.Lock()
	cancel, done, conn := e.cancel, e.done, e.Conn
	e.cancel = nil
	e.mu.Unlock()
	if cancel == nil {
		return
	}
	_ = conn.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("replicad stopped with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("replicad did not stop within 30s")
	}
}

// Peer starts a second replicad on e's database, with e's keys and
// settings adjusted by configure: another replica of the same deployment,
// as multi-process tests need. It stops at cleanup.
func (e *Env) Peer(t testing.TB, configure func(*daemon.Config)) *Env {
	t.Helper()
	cfg := e.Config
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.MetricsAddr != "" {
		cfg.MetricsAddr = "127.0.0.1:0"
	}
	if configure != nil {
		configure(&cfg)
	}
	p := &Env{DB: e.DB, Config: cfg, clientTLS: e.clientTLS, http: e.http}
	p.start(t)
	t.Cleanup(func() { p.Stop(t) })
	return p
}

// Restart stops replicad and starts a new one on the same database, on new
// ports.
func (e *Env) Restart(t testing.TB) {
	t.Helper()
	e.Stop(t)
	e.start(t)
}

// REST sends a JSON request and returns the status code and the body.
func (e *Env) REST(t testing.TB, method, path string, body any) (int, []byte) {
	t.Helper()
	return e.RESTAs(t, e.http, "", method, path, body)
}

// GRPCAddr is where the running replicad serves gRPC.
func (e *Env) GRPCAddr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.grpcAddr
}

// Dial opens a gRPC connection presenting tlsConf (nil: plaintext), closed
// at cleanup.
func (e *Env) Dial(t testing.TB, tlsConf *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := dial(e.grpcAddr, tlsConf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// HTTPClient is an HTTP client presenting tlsConf (nil: plaintext).
func HTTPClient(tlsConf *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}, Timeout: 30 * time.Second}
}

func dial(addr string, tlsConf *tls.Config) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if tlsConf != nil {
		creds = grpccreds.NewTLS(tlsConf)
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
}

// RESTAs sends a JSON request with client, and the bearer token when set.
func (e *Env) RESTAs(t testing.TB, client *http.Client, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case proto.Message:
		js, err := protojson.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.BaseURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// WaitOperation polls GetOperation until the operation is terminal.
func (e *Env) WaitOperation(t testing.TB, id string, timeout time.Duration) *replicadv1.Operation {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := e.Client.GetOperation(context.Background(), &replicadv1.GetOperationRequest{Id: id})
		if err != nil {
			t.Fatalf("GetOperation(%s): %v", id, err)
		}
		op := resp.GetOperation()
		if Terminal(op.GetState()) {
			return op
		}
		if time.Now().After(deadline) {
			t.Fatalf("operation %s still %s after %s: %v", id, op.GetState(), timeout, protojson.Format(op))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Terminal reports whether an operation state is final.
func Terminal(s replicadv1.OperationState) bool {
	switch s {
	case replicadv1.OperationState_OPERATION_STATE_SUCCEEDED, replicadv1.OperationState_OPERATION_STATE_FAILED,
		replicadv1.OperationState_OPERATION_STATE_CANCELLED:
		return true
	}
	return false
}

// SecretsManager returns an AWS SDK client for the endpoint in region.
func SecretsManager(endpoint, region string) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  Credentials,
	})
}

func randomKey(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// Buffer collects output written from several goroutines (a daemon's logs,
// a client's stdout) for a test to search.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
