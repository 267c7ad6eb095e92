package access_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/replicad/replicad/internal/access"
)

const decideYAML = `
version: 1
rules:
  - name: app-team
    effect: allow
    principals: [spiffe://corp/ns/app/sa/api]
    actions: [replicate, status]
    secrets: [prod/app/*]
    regions: [eu-west-1]
  - name: app-namespace-status
    effect: allow
    principals: ["spiffe://corp/ns/app/**"]
    actions: [status]
    secrets: ["prod/app/**"]
  - name: multi
    effect: allow
    principals: [multi]
    actions: [replicate]
    secrets: [shared/**]
    regions: [eu-west-1, eu-central-1, us-east-1]
  - name: restricted-not-us
    effect: deny
    principals: [multi]
    actions: [replicate]
    secrets: [shared/restricted/**]
    regions: [us-*]
  - name: ops
    effect: allow
    groups: [ops]
    actions: ["*"]
    secrets: ["**"]
  - name: ops-not-root
    effect: deny
    groups: [ops]
    actions: [replicate, promote]
    secrets: [prod/db/root]
  - name: lead-root-eu
    effect: allow
    principals: [ops-lead]
    actions: [replicate]
    secrets: [prod/db/root]
    regions: [eu-west-1]
  - name: arn-allow
    effect: allow
    principals: [arn-user]
    actions: [replicate]
    secrets: ["arn:aws:secretsmanager:*:123456789012:secret:prod/*"]
  - name: locked-in-us-east
    effect: deny
    principals: ["**"]
    actions: [remove]
    secrets: ["arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/locked"]
  - name: legacy-odd-name
    effect: deny
    groups: [ops]
    actions: [status]
    secrets: [legacy/key-abcdef]
`

const (
	api = "spiffe://corp/ns/app/sa/api"
	arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
)

