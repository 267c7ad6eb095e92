package access

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// PollIntervalDefault is StoreOptions.PollInterval's default.
const PollIntervalDefault = 2 * time.Second

// StoreOptions configures a Store. The zero value means defaults.
type StoreOptions struct {
	// PollInterval is how often Watch re-reads the file. Default
	// PollIntervalDefault.
	PollInterval time.Duration
}

// Store holds the policy in force and replaces it, whole and atomically,
// when its file changes. Every Decide sees exactly one policy: the
// pointer is loaded once per call, and policies are immutable.
//
// The file is watched by polling its contents, not with fsnotify: a policy
// file is small, and comparing contents sees every way a file gets
// replaced (in-place writes, editors' write-and-rename, Kubernetes
// ConfigMap volumes swapping their "..data" symlink, network filesystems
// where inotify is silent) with no watch to re-establish after a rename.
// Robustness matters more here than a second of latency.
//
// Signals are left to the caller, who has other things to reload on
// SIGHUP too (certificates, keys): call Reload from its handler.
type Store struct {
	path     string
	interval time.Duration
	current  atomic.Pointer[Policy]

	mu      sync.Mutex // serialises reloads
	seen    []byte     // the file contents last acted on, good or bad
	lastErr string     // last error Watch reported, to report each once
}

// NewStore loads the policy at path; it fails if the file is missing or
// invalid, so a server does not start without a policy.
func NewStore(path string, opts StoreOptions) (*Store, error) {
	s := &Store{path: path, interval: opts.PollInterval}
	if s.interval <= 0 {
		s.interval = PollIntervalDefault
	}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Policy returns the policy in force.
func (s *Store) Policy() *Policy { return s.current.Load() }

// Decide answers req with the policy in force (see Policy.Decide).
func (s *Store) Decide(req Request) Decision { return s.current.Load().Decide(req) }

// Explain explains req with the policy in force (see Policy.Explain).
func (s *Store) Explain(req Request) Explanation { return s.current.Load().Explain(req) }

// Reload reads and parses the file now and, if it is valid, puts it in
// force. If not, the policy in force stays and the error says what is
// wrong, for the caller to log.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	return s.applyLocked(data)
}

func (s *Store) applyLocked(data []byte) error {
	s.seen = data
	p, err := Parse(data)
	if err != nil {
		return fmt.Errorf("policy %s: %w", s.path, err)
	}
	s.current.Store(p)
	return nil
}

// Watch re-reads the file every PollInterval until ctx is done, and
// reloads when its contents change. A change is applied only once it has
// stayed the same for a short while, so a file being written in place is
// not read half-written (writers should still replace the file by rename,
// which is atomic). Each distinct failure is reported to onError once
// (onError may be nil); the policy in force stays.
func (s *Store) Watch(ctx context.Context, onError func(error)) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.reloadIfChanged(ctx)
		s.mu.Lock()
		report := err != nil && err.Error() != s.lastErr
		s.lastErr = ""
		if err != nil {
			s.lastErr = err.Error()
		}
		s.mu.Unlock()
		if report && onError != nil {
			onError(err)
		}
	}
}

func (s *Store) reloadIfChanged(ctx context.Context) error {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	s.mu.Lock()
	unchanged := bytes.Equal(data, s.seen)
	s.mu.Unlock()
	if unchanged {
		return nil
	}
	settle := time.NewTimer(min(s.interval/2, 500*time.Millisecond))
	defer settle.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-settle.C:
	}
	again, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if !bytes.Equal(again, data) {
		return nil // still being written: look again next time
	}
	// Read once more under the lock, as Reload does, so that of two
	// concurrent reloads the later never applies older contents.
	s.mu.Lock()
	defer s.mu.Unlock()
	now, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if !bytes.Equal(now, again) || bytes.Equal(now, s.seen) {
		return nil // changed again, or a concurrent Reload got there first
	}
	return s.applyLocked(now)
}
