package replictl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/replicad/replicad/internal/daemon"
	"github.com/replicad/replicad/internal/replictl"
	"github.com/replicad/replicad/internal/standin"
)

// TestSecretsListAndGet drives `replictl secrets list|get` against a
// replicad that scanned the stand-in: filters, text and JSON, paging
// across pages, and refusals.
func TestSecretsListAndGet(t *testing.T) {
	t.Parallel()
	f := start(t, func(c *daemon.Config) {
		c.Inventory.Interval = time.Hour
		c.Inventory.Poll = 50 * time.Millisecond
		c.InventoryRegions = []string{"us-east-1", "eu-west-1"}
	})
	var specs []standin.SeedSecret
	for i := range 12 {
		sp := standin.SeedSecret{Region: []string{"us-east-1", "eu-west-1"}[i%2], Name: fmt.Sprintf("cli/%02d", i), Tags: map[string]string{"app": fmt.Sprint("a", i%3)}}
		if i%4 == 0 {
			sp.Replicas = []standin.SeedReplica{{Region: "ap-southeast-2", Failed: "name already exists"}}
		}
		specs = append(specs, sp)
	}
	arns, err := f.standin.SeedSecrets(context.Background(), specs)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := f.run(t, "secrets", "list", "-o", "json", "--limit", "0")
		var out struct {
			Secrets []json.RawMessage `json:"secrets"`
		}
		if r.code != replictl.ExitOK || json.Unmarshal([]byte(r.stdout), &out) != nil {
			t.Fatalf("secrets list: %d %s %s", r.code, r.stdout, r.stderr)
		}
		if len(out.Secrets) == len(specs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the inventory holds %d secrets, want %d", len(out.Secrets), len(specs))
		}
		time.Sleep(50 * time.Millisecond) // polls a condition
	}

	r := f.run(t, "secrets", "list", "--primary-region", "eu-west-1", "--tag", "app=a1")
	if r.code != replictl.ExitOK || !strings.HasPrefix(r.stdout, "ACCOUNT") {
		t.Fatalf("text list: %d %s %s", r.code, r.stdout, r.stderr)
	}
	// eu-west-1 holds the odd ones; app=a1 is i%3 == 1: cli/01 and cli/07.
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(r.stdout, "cli/01") || !strings.Contains(r.stdout, "cli/07") {
		t.Errorf("filtered list:\n%s", r.stdout)
	}
	r = f.run(t, "secrets", "list", "--replica-status", "failed")
	if strings.Count(r.stdout, "ap-southeast-2:Failed") != 3 {
		t.Errorf("--replica-status failed:\n%s", r.stdout)
	}
	// Paging: a limit smaller than the inventory says how to go on.
	r = f.run(t, "secrets", "list", "--limit", "5", "--name-prefix", "cli/")
	if got := len(strings.Split(strings.TrimSpace(r.stdout), "\n")); got != 6 || !strings.Contains(r.stderr, "--page-token") {
		t.Fatalf("--limit 5: %d lines, stderr %q", got, r.stderr)
	}
	tok := strings.TrimSpace(r.stderr[strings.Index(r.stderr, "--page-token ")+len("--page-token "):])
	r = f.run(t, "secrets", "list", "--limit", "0", "--name-prefix", "cli/", "--page-token", tok)
	if got := len(strings.Split(strings.TrimSpace(r.stdout), "\n")); r.code != replictl.ExitOK || got != 8 {
		t.Errorf("the rest after the token: %d lines (%d): %s", got, r.code, r.stderr)
	}

	r = f.run(t, "secrets", "get", arns[0])
	if r.code != replictl.ExitOK || !strings.Contains(r.stdout, "cli/00") || !strings.Contains(r.stdout, "name already exists") ||
		!strings.Contains(r.stdout, "app=a0") || !strings.Contains(r.stdout, "state           present") && !strings.Contains(r.stdout, "present") {
		t.Errorf("secrets get: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = f.run(t, "secrets", "get", arns[0], "-o", "json")
	var got struct {
		Secret struct {
			ARN string `json:"arn"`
		} `json:"secret"`
	}
	if r.code != replictl.ExitOK || json.Unmarshal([]byte(r.stdout), &got) != nil || got.Secret.ARN != arns[0] {
		t.Errorf("secrets get -o json: %d %s", r.code, r.stdout)
	}

	// No policy selects these secrets: none is drifted.
	if r := f.run(t, "secrets", "list", "--drift", "yes"); r.code != 0 || strings.Contains(r.stdout, "cli/") {
		t.Errorf("secrets list --drift yes without a policy: exit %d, %s", r.code, r.stdout)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"secrets", "get", "cli/00"}, replictl.ExitUsage, "ARN"},
		{[]string{"secrets", "list", "--account", "12"}, replictl.ExitUsage, "account"},
		{[]string{"secrets", "list", "--replica-status", "sideways"}, replictl.ExitUsage, "replica-status"},
		{[]string{"secrets", "list", "--drift", "maybe"}, replictl.ExitUsage, "drift"},
		{[]string{"secrets", "frobnicate"}, replictl.ExitUsage, "unknown subcommand"},
	} {
		r := f.run(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d mentioning %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}
