package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a binary under test, run as its own OS process so that what is
// measured (throughput, RSS, profiles) is the real thing, not a test
// harness around it.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	exited  chan struct{}
	exitErr error
}

func startProcess(name, bin string, args, env []string, logPath string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Pdeathsig: a benchmark killed mid-run takes its processes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &process{name: name, cmd: cmd, logPath: logPath, logFile: logFile, exited: make(chan struct{})}
	return p, p.start()
}

func (p *process) start() error {
	if err := p.cmd.Start(); err != nil {
		_ = p.logFile.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		_ = p.logFile.Close()
		close(p.exited)
	}()
	return nil
}

// Stop sends SIGTERM and waits for the process to exit, killing it after
// timeout. A process that already died is an error: the figures taken
// while it ran are suspect.
func (p *process) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s had exited on its own (%v); see %s%s", p.name, p.exitErr, p.logPath, p.logTail())
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, timeout)
	}
}

// Alive reports an error if the process has exited.
func (p *process) Alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited (%v); see %s%s", p.name, p.exitErr, p.logPath, p.logTail())
	default:
		return nil
	}
}

// logTail is the end of the process's log, for an error about its exit:
// the log lives in the run's work directory, which is removed when the run
// ends.
func (p *process) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil || len(b) == 0 {
		return ""
	}
	const max = 1500
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return ":\n" + string(b)
}

// PeakRSS is the process's peak resident set size so far (VmHWM), in bytes.
func (p *process) PeakRSS() (int64, error) { return procStatusKiB(p.cmd.Process.Pid, "VmHWM") }

// RSS is the current resident set size (VmRSS), in bytes.
func (p *process) RSS() (int64, error) { return procStatusKiB(p.cmd.Process.Pid, "VmRSS") }

func procStatusKiB(pid int, field string) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s %q: %w", field, value, err)
		}
		return kib * 1024, nil
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// freeAddr returns a loopback address with a port free at the time of the
// call and never handed out before by this stack.
func (s *Stack) freeAddr() (string, error) {
	s.portsMu.Lock()
	defer s.portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("find a free port: %w", err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		if s.ports[addr] {
			continue
		}
		if s.ports == nil {
			s.ports = map[string]bool{}
		}
		s.ports[addr] = true
		return addr, nil
	}
	return "", errors.New("find a free port: 100 tries gave ports already handed out")
}

// waitFor polls check until it succeeds, the process exits, or timeout.
func waitFor(ctx context.Context, p *process, timeout time.Duration, check func(ctx context.Context) error) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		if aliveErr := p.Alive(); aliveErr != nil {
			return aliveErr
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil {
				// The run's own deadline, not this process's: say so.
				return errors.Join(fmt.Errorf("%s not ready after %s: %w", p.name, time.Since(start).Round(time.Millisecond), parent.Err()), err)
			}
			return errors.Join(fmt.Errorf("%s not ready after %s", p.name, timeout), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
