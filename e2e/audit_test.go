package e2e

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
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
	// Retention exports what is older than 2 s on its next pass: wait for
	// the anchor its first export commits (the file is written before it),
	// not for a fixed time, which a loaded machine may not honour.
	ctx := context.Background()
	conn := connect(t, c.dbURL)
	deadline := time.Now().Add(time.Minute)
	for {
		var anchors int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM audit_anchors").Scan(&anchors); err != nil {
			t.Fatal(err)
		}
		if anchors > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("retention exported nothing within a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
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
	out, code = replicadCLI(t, "audit", "verify", "--database-url", c.dbURL, "--audit-export-dir", exportDir)
	if code != 0 || !strings.HasPrefix(out, "OK") || !strings.Contains(out, "against their export files") || strings.Contains(out, "warning") {
		t.Fatalf("verify after retention: exit %d: %s", code, out)
	}

	// A head recorded before retention pruned past it is checked in the
	// export: the true one verifies, a wrong one does not.
	var knownPos int64
	var anchorHash string
	if err := conn.QueryRow(ctx, "SELECT chain_pos, encode(hash, 'hex') FROM audit_anchors ORDER BY chain_pos LIMIT 1").Scan(&knownPos, &anchorHash); err != nil {
		t.Fatal(err)
	}
	known := []string{"--known-position", strconv.FormatInt(knownPos, 10), "--known-hash", anchorHash}
	if out, code := replicadCLI(t, append([]string{"audit", "verify", "--database-url", c.dbURL, "--audit-export-dir", exportDir}, known...)...); code != 0 {
		t.Errorf("verify with a known head in the export: exit %d: %s", code, out)
	}
	if out, code := replicadCLI(t, append([]string{"audit", "verify", "--database-url", c.dbURL}, known...)...); code != 1 || !strings.Contains(out, "export") {
		t.Errorf("verify with a known head in the export, without the export: exit %d: %s", code, out)
	}
	wrong := []string{"--known-position", strconv.FormatInt(knownPos, 10), "--known-hash", strings.Repeat("0", 64)}
	if out, code := replicadCLI(t, append([]string{"audit", "verify", "--database-url", c.dbURL, "--audit-export-dir", exportDir}, wrong...)...); code != 1 {
		t.Errorf("verify with a wrong known head in the export: exit %d: %s", code, out)
	}

	var pos, newest int64
	var newestHash string
	if err := conn.QueryRow(ctx, "SELECT min(chain_pos) + 1, max(chain_pos) FROM audit_events").Scan(&pos, &newest); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, "SELECT encode(hash, 'hex') FROM audit_events WHERE chain_pos = $1", newest).Scan(&newestHash); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "UPDATE audit_events SET body = replace(body, 'anonymous', 'somebody') WHERE chain_pos = $1", pos); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SET session_replication_role = DEFAULT"); err != nil {
		t.Fatal(err)
	}
	out, code = replicadCLI(t, "audit", "verify", "--database-url", c.dbURL)
	if code != 1 || !strings.Contains(out, "BROKEN at position") || !strings.Contains(out, "edited") {
		t.Errorf("verify after tampering: exit %d: %s", code, out)
	}
	// An anchor inserted at the newest position, to make verification
	// skip the edit, is itself the break; so is a forged prune.
	if _, err := conn.Exec(ctx, `INSERT INTO audit_anchors (chain_pos, hash, pruned, exported_to, export_sha256)
		VALUES ($1, decode($2, 'hex'), 1, 'audit-forged.jsonl', sha256(''))`, newest, newestHash); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"--known-position", strconv.FormatInt(newest, 10), "--known-hash", newestHash}} {
		out, code = replicadCLI(t, append([]string{"audit", "verify", "--database-url", c.dbURL, "--audit-export-dir", exportDir}, args...)...)
		if code != 1 || !strings.Contains(out, "not made by retention") {
			t.Errorf("verify %v after a forged anchor: exit %d: %s", args, code, out)
		}
	}
	if _, err := conn.Exec(ctx, `SELECT audit_prune($1, decode($2, 'hex'), 'audit-forged-2.jsonl', sha256(''))`, newest, newestHash); err == nil {
		t.Error("a second anchor at the same position was accepted")
	}
}

// The writer chains events as it inserts them: a kill -9 in the middle of
// a stream of audited reads and accepts leaves a chain that verifies
// (a batch in flight is rolled back with its positions), and the next
// process extends it.
func TestAuditChainSurvivesKill9(t *testing.T) {
	testtier.Slow(t)
	t.Parallel()
	sm := startWatchedStandin(t, standin.Options{})
	c := newCluster(t, sm.URL)
	p := c.start(t, "replicad")
	secrets := sm.seed(t, 3, "auditkill")
	ops := submitWorkload(t, p.client, secrets, 2, 7)
	waitAll(t, p.client, ops, 30*time.Second)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	for range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				_, _ = p.client.GetOperation(ctx, &replicadv1.GetOperationRequest{Id: ops[0].id})
			}
		}()
	}
	conn := connect(t, c.dbURL)
	var before, now int64
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM audit_events").Scan(&before); err != nil {
		t.Fatal(err)
	}
	// Kill once reads are being stored in earnest (the condition, not a
	// sleep: the count is polled).
	deadline := time.Now().Add(30 * time.Second)
	for now < before+500 && time.Now().Before(deadline) {
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM audit_events").Scan(&now); err != nil {
			t.Fatal(err)
		}
	}
	if now < before+500 {
		t.Fatalf("reads stored only %d events in 30 s", now-before)
	}
	p.kill9(t)
	cancel()
	for range 16 {
		<-done
	}

	p2 := c.start(t, "replicad-2")
	more := submitWorkload(t, p2.client, secrets, 1, 8)
	waitAll(t, p2.client, more, 30*time.Second)
	p2.term(t, 20*time.Second)
	out, code := replicadCLI(t, "audit", "verify", "--database-url", c.dbURL)
	if code != 0 || !strings.HasPrefix(out, "OK") {
		t.Fatalf("verify after kill -9: exit %d: %s", code, out)
	}
}
