package access_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/access"
	"github.com/replicad/replicad/internal/testtier"
)

// policyA and policyB are mirror images, so that a decision made with a mix
// of the two would stand out: each rule name carries its policy's letter,
// and the multi-Region request is allowed by one rule in A but, in B,
// allowed in one Region and denied in the other by two different rules.
const policyA = `version: 1
rules:
  - {name: a-allow-team-a, effect: allow, principals: [alice], actions: [replicate], secrets: ["team/a/**"], regions: [eu-west-1, us-east-1]}
  - {name: a-deny-team-b, effect: deny, principals: [alice], actions: [replicate], secrets: ["team/b/**"]}
  - {name: a-status, effect: allow, principals: [alice], actions: [status], secrets: ["**"]}
`

const policyB = `version: 1
rules:
  - {name: b-allow-team-b, effect: allow, principals: [alice], actions: [replicate], secrets: ["team/b/**"], regions: [eu-west-1, us-east-1]}
  - {name: b-allow-team-a-eu, effect: allow, principals: [alice], actions: [replicate], secrets: ["team/a/**"], regions: [eu-west-1]}
  - {name: b-deny-team-a-us, effect: deny, principals: [alice], actions: [replicate], secrets: ["team/a/**"], regions: [us-east-1]}
`

var brokenPolicies = []string{
	"version: 1\nrules:\n  - {name: x, effect: allow, principals: [alice], actions: [replicate], secrets: [",          // truncated YAML
	"version: 1\nrules:\n  - {name: x, effect: allow, principals: [alice], actions: [teleport], secrets: [\"**\"]}\n", // unknown action
	"version: 1\nrules:\n  - {name: x, effect: allow, principals: [alice], actions: [replicate], secrets: [\"**\"], typo: 1}\n",
	"",
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func newStore(t *testing.T, doc string, opts access.StoreOptions) (*access.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, doc)
	s, err := access.NewStore(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

var loadRequests = []access.Request{
	{Principal: "alice", Action: "replicate", Secret: "team/a/db", Regions: []string{"eu-west-1", "us-east-1"}},
	{Principal: "alice", Action: "replicate", Secret: "team/b/db", Regions: []string{"eu-west-1"}},
	{Principal: "alice", Action: "status", Secret: "team/c/db"},
	{Principal: "alice", Action: "replicate", Secret: "team/a/db", Regions: []string{"us-east-1", "eu-west-1"}},
}

func TestStoreReloadUnderLoad(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	refA, refB := mustParse(t, policyA), mustParse(t, policyB)
	// The two policies must disagree on every request, or the check below
	// could not tell them apart.
	for _, req := range loadRequests {
		a, b := refA.Explain(req), refB.Explain(req)
		if a.Decision.Allowed == b.Decision.Allowed && a.Decision.Rule == b.Decision.Rule {
			t.Fatalf("policies A and B agree on %+v", req)
		}
	}
	want := map[string]*access.Policy{refA.Digest(): refA, refB.Digest(): refB}
	letter := map[string]string{refA.Digest(): "a-", refB.Digest(): "b-"}

	s, path := newStore(t, policyA, access.StoreOptions{PollInterval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var watchErrs atomic.Int32
	var wg sync.WaitGroup
	// The poller races the explicit Reloads below.
	wg.Go(func() { s.Watch(ctx, func(error) { watchErrs.Add(1) }) })

	var decisions [2]atomic.Int64 // per policy
	done := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				req := loadRequests[(g+i)%len(loadRequests)]
				ex := s.Explain(req)
				d := ex.Decision
				ref, ok := want[d.Policy]
				if !ok {
					t.Errorf("decision by unknown policy %s", d.Policy)
					return
				}
				if exp := ref.Decide(req); d.Allowed != exp.Allowed || d.Rule != exp.Rule || d.Region != exp.Region || d.Reason != exp.Reason {
					t.Errorf("%+v: got %+v, the whole policy says %+v", req, d, exp)
					return
				}
				for _, re := range ex.Regions {
					for _, m := range re.Matched {
						if !strings.HasPrefix(m.Name, letter[d.Policy]) {
							t.Errorf("decision by policy %s matched rule %q of the other policy", letter[d.Policy], m.Name)
							return
						}
					}
				}
				if d.Policy == refA.Digest() {
					decisions[0].Add(1)
				} else {
					decisions[1].Add(1)
				}
			}
		})
	}

	rng := rand.New(rand.NewPCG(1, 2))
	last := refA
	for i := range 300 {
		switch n := rng.IntN(10); {
		case n < 2:
			writeFile(t, path, brokenPolicies[i%len(brokenPolicies)])
			if err := s.Reload(); !errors.Is(err, access.ErrInvalidPolicy) {
				t.Errorf("Reload of a broken policy: %v", err)
			}
			if got := s.Policy(); got.Digest() != last.Digest() {
				t.Errorf("broken policy replaced the one in force")
			}
		default:
			next := refA
			doc := policyA
			if n%2 == 1 {
				next, doc = refB, policyB
			}
			writeFile(t, path, doc)
			if err := s.Reload(); err != nil {
				t.Errorf("Reload: %v", err)
			}
			last = next
		}
		if i%50 == 0 {
			time.Sleep(2 * time.Millisecond) // let the poller see some states
		}
	}
	close(done)
	cancel()
	wg.Wait()
	if s.Policy().Digest() != last.Digest() {
		t.Error("the last valid policy written is not in force")
	}
	if decisions[0].Load() == 0 || decisions[1].Load() == 0 {
		t.Errorf("decisions per policy: A %d, B %d; want both exercised", decisions[0].Load(), decisions[1].Load())
	}
	t.Logf("decisions: A %d, B %d; Watch errors %d", decisions[0].Load(), decisions[1].Load(), watchErrs.Load())
}

