// Command devstack is `make run`: a complete local replicad with no cloud
// account. It starts PostgreSQL from the installed server binaries (data
// under .data/, kept between runs), the Secrets Manager stand-in with demo
// secrets, and bin/replicad in --insecure-dev mode, prints how to call it,
// and stops everything on Ctrl-C.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/replicad/replicad/internal/pgserver"
	"github.com/replicad/replicad/internal/standin"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run() error {
	dataDir := flag.String("data", ".data", "directory for the PostgreSQL cluster and dev keys")
	binary := flag.String("replicad", "bin/replicad", "the replicad binary to run")
	httpAddr := flag.String("http-addr", "127.0.0.1:8080", "replicad's REST address (make run HTTP_ADDR=...)")
	grpcAddr := flag.String("grpc-addr", "127.0.0.1:9090", "replicad's gRPC address (make run GRPC_ADDR=...)")
	standinAddr := flag.String("standin-addr", "127.0.0.1:4566", "address of the Secrets Manager stand-in (make run STANDIN_ADDR=...)")
	delay := flag.Duration("replication-delay", 2*time.Second, "how long the stand-in keeps new replicas InProgress")
	pgPort := flag.Int("pg-port", 0, "PostgreSQL port on 127.0.0.1 (0: a free one)")
	flag.Parse()

	// Every address is checked before anything starts: a port in use fails
	// at once, naming the port and the setting that moves it.
	ln, err := checkAddrs(map[string]string{"HTTP_ADDR": *httpAddr, "GRPC_ADDR": *grpcAddr}, "STANDIN_ADDR", *standinAddr)
	if err != nil {
		return err
	}
	defer func() { _ = ln.Close() }()

	// Ctrl-C reaches this process only: PostgreSQL and replicad run in
	// process groups of their own, and are stopped here in order
	// (replicad drains while the database is still up), so that an
	// interrupt ends everything cleanly and `make run` exits without an
	// error.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	log.Info("starting PostgreSQL", "data", filepath.Join(abs, "pg"))
	pg, err := pgserver.Start(ctx, pgserver.Options{
		DataDir: filepath.Join(abs, "pg", "data"), Port: *pgPort, Durable: true, InstallIfMissing: true,
	})
	if err != nil {
		return err
	}
	defer func() { _ = pg.Stop() }()
	dbURL, err := ensureDatabase(ctx, pg.URL, "replicad")
	if err != nil {
		return err
	}

	dataKey, err := ensureKey(filepath.Join(abs, "keys", "data.key"))
	if err != nil {
		return err
	}
	fpKey, err := ensureKey(filepath.Join(abs, "keys", "fingerprint.key"))
	if err != nil {
		return err
	}

	sm, err := standin.New(standin.Options{ReplicationDelay: *delay})
	if err != nil {
		return err
	}
	arns, err := sm.SeedDemo(ctx)
	if err != nil {
		return err
	}
	// A few dozen more in two accounts, so the inventory has a fleet to show.
	fleet, err := sm.SeedFleetDemo(ctx)
	if err != nil {
		return err
	}
	accountsFile, err := writeAccounts(filepath.Join(abs, "accounts.yaml"), sm.Account())
	if err != nil {
		return err
	}
	smCtx, stopStandin := context.WithCancel(context.WithoutCancel(ctx))
	defer stopStandin()
	smDone := make(chan error, 1)
	go func() { smDone <- sm.Serve(smCtx, ln) }()
	log.Info("Secrets Manager stand-in serving", "endpoint", "http://"+ln.Addr().String(), "demo_secrets", arns,
		"fleet_secrets", len(fleet), "accounts", 2)

	cmd := exec.Command(*binary,
		"--insecure-dev",
		"--http-addr", *httpAddr,
		"--grpc-addr", *grpcAddr,
		"--database-url", dbURL,
		"--aws-endpoint", "http://"+ln.Addr().String(),
		"--default-region", standin.DemoRegion,
		"--data-key-file", dataKey,
		"--fingerprint-key-file", fpKey,
		"--accounts-file", accountsFile,
		"--inventory-interval", "1m",
	)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Env = append(os.Environ(),
		// The stand-in accepts any signature; the SDK's default chain just
		// needs something to sign with, and no metadata service lookups.
		"AWS_ACCESS_KEY_ID=devstack", "AWS_SECRET_ACCESS_KEY=devstack", "AWS_REGION="+standin.DemoRegion,
		"AWS_EC2_METADATA_DISABLED=true",
	)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s (run `make build` first): %w", *binary, err)
	}
	// exited is closed when replicad has exited, with waitErr set.
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	if err := waitReady(ctx, "http://"+*httpAddr+"/readyz", exited, &waitErr); err != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-exited
		if ctx.Err() != nil {
			return nil // interrupted during start-up: not a failure
		}
		return err
	}
	fmt.Print(banner(*httpAddr, *grpcAddr))

	var runErr error
	select {
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		// replicad drains and exits 0 on SIGTERM: anything else is news.
		<-exited
		if waitErr != nil {
			runErr = fmt.Errorf("replicad stopped: %w", waitErr)
		}
	case <-exited:
		runErr = fmt.Errorf("replicad exited: %v", waitErr)
	}
	stopStandin()
	if err := <-smDone; err != nil && runErr == nil {
		runErr = err
	}
	if runErr == nil {
		log.Info("stopped; data stays in " + *dataDir)
	}
	return runErr
}