func mustParse(t *testing.T, doc string) *access.Policy {
	t.Helper()
	p, err := access.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := mustParse(t, decideYAML)
	tests := []struct {
		name       string
		req        access.Request
		allowed    bool
		rule       string
		region     string // Decision.Region
		reasonPart string
	}{
		{name: "allowed in its Region",
			req:     access.Request{Principal: api, Action: "replicate", Secret: "prod/app/x", Regions: []string{"eu-west-1"}},
			allowed: true, rule: "app-team"},
		{name: "prod/app/* does not cover prod/db/x",
			req:  access.Request{Principal: api, Action: "replicate", Secret: "prod/db/x", Regions: []string{"eu-west-1"}},
			rule: "", region: "eu-west-1", reasonPart: "no rule allows"},
		{name: "allowed in eu-west-1, replicating to ap-south-1",
			req:  access.Request{Principal: api, Action: "replicate", Secret: "prod/app/x", Regions: []string{"ap-south-1"}},
			rule: "", region: "ap-south-1"},
		{name: "one Region of several not allowed",
			req:  access.Request{Principal: api, Action: "replicate", Secret: "prod/app/x", Regions: []string{"eu-west-1", "ap-south-1"}},
			rule: "", region: "ap-south-1"},
		{name: "* is one level",
			req:  access.Request{Principal: api, Action: "replicate", Secret: "prod/app/deep/x", Regions: []string{"eu-west-1"}},
			rule: "", region: "eu-west-1"},
		{name: "** is any depth",
			req:     access.Request{Principal: api, Action: "status", Secret: "prod/app/deep/x"},
			allowed: true, rule: "app-namespace-status"},
		{name: "principal pattern with **",
			req:     access.Request{Principal: "spiffe://corp/ns/app/sa/worker", Action: "status", Secret: "prod/app/x"},
			allowed: true, rule: "app-namespace-status"},
		{name: "principal pattern does not leak into another namespace",
			req:  access.Request{Principal: "spiffe://corp/ns/application/sa/api", Action: "status", Secret: "prod/app/x"},
			rule: ""},
		{name: "most specific allow is named",
			req:     access.Request{Principal: api, Action: "status", Secret: "prod/app/x"},
			allowed: true, rule: "app-team"},
		{name: "all three Regions allowed",
			req:     access.Request{Principal: "multi", Action: "replicate", Secret: "shared/a", Regions: []string{"eu-west-1", "eu-central-1", "us-east-1"}},
			allowed: true, rule: "multi"},
		{name: "a Region-scoped deny refuses the whole request",
			req:  access.Request{Principal: "multi", Action: "replicate", Secret: "shared/restricted/a", Regions: []string{"eu-west-1", "us-east-1"}},
			rule: "restricted-not-us", region: "us-east-1", reasonPart: `denied by rule "restricted-not-us" in us-east-1`},
		{name: "the same request without the denied Region",
			req:     access.Request{Principal: "multi", Action: "replicate", Secret: "shared/restricted/a", Regions: []string{"eu-west-1"}},
			allowed: true, rule: "multi"},
		{name: "deny overrides a group allow",
			req:  access.Request{Principal: "carol", Groups: []string{"dev", "ops"}, Action: "replicate", Secret: "prod/db/root", Regions: []string{"eu-west-1"}},
			rule: "ops-not-root", region: ""},
		{name: "deny overrides a more specific allow",
			req:  access.Request{Principal: "ops-lead", Groups: []string{"ops"}, Action: "replicate", Secret: "prod/db/root", Regions: []string{"eu-west-1"}},
			rule: "ops-not-root"},
		{name: "group allow",
			req:     access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "promote", Secret: "prod/db/other", Regions: []string{"sa-east-1"}},
			allowed: true, rule: "ops"},
		{name: "not in the group",
			req:  access.Request{Principal: "carol", Groups: []string{"dev"}, Action: "status", Secret: "prod/db/other"},
			rule: ""},
		{name: "ARN pattern allows a matching ARN",
			req:     access.Request{Principal: "arn-user", Action: "replicate", Secret: arn + "prod/x-AbCdEf", Regions: []string{"eu-west-1"}},
			allowed: true, rule: "arn-allow"},
		{name: "ARN pattern: another account",
			req:  access.Request{Principal: "arn-user", Action: "replicate", Secret: "arn:aws:secretsmanager:us-east-1:999999999999:secret:prod/x-AbCdEf", Regions: []string{"eu-west-1"}},
			rule: "", region: "eu-west-1"},
		{name: "ARN pattern: * in the name field is one level",
			req:  access.Request{Principal: "arn-user", Action: "replicate", Secret: arn + "prod/a/b-AbCdEf", Regions: []string{"eu-west-1"}},
			rule: "", region: "eu-west-1"},
		{name: "an ARN allow does not allow the bare name",
			req:  access.Request{Principal: "arn-user", Action: "replicate", Secret: "prod/x", Regions: []string{"eu-west-1"}},
			rule: "", region: "eu-west-1"},
		{name: "an ARN deny matches the bare name",
			req:  access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "remove", Secret: "prod/locked", Regions: []string{"eu-west-1"}},
			rule: "locked-in-us-east"},
		{name: "an ARN deny matches the full ARN, suffix and all",
			req:  access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "remove", Secret: arn + "prod/locked-AbCdEf", Regions: []string{"eu-west-1"}},
			rule: "locked-in-us-east"},
		{name: "an ARN deny for another Region's secret",
			req:     access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "remove", Secret: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/locked-AbCdEf", Regions: []string{"eu-west-2"}},
			allowed: true, rule: "ops"},
		{name: "name deny matches the ARN of that name",
			req:  access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "replicate", Secret: arn + "prod/db/root-AbCdEf", Regions: []string{"eu-west-1"}},
			rule: "ops-not-root"},
		{name: "name deny matches a suffix-less partial ARN",
			req:  access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "status", Secret: arn + "legacy/key-abcdef"},
			rule: "legacy-odd-name"},
		{name: "all secrets allowed by **",
			req:     access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "operations.read"},
			allowed: true, rule: "ops"},
		{name: "all secrets not allowed by a narrower pattern",
			req:  access.Request{Principal: api, Action: "status"},
			rule: "", reasonPart: "all secrets"},
		{name: "all secrets refused by any matching deny",
			req:  access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "replicate", Regions: []string{"eu-west-1"}},
			rule: "ops-not-root"},
		{name: "unknown action",
			req:  access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "delete", Secret: "prod/x"},
			rule: "", reasonPart: "unknown action"},
		{name: "no principal",
			req:  access.Request{Groups: []string{"ops"}, Action: "status", Secret: "prod/x"},
			rule: "", reasonPart: "no principal"},
		{name: "invalid Region",
			req:  access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "replicate", Secret: "prod/x", Regions: []string{"eu-west-1", ""}},
			rule: "", reasonPart: "invalid Region"},
		{name: "invalid secret id",
			req:  access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "status", Secret: "prod x"},
			rule: "", reasonPart: "invalid secret id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := p.Decide(tt.req)
			if d.Allowed != tt.allowed || d.Rule != tt.rule || d.Region != tt.region {
				t.Errorf("Decide = allowed %v, rule %q, region %q (%s); want %v, %q, %q",
					d.Allowed, d.Rule, d.Region, d.Reason, tt.allowed, tt.rule, tt.region)
			}
			if !strings.Contains(d.Reason, tt.reasonPart) {
				t.Errorf("Reason %q does not contain %q", d.Reason, tt.reasonPart)
			}
			if d.Policy != p.Digest() {
				t.Errorf("Policy %q, want %q", d.Policy, p.Digest())
			}
			if err := d.Err(); (err == nil) != tt.allowed || (err != nil && !errors.Is(err, access.ErrPermissionDenied)) {
				t.Errorf("Err() = %v", err)
			}
		})
	}
}

