package replictl_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/replicad/replicad/internal/authtest"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/replictl"
)

// operations approve is the second person of a two-person approval; the
// requester's own approval is refused.
func TestOperationsApprove(t *testing.T) {
	t.Parallel()
	pki := authtest.NewPKI(t)
	issuer := authtest.NewIssuer(t, pki.Dir, "https://idp.test", "replicad")
	policyFile := filepath.Join(pki.Dir, "policy.yaml")
	policy := `version: 1
rules:
  - {name: ops, effect: allow, groups: [ops], actions: ["*"], secrets: ["**"]}
approvals:
  - {name: promote-app, actions: [promote], secrets: ["app/**"], approvers: [ops]}
`
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startTLS(t, pki, func(c *daemon.Config) {
		c.InsecureDev = false
		c.TLSCertFile, c.TLSKeyFile, c.ClientCAFile = pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile
		c.JWKSFile, c.JWTIssuer, c.JWTAudience = issuer.JWKSFile, issuer.Issuer, issuer.Audience
		c.PolicyFile = policyFile
	})
	name := f.seed(t, "app/approve")
	as := func(principal string, args ...string) result {
		env := map[string]string{"REPLICTL_CA_FILE": pki.CAFile, "REPLICTL_TOKEN": issuer.Token(t, principal, []string{"ops"}, nil)}
		return runWith(t, replictl.IO{Getenv: func(k string) string { return env[k] }}, append(args, "--server", f.env.GRPCAddr())...)
	}
	r := as("alice", "promote", name, "--region", "eu-west-1", "-o", "json")
	var op struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &op); r.code != replictl.ExitOK || err != nil || op.State != "OPERATION_STATE_AWAITING_APPROVAL" {
		t.Fatalf("promote: exit %d %q %q (%v)", r.code, r.stdout, r.stderr, err)
	}
	if r := as("alice", "operations", "approve", op.ID); r.code == replictl.ExitOK || !strings.Contains(r.stderr, "cannot approve their own") {
		t.Errorf("self-approval: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := as("bob", "operations", "approve", op.ID); r.code != replictl.ExitOK || !strings.Contains(r.stdout, "approved") {
		t.Errorf("approval: exit %d, stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}