func TestStoreRefusesBrokenFile(t *testing.T) {
	t.Parallel()
	s, path := newStore(t, policyA, access.StoreOptions{})
	before := s.Policy()
	for _, doc := range brokenPolicies {
		writeFile(t, path, doc)
		err := s.Reload()
		if !errors.Is(err, access.ErrInvalidPolicy) || !strings.Contains(err.Error(), path) {
			t.Errorf("Reload(%.30q) = %v, want ErrInvalidPolicy naming the file", doc, err)
		}
		if s.Policy() != before {
			t.Error("the policy in force changed")
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); !errors.Is(err, os.ErrNotExist) || s.Policy() != before {
		t.Errorf("Reload of a missing file: %v", err)
	}
	if _, err := access.NewStore(path, access.StoreOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewStore without a file: %v", err)
	}
	writeFile(t, path, brokenPolicies[1])
	if _, err := access.NewStore(path, access.StoreOptions{}); !errors.Is(err, access.ErrInvalidPolicy) {
		t.Errorf("NewStore with a broken file: %v", err)
	}
}

// watchedStore runs Watch for the test, collecting reported errors.
func watchedStore(t *testing.T, path string) (*access.Store, <-chan error) {
	t.Helper()
	s, err := access.NewStore(path, access.StoreOptions{PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 100)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { s.Watch(ctx, func(err error) { errs <- err }) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return s, errs
}

func waitForPolicy(t *testing.T, s *access.Store, want *access.Policy) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Policy().Digest() != want.Digest() {
		if time.Now().After(deadline) {
			t.Fatal("policy not reloaded within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStoreWatch(t *testing.T) {
	t.Parallel()
	refA, refB := mustParse(t, policyA), mustParse(t, policyB)
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, policyA)
	s, errs := watchedStore(t, path)

	// An editor's write-to-temporary-and-rename.
	writeFile(t, path, policyB)
	waitForPolicy(t, s, refB)

	// An in-place rewrite.
	if err := os.WriteFile(path, []byte(policyA), 0o600); err != nil {
		t.Fatal(err)
	}
	waitForPolicy(t, s, refA)

	// A broken file is reported once, and the policy stays.
	writeFile(t, path, brokenPolicies[1])
	select {
	case err := <-errs:
		if !errors.Is(err, access.ErrInvalidPolicy) {
			t.Errorf("onError(%v)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("broken policy not reported")
	}
	time.Sleep(100 * time.Millisecond) // ten more polls
	if n := len(errs); n != 0 {
		t.Errorf("the same broken file was reported %d more times", n)
	}
	if s.Policy().Digest() != refA.Digest() {
		t.Error("broken policy replaced the one in force")
	}
	// Fixing it puts the new policy in force.
	writeFile(t, path, policyB)
	waitForPolicy(t, s, refB)
}

// TestStoreWatchConfigMap swaps the policy the way the kubelet updates a
// ConfigMap volume: the file is a symlink through "..data", itself a
// symlink to a timestamped directory, and an update renames a new "..data"
// link over the old one.
func TestStoreWatchConfigMap(t *testing.T) {
	t.Parallel()
	refA, refB := mustParse(t, policyA), mustParse(t, policyB)
	dir := t.TempDir()
	publish := func(generation int, doc string) {
		t.Helper()
		ts := fmt.Sprintf("..2025_01_01_00_00_%02d.%d", generation, generation)
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ts, "policy.yaml"), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		old, _ := os.Readlink(filepath.Join(dir, "..data"))
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		if old != "" {
			if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(1, policyA)
	path := filepath.Join(dir, "policy.yaml")
	if err := os.Symlink(filepath.Join("..data", "policy.yaml"), path); err != nil {
		t.Fatal(err)
	}
	s, _ := watchedStore(t, path)
	if s.Policy().Digest() != refA.Digest() {
		t.Fatal("initial policy not loaded through the symlinks")
	}
	publish(2, policyB)
	waitForPolicy(t, s, refB)
	publish(3, policyA)
	waitForPolicy(t, s, refA)
}
