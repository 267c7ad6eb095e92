package access_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/access"
)

func TestApprovalFor(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("token-1"))
	p, err := access.Parse([]byte(`version: 1
rules: []
approvals:
  - {name: dr, actions: [promote, failover, failback], secrets: ["prod/**"], approvers: [dr-approvers, sre], expires_after: 30m,
     break_glass_sha256: [` + hex.EncodeToString(sum[:]) + `]}
  - {name: prune, actions: [prune], secrets: ["**"], approvers: [sre]}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		action, secret string
		want           string // rule, "" for none
	}{
		{"promote", "prod/db", "dr"},
		{"failover", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf", "dr"},
		{"promote", "dev/db", ""},
		{"replicate", "prod/db", ""},
		{"prune", "", "prune"},
		{"failback", "", ""}, // many secrets: only a "**" entry applies
	}
	for _, tt := range tests {
		a, ok := p.ApprovalFor(tt.action, tt.secret)
		if ok != (tt.want != "") || a.Rule != tt.want {
			t.Errorf("ApprovalFor(%s, %s) = %q %v, want %q", tt.action, tt.secret, a.Rule, ok, tt.want)
		}
	}
	a, _ := p.ApprovalFor("promote", "prod/db")
	if a.ExpiresAfter != 30*time.Minute || !a.MayApprove([]string{"x", "sre"}) || a.MayApprove([]string{"dr"}) {
		t.Errorf("approval %+v", a)
	}
	if !a.BreakGlass("token-1") || a.BreakGlass("token-2") || a.BreakGlass("") {
		t.Error("break-glass token check")
	}
	if b, _ := p.ApprovalFor("prune", ""); b.ExpiresAfter != access.ApprovalExpiryDefault || b.BreakGlass("token-1") {
		t.Errorf("defaults %+v", b)
	}
}

func TestApprovalParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ entry, want string }{
		{`{name: a, secrets: [x], approvers: [g]}`, "approvals.actions: required"},
		{`{name: a, actions: [Promote!], secrets: [x], approvers: [g]}`, "not an action name"},
		{`{name: a, actions: [promote], approvers: [g]}`, "approvals.secrets: required"},
		{`{name: a, actions: [promote], secrets: [x]}`, "approvals.approvers: required"},
		{`{name: a, actions: [promote], secrets: [x], approvers: ["g*"]}`, "exact names only"},
		{`{name: a, actions: [promote], secrets: [x], approvers: [g], expires_after: soon}`, "not a duration"},
		{`{name: a, actions: [promote], secrets: [x], approvers: [g], expires_after: 400h}`, "at most"},
		{`{name: a, actions: [promote], secrets: [x], approvers: [g], break_glass_sha256: [CANARY-plain-token]}`, "64 hex digits"},
		{`{actions: [promote], secrets: [x], approvers: [g]}`, "approvals.name: required"},
	}
	for _, tt := range tests {
		_, err := access.Parse([]byte("version: 1\nrules: []\napprovals:\n  - " + tt.entry + "\n"))
		if !errors.Is(err, access.ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.entry, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "CANARY") {
			t.Errorf("the error echoes a value: %v", err)
		}
	}
}