func TestSpecificityNamesTheRule(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `
version: 1
rules:
  - {name: broad-allow, effect: allow, principals: ["**"], actions: ["*"], secrets: ["prod/**"]}
  - {name: narrow-allow, effect: allow, principals: ["**"], actions: ["*"], secrets: ["prod/app/*"]}
  - {name: exact-principal-allow, effect: allow, principals: [alice], actions: ["*"], secrets: ["prod/app/*"]}
  - {name: region-allow, effect: allow, principals: [alice], actions: ["*"], secrets: ["prod/app/*"], regions: [eu-west-1]}
  - {name: broad-deny, effect: deny, principals: ["**"], actions: [remove], secrets: ["prod/**"]}
  - {name: narrow-deny, effect: deny, groups: [g], actions: [remove], secrets: ["prod/app/x"]}
  - {name: same-as-narrow-deny, effect: deny, groups: [g], actions: [remove], secrets: ["prod/app/x"]}
`)
	tests := []struct {
		req  access.Request
		rule string
	}{
		{access.Request{Principal: "bob", Action: "status", Secret: "prod/db/x"}, "broad-allow"},
		{access.Request{Principal: "bob", Action: "status", Secret: "prod/app/x"}, "narrow-allow"},
		{access.Request{Principal: "alice", Action: "status", Secret: "prod/app/x"}, "exact-principal-allow"},
		{access.Request{Principal: "alice", Action: "replicate", Secret: "prod/app/x", Regions: []string{"eu-west-1"}}, "region-allow"},
		{access.Request{Principal: "alice", Action: "replicate", Secret: "prod/app/x", Regions: []string{"us-east-1"}}, "exact-principal-allow"},
		{access.Request{Principal: "bob", Action: "remove", Secret: "prod/app/y", Regions: []string{"eu-west-1"}}, "broad-deny"},
		// The deny pinning the whole name beats the broad one, though the
		// broad one names the principal more precisely ("**" vs a group:
		// the secret counts first); of two equal ones the first in the file.
		{access.Request{Principal: "bob", Groups: []string{"g"}, Action: "remove", Secret: "prod/app/x", Regions: []string{"eu-west-1"}}, "narrow-deny"},
	}
	for _, tt := range tests {
		if d := p.Decide(tt.req); d.Rule != tt.rule {
			t.Errorf("%+v: rule %q (%s), want %q", tt.req, d.Rule, d.Reason, tt.rule)
		}
	}
}

func TestDeniedErrorRevealsNoPolicy(t *testing.T) {
	t.Parallel()
	p := mustParse(t, decideYAML)
	tests := []struct {
		req  access.Request
		want string
	}{
		{access.Request{Principal: api, Action: "replicate", Secret: "prod/app/x", Regions: []string{"eu-west-1", "ap-south-1"}},
			"permission denied: replicate on prod/app/x in ap-south-1"},
		{access.Request{Principal: "carol", Groups: []string{"ops"}, Action: "replicate", Secret: "prod/db/root", Regions: []string{"eu-west-1"}},
			"permission denied: replicate on prod/db/root"},
		{access.Request{Principal: api, Action: "operations.read"},
			"permission denied: operations.read on all secrets"},
	}
	for _, tt := range tests {
		d := p.Decide(tt.req)
		err := d.Err()
		if err == nil || err.Error() != tt.want {
			t.Errorf("Err() = %v, want %q", err, tt.want)
			continue
		}
		var denied *access.DeniedError
		if !errors.As(err, &denied) || denied.Action != tt.req.Action {
			t.Errorf("errors.As DeniedError: %#v", denied)
		}
		if d.Rule != "" && strings.Contains(err.Error(), d.Rule) {
			t.Errorf("caller's error %q names rule %q", err, d.Rule)
		}
	}
}

