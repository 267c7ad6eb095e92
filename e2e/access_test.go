package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/authtest"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

// policyFor allows spiffe://test/app to replicate the secrets under prefix.
func policyFor(prefix string) string {
	return `version: 1
rules:
  - name: app-` + strings.ReplaceAll(strings.Trim(prefix, "/"), "/", "-") + `
    effect: allow
    principals: ["spiffe://test/app"]
    actions: [replicate, operations.read]
    secrets: ["` + prefix + `*"]
`
}

// writeAtomically replaces a file by rename, as configuration management
// and Kubernetes do.
func writeAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func securedFlags(pki *authtest.PKI, policyFile string) []string {
	return []string{"--tls-cert-file", pki.ServerCertFile, "--tls-key-file", pki.ServerKeyFile,
		"--client-ca-file", pki.CAFile, "--policy-file", policyFile, "--api-only"}
}

// The policy is reloaded on SIGHUP while requests flow: every request is
// decided by one whole policy (allowed or denied, never an error), a broken
// file is refused with the old policy kept, and the final policy rules.
func TestPolicyReloadUnderLoad(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	pki := authtest.NewPKI(t)
	policyFile := filepath.Join(pki.Dir, "policy.yaml")
	writeAtomically(t, policyFile, policyFor("team/a/"))
	p := c.startTLS(t, "replicad", pki.ClientTLS(t, "spiffe://test/app"), securedFlags(pki, policyFile)...)

	var allowedA, allowedB, deniedN atomic.Int64
	var unexpected atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				team := []string{"team/a/s", "team/b/s"}[(w+i)%2]
				_, err := p.client.Replicate(context.Background(), &replicadv1.ReplicateRequest{SecretId: team, Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}})
				switch status.Code(err) {
				case codes.OK:
					if team == "team/a/s" {
						allowedA.Add(1)
					} else {
						allowedB.Add(1)
					}
				case codes.PermissionDenied:
					deniedN.Add(1)
				default:
					unexpected.Store(err.Error())
				}
			}
		}()
	}
	// hup writes content and sends SIGHUP, then waits until the process
	// has logged the outcome of that signal's reload: a new line holding
	// every one of done (a reload logs the digest of the file it read). A
	// fixed pause instead let a loaded machine fall behind: a phase's
	// policy could be overwritten before any reload read it, and the broken
	// file be read before the last good one, which then never ruled. Each
	// phase waits for its own signal, so none is pending (and coalesced
	// with the next) when the next is sent.
	logged := func(done []string) int {
		n := 0
		for _, l := range p.logs.lines(done[0]) {
			if !slices.ContainsFunc(done[1:], func(s string) bool { return !strings.Contains(l, s) }) {
				n++
			}
		}
		return n
	}
	hup := func(content string, done ...string) {
		t.Helper()
		before := logged(done)
		writeAtomically(t, policyFile, content)
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for logged(done) == before {
			if time.Now().After(deadline) {
				t.Fatalf("no line with %q logged within 30 s of SIGHUP; logs:\n%s", done, tail(p.logs.String(), 4000))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	reloaded := func(content string) []string {
		sum := sha256.Sum256([]byte(content))
		return []string{"SIGHUP: authorization policy reloaded", `"digest":"` + hex.EncodeToString(sum[:]) + `"`}
	}
	// ruled waits until a request for team is allowed after its policy was
	// put in force: every policy rules some requests while they flow.
	ruled := func(team string, allowed *atomic.Int64) {
		t.Helper()
		before := allowed.Load()
		deadline := time.Now().Add(30 * time.Second)
		for allowed.Load() == before {
			if time.Now().After(deadline) {
				t.Fatalf("no request for %s allowed within 30 s of its policy's reload", team)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for i := range 10 {
		next, team, allowed := policyFor("team/b/"), "team/b", &allowedB
		if i%2 == 1 {
			next, team, allowed = policyFor("team/a/"), "team/a", &allowedA
		}
		hup(next, reloaded(next)...)
		ruled(team, allowed)
	}
	// A broken file is refused; team/b (the last good policy) stays.
	hup(policyFor("team/b/"), reloaded(policyFor("team/b/"))...)
	hup("version: 1\nrules:\n  - name: broken\n    effect: perhaps\n", "SIGHUP: policy reload refused")
	close(stop)
	wg.Wait()
	if u := unexpected.Load(); u != nil {
		t.Fatalf("a request failed with something other than OK or PermissionDenied: %v", u)
	}
	if allowedA.Load() == 0 || allowedB.Load() == 0 || deniedN.Load() == 0 {
		t.Errorf("both policies should have ruled at some point: a=%d b=%d denied=%d", allowedA.Load(), allowedB.Load(), deniedN.Load())
	}
	ctx := context.Background()
	if _, err := p.client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "team/b/final", Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}}); err != nil {
		t.Errorf("after the broken file, the last good policy must rule: %v", err)
	}
	if _, err := p.client.Replicate(ctx, &replicadv1.ReplicateRequest{SecretId: "team/a/final", Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("after the broken file, team/a must be denied: %v", err)
	}
	if len(p.logs.lines("reload refused")) == 0 {
		t.Error("the refused reload was not logged")
	}
}

// Dropping a CA from the client bundle (and SIGHUP) cuts off its clients,
// even on a connection opened before the change.
func TestClientCARevocation(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	pki := authtest.NewPKI(t)
	policyFile := filepath.Join(pki.Dir, "policy.yaml")
	writeAtomically(t, policyFile, policyFor("team/a/"))
	p := c.startTLS(t, "replicad", pki.ClientTLS(t, "spiffe://test/app"), securedFlags(pki, policyFile)...)
	ctx := context.Background()
	req := &replicadv1.ReplicateRequest{SecretId: "team/a/s", Regions: []*replicadv1.ReplicaRegion{{Region: "eu-west-1"}}}
	if _, err := p.client.Replicate(ctx, req); err != nil {
		t.Fatalf("before revocation: %v", err)
	}
	other := authtest.NewPKI(t)
	caPEM, err := os.ReadFile(other.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomically(t, pki.CAFile, string(caPEM))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := p.client.Replicate(ctx, req) // the connection opened before
		if status.Code(err) == codes.Unauthenticated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after revocation the old connection still gets %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Without authentication the server starts only in --insecure-dev mode, and
// that mode only on loopback.
func TestRefusesToStartUnauthenticated(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	base := []string{"--database-url", c.dbURL, "--data-key-file", c.dataKey, "--fingerprint-key-file", c.fpKey}
	for _, args := range [][]string{
		{"--grpc-addr", "0.0.0.0:0", "--http-addr", "127.0.0.1:0"},
		{"--insecure-dev", "--grpc-addr", "0.0.0.0:0", "--http-addr", "127.0.0.1:0"},
		{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"},
	} {
		cmd := exec.Command(filepath.Join(binDir, "replicad"), append(base, args...)...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("replicad %v started", args)
			continue
		}
		if !strings.Contains(string(out), "insecure-dev") {
			t.Errorf("replicad %v: the refusal should say how to run locally: %s", args, out)
		}
	}
}
