package e2e

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	replicadv1 "github.com/replicad/replicad/gen/replicad/v1"
	"github.com/replicad/replicad/internal/standin"
	"github.com/replicad/replicad/internal/testtier"
)

func replicadCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "replicad"), args...).CombinedOutput()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// replicad audit verify walks the chain a real server wrote; retention
// exports a prefix that verify-export checks offline, and what remains
// still verifies; an edit made as a superuser is reported by position.
func TestAuditVerifyAndRetentionCommands(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	exportDir := t.TempDir()
	p := c.start(t, "replicad", "--audit-retention", "2s", "--audit-prune-interval", "300ms", "--audit-export-dir", exportDir)
	secrets := sm.seed(t, 3, "audit")
	ops := submitWorkload(t, p.client, secrets, 2, 5)
	waitAll(t, p.client, ops, 30*time.Second)
	time.Sleep(3 * time.Second) // let retention export what is now old
	for range 5 {
		_, _ = p.client.GetOperation(context.Background(), &replicadv1.GetOperationRequest{Id: ops[0].id})
	}
	p.term(t, 20*time.Second)

	files, _ := filepath.Glob(filepath.Join(exportDir, "audit-*.jsonl"))
	if len(files) == 0 {
		t.Fatal("retention exported nothing")
	}
	out, code := replicadCLI(t, append([]string{"audit", "verify-export"}, files...)...)
	if code != 0 || !strings.HasPrefix(out, "OK") {
		t.Fatalf("verify-export: exit %d: %s", code, out)
	}
	out, code = replicadCLI(t, "audit", "verify", "--database-url", c.dbURL)
	if code != 0 || !strings.HasPrefix(out, "OK") {
		t.Fatalf("verify after retention: exit %d: %s", code, out)
	}

	ctx := context.Background()
	conn := connect(t, c.dbURL)
	var pos int64
	if err := conn.QueryRow(ctx, "SELECT min(chain_pos) + 1 FROM audit_events").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "UPDATE audit_events SET body = replace(body, 'anonymous', 'somebody') WHERE chain_pos = $1", pos); err != nil {
		t.Fatal(err)
	}
	out, code = replicadCLI(t, "audit", "verify", "--database-url", c.dbURL)
	if code != 1 || !strings.Contains(out, "BROKEN at position") || !strings.Contains(out, "edited") {
		t.Errorf("verify after tampering: exit %d: %s", code, out)
	}
}