// checkAddrs fails, naming the address and its setting, when one is taken.
// It keeps the stand-in's listener open, for the stand-in to serve on.
func checkAddrs(replicad map[string]string, standinSetting, standinAddr string) (net.Listener, error) {
	for setting, addr := range replicad {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("%s is not free for replicad (%v): pick another, e.g. make run %s=127.0.0.1:%d",
				addr, err, setting, freePortNear(addr))
		}
		_ = l.Close()
	}
	ln, err := net.Listen("tcp", standinAddr)
	if err != nil {
		return nil, fmt.Errorf("%s is not free for the Secrets Manager stand-in (%v): pick another, e.g. make run %s=127.0.0.1:%d",
			standinAddr, err, standinSetting, freePortNear(standinAddr))
	}
	return ln, nil
}

// freePortNear suggests a free port after addr's.
func freePortNear(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	for candidate := port + 1; candidate < port+100 && candidate < 65536; candidate++ {
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(candidate))); err == nil {
			_ = l.Close()
			return candidate
		}
	}
	return port + 1
}

func banner(httpAddr, grpcAddr string) string {
	return strings.NewReplacer("127.0.0.1:8080", httpAddr, "127.0.0.1:9090", grpcAddr).Replace(bannerText)
}

const bannerText = `
replicad is running (gRPC 127.0.0.1:9090, REST http://127.0.0.1:8080), backed by a
local PostgreSQL and the Secrets Manager stand-in with demo secrets in us-east-1.

  # replicate a secret (names are percent-encoded in paths: / is %2F)
  curl -s -X POST 'http://127.0.0.1:8080/v1/secrets/prod%2Fdb%2Fprimary:replicate' \
       -d '{"regions": [{"region": "eu-west-3"}, {"region": "us-west-2", "kms_key_id": "alias/replica"}], "reason": "DR drill"}'
  # follow the operation (id from the answer above)
  curl -s 'http://127.0.0.1:8080/v1/operations/OPERATION_ID'
  # the secret's replication status, as DescribeSecret reports it
  curl -s 'http://127.0.0.1:8080/v1/secrets/prod%2Fdb%2Fprimary/replication'
  # the same over gRPC (server reflection is on)
  grpcurl -plaintext -d '{"secret_id": "prod/db/primary"}' 127.0.0.1:9090 replicad.v1.ReplicationService/Status
  # or with the command-line client, following progress live
  bin/replictl --server 127.0.0.1:9090 replicate prod/db/primary --region ap-southeast-5 --wait
  bin/replictl --server 127.0.0.1:9090 status prod/db/primary
  # the inventory: every secret of the two demo accounts, scanned in the background
  bin/replictl --server 127.0.0.1:9090 secrets list
  bin/replictl --server 127.0.0.1:9090 secrets list --replica-status failed
  curl -s 'http://127.0.0.1:8080/v1/secrets?tag=team%3Dpayments'

Ctrl-C stops everything; data stays in .data/.
`

// writeAccounts writes the accounts file: the stand-in's default account
// and its second demo account, each reached through an assumed role (the
// stand-in answers AssumeRole), in the demo fleet's Regions.
func writeAccounts(path, defaultAccount string) (string, error) {
	var b strings.Builder
	b.WriteString("# Written by make run: the stand-in's two demo accounts.\naccounts:\n")
	for _, a := range []string{defaultAccount, standin.DemoAccountB} {
		fmt.Fprintf(&b, "  - role_arn: arn:aws:iam::%s:role/replicad-demo\n    regions: [%s]\n", a, strings.Join(standin.DemoFleetRegions, ", "))
	}
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

func ensureDatabase(ctx context.Context, adminURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close(ctx) }()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", err
		}
	}
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name), nil
}

// ensureKey creates a random 32-byte key file on first use. The keys are
// development keys for this checkout only, and live under the ignored .data/.
func ensureKey(path string) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600)
}

func waitReady(ctx context.Context, url string, exited <-chan struct{}, waitErr *error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("replicad exited during start-up: %v", *waitErr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errors.New("replicad not ready after 60s")
}
