// Package pgserver starts a private PostgreSQL server from the installed
// server binaries, for tests, benchmarks and `make run`. PostgreSQL refuses
// to run as root, so when the caller is root the server runs as the
// `postgres` system user. Nothing here is used by the replicad service.
package pgserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure Start. The zero value starts a throwaway server in a new
// temporary directory with durability off (fine for tests, not for data).
type Options struct {
	// DataDir holds the cluster. An existing cluster there is reused. Empty:
	// a temporary directory removed by Stop.
	DataDir string
	// Port to listen on at 127.0.0.1. Zero picks a free one.
	Port int
	// Durable keeps fsync and synchronous_commit on (benchmarks, make run).
	// Default off: tests need speed, not crash safety of the test cluster.
	Durable bool
	// Settings are extra `-c name=value` server settings.
	Settings map[string]string
	// InstallIfMissing runs `apt-get install -y postgresql` when no server
	// binaries are found and the caller is root.
	InstallIfMissing bool
	// Log receives the server's own log. Nil: a file in the data directory.
	Log *os.File
	// InitCache, if set, is a directory keeping a pristine initdb'd cluster
	// per set of server binaries: a new cluster is copied from it instead
	// of running initdb, which costs more than the rest of a start together.
	// Tests set it, since every test binary starts its own server.
	InitCache string
	// TempRoot is where the temporary data directory is made when DataDir
	// is empty. Empty: os.TempDir().
	TempRoot string
}

// Server is a running PostgreSQL server.
type Server struct {
	// URL connects as the superuser to the `postgres` database.
	URL     string
	Port    int
	dataDir string
	temp    string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the server process has exited; waitErr then holds why
	waitErr error
}

// Start initialises (if needed) and starts a server, returning once it
// accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := BinDir(ctx, opts.InstallIfMissing)
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	s := &Server{dataDir: opts.DataDir, exited: make(chan struct{})}
	if s.dataDir == "" {
		s.temp, err = os.MkdirTemp(opts.TempRoot, "replicad-pg-")
		if err != nil {
			return nil, fmt.Errorf("temp dir: %w", err)
		}
		s.dataDir = filepath.Join(s.temp, "data")
	}
	if err := prepareDir(filepath.Dir(s.dataDir), cred); err != nil {
		return nil, s.fail(err)
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if opts.InitCache == "" {
			err = initdb(ctx, bin, s.dataDir, cred)
		} else {
			err = initFromCache(ctx, opts.InitCache, bin, s.dataDir, cred)
		}
		if err != nil {
			return nil, s.fail(err)
		}
	}
	s.Port = opts.Port
	if s.Port == 0 {
		if s.Port, err = freePort(); err != nil {
			return nil, s.fail(err)
		}
	}
	// Clear a stale pid file left by a killed server (make run after a crash).
	_ = os.Remove(filepath.Join(s.dataDir, "postmaster.pid"))

	args := []string{"-D", s.dataDir, "-p", strconv.Itoa(s.Port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + filepath.Dir(s.dataDir),
		"-c", "max_connections=300",
		"-c", "shared_buffers=128MB",
	}
	if !opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	keys := make([]string, 0, len(opts.Settings))
	for k := range opts.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+opts.Settings[k])
	}
	logFile := opts.Log
	if logFile == nil {
		logFile, err = os.OpenFile(filepath.Join(filepath.Dir(s.dataDir), "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, s.fail(fmt.Errorf("server log: %w", err))
		}
	}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Pdeathsig: a test binary killed mid-run takes its server with it.
	// Setpgid: a Ctrl-C at the terminal (make run) reaches the program that
	// started the server, not the server, which is stopped last, after
	// the processes using it (Stop).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, s.fail(fmt.Errorf("start postgres: %w", err))
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()

	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.Port)
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("%w (server log: %s)", err, filepath.Join(filepath.Dir(s.dataDir), "postgres.log"))
	}
	return s, nil
}

// Stop shuts the server down (fast shutdown) and removes a temporary data
// directory.
func (s *Server) Stop() error {
	var err error
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			err = fmt.Errorf("postgres did not stop within 20s: %w", s.waitErr)
		}
	}
	if s.temp != "" {
		if rmErr := os.RemoveAll(s.temp); rmErr != nil && err == nil {
			err = rmErr
		}
	}
	return err
}