func TestExplain(t *testing.T) {
	t.Parallel()
	p := mustParse(t, decideYAML)
	ex := p.Explain(access.Request{Principal: "multi", Action: "replicate", Secret: "shared/restricted/a", Regions: []string{"eu-west-1", "us-east-1", "ap-south-1"}})
	if ex.Decision.Allowed || ex.Decision.Rule != "restricted-not-us" {
		t.Fatalf("decision %+v", ex.Decision)
	}
	want := []struct {
		allowed bool
		rule    string
		matched string
	}{
		{true, "multi", "allow multi"},
		{false, "restricted-not-us", "deny restricted-not-us, allow multi"},
		{false, "", ""},
	}
	if len(ex.Regions) != len(want) {
		t.Fatalf("%d Regions explained, want %d", len(ex.Regions), len(want))
	}
	for i, w := range want {
		re := ex.Regions[i]
		var matched []string
		for _, m := range re.Matched {
			matched = append(matched, m.Effect+" "+m.Name)
		}
		if re.Allowed != w.allowed || re.Rule != w.rule || strings.Join(matched, ", ") != w.matched {
			t.Errorf("Region %s: %+v, want %+v", re.Region, re, w)
		}
	}
	out := ex.String()
	for _, s := range []string{
		"DENIED: multi may not replicate shared/restricted/a in eu-west-1, us-east-1, ap-south-1",
		`us-east-1: denied by "restricted-not-us"`,
		`eu-west-1: allowed by "multi"`,
		"ap-south-1: denied by default",
		p.Digest(),
	} {
		if !strings.Contains(out, s) {
			t.Errorf("String() lacks %q:\n%s", s, out)
		}
	}
}

func TestExamplePolicy(t *testing.T) {
	t.Parallel()
	p, err := access.Load("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	payments := "spiffe://corp/ns/payments/sa/api"
	tests := []struct {
		req     access.Request
		allowed bool
		rule    string
	}{
		{access.Request{Principal: payments, Action: "replicate", Secret: "prod/payments/card-keys", Regions: []string{"eu-west-3"}}, true, "payments-api-eu"},
		{access.Request{Principal: payments, Action: "replicate", Secret: "prod/payments/card-keys", Regions: []string{"us-east-1"}}, false, ""},
		{access.Request{Principal: payments, Action: "promote", Secret: "prod/payments/card-keys", Regions: []string{"eu-west-3"}}, false, ""},
		{access.Request{Principal: "alice", Groups: []string{"payments-oncall"}, Action: "promote", Secret: "prod/payments/card-keys", Regions: []string{"us-east-1"}}, true, "payments-oncall"},
		{access.Request{Principal: "alice", Groups: []string{"payments-oncall"}, Action: "replicate", Secret: "prod/payments/root", Regions: []string{"eu-west-1"}}, false, "payments-root-stays-home"},
		{access.Request{Principal: "alice", Groups: []string{"payments-oncall"}, Action: "replicate", Secret: "prod/payments/card-keys", Regions: []string{"eu-west-1", "ap-south-1"}}, false, "no-ap-south"},
		{access.Request{Principal: "sam", Groups: []string{"sre"}, Action: "audit.read"}, true, "sre-read"},
		{access.Request{Principal: "sam", Groups: []string{"sre"}, Action: "operations.cancel", Secret: "prod/payments/x"}, false, ""},
	}
	for _, tt := range tests {
		if d := p.Decide(tt.req); d.Allowed != tt.allowed || d.Rule != tt.rule {
			t.Errorf("%+v: %v %q (%s), want %v %q", tt.req, d.Allowed, d.Rule, d.Reason, tt.allowed, tt.rule)
		}
	}
}

func TestPrincipalsWithSpaces(t *testing.T) {
	t.Parallel()
	p := mustParse(t, `
version: 1
rules:
  - {name: batch, effect: allow, principals: ["Legacy Batch Job"], groups: ["Payments On-Call"], actions: [status], secrets: ["**"]}
`)
	for _, req := range []access.Request{
		{Principal: "Legacy Batch Job", Action: "status", Secret: "x"},
		{Principal: "bob", Groups: []string{"Payments On-Call"}, Action: "status", Secret: "x"},
	} {
		if d := p.Decide(req); !d.Allowed {
			t.Errorf("%+v: %s", req, d.Reason)
		}
	}
}
