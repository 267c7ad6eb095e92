package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/internal/audit"
	"github.com/replicad/replicad/internal/pgtest"
	"github.com/replicad/replicad/store"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type bundle struct {
	pool    *pgxpool.Pool
	writer  *audit.Writer
	chainer *audit.Chainer
	ctx     context.Context
	// exportDir is what verify checks anchors against ("": not checked).
	exportDir string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	pool := pgtest.NewPool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := audit.NewWriter(pool, audit.WriterConfig{})
	w.Run()
	t.Cleanup(w.Close)
	return &bundle{pool: pool, writer: w, chainer: audit.NewChainer(pool, 0, log), ctx: context.Background()}
}

// write stores n events, concurrently, with times spread over the past.
func (b *bundle) write(t *testing.T, n int, age time.Duration) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		ids[i] = uuid.Must(uuid.NewV7())
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.writer.Write(b.ctx, audit.Event{
				ID: ids[i], Time: time.Now().Add(-age + time.Duration(i)*time.Millisecond), Kind: audit.KindRPC,
				Principal: fmt.Sprintf("spiffe://test/p%d", i%3), Method: "/replicad.v1.ReplicationService/Replicate",
				Secret: "prod/db", Request: json.RawMessage(`{"secret_id":"prod/db"}`), Transport: "grpc",
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func (b *bundle) chainAll(t *testing.T) {
	t.Helper()
	for {
		n, err := b.chainer.ChainOnce(b.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

func (b *bundle) verify(t *testing.T, known *audit.Known) audit.Report {
	t.Helper()
	rep, err := audit.Verify(b.ctx, b.pool, known, b.exportDir)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// asSuperuser runs SQL with triggers bypassed, as an attacker with full
// database access would.
func (b *bundle) asSuperuser(t *testing.T, sql string, args ...any) {
	t.Helper()
	conn, err := b.pool.Acquire(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(b.ctx, "SET session_replication_role = replica"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.Exec(b.ctx, "SET session_replication_role = DEFAULT") }()
	if _, err := conn.Exec(b.ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestChainVerifies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.write(t, 300, time.Hour)
	// The Writer links events as it inserts them: nothing waits.
	rep := b.verify(t, nil)
	if !rep.OK || rep.Verified != 300 || rep.Unchained != 0 || rep.HeadPosition != 300 {
		t.Fatalf("after writing: %+v", rep)
	}
	// An event stored in a transaction of its own (as an accept's is)
	// waits for the Chainer; Writer events after it still chain.
	row, err := audit.Event{Kind: audit.KindRPC, Principal: "p", Method: "/replicad.v1.ReplicationService/Replicate", Transport: "grpc"}.Row()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.InsertAuditEvents(b.ctx, b.pool, []store.AuditRow{row}); err != nil {
		t.Fatal(err)
	}
	b.write(t, 10, time.Minute)
	if rep := b.verify(t, nil); !rep.OK || rep.Verified != 310 || rep.Unchained != 1 {
		t.Fatalf("with one event stored unchained: %+v", rep)
	}
	b.chainAll(t)
	if rep2 := b.verify(t, &audit.Known{Position: rep.HeadPosition, Hash: rep.HeadHash}); !rep2.OK || rep2.Verified != 311 || rep2.Unchained != 0 {
		t.Fatalf("extended chain: %+v", rep2)
	}
}

// Two processes' Writers and a Chainer, all at once, extend one chain: the
// chain lock orders their batches, so no position is taken twice or
// skipped.
func TestConcurrentWritersShareOneChain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pool2, err := pgxpool.NewWithConfig(b.ctx, b.pool.Config().Copy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool2.Close)
	other := audit.NewWriter(pool2, audit.WriterConfig{Batch: 7})
	other.Run()
	t.Cleanup(other.Close)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := b.writer
			if i%2 == 1 {
				w = other
			}
			e := audit.Event{Kind: audit.KindRPC, Principal: "p", Method: "m", Transport: "grpc"}
			if i%10 == 0 {
				// Stored unchained, linked by the Chainer below.
				row, err := e.Row()
				if err == nil {
					err = store.InsertAuditEvents(b.ctx, b.pool, []store.AuditRow{row})
				}
				errs <- err
				_, err = b.chainer.ChainOnce(b.ctx)
				errs <- err
				return
			}
			errs <- w.Write(b.ctx, e)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	b.chainAll(t)
	if rep := b.verify(t, nil); !rep.OK || rep.Verified != 400 || rep.Unchained != 0 || rep.HeadPosition != 400 {
		t.Fatalf("%+v", rep)
	}
}

func TestTableIsAppendOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.write(t, 3, time.Minute)
	b.chainAll(t)
	for _, sql := range []string{
		"UPDATE audit_events SET principal = 'someone-else'",
		"UPDATE audit_events SET body = body || ' '",
		"UPDATE audit_events SET chain_pos = chain_pos + 100",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
		"TRUNCATE audit_anchors",
	} {
		_, err := b.pool.Exec(b.ctx, sql)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only trigger to refuse", sql, err)
		}
	}
	// An anchor must name a chained event with its hash, and its export.
	for _, sql := range []string{
		"INSERT INTO audit_anchors (chain_pos, hash, pruned, exported_to) VALUES (99, '\\x00', 1, 'x')",
		"INSERT INTO audit_anchors (chain_pos, hash, pruned, exported_to, export_sha256) SELECT chain_pos, '\\x00', 1, 'x', sha256('') FROM audit_events LIMIT 1",
		"INSERT INTO audit_anchors (chain_pos, hash, pruned, exported_to) SELECT chain_pos, hash, 1, 'x' FROM audit_events LIMIT 1",
	} {
		if _, err := b.pool.Exec(b.ctx, sql); err == nil || !strings.Contains(err.Error(), "audit anchor") {
			t.Errorf("%s: %v, want the anchor refused", sql, err)
		}
	}
}

func TestTamperingIsDetected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// tamper edits the chain of 20 events; want is the position the
		// break is reported at.
		tamper func(t *testing.T, b *bundle)
		want   int64
		known  bool
		reason string
	}{
		{"content edited", func(t *testing.T, b *bundle) {
			b.asSuperuser(t, `UPDATE audit_events SET body = replace(body, 'prod/db', 'prod/xx') WHERE chain_pos = 7`)
		}, 7, false, "edited"},
		{"column edited", func(t *testing.T, b *bundle) {
			b.asSuperuser(t, `UPDATE audit_events SET principal = 'spiffe://test/innocent' WHERE chain_pos = 11`)
		}, 11, false, "edited"},
		{"event deleted", func(t *testing.T, b *bundle) {
			b.asSuperuser(t, `DELETE FROM audit_events WHERE chain_pos = 5`)
		}, 5, false, "missing"},
		{"events reordered", func(t *testing.T, b *bundle) {
			b.asSuperuser(t, `UPDATE audit_events SET chain_pos = -chain_pos WHERE chain_pos IN (8, 9)`)
			b.asSuperuser(t, `UPDATE audit_events SET chain_pos = CASE chain_pos WHEN -8 THEN 9 ELSE 8 END WHERE chain_pos IN (-8, -9)`)
		}, 8, false, "removed or reordered"},
		{"hash recomputed for an edit", func(t *testing.T, b *bundle) {
			// The attacker rewrites the event and its hash; the next
			// event's link still gives it away.
			// (Only the request JSON, which no column projects.)
			b.asSuperuser(t, `UPDATE audit_events SET body = replace(body, '"secret_id":"prod/db"', '"secret_id":"prod/zz"'),
				hash = sha256(prev_hash || convert_to(replace(body, '"secret_id":"prod/db"', '"secret_id":"prod/zz"'), 'UTF8'))
				WHERE chain_pos = 14`)
		}, 15, false, "removed or reordered"},
		{"newest events removed", func(t *testing.T, b *bundle) {
			b.asSuperuser(t, `DELETE FROM audit_events WHERE chain_pos > 17`)
		}, 20, true, "removed from the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ids := b.write(t, 20, time.Minute)
			b.chainAll(t)
			head := b.verify(t, nil)
			tt.tamper(t, b)
			var known *audit.Known
			if tt.known {
				known = &audit.Known{Position: head.HeadPosition, Hash: head.HeadHash}
			}
			rep := b.verify(t, known)
			if rep.OK || rep.Break == nil {
				t.Fatalf("tampering went unnoticed: %+v", rep)
			}
			if rep.Break.Position != tt.want || !strings.Contains(rep.Break.Reason, tt.reason) {
				t.Errorf("break at %d (%q), want at %d mentioning %q", rep.Break.Position, rep.Break.Reason, tt.want, tt.reason)
			}
			if !tt.known && rep.Break.EventID == "" {
				t.Error("the break does not name the event")
			}
			_ = ids
		})
	}
}

func TestRetentionExportsAndAnchors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.write(t, 50, 48*time.Hour) // old
	b.chainAll(t)
	b.write(t, 30, time.Minute) // recent
	b.chainAll(t)
	dir := t.TempDir()
	b.exportDir = dir
	r := &audit.Retention{Pool: b.pool, MaxAge: 24 * time.Hour, ExportDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	n, err := r.PruneOnce(b.ctx)
	if err != nil || n != 50 {
		t.Fatalf("PruneOnce = %d, %v; want the 50 old events", n, err)
	}
	if n, _ := r.PruneOnce(b.ctx); n != 0 {
		t.Errorf("second PruneOnce removed %d", n)
	}
	rep := b.verify(t, nil)
	if !rep.OK || rep.Verified != 30 || rep.FirstPosition != 51 || rep.Anchors != 1 || rep.ExportsVerified != 1 {
		t.Fatalf("after pruning a prefix: %+v", rep)
	}
	// The export holds the pruned events, and they verify on their own.
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("export files: %v", files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	lines := 0
	prev := make([]byte, 32)
	for sc.Scan() {
		var e audit.ExportedEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		lines++
		if got := fmt.Sprintf("%x", audit.Link(prev, e.Event)); got != e.Hash {
			t.Fatalf("exported event %d does not verify", e.Position)
		}
		prev = audit.Link(prev, e.Event)
	}
	if lines != 50 {
		t.Errorf("export has %d lines, want 50", lines)
	}
	// Tampering after the cut is still caught.
	b.asSuperuser(t, `UPDATE audit_events SET body = body || ' ' WHERE chain_pos = 60`)
	if rep := b.verify(t, nil); rep.OK || rep.Break.Position != 60 {
		t.Errorf("tampering after retention: %+v", rep)
	}
}

// Whatever a refused request carried, its event is stored, and storing it
// never costs other callers theirs: NUL bytes, invalid UTF-8, values far
// longer than any index entry and a request that is not JSON are stored
// sanitized, and an event the database refuses outright (here, an unknown
// kind) fails alone while the events batched with it are stored.
func TestOneBadEventNeverTakesOthersWithIt(t *testing.T) {
	t.Parallel()
	b := setup(t)
	good := func(i int) audit.Event {
		return audit.Event{Kind: audit.KindRPC, Principal: fmt.Sprintf("p%d", i), Method: "/replicad.v1.ReplicationService/Replicate",
			Secret: "prod/db", Request: json.RawMessage(`{"secret_id":"prod/db"}`), Transport: "grpc"}
	}
	bad := []audit.Event{
		{Kind: audit.KindRPC, Principal: "p", Method: "m", Secret: "x\x00y", Transport: "rest"},
		{Kind: audit.KindRPC, Principal: "p", Method: "m", RequestID: "\x00", Transport: "rest"},
		{Kind: audit.KindRPC, Principal: "p", Method: "m", Secret: strings.Repeat("s", 900<<10), Transport: "grpc"},
		{Kind: audit.KindRPC, Principal: "\xff\xfe", Method: "m", Transport: "grpc"},
		{Kind: audit.KindRPC, Principal: "p", Method: "m", Request: json.RawMessage(`{"not json`), Transport: "grpc"},
		{Kind: audit.KindRPC, Principal: "p", Method: "m", OperationID: "not-a-uuid", Message: "m\x00" + strings.Repeat("m", 1<<20), Transport: "grpc"},
	}
	refused := audit.Event{Kind: "bogus", Principal: "p", Method: "m", Transport: "grpc"}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 150 {
		e := good(i)
		if i < len(bad) {
			e = bad[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.writer.Write(b.ctx, e)
		}()
	}
	var refusedErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		refusedErr = b.writer.Write(b.ctx, refused)
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("an event was not stored: %v", err)
		}
	}
	if refusedErr == nil {
		t.Error("an event of an unknown kind was stored")
	}
	var n int
	var longest int
	if err := b.pool.QueryRow(b.ctx, `SELECT count(*), max(length(secret) + length(body)) FROM audit_events`).Scan(&n, &longest); err != nil {
		t.Fatal(err)
	}
	if n != 150 {
		t.Errorf("%d events stored, want 150", n)
	}
	if longest > 64<<10 {
		t.Errorf("an event stores %d characters: over-long values are not bounded", longest)
	}
	// What was sent is still recognisable, and the chain holds.
	var secret string
	if err := b.pool.QueryRow(b.ctx, `SELECT secret FROM audit_events WHERE secret LIKE 'x%y'`).Scan(&secret); err != nil || secret != "x\uFFFDy" {
		t.Errorf("the NUL secret is stored as %q (%v)", secret, err)
	}
	b.chainAll(t)
	if rep := b.verify(t, nil); !rep.OK || rep.Verified != 150 {
		t.Errorf("chain over sanitized events: %+v", rep)
	}
}

// Event.Row renders an event as the writer stores it, for callers that
// insert it in a transaction of their own.
func TestRowInACallersTransaction(t *testing.T) {
	t.Parallel()
	tx := pgtest.Tx(t)
	row, err := audit.Event{Kind: audit.KindRPC, Principal: "p\x00", Method: "m", Transport: "grpc"}.Row()
	if err != nil {
		t.Fatal(err)
	}
	if row.ID == uuid.Nil || row.Time.IsZero() {
		t.Error("Row left the id or the time unset")
	}
	if err := store.InsertAuditEvents(context.Background(), tx, []store.AuditRow{row}); err != nil {
		t.Fatalf("a row from Row was refused: %v", err)
	}
}

// anchored writes 50 old and 30 recent events and lets retention export
// and prune the old ones: one anchor at position 50.
func anchored(t *testing.T) (*bundle, audit.Report) {
	t.Helper()
	b := setup(t)
	b.write(t, 50, 48*time.Hour)
	b.chainAll(t)
	head := b.verify(t, nil) // position 50, before retention
	b.write(t, 30, time.Minute)
	b.chainAll(t)
	b.exportDir = t.TempDir()
	r := &audit.Retention{Pool: b.pool, MaxAge: 24 * time.Hour, ExportDir: b.exportDir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if n, err := r.PruneOnce(b.ctx); err != nil || n != 50 {
		t.Fatalf("PruneOnce = %d, %v", n, err)
	}
	return b, head
}

// A retention anchor added by hand cannot hide tampering: an anchor at the
// newest position (verification starts after the newest anchor) leaves
// the events it claims to cover in the table, and a forged prune (anchor
// and deletion together, through audit_prune) names an export that does
// not vouch for it.
func TestForgedRetentionAnchorsAreDetected(t *testing.T) {
	t.Parallel()
	t.Run("anchor over events still present", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		b.write(t, 20, time.Minute)
		b.chainAll(t)
		head := b.verify(t, nil)
		b.asSuperuser(t, `UPDATE audit_events SET body = replace(body, 'prod/db', 'prod/xx') WHERE chain_pos = 7`)
		if _, err := b.pool.Exec(b.ctx, `INSERT INTO audit_anchors (chain_pos, hash, pruned, exported_to, export_sha256)
			SELECT chain_pos, hash, 20, 'audit-forged.jsonl', sha256('') FROM audit_events WHERE chain_pos = 20`); err != nil {
			t.Fatal(err)
		}
		for _, known := range []*audit.Known{nil, {Position: head.HeadPosition, Hash: head.HeadHash}} {
			rep := b.verify(t, known)
			if rep.OK || rep.Break == nil || !strings.Contains(rep.Break.Reason, "not made by retention") {
				t.Errorf("known %v: a forged anchor hid an edit: %+v", known, rep)
			}
		}
	})
	t.Run("forged prune", func(t *testing.T) {
		t.Parallel()
		b, _ := anchored(t)
		b.asSuperuser(t, `UPDATE audit_events SET body = replace(body, 'prod/db', 'prod/xx') WHERE chain_pos = 60`)
		if _, err := b.pool.Exec(b.ctx, `SELECT audit_prune(chain_pos, hash, 'audit-000000000051-000000000079.jsonl', sha256('x'))
			FROM audit_events WHERE chain_pos = 79`); err != nil {
			t.Fatal(err)
		}
		rep := b.verify(t, nil)
		if rep.OK || rep.Break == nil || rep.Break.Position != 79 || !strings.Contains(rep.Break.Reason, "export") {
			t.Errorf("a forged prune verified: %+v", rep)
		}
	})
	t.Run("export file edited", func(t *testing.T) {
		t.Parallel()
		b, _ := anchored(t)
		files, _ := filepath.Glob(filepath.Join(b.exportDir, "audit-*.jsonl"))
		data, _ := os.ReadFile(files[0])
		if err := os.WriteFile(files[0], []byte(strings.Replace(string(data), "p1", "p9", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if rep := b.verify(t, nil); rep.OK || !strings.Contains(rep.Break.Reason, "SHA-256") {
			t.Errorf("an edited export verified: %+v", rep)
		}
		if err := os.Remove(files[0]); err != nil {
			t.Fatal(err)
		}
		if rep := b.verify(t, nil); rep.OK || !strings.Contains(rep.Break.Reason, "cannot read") {
			t.Errorf("a missing export verified: %+v", rep)
		}
	})
}

// A head recorded before retention pruned past it is checked against the
// export; without the export it cannot be, and verification says so.
func TestKnownHeadOlderThanTheNewestAnchor(t *testing.T) {
	t.Parallel()
	b, head := anchored(t)
	known := &audit.Known{Position: head.HeadPosition, Hash: head.HeadHash}
	if rep := b.verify(t, known); !rep.OK {
		t.Errorf("the true head, checked against the export: %+v", rep.Break)
	}
	wrong := &audit.Known{Position: head.HeadPosition, Hash: make([]byte, 32)}
	if rep := b.verify(t, wrong); rep.OK || !strings.Contains(rep.Break.Reason, "known head") {
		t.Errorf("a wrong known head in the exported part verified: %+v", rep)
	}
	b.exportDir = ""
	if rep := b.verify(t, known); rep.OK || !strings.Contains(rep.Break.Reason, "export") {
		t.Errorf("a known head in the exported part was accepted without the export: %+v", rep)
	}
}

// Events leave the table only through audit_prune, which anchors the cut:
// the old session setting opens nothing.
func TestPlainDeletesAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.write(t, 5, time.Minute)
	b.chainAll(t)
	tx, err := b.pool.Begin(b.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(b.ctx) }()
	if _, err := tx.Exec(b.ctx, `SET LOCAL replicad.audit_prune = 'on'`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(b.ctx, `DELETE FROM audit_events WHERE chain_pos <= 3`); err == nil || !strings.Contains(err.Error(), "audit_prune") {
		t.Errorf("DELETE with the prune setting: %v, want it refused", err)
	}
	_ = tx.Rollback(b.ctx)
	a, _ := anchored(t)
	for _, sql := range []string{"DELETE FROM audit_anchors", "UPDATE audit_anchors SET exported_to = 'x'"} {
		if _, err := a.pool.Exec(a.ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only trigger to refuse", sql, err)
		}
	}
	var public bool
	if err := b.pool.QueryRow(b.ctx, `SELECT has_function_privilege('public', 'audit_prune(bigint, bytea, text, bytea)', 'EXECUTE')`).Scan(&public); err != nil || public {
		t.Errorf("audit_prune is executable by PUBLIC (%v)", err)
	}
}

// Routine events are not waited for, so a crash can lose those still
// queued. The loss is bounded: WriteAsync blocks once the queue is full
// (here no worker runs, as if they were all stuck on a commit), and what
// was queued is stored by Close.
func TestWriteAsyncLossWindowIsBounded(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	w := audit.NewWriter(pool, audit.WriterConfig{Workers: 1, Batch: 4})
	if got := w.LossWindow(); got != 8 {
		t.Fatalf("LossWindow = %d, want 8 (queue 4 + one batch of 4 committing)", got)
	}
	ctx := context.Background()
	unstored := func(err error) { t.Errorf("event unstored: %v", err) }
	var ids []uuid.UUID
	event := func() audit.Event {
		id := uuid.Must(uuid.NewV7())
		ids = append(ids, id)
		return audit.Event{ID: id, Time: time.Now(), Kind: audit.KindRPC, Principal: "spiffe://test/reader",
			Method: "/replicad.v1.ReplicationService/GetOperation", Transport: "grpc", Routine: true}
	}
	for range 4 {
		if err := w.WriteAsync(ctx, event(), unstored); err != nil {
			t.Fatal(err)
		}
	}
	if w.Queued() != 4 {
		t.Fatalf("Queued = %d, want 4", w.Queued())
	}
	full, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.WriteAsync(full, audit.Event{Kind: audit.KindRPC, Method: "/replicad.v1.ReplicationService/GetOperation"}, unstored); !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteAsync on a full queue = %v, want it to block until its context ends", err)
	}
	w.Run()
	w.Close()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE id = ANY($1)`, ids).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ids) {
		t.Fatalf("%d of %d queued events stored after Close", n, len(ids))
	}
}