func (s *Server) fail(err error) error {
	if s.temp != "" {
		_ = os.RemoveAll(s.temp)
	}
	return err
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.URL)
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited during start-up: %w", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// BinDir finds the PostgreSQL server binaries: $PG_BINDIR, else the newest
// /usr/lib/postgresql/*/bin holding initdb.
func BinDir(ctx context.Context, installIfMissing bool) (string, error) {
	if dir := os.Getenv("PG_BINDIR"); dir != "" {
		return dir, nil
	}
	find := func() string {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		sort.Slice(matches, func(i, j int) bool { return pgMajor(matches[i]) > pgMajor(matches[j]) })
		if len(matches) == 0 {
			return ""
		}
		return filepath.Dir(matches[0])
	}
	if dir := find(); dir != "" {
		return dir, nil
	}
	if installIfMissing && os.Geteuid() == 0 {
		cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "postgresql")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get install postgresql: %w: %s", err, lastLines(out))
		}
		if dir := find(); dir != "" {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BINDIR)")
}

func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// runAs returns the credential to run PostgreSQL with: the postgres user when
// we are root, nil (ourselves) otherwise.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs a postgres user to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func prepareDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if cred == nil {
		return nil
	}
	// The server user must own its directory and be able to reach it.
	if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", dir, err)
	}
	for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		info, err := os.Stat(d)
		if err != nil {
			return err
		}
		if info.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, info.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("make %s traversable for postgres: %w", d, err)
			}
		}
	}
	return nil
}

func initdb(ctx context.Context, bin, dataDir string, cred *syscall.Credential) error {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", dataDir, "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, lastLines(out))
	}
	return nil
}

// initFromCache copies the cache's cluster for bin into dataDir, making it
// first if the cache has none. Concurrent callers (test binaries run in
// parallel) may each make one; the first rename wins and the others
// discard theirs, so a reader never sees a half-made cluster.
func initFromCache(ctx context.Context, cacheDir, bin, dataDir string, cred *syscall.Credential) error {
	key, err := binariesKey(bin)
	if err != nil {
		return err
	}
	cached := filepath.Join(cacheDir, key)
	if _, err := os.Stat(filepath.Join(cached, "data", "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := prepareDir(cacheDir, cred); err != nil {
			return err
		}
		tmp, err := os.MkdirTemp(cacheDir, key+".tmp-")
		if err != nil {
			return fmt.Errorf("init cache: %w", err)
		}
		defer func() { _ = os.RemoveAll(tmp) }()
		if err := prepareDir(tmp, cred); err != nil {
			return err
		}
		if err := initdb(ctx, bin, filepath.Join(tmp, "data"), cred); err != nil {
			return err
		}
		if err := os.Rename(tmp, cached); err != nil {
			if _, statErr := os.Stat(filepath.Join(cached, "data", "PG_VERSION")); statErr != nil {
				return fmt.Errorf("init cache: %w", err)
			}
		}
	} else if err != nil {
		return fmt.Errorf("init cache: %w", err)
	}
	// cp -a keeps the owner (the postgres user when we are root) and the
	// 0700 mode PostgreSQL insists on.
	if out, err := exec.CommandContext(ctx, "cp", "-a", filepath.Join(cached, "data"), dataDir).CombinedOutput(); err != nil {
		return fmt.Errorf("copy cached cluster: %w: %s", err, lastLines(out))
	}
	return nil
}

// binariesKey names the cluster initdb in bin makes: a cluster belongs to
// its major version, and an upgraded package changes the binary's size or
// time.
func binariesKey(bin string) (string, error) {
	info, err := os.Stat(filepath.Join(bin, "postgres"))
	if err != nil {
		return "", fmt.Errorf("init cache: %w", err)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%d|%d", bin, info.Size(), info.ModTime().UnixNano()))
	return "initdb-" + hex.EncodeToString(sum[:8]), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(out []byte) string {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return string(bytes.Join(lines, []byte(" | ")))
}
