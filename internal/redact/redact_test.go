package redact_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/cpucost"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/internal/testtier"
)

func newRedactor(t *testing.T) *redact.Redactor {
	t.Helper()
	r, err := redact.New([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMessageRedactsAnnotatedFields(t *testing.T) {
	t.Parallel()
	r := newRedactor(t)
	const (
		reasonCanary = "CANARY-reason-7f3e"
		labelCanary  = "CANARY-label-91ab"
		account      = "987654321098"
		secretAcct   = "112233445566"
	)
	req := &replicadv1.ReplicateRequest{
		SecretId: "arn:aws:secretsmanager:us-east-1:" + secretAcct + ":secret:prod/db-a1b2c3",
		Regions: []*replicadv1.ReplicaRegion{
			{Region: "eu-west-3", KmsKeyId: "arn:aws:kms:eu-west-3:" + account + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"},
			{Region: "us-west-2", KmsKeyId: "alias/replica"},
		},
		Reason: reasonCanary,
		Labels: map[string]string{"ticket": labelCanary},
	}
	original := proto.Clone(req)

	got := r.Message(req).(*replicadv1.ReplicateRequest)
	text := protojson.Format(got)
	for _, canary := range []string{reasonCanary, labelCanary, account, secretAcct} {
		if strings.Contains(text, canary) {
			t.Errorf("redacted message still contains %q:\n%s", canary, text)
		}
	}
	if !proto.Equal(req, original) {
		t.Error("Message modified its argument")
	}
	if got.GetReason() != r.Fingerprint(reasonCanary) {
		t.Errorf("reason = %q, want the fingerprint %q", got.GetReason(), r.Fingerprint(reasonCanary))
	}
	if got.GetLabels()["ticket"] != r.Fingerprint(labelCanary) {
		t.Errorf("label value = %q, want its fingerprint (keys kept)", got.GetLabels()["ticket"])
	}
	wantKMS := "arn:aws:kms:eu-west-3:" + r.Fingerprint(account) + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	if got.GetRegions()[0].GetKmsKeyId() != wantKMS {
		t.Errorf("kms key = %q, want %q", got.GetRegions()[0].GetKmsKeyId(), wantKMS)
	}
	if got.GetRegions()[1].GetKmsKeyId() != "alias/replica" {
		t.Errorf("an alias holds no account and must stay readable, got %q", got.GetRegions()[1].GetKmsKeyId())
	}
	if got.GetRegions()[0].GetRegion() != "eu-west-3" {
		t.Error("non-sensitive fields must stay as they are")
	}
}

func TestFingerprintIsKeyedAndStable(t *testing.T) {
	t.Parallel()
	a := newRedactor(t)
	again := newRedactor(t) // another process with the same key
	b, _ := redact.New([]byte(strings.Repeat("j", 32)))
	if a.Fingerprint("x") != again.Fingerprint("x") {
		t.Error("fingerprint must be stable across redactors with one key, for correlation")
	}
	if a.Fingerprint("x") == b.Fingerprint("x") {
		t.Error("fingerprint must depend on the key")
	}
	if a.Fingerprint("x") == a.Fingerprint("y") {
		t.Error("different values must have different fingerprints")
	}
	if _, err := redact.New([]byte("short")); err == nil {
		t.Error("a short key must be refused")
	}
}

func TestScrubberRemovesRequestValuesFromFreeText(t *testing.T) {
	t.Parallel()
	r := newRedactor(t)
	req := &replicadv1.PromoteRequest{SecretId: "prod/x", Region: "eu-west-1", Reason: "CANARY-secret-reason"}
	s := r.Scrubber(req)
	msg := s.String("AWS said: bad value CANARY-secret-reason for key arn:aws:kms:us-east-1:123456789012:key/abc")
	if strings.Contains(msg, "CANARY-secret-reason") || strings.Contains(msg, "123456789012") {
		t.Errorf("scrubbed text still leaks: %q", msg)
	}
	if !strings.Contains(msg, "AWS said: bad value") {
		t.Errorf("scrubbing must keep the rest of the text: %q", msg)
	}
}

// The account of an ARN is redacted whatever follows it: a resource, the
// end of the text (an ARN cut short after its account), or punctuation.
func TestARNAccountIsRedactedWhereverTheARNEnds(t *testing.T) {
	t.Parallel()
	r := newRedactor(t)
	const account = "565656565656"
	fp := r.Fingerprint(account)
	tests := []struct{ in, want string }{
		{"arn:aws:secretsmanager:us-east-1:" + account + ":secret:x-AbCdEf", "arn:aws:secretsmanager:us-east-1:" + fp + ":secret:x-AbCdEf"},
		{"arn:aws:secretsmanager:us-east-1:" + account, "arn:aws:secretsmanager:us-east-1:" + fp},
		{`id "arn:aws:secretsmanager:us-east-1:` + account + `" refused`, `id "arn:aws:secretsmanager:us-east-1:` + fp + `" refused`},
		{"arn:aws:iam::" + account + "/role", "arn:aws:iam::" + fp + "/role"},
		{"arn:aws:secretsmanager:us-east-1:" + account + "9", "arn:aws:secretsmanager:us-east-1:" + fp + "9"},
		{"account " + account + " alone is not an ARN", "account " + account + " alone is not an ARN"},
	}
	for _, tt := range tests {
		if got := r.Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	req := &replicadv1.StatusRequest{SecretId: "arn:aws:secretsmanager:us-east-1:" + account}
	if got := r.Message(req).(*replicadv1.StatusRequest).GetSecretId(); strings.Contains(got, account) {
		t.Errorf("Message left the account of a short ARN: %q", got)
	}
}

// Scrubbing costs time linear in the text and in the request: eight times
// the sensitive value costs at most about eight times as much, whether the
// value is longer than the text (nothing to search) or echoed in it.
// Repetitive values are the worst case of the Boyer-Moore tables
// strings.NewReplacer builds, which made this quadratic.
func TestScrubberCostIsLinear(t *testing.T) {
	testtier.Slow(t) // a CPU-cost measurement
	r := newRedactor(t)
	for _, tt := range []struct {
		name   string
		labels bool
		text   func(reason string) string
	}{
		{"reason alone, short text", false, func(string) string {
			return "authentication required: present a client certificate or a bearer token"
		}},
		{"reason and a label, short text", true, func(string) string { return "permission denied" }},
		{"reason echoed", false, func(reason string) string { return "AWS said: " + reason + " is not allowed" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			scrub := func(n int) func() {
				req := &replicadv1.ReplicateRequest{SecretId: "prod/x", Reason: strings.Repeat("a", n)}
				if tt.labels {
					req.Labels = map[string]string{"k": strings.Repeat("b", n/2)}
				}
				text := tt.text(req.Reason)
				return func() {
					if out := r.Scrubber(req).String(text); strings.Contains(out, req.Reason) {
						t.Fatal("the reason was not scrubbed")
					}
				}
			}
			const size = 8 << 10
			ratio := cpucost.Ratio(scrub(size), scrub(8*size))
			t.Logf("8x the value: %.1fx the CPU", ratio)
			if ratio > 10 {
				t.Errorf("8x the value costs %.1fx the CPU: scrubbing is not linear", ratio)
			}
		})
	}
}
