package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/daemon"
)

// ListSecrets under an access policy lists only the secrets the caller may
// read (inventory.read on the ARN), and its total_size counts only those:
// the total never tells a caller how many secrets they cannot see.
func TestListSecretsTotalCountsOnlyReadableSecrets(t *testing.T) {
	t.Parallel()
	const policy = `version: 1
rules:
  - name: admins
    effect: allow
    groups: [admins]
    actions: ["*"]
    secrets: ["**"]
  - name: team-a
    effect: allow
    principals: ["spiffe://test/app"]
    actions: [inventory.read]
    secrets: ["inv/team-a/**"]
`
	var policyFile string
	s := startSecured(t, nil, func(c *daemon.Config) {
		policyFile = filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(policyFile, []byte(policy), 0o600); err != nil {
			t.Fatal(err)
		}
		c.PolicyFile = policyFile
	})
	ctx := context.Background()
	for i, name := range []string{"inv/team-a/one", "inv/team-a/two", "inv/team-a/three", "inv/team-b/one", "inv/team-b/two"} {
		arn := fmt.Sprintf("arn:aws:secretsmanager:us-east-1:111122223333:secret:%s-AbCd%02d", name, i)
		if _, err := s.env.DB.Exec(ctx, `INSERT INTO inventory_secrets (account, region, arn, name, replicas, first_seen, last_seen, read_at)
			VALUES ('111122223333', 'us-east-1', $1, $2, '[]', now(), now(), now())`, arn, name); err != nil {
			t.Fatal(err)
		}
	}
	// The app team, by its client certificate: its three, counted three.
	app := replicadv1.NewInventoryServiceClient(s.env.Conn)
	resp, err := app.ListSecrets(ctx, &replicadv1.ListSecretsRequest{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetSecrets()) != 2 || resp.GetTotalSize() != 3 || resp.GetNextPageToken() == "" {
		t.Errorf("team-a, first page: %d secrets, total %d, next %q; want 2, 3 and a next page", len(resp.GetSecrets()), resp.GetTotalSize(), resp.GetNextPageToken())
	}
	for _, sec := range resp.GetSecrets() {
		if sec.GetName()[:len("inv/team-a/")] != "inv/team-a/" {
			t.Errorf("team-a was listed %s", sec.GetName())
		}
	}
	// An admin, by a bearer token: all five.
	conn := s.env.Dial(t, s.pki.ClientTLS(t, ""))
	admin := replicadv1.NewInventoryServiceClient(&tokenConn{conn, s.issuer.Token(t, "alice", []string{"admins"}, nil)})
	resp, err = admin.ListSecrets(ctx, &replicadv1.ListSecretsRequest{NamePrefix: "inv/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetSecrets()) != 5 || resp.GetTotalSize() != 5 {
		t.Errorf("admin: %d secrets, total %d; want 5 and 5", len(resp.GetSecrets()), resp.GetTotalSize())
	}
}
