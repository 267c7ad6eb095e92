package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/internal/pgserver"
)

// StackOptions configure StartStack.
type StackOptions struct {
	// ModuleRoot is the replicad checkout the binaries are built from.
	ModuleRoot string
	// Durable runs PostgreSQL with fsync and synchronous_commit on, as a
	// benchmark must; tests of the harness itself may turn it off.
	Durable bool
	// Settings are extra PostgreSQL settings (e.g. pg_stat_statements for
	// a diagnosis); make bench uses none.
	Settings map[string]string
	// Progress receives one line per step (nil: discarded).
	Progress io.Writer
}

// Stack is what every case runs against: one PostgreSQL server, with the
// same settings for every measurement, and freshly built binaries.
type Stack struct {
	PG      *pgserver.Server
	Durable bool
	// postmaster is the PostgreSQL server's pid, for its CPU time.
	postmaster int
	binDir     string
	workDir    string
	dataKey    []byte
	keyFile    string
	fpFile     string
	progress   io.Writer
	progressMu sync.Mutex
	// templateReady: templateDB exists and is migrated.
	templateReady bool
	templateMu    sync.Mutex
	// ports handed out by freeAddr: the kernel may hand a port it just
	// freed to the next ask, and the paced cases start their processes
	// side by side, so two of them could be given one port. One that
	// lost it to a stand-in would then be answered by the other case's
	// stand-in and run against it (case 9 once did).
	ports   map[string]bool
	portsMu sync.Mutex
}

// StartStack builds replicad and sm-standin and starts PostgreSQL.
func StartStack(ctx context.Context, opts StackOptions) (s *Stack, err error) {
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	work, err := os.MkdirTemp("", "replicad-bench-")
	if err != nil {
		return nil, err
	}
	s = &Stack{workDir: work, binDir: filepath.Join(work, "bin"), Durable: opts.Durable, progress: progress}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.dataKey, s.keyFile, err = writeKey(work, "data.key"); err != nil {
		return nil, err
	}
	if _, s.fpFile, err = writeKey(work, "fingerprint.key"); err != nil {
		return nil, err
	}
	// The build and PostgreSQL's start-up are both set-up and need nothing
	// of each other: side by side.
	fmt.Fprintln(progress, "building replicad and sm-standin; starting PostgreSQL", "durable:", opts.Durable)
	built := make(chan error, 1)
	go func() {
		build := exec.CommandContext(ctx, "go", "build", "-o", s.binDir+"/", "./cmd/replicad", "./cmd/sm-standin")
		build.Dir = opts.ModuleRoot
		if out, err := build.CombinedOutput(); err != nil {
			built <- fmt.Errorf("go build: %w: %s", err, out)
			return
		}
		built <- nil
	}()
	s.PG, err = pgserver.Start(ctx, pgserver.Options{Durable: opts.Durable, Settings: opts.Settings})
	if buildErr := <-built; buildErr != nil {
		return nil, buildErr
	}
	if err != nil {
		return nil, err
	}
	s.postmaster = findPostmaster(s.PG.Port)
	return s, nil
}

// Close stops PostgreSQL and removes the working directory.
func (s *Stack) Close() {
	if s.PG != nil {
		_ = s.PG.Stop()
	}
	_ = os.RemoveAll(s.workDir)
}

func (s *Stack) logf(format string, args ...any) {
	s.progressMu.Lock()
	defer s.progressMu.Unlock()
	fmt.Fprintf(s.progress, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func writeKey(dir, name string) ([]byte, string, error) {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(k)), 0o600); err != nil {
		return nil, "", err
	}
	return k, p, nil
}

// templateDB is the database every NewDatabase copies: migrated once per
// run, so that a case's fresh database does not pay for the migrations
// again (about 2 s each on a loaded machine, some 25 times in a full run).
const templateDB = "bench_template"

// NewDatabase (re)creates a database on the server holding replicad's
// schema (and River's) and no rows, and returns its URL: each case starts
// from an empty schema, on the same server. It is a copy of a template
// migrated once (CREATE DATABASE ... TEMPLATE), the same schema migrating
// it afresh would give.
func (s *Stack) NewDatabase(ctx context.Context, name string) (string, error) {
	if err := s.ensureTemplate(ctx); err != nil {
		return "", err
	}
	return s.createDatabase(ctx, name, templateDB)
}

// ensureTemplate creates and migrates the template database the first time
// it is called; cases running side by side may call it together.
func (s *Stack) ensureTemplate(ctx context.Context) error {
	s.templateMu.Lock()
	defer s.templateMu.Unlock()
	if s.templateReady {
		return nil
	}
	url, err := s.createDatabase(ctx, templateDB, "")
	if err != nil {
		return err
	}
	if err := migrate(ctx, url); err != nil {
		return fmt.Errorf("migrate the template database: %w", err)
	}
	s.templateReady = true
	return nil
}

// NewEmptyDatabase (re)creates a database with no schema at all (River's
// baseline migrates its own).
func (s *Stack) NewEmptyDatabase(ctx context.Context, name string) (string, error) {
	return s.createDatabase(ctx, name, "")
}

func (s *Stack) createDatabase(ctx context.Context, name, template string) (string, error) {
	conn, err := pgx.Connect(ctx, s.PG.URL)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close(ctx) }()
	id := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+id+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop database %s: %w", name, err)
	}
	create := "CREATE DATABASE " + id
	if template != "" {
		create += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	// A copy needs the template to have no session: the migration's pool
	// has closed its connections, but their backends may take a moment to
	// exit (object_in_use).
	for attempt := 1; ; attempt++ {
		_, err := conn.Exec(ctx, create)
		var pgErr *pgconn.PgError
		if err == nil {
			break
		}
		if attempt == 50 || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.PG.Port, name), nil
}

