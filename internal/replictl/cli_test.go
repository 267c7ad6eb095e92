package replictl_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/authtest"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/replictl"
	"github.com/replicad/replicad/internal/testenv"
)

// opID finds the operation id replictl printed.
var opIDPattern = regexp.MustCompile(`operation ([0-9a-f-]{36})`)

func opID(t *testing.T, out string) string {
	t.Helper()
	m := opIDPattern.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no operation id in %q", out)
	}
	return m[1]
}

func describe(t *testing.T, f *fixture, name string) map[string]smtypes.ReplicationStatusType {
	t.Helper()
	sm := testenv.SecretsManager(f.endpoint, "us-east-1")
	out, err := sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]smtypes.ReplicationStatusType{}
	for _, r := range out.ReplicationStatus {
		got[aws.ToString(r.Region)] = r
	}
	return got
}

func TestReplicateWaitPlainLines(t *testing.T) {
	t.Parallel()
	f := startReplicating(t)
	name := f.seed(t, "app/plain")
	r := f.run(t, "replicate", name, "--region", "eu-west-3", "--region", "us-west-2:alias/replica-key", "--reason", "DR drill", "--wait")
	if r.code != replictl.ExitOK {
		t.Fatalf("exit %d, want 0", r.code)
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("escape sequences in output that is not a terminal: %q", r.stdout)
	}
	id := opID(t, r.stdout)
	for _, want := range []string{
		"operation " + id + " REPLICATE " + name + ": ",
		"eu-west-3 RUNNING InProgress",
		"eu-west-3 SUCCEEDED InSync",
		"us-west-2 SUCCEEDED InSync",
		"operation " + id + ": SUCCEEDED",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// One line per change: a Region's final state is not repeated on every poll.
	if n := strings.Count(r.stdout, "eu-west-3 SUCCEEDED"); n != 1 {
		t.Errorf("eu-west-3 SUCCEEDED printed %d times, want once", n)
	}
	replicas := describe(t, f, name)
	if len(replicas) != 2 || replicas["eu-west-3"].Status != smtypes.StatusTypeInSync ||
		aws.ToString(replicas["us-west-2"].KmsKeyId) != "alias/replica-key" {
		t.Errorf("stand-in replicas = %+v, want eu-west-3 and us-west-2 (alias/replica-key) InSync", replicas)
	}
}

func TestJSONOutput(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	name := f.seed(t, "app/json")
	decode := func(r result, m proto.Message) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("exit %d", r.code)
		}
		if err := protojson.Unmarshal([]byte(r.stdout), m); err != nil {
			t.Fatalf("stdout is not one %T: %v", m, err)
		}
	}
	var accepted replicadv1.Operation
	decode(f.run(t, "replicate", name, "--region", "eu-west-3", "-o", "json"), &accepted)
	if accepted.GetId() == "" || accepted.GetKind() != replicadv1.OperationKind_OPERATION_KIND_REPLICATE || accepted.GetRequestId() == "" {
		t.Errorf("accepted operation = %v", &accepted)
	}
	var final replicadv1.Operation
	decode(f.run(t, "operations", "get", accepted.GetId(), "--wait", "-o", "json"), &final)
	if final.GetState() != replicadv1.OperationState_OPERATION_STATE_SUCCEEDED || len(final.GetAwsCalls()) == 0 {
		t.Errorf("final operation = %v, want SUCCEEDED with its AWS calls", &final)
	}
	var st replicadv1.StatusResponse
	decode(f.run(t, "status", name, "-o", "json"), &st)
	if st.GetPrimaryRegion() != "us-east-1" || len(st.GetReplicas()) != 1 || st.GetReplicas()[0].GetRegion() != "eu-west-3" {
		t.Errorf("status = %v", &st)
	}
	var list replicadv1.ListOperationsResponse
	decode(f.run(t, "operations", "list", "--secret", name, "--state", "succeeded", "-o", "json"), &list)
	if len(list.GetOperations()) != 1 || list.GetOperations()[0].GetId() != accepted.GetId() {
		t.Errorf("list = %v, want the one operation", &list)
	}
	var events replicadv1.ListAuditEventsResponse
	decode(f.run(t, "audit", "list", "--operation", accepted.GetId(), "--method", "ReplicateSecretToRegions", "-o", "json"), &events)
	if len(events.GetEvents()) != 1 || events.GetEvents()[0].GetAwsRequestId() == "" {
		t.Errorf("audit events = %v, want the one ReplicateSecretToRegions call with its AWS request id", &events)
	}
	var verify replicadv1.VerifyAuditResponse
	decode(f.run(t, "audit", "verify", "-o", "json"), &verify)
	if !verify.GetOk() {
		t.Errorf("verify = %v", &verify)
	}
}

