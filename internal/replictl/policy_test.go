package replictl_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/replicad/replicad/internal/authtest"
	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/replictl"
	"github.com/replicad/replicad/internal/secretid"
	"github.com/replicad/replicad/internal/testenv"
	"github.com/replicad/replicad/store"
)

// inventory records a secret's DescribeSecret reading as the inventory
// scanner would.
func (f *fixture) inventory(t *testing.T, name string) {
	t.Helper()
	sent := time.Now()
	d, err := testenv.SecretsManager(f.endpoint, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := secretid.Parse(aws.ToString(d.ARN))
	if err != nil {
		t.Fatal(err)
	}
	sec := domain.InventorySecret{Account: id.Account, Region: "us-east-1", ARN: aws.ToString(d.ARN), Name: name, ReadAt: sent, LastSeen: sent}
	if _, err := store.New(nil).UpsertInventory(context.Background(), f.env.DB, sec); err != nil {
		t.Fatal(err)
	}
}

// kmsAlias creates a key with alias in region of the stand-in: a policy's
// aliases must exist in their Regions.
func (f *fixture) kmsAlias(t *testing.T, region, alias string) {
	t.Helper()
	if _, _, err := f.standin.CreateKMSKey("", region, alias); err != nil {
		t.Fatal(err)
	}
}

const policyYAML = `name: cli-fleet
selector:
  name_globs: ["cli/**", "typo/**"]
replicas:
  - region: eu-west-1
    kms_key_id: alias/cli-eu
  - region: ap-south-1
mode: POLICY_MODE_ENFORCE
write_budget_share: 1
`

// TestPolicyCommands: plan prints the change like terraform plan, create
// stores the policy, status --wait follows it to compliance, list, get and
// delete work.
func TestPolicyCommands(t *testing.T) {
	f := start(t, func(c *daemon.Config) { c.Engine.ReconcileInterval = 100 * time.Millisecond })
	f.kmsAlias(t, "eu-west-1", "alias/cli-eu")
	for _, n := range []string{"cli/a", "cli/b", "cli/c"} {
		f.inventory(t, f.seed(t, n))
	}
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte(policyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	r := f.run(t, "policy", "plan", file)
	for _, want := range []string{
		`Policy "cli-fleet" would perform the following operations:`,
		"  # cli/a (primary us-east-1)",
		"  + replicate to ap-south-1, eu-west-1 (kms alias/cli-eu)",
		"Plan: 3 operations (3 AWS writes); 3 selected, 0 compliant, 0 in conflict.",
		`Warning: name glob "typo/**" matches no secret in the inventory`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan output lacks %q", want)
		}
	}
	if r.code != 0 {
		t.Fatalf("plan: exit %d", r.code)
	}
	if r := f.run(t, "policy", "create", file, "--validate-only"); r.code != 0 || !strings.Contains(r.stdout, "is valid") {
		t.Fatalf("create --validate-only: %d", r.code)
	}
	if r := f.run(t, "policy", "create", file); r.code != 0 || !strings.Contains(r.stdout, "Policy:    cli-fleet") {
		t.Fatalf("create: %d", r.code)
	}
	r = f.run(t, "policy", "status", "cli-fleet", "--wait")
	if r.code != 0 || !strings.Contains(r.stdout, "cli-fleet: 3/3 compliant") || !strings.Contains(r.stdout, "Compliant:   yes") {
		t.Fatalf("status --wait: exit %d", r.code)
	}
	d, err := testenv.SecretsManager(f.endpoint, "us-east-1").DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("cli/a")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(d.ARN)
	if r := f.run(t, "secrets", "get", arn); r.code != 0 || !strings.Contains(r.stdout, "cli-fleet (compliant)") {
		t.Errorf("secrets get of a compliant secret: exit %d\n%s", r.code, r.stdout)
	}
	if r := f.run(t, "policy", "list"); r.code != 0 || !strings.Contains(r.stdout, "cli-fleet") {
		t.Errorf("list: %d", r.code)
	}
	if r := f.run(t, "policy", "plan", "--name", "cli-fleet"); r.code != 0 || !strings.Contains(r.stdout, "No changes.") {
		t.Errorf("plan of the converged policy: %d", r.code)
	}
	if r := f.run(t, "policy", "delete", "cli-fleet"); r.code != 0 {
		t.Errorf("delete: %d", r.code)
	}
	if r := f.run(t, "policy", "get", "cli-fleet"); r.code != 4 || !strings.Contains(r.stderr, "NOT_FOUND") {
		t.Errorf("get after delete: %d", r.code)
	}
	if r := f.run(t, "secrets", "get", arn); r.code != 0 || !strings.Contains(r.stdout, "none selects it") {
		t.Errorf("secrets get once no policy selects it: exit %d\n%s", r.code, r.stdout)
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	if err := os.WriteFile(missing, []byte(strings.Replace(policyYAML, "alias/cli-eu", "alias/cli-nowhere", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, "policy", "create", missing); r.code != 2 || !strings.Contains(r.stderr, "policy.replicas[0].kms_key_id") {
		t.Errorf("a policy with a missing alias: exit %d, stderr %s", r.code, r.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nselector: {}\nreplicas: [{region: nowhere}]\nmode: POLICY_MODE_ENFORCE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := f.run(t, "policy", "create", bad); r.code != 2 || !strings.Contains(r.stderr, "policy.selector:") {
		t.Errorf("invalid policy: exit %d, want 2 with the field violations", r.code)
	}
}

// TestPolicyAccess: policies.write is needed to create a policy,
// policies.prune as well for one that prunes, policies.read to read them.
func TestPolicyAccess(t *testing.T) {
	pki := authtest.NewPKI(t)
	issuer := authtest.NewIssuer(t, pki.Dir, "https://idp.test", "replicad")
	policyFile := filepath.Join(pki.Dir, "policy.yaml")
	rules := `version: 1
rules:
  - {name: readers, effect: allow, principals: [reader, writer, pruner], actions: [policies.read], secrets: ["**"]}
  - {name: writers, effect: allow, principals: [writer, pruner], actions: [policies.write], secrets: ["**"]}
  - {name: pruners, effect: allow, principals: [pruner], actions: [policies.prune], secrets: ["**"]}
`
	if err := os.WriteFile(policyFile, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	f := startTLS(t, pki, func(c *daemon.Config) {
		c.InsecureDev = false
		c.TLSCertFile, c.TLSKeyFile, c.ClientCAFile = pki.ServerCertFile, pki.ServerKeyFile, pki.CAFile
		c.JWKSFile, c.JWTIssuer, c.JWTAudience = issuer.JWKSFile, issuer.Issuer, issuer.Audience
		c.PolicyFile = policyFile
	})
	f.kmsAlias(t, "eu-west-1", "alias/cli-eu")
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.yaml")
	prune := filepath.Join(dir, "prune.yaml")
	if err := os.WriteFile(plain, []byte(policyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prune, []byte(strings.Replace(policyYAML, "name: cli-fleet", "name: pruning\nprune: true", 1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	as := func(who string, args ...string) result {
		return runWith(t, replictl.IO{Getenv: func(k string) string {
			if k == "REPLICTL_TOKEN" {
				return issuer.Token(t, who, nil, nil)
			}
			return ""
		}}, append(args, "--server", f.env.GRPCAddr(), "--ca-file", pki.CAFile, "--timeout", "10s")...)
	}
	if r := as("reader", "policy", "create", plain); r.code != replictl.ExitError || !strings.Contains(r.stderr, "PERMISSION_DENIED") {
		t.Errorf("reader creating a policy: exit %d", r.code)
	}
	if r := as("writer", "policy", "create", prune); r.code != replictl.ExitError || !strings.Contains(r.stderr, "policies.prune") {
		t.Errorf("writer creating a prune policy: exit %d", r.code)
	}
	if r := as("writer", "policy", "create", plain); r.code != replictl.ExitOK {
		t.Errorf("writer creating a policy: exit %d", r.code)
	}
	if r := as("pruner", "policy", "create", prune, "--validate-only"); r.code != replictl.ExitOK {
		t.Errorf("pruner validating a prune policy: exit %d", r.code)
	}
	if r := as("reader", "policy", "list"); r.code != replictl.ExitOK || !strings.Contains(r.stdout, "cli-fleet") {
		t.Errorf("reader listing policies: exit %d", r.code)
	}
	if r := as("reader", "policy", "delete", "cli-fleet"); r.code != replictl.ExitError {
		t.Errorf("reader deleting a policy: exit %d", r.code)
	}
}
