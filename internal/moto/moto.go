// Package moto starts the moto AWS emulator (moto_server) for tests that
// must check behaviour against it, such as the conformance suite that runs
// the same Secrets Manager scenarios against moto and against the
// stand-in (package smtest).
//
// Each Start launches its own moto_server on a free loopback port and stops
// it when the test ends. A test that starts moto is in the slow tier
// (testtier.Slow): moto_server is a second process, a Python interpreter
// whose start-up alone costs a CPU-second or two and whose every call costs
// far more than the stand-in's, so under -short the test is skipped and the
// same scenarios run against the in-process stand-in; make test runs both.
// Tests that share one server must keep their resources apart (unique
// names) or Reset it between uses.
package moto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/testtier"
)

// Command is the executable Start runs.
const Command = "moto_server"

// startTimeout bounds how long moto may take to answer after it is
// launched when the test has no deadline of its own. A cold Python start
// takes one to three seconds on an idle machine, but 50 s and more on two
// cores at load 35 while other test binaries start their own moto: the
// bound is a hang detector, not a speed judgement.
const startTimeout = 5 * time.Minute

// deadlineMargin is left of the test binary's deadline (go test -timeout)
// so that a moto that never answers fails the test with its output rather
// than the binary panicking on the timeout.
const deadlineMargin = 15 * time.Second

// Server is a running moto_server.
type Server struct {
	// URL is the endpoint to give the SDK as BaseEndpoint, e.g.
	// http://127.0.0.1:40123.
	URL string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	out  *syncBuffer   // moto's output, shown if it fails
}

// Start launches moto_server for this test and stops it at cleanup. If
// moto_server is not on PATH the test is skipped, unless the environment
// variable CI is "true": in CI a missing moto is a broken image, and a skip
// would hide that the conformance suite did not run.
func Start(tb testing.TB) *Server {
	tb.Helper()
	path, err := exec.LookPath(Command)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("moto: %s not found on PATH, and CI=true: %v", Command, err)
		}
		tb.Skipf("moto: %s not found on PATH: %v", Command, err)
	}
	// After the PATH check, so that a CI image without moto fails even
	// under -short.
	testtier.Slow(tb)
	limit := time.Now().Add(startTimeout)
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			limit = dl.Add(-deadlineMargin)
		}
	}
	// Picking a free port then releasing it races with other processes: a
	// moto that lost its port exits, and a second attempt on a new port
	// covers the rare loss. A moto that is still starting is waited for, not
	// replaced: a new one would start cold again, as slowly.
	var errs []error
	for range 3 {
		s, err := start(path, limit)
		if errors.Is(err, errExited) {
			errs = append(errs, err)
			continue
		}
		if err == nil {
			tb.Cleanup(func() {
				if err := s.stop(); err != nil {
					tb.Logf("moto: stop: %v", err)
				}
			})
			return s
		}
		errs = append(errs, err)
		break
	}
	tb.Fatalf("moto: %v", errors.Join(errs...))
	return nil
}

// errExited: moto_server ended before answering (its port taken, say).
var errExited = errors.New("moto_server exited before answering")

func start(path string, limit time.Time) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	out := &syncBuffer{}
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so stop reaches whatever the launcher started
	// (a pyenv shim may sit between us and Python).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Wait also waits for the output copy; bound it in case a grandchild
	// keeps the pipe open after the group was signalled.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, done: make(chan struct{}), out: out}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	ctx, cancel := context.WithDeadline(context.Background(), limit)
	defer cancel()
	if err := s.waitReady(ctx); err != nil {
		_ = s.stop()
		return nil, fmt.Errorf("%w; output:\n%s", err, out.String())
	}
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls moto's own API until it answers. A request is not cut
// short: moto may be slow to answer its first one (under load, seconds),
// and one that is listening is progressing; ctx bounds the whole wait.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/data.json", nil)
		if err != nil {
			return fmt.Errorf("wait for moto: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
		}
		select {
		case <-s.done:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("moto_server did not answer at %s: %w", s.URL, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Reset deletes everything moto holds, in every service and Region.
func (s *Server) Reset(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/moto-api/reset", nil)
	if err != nil {
		return fmt.Errorf("moto reset: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("moto reset: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("moto reset: status %s", resp.Status)
	}
	return nil
}

// Output returns what moto has printed so far, for diagnosing a failure.
func (s *Server) Output() string { return s.out.String() }

// stop asks moto's process group to end, and kills it if it has not within
// five seconds.
func (s *Server) stop() error {
	pgid := s.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal moto: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(5 * time.Second):
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill moto: %w", err)
	}
	<-s.done
	return nil
}

// syncBuffer collects moto's output; the process writes it from its own
// goroutines while a test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
