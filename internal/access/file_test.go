package access_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/replicad/replicad/internal/access"
)

func TestParseRuleErrors(t *testing.T) {
	t.Parallel()
	const ok = `{name: ok, effect: allow, principals: [a], actions: [status], secrets: ["**"]}`
	tests := []struct {
		name      string
		rule      string
		wantRule  string
		wantIndex int
		wantField string
		wantText  string
	}{
		{"unknown action", `{name: r, effect: allow, principals: [a], actions: [status, replicat], secrets: [x]}`, "r", 2, "actions", `unknown action "replicat"`},
		{"bad effect", `{name: r, effect: permit, principals: [a], actions: [status], secrets: [x]}`, "r", 2, "effect", `"permit" is neither allow nor deny`},
		{"missing effect", `{name: r, principals: [a], actions: [status], secrets: [x]}`, "r", 2, "effect", "required"},
		{"empty rule", `{}`, "", 2, "", "empty rule"},
		{"null rule", `~`, "", 2, "", "empty rule"},
		{"no name", `{effect: allow, principals: [a], actions: [status], secrets: [x]}`, "", 2, "name", "required"},
		{"bad name", `{name: "my rule", effect: allow, principals: [a], actions: [status], secrets: [x]}`, "my rule", 2, "name", "may hold only"},
		{"duplicate name", `{name: ok, effect: deny, principals: [a], actions: [status], secrets: [x]}`, "ok", 2, "name", "duplicate name, already used by rule #1"},
		{"no subject", `{name: r, effect: allow, actions: [status], secrets: [x]}`, "r", 2, "principals", "principals or groups"},
		{"no actions", `{name: r, effect: allow, principals: [a], secrets: [x]}`, "r", 2, "actions", "required"},
		{"no secrets", `{name: r, effect: allow, principals: [a], actions: [status]}`, "r", 2, "secrets", "required"},
		{"triple star", `{name: r, effect: allow, principals: [a], actions: [status], secrets: ["prod/***"]}`, "r", 2, "secrets", `"***"`},
		{"empty pattern", `{name: r, effect: allow, principals: [a], actions: [status], secrets: [""]}`, "r", 2, "secrets", "empty pattern"},
		{"secret name character", `{name: r, effect: allow, principals: [a], actions: [status], secrets: ["prod/a b"]}`, "r", 2, "secrets", "not allowed"},
		{"not a Secrets Manager ARN", `{name: r, effect: allow, principals: [a], actions: [status], secrets: ["arn:aws:s3:::bucket/*"]}`, "r", 2, "secrets", "arn:PARTITION:secretsmanager"},
		{"bad ARN account", `{name: r, effect: allow, principals: [a], actions: [status], secrets: ["arn:aws:secretsmanager:*:12345678901x:secret:a"]}`, "r", 2, "secrets", "not allowed"},
		{"bad Region", `{name: r, effect: allow, principals: [a], actions: [status], secrets: [x], regions: [EU_WEST_1]}`, "r", 2, "regions", "not allowed"},
		{"principal with a tab", `{name: r, effect: allow, principals: ["alice\tsmith"], actions: [status], secrets: [x]}`, "r", 2, "principals", "not allowed"},
		{"principal with a trailing space", `{name: r, effect: allow, principals: ["alice "], actions: [status], secrets: [x]}`, "r", 2, "principals", "trailing space"},
		{"empty group", `{name: r, effect: allow, groups: [""], actions: [status], secrets: [x]}`, "r", 2, "groups", "empty pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := "version: 1\nrules:\n  - " + ok + "\n  - " + tt.rule + "\n"
			_, err := access.Parse([]byte(doc))
			if !errors.Is(err, access.ErrInvalidPolicy) {
				t.Fatalf("error %v, want ErrInvalidPolicy", err)
			}
			var re *access.RuleError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is no RuleError", err)
			}
			if re.Rule != tt.wantRule || re.Index != tt.wantIndex || re.Field != tt.wantField || !strings.Contains(re.Error(), tt.wantText) {
				t.Errorf("RuleError{%q #%d %q: %v}, want {%q #%d %q: ...%s...}", re.Rule, re.Index, re.Field, re.Err, tt.wantRule, tt.wantIndex, tt.wantField, tt.wantText)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := access.Parse([]byte(`
version: 1
rules:
  - {name: one, effect: maybe, principals: [a], actions: [fly], secrets: [x]}
  - {name: two, effect: allow, principals: [a], actions: [status], secrets: [x], regions: ["eu west"]}
`))
	msg := err.Error()
	for _, want := range []string{`rule "one" (#1): effect:`, `rule "one" (#1): actions: unknown action "fly"`, `rule "two" (#2): regions:`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

func TestParseDocumentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, want string
	}{
		{"empty file", "", "empty document"},
		{"comments only", "# nothing\n", "empty document"},
		{"no version", "rules: []\n", "version is 0"},
		{"future version", "version: 2\nrules: []\n", "version is 2"},
		{"no rules list", "version: 1\n", "no rules list"},
		{"unknown top-level field", "version: 1\nrules: []\nallow_all: true\n", "allow_all"},
		{"unknown rule field", "version: 1\nrules:\n  - {name: r, effect: allow, principals: [a], actions: [status], secrest: [x]}\n", "secrest"},
		{"duplicate key", "version: 1\nrules:\n  - {name: r, name: s, effect: allow, principals: [a], actions: [status], secrets: [x]}\n", "already defined"},
		{"wrong type", "version: 1\nrules:\n  - {name: r, effect: allow, principals: a, actions: [status], secrets: [x]}\n", "cannot unmarshal"},
		{"two documents", "version: 1\nrules: []\n---\nversion: 1\nrules: []\n", "more than one YAML document"},
		{"not YAML", "version: 1\nrules: [\n", "did not find expected"},
	}
	for _, tt := range tests {
		_, err := access.Parse([]byte(tt.doc))
		if !errors.Is(err, access.ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want ErrInvalidPolicy mentioning %q", tt.name, err, tt.want)
		}
	}
	// An explicit empty list denies everything.
	p, err := access.Parse([]byte("version: 1\nrules: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d := p.Decide(access.Request{Principal: "a", Action: "status", Secret: "x"}); d.Allowed {
		t.Error("empty policy allowed a request")
	}
}