func TestTextOutput(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	name := f.seed(t, "app/text")
	requestID := uuid.NewString()
	r := f.run(t, "replicate", name, "--region", "eu-west-3", "--request-id", requestID)
	id := opID(t, r.stdout)
	if !strings.Contains(r.stdout, "request id "+requestID) || !strings.Contains(r.stdout, "replictl operations get "+id+" --wait") {
		t.Errorf("accept output does not say how to retry and follow: %q", r.stdout)
	}
	// The same request id and body is the same operation (AIP-155).
	if again := f.run(t, "replicate", name, "--region", "eu-west-3", "--request-id", requestID); opID(t, again.stdout) != id {
		t.Errorf("retry with the same request id made a new operation")
	}
	if r := f.run(t, "operations", "get", id, "--wait"); r.code != 0 {
		t.Fatalf("wait exit %d", r.code)
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"status", name}, []string{"primary region  us-east-1", "eu-west-3", "InSync", "recent operations:", id}},
		{[]string{"operations", "get", id}, []string{"state       SUCCEEDED", "ReplicateSecretToRegions", "eu-west-3"}},
		{[]string{"operations", "list", "--secret", name}, []string{"REPLICATE", "SUCCEEDED", id}},
		{[]string{"audit", "list", "--secret", name, "--method", "Replicate"}, []string{"PRINCIPAL", "anonymous", "Replicate ", id}},
		{[]string{"audit", "verify"}, []string{"audit chain OK", "--known-position"}},
	}
	for _, tt := range tests {
		r := f.run(t, tt.args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d", tt.args, r.code)
		}
		for _, w := range tt.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("%v: output lacks %q", tt.args, w)
			}
		}
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	name := f.seed(t, "app/exit")
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStderr string
	}{
		{"help", []string{"--help"}, replictl.ExitOK, ""},
		{"connection flags before the command", []string{"--server", f.env.GRPCAddr(), "-o", "json", "operations", "list"}, replictl.ExitOK, ""},
		{"no command", nil, replictl.ExitUsage, "no command"},
		{"unknown command", []string{"frobnicate"}, replictl.ExitUsage, "unknown command"},
		{"unknown subcommand", []string{"operations", "delete", "x"}, replictl.ExitUsage, "unknown subcommand"},
		{"unknown flag", []string{"status", name, "--colour"}, replictl.ExitUsage, "colour"},
		{"no region", []string{"replicate", name}, replictl.ExitUsage, "--region"},
		{"two secrets", []string{"status", name, "other"}, replictl.ExitUsage, "want one SECRET"},
		{"bad output format", []string{"status", name, "-o", "yaml"}, replictl.ExitUsage, "want text or json"},
		{"bad region shorthand", []string{"replicate", name, "--region", ":alias/k"}, replictl.ExitUsage, "REGION:KMS_KEY"},
		{"bad state", []string{"operations", "list", "--state", "done"}, replictl.ExitUsage, "--state"},
		{"server says invalid", []string{"replicate", name, "--region", "Mars-1", "--region", "eu-west-3:not a key"}, replictl.ExitUsage, "INVALID_ARGUMENT"},
		{"field violations shown", []string{"replicate", name, "--region", "Mars-1"}, replictl.ExitUsage, "regions[0].region"},
		{"unreachable", []string{"status", name, "--server", closed}, replictl.ExitUnreachable, "cannot reach replicad at " + closed},
		{"not found", []string{"operations", "get", uuid.NewString()}, replictl.ExitError, "NOT_FOUND"},
		{"failed operation", []string{"replicate", "app/does-not-exist", "--region", "eu-west-3", "--wait"}, replictl.ExitOperationFailed, "ended FAILED: NOT_FOUND"},
		{"token in clear text", []string{"status", name, "--server", "192.0.2.1:9090", "--token", "t"}, replictl.ExitUsage, "clear text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if len(args) > 0 && args[0] != "--help" && !slices.Contains(args, "--server") {
				args = append(args, "--server", f.env.GRPCAddr())
			}
			r := runWith(t, replictl.IO{}, args...)
			if r.code != tt.want {
				t.Errorf("exit %d, want %d", r.code, tt.want)
			}
			if !strings.Contains(r.stderr, tt.wantStderr) {
				t.Errorf("stderr lacks %q", tt.wantStderr)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	// API only: nothing executes, so the operation stays PENDING until
	// cancelled.
	f := start(t, func(c *daemon.Config) { c.Engine.Queue.InsertOnly = true })
	name := f.seed(t, "app/cancel")
	id := opID(t, f.run(t, "replicate", name, "--region", "eu-west-3").stdout)
	if r := f.run(t, "operations", "cancel", id, "--reason", "wrong ticket"); r.code != 0 || !strings.Contains(r.stdout, "CANCELLED") {
		t.Fatalf("cancel: exit %d, %q", r.code, r.stdout)
	}
	r := f.run(t, "operations", "get", id, "--wait")
	if r.code != replictl.ExitOperationFailed || !strings.Contains(r.stderr, "ended CANCELLED") {
		t.Errorf("waiting on a cancelled operation: exit %d, stderr %q; want 1 and ended CANCELLED", r.code, r.stderr)
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	pki := authtest.NewPKI(t)
	issuer := authtest.NewIssuer(t, pki.Dir, "https://idp.test", "replicad")
	policyFile := filepath.Join(pki.Dir, "policy.yaml")
	policy := "version: 1\nrules:\n  - name: readers\n    effect: allow\n    principals: [\"spiffe://test/cli\", reader]\n    actions: [status]\n    secrets: [\"**\"]\n"
	if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startTLS(t, pki, func(c *daemon.Config) {
		c.InsecureDev = false
		c.TLSCertFile, c.TLSKeyFile, c.ClientCAFile = pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile
		c.JWKSFile, c.JWTIssuer, c.JWTAudience = issuer.JWKSFile, issuer.Issuer, issuer.Audience
		c.PolicyFile = policyFile
	})
	name := f.seed(t, "app/creds")
	certFile, keyFile := pki.ClientCertFiles(t, "spiffe://test/cli")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(issuer.Token(t, "reader", nil, nil)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want int
	}{
		{"client certificate", []string{"--ca-file", pki.CAFile, "--cert-file", certFile, "--key-file", keyFile}, nil, replictl.ExitOK},
		{"token file", []string{"--ca-file", pki.CAFile, "--token-file", tokenFile}, nil, replictl.ExitOK},
		{"environment", nil, map[string]string{"REPLICTL_CA_FILE": pki.CAFile, "REPLICTL_TOKEN": issuer.Token(t, "reader", nil, nil)}, replictl.ExitOK},
		{"no credentials", []string{"--ca-file", pki.CAFile}, nil, replictl.ExitError},
		{"plaintext to a TLS server", nil, nil, replictl.ExitUnreachable},
		{"certificate without key", []string{"--ca-file", pki.CAFile, "--cert-file", certFile}, nil, replictl.ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"status", name, "--server", f.env.GRPCAddr(), "--timeout", "5s"}, tt.args...)
			r := runWith(t, replictl.IO{Getenv: func(k string) string { return tt.env[k] }}, args...)
			if r.code != tt.want {
				t.Errorf("exit %d, want %d", r.code, tt.want)
			}
		})
	}
}

