package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/store"
)

// pruneLockKey keeps retention to one process at a time.
const pruneLockKey int64 = 0x5d1c2a7f3b9e4412

const pruneBatch = 10000

// Retention exports events older than MaxAge to JSON lines files and
// removes them, anchoring the chain at the cut so what remains verifies.
type Retention struct {
	Pool *pgxpool.Pool
	// MaxAge is how long events stay in the database.
	MaxAge time.Duration
	// ExportDir receives audit-<first>-<last>.jsonl files, each line an
	// event with its chain position and hashes, verifiable offline.
	ExportDir string
	Log       *slog.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// ExportedEvent is one line of an export file.
type ExportedEvent struct {
	Position int64  `json:"position"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
	Event    string `json:"event"`
}

// Run prunes every interval until ctx ends.
func (r *Retention) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.PruneOnce(ctx); err != nil && ctx.Err() == nil {
				r.Log.WarnContext(ctx, "audit retention failed", "error", err)
			}
		}
	}
}

// PruneOnce exports and removes one batch of expired events; it returns
// how many were removed.
func (r *Retention) PruneOnce(ctx context.Context) (int, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	removed := 0
	err := pgx.BeginFunc(ctx, r.Pool, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, pruneLockKey).Scan(&locked); err != nil || !locked {
			return err
		}
		rows, err := store.PrunableAuditEvents(ctx, tx, now().Add(-r.MaxAge), pruneBatch)
		if err != nil || len(rows) == 0 {
			return err
		}
		path, err := r.export(rows)
		if err != nil {
			return err
		}
		last := rows[len(rows)-1]
		anchor := store.AuditAnchor{ChainPos: last.ChainPos, Hash: last.Hash, Pruned: int64(len(rows)), ExportedTo: filepath.Base(path)}
		if err := store.PruneAuditEvents(ctx, tx, anchor); err != nil {
			return err
		}
		removed = len(rows)
		r.Log.InfoContext(ctx, "audit events exported and pruned", "count", removed, "file", path,
			"anchor_position", anchor.ChainPos)
		return nil
	})
	return removed, err
}

// export writes rows to a new file and syncs it before anything is deleted.
func (r *Retention) export(rows []store.AuditRow) (string, error) {
	if err := os.MkdirAll(r.ExportDir, 0o700); err != nil {
		return "", fmt.Errorf("audit export dir: %w", err)
	}
	path := filepath.Join(r.ExportDir, fmt.Sprintf("audit-%012d-%012d.jsonl", rows[0].ChainPos, rows[len(rows)-1].ChainPos))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("audit export: %w", err)
	}
	w := bufio.NewWriter(f)
	for _, row := range rows {
		line, err := jsonLine(ExportedEvent{Position: row.ChainPos, PrevHash: hexString(row.PrevHash), Hash: hexString(row.Hash), Event: row.Body})
		if err != nil {
			_ = f.Close()
			return "", err
		}
		_, _ = w.Write(line)
	}
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("audit export: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("audit export: %w", err)
	}
	return path, f.Close()
}

// VerifyExport checks an export file read from r: each line must link to
// the one before, starting from prev (nil: the start of the chain, or the
// previous file's last hash). It returns the last position and hash, to
// chain the next file and, finally, to compare with the database's anchor.
func VerifyExport(r io.Reader, prev []byte) (int64, []byte, error) {
	if prev == nil {
		prev = genesis
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var pos int64
	for line := 1; sc.Scan(); line++ {
		var e ExportedEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return pos, prev, fmt.Errorf("line %d: not an exported event: %w", line, err)
		}
		if pos != 0 && e.Position != pos+1 {
			return pos, prev, fmt.Errorf("line %d: position %d follows %d: events missing", line, e.Position, pos)
		}
		if e.PrevHash != hexString(prev) {
			return pos, prev, fmt.Errorf("line %d (position %d): does not follow the event before it", line, e.Position)
		}
		h := Link(prev, e.Event)
		if hexString(h) != e.Hash {
			return pos, prev, fmt.Errorf("line %d (position %d): content does not match its hash: edited", line, e.Position)
		}
		pos, prev = e.Position, h
	}
	return pos, prev, sc.Err()
}