// Settings reads the server settings that matter for the figures.
func (s *Stack) Settings(ctx context.Context) (map[string]string, error) {
	conn, err := pgx.Connect(ctx, s.PG.URL)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close(ctx) }()
	out := map[string]string{}
	var version string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		return nil, err
	}
	out["version"] = version
	rows, err := conn.Query(ctx, `SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name = ANY($1) ORDER BY name`,
		[]string{"fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "shared_buffers", "max_connections",
			"wal_level", "commit_delay", "checkpoint_timeout", "max_wal_size", "work_mem", "effective_io_concurrency", "autovacuum",
			"shared_preload_libraries"})
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, err
		}
		out[name] = value
	}
	return out, rows.Err()
}

// Replicad is a running replicad process.
type Replicad struct {
	*process
	GRPCAddr  string
	HTTPAddr  string
	PprofAddr string
}

// ReplicadOptions configure StartReplicad.
type ReplicadOptions struct {
	Name        string
	DatabaseURL string
	AWSEndpoint string
	// Flags are added to the fixed ones (--insecure-dev, addresses, keys,
	// --default-region us-east-1, --drain-timeout 5s).
	Flags []string
	// Pprof serves net/http/pprof on a loopback port.
	Pprof bool
}

// StartReplicad runs bin/replicad and waits until /readyz answers 200.
//
// Its ports are found free just before it starts, so another process may
// take one first (make test runs many at once): replicad then exits at once
// naming the address, and is started again on new ports.
func (s *Stack) StartReplicad(ctx context.Context, o ReplicadOptions) (*Replicad, error) {
	return startOnFreePorts(s, o.Name, func() (*Replicad, error) { return s.startReplicad(ctx, o) })
}

// startOnFreePorts runs start, which starts a process on ports freeAddr
// found, up to three times while the process exits because another took
// one of them in between.
func startOnFreePorts[T any](s *Stack, name string, start func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		p, err := start()
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			return p, err
		}
		s.logf("  %s: a port was taken meanwhile; starting it again on others", name)
	}
}

func (s *Stack) startReplicad(ctx context.Context, o ReplicadOptions) (*Replicad, error) {
	r := &Replicad{}
	var err error
	if r.GRPCAddr, err = s.freeAddr(); err != nil {
		return nil, err
	}
	if r.HTTPAddr, err = s.freeAddr(); err != nil {
		return nil, err
	}
	args := []string{
		"--insecure-dev",
		"--grpc-addr", r.GRPCAddr, "--http-addr", r.HTTPAddr,
		"--database-url", o.DatabaseURL,
		"--aws-endpoint", o.AWSEndpoint,
		"--default-region", "us-east-1",
		"--data-key-file", s.keyFile, "--fingerprint-key-file", s.fpFile,
		"--audit-export-dir", filepath.Join(s.workDir, "audit-export"),
		"--drain-timeout", "5s",
	}
	if o.Pprof {
		if r.PprofAddr, err = s.freeAddr(); err != nil {
			return nil, err
		}
		args = append(args, "--pprof-addr", r.PprofAddr)
	}
	args = append(args, o.Flags...)
	env := []string{"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_EC2_METADATA_DISABLED=true"}
	r.process, err = startProcess(o.Name, filepath.Join(s.binDir, "replicad"), args, env, filepath.Join(s.workDir, o.Name+".log"))
	if err != nil {
		return nil, err
	}
	err = waitFor(ctx, r.process, 60*time.Second, func(ctx context.Context) error {
		return httpOK(ctx, "http://"+r.HTTPAddr+"/readyz")
	})
	if err != nil {
		_ = r.Stop(5 * time.Second)
		return nil, err
	}
	return r, nil
}

// Standin is a running sm-standin process.
type Standin struct {
	*process
	URL string
}

// StartStandin runs bin/sm-standin with flags (besides --addr) and waits
// until it answers. A port taken meanwhile (by another process's outgoing
// connection: freeAddr never hands one out twice) makes it exit at once
// naming the address, and it is started again on another.
func (s *Stack) StartStandin(ctx context.Context, name string, flags ...string) (*Standin, error) {
	return startOnFreePorts(s, name, func() (*Standin, error) { return s.startStandin(ctx, name, flags...) })
}

func (s *Stack) startStandin(ctx context.Context, name string, flags ...string) (*Standin, error) {
	addr, err := s.freeAddr()
	if err != nil {
		return nil, err
	}
	sm := &Standin{URL: "http://" + addr}
	args := append([]string{"--addr", addr, "--log-level", "warn"}, flags...)
	sm.process, err = startProcess(name, filepath.Join(s.binDir, "sm-standin"), args, nil, filepath.Join(s.workDir, name+".log"))
	if err != nil {
		return nil, err
	}
	err = waitFor(ctx, sm.process, 30*time.Second, func(ctx context.Context) error {
		return httpOK(ctx, sm.URL+"/_standin/healthz")
	})
	if err != nil {
		_ = sm.Stop(5 * time.Second)
		return nil, err
	}
	return sm, nil
}

func httpOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	_, err = do(req)
	return err
}

// do sends a request and returns the body of a 200 answer; any other
// status is an error quoting the body.
func do(req *http.Request) ([]byte, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL, resp.Status, b)
	}
	return b, nil
}

// pool opens a small pool for the harness's own queries.
func pool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.RuntimeParams["application_name"] = "replicad-bench"
	return pgxpool.NewWithConfig(ctx, cfg)
}