// Bearer tokens, reasons and label values never appear in what replictl
// prints: not in usage text (flag defaults), not in flag errors, not in
// server errors.
func TestSensitiveValuesNeverPrinted(t *testing.T) {
	t.Parallel()
	f := start(t, nil)
	name := f.seed(t, "app/canary")
	env := map[string]string{"REPLICTL_TOKEN": "CANARY-token-env"}
	getenv := func(k string) string { return env[k] }
	runs := [][]string{
		{"replicate", "--help"},
		{"replicate", name, "--region", "eu-west-3", "--label", "CANARY-label-nokey", "--server", f.env.GRPCAddr()},
		{"replicate", name, "--region", "eu-west-3", "--label", "k=CANARY-label-a", "--label", "k=CANARY-label-b", "--server", f.env.GRPCAddr()},
		{"replicate", name, "--region", "Mars-1", "--label", "k=CANARY-label-c", "--reason", "CANARY-reason", "--server", f.env.GRPCAddr()},
		{"status", name, "--colour", "--token", "CANARY-token-flag", "--server", f.env.GRPCAddr()},
		{"status", name, "extra", "--server", f.env.GRPCAddr()},
	}
	for _, args := range runs {
		r := runWith(t, replictl.IO{Getenv: getenv}, args...)
		if r.code == replictl.ExitOK && args[1] != "--help" {
			t.Errorf("%v: exit 0, want a refusal", args)
		}
		if strings.Contains(r.stdout+r.stderr, "CANARY") {
			t.Errorf("%v printed a sensitive value:\n%s%s", args, r.stdout, r.stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	code := replictl.Run(context.Background(), []string{"--version"}, replictl.IO{Stdout: &out, Stderr: &errOut})
	if code != replictl.ExitOK || !strings.HasPrefix(out.String(), "replictl ") || errOut.Len() != 0 {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}
