package audit

import (
	"bufio"
	"context"
	"crypto/sha256"
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
		path, sum, err := r.export(rows)
		if err != nil {
			return err
		}
		last := rows[len(rows)-1]
		n, err := store.PruneAuditEvents(ctx, tx, last.ChainPos, last.Hash, filepath.Base(path), sum)
		if err != nil {
			return err
		}
		removed = int(n)
		r.Log.InfoContext(ctx, "audit events exported and pruned", "count", removed, "file", path,
			"anchor_position", last.ChainPos, "export_sha256", hexString(sum))
		return nil
	})
	return removed, err
}

// export writes rows to a new file, synced before anything is deleted, and
// returns its path and SHA-256 (which the anchor records). The file is
// written under a temporary name and renamed: a run whose transaction
// failed after the export leaves nothing half-written, and the next run
// replaces its file.
func (r *Retention) export(rows []store.AuditRow) (string, []byte, error) {
	if err := os.MkdirAll(r.ExportDir, 0o700); err != nil {
		return "", nil, fmt.Errorf("audit export dir: %w", err)
	}
	path := filepath.Join(r.ExportDir, fmt.Sprintf("audit-%012d-%012d.jsonl", rows[0].ChainPos, rows[len(rows)-1].ChainPos))
	f, err := os.CreateTemp(r.ExportDir, ".audit-export-*")
	if err != nil {
		return "", nil, fmt.Errorf("audit export: %w", err)
	}
	fail := func(err error) (string, []byte, error) {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return "", nil, fmt.Errorf("audit export: %w", err)
	}
	h := sha256.New()
	w := bufio.NewWriter(io.MultiWriter(f, h))
	for _, row := range rows {
		line, err := jsonLine(ExportedEvent{Position: row.ChainPos, PrevHash: hexString(row.PrevHash), Hash: hexString(row.Hash), Event: row.Body})
		if err != nil {
			return fail(err)
		}
		_, _ = w.Write(line)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return "", nil, fmt.Errorf("audit export: %w", err)
	}
	if d, err := os.Open(r.ExportDir); err == nil {
		_ = d.Sync() // the rename itself must survive a crash
		_ = d.Close()
	}
	return path, h.Sum(nil), nil
}

// VerifyExport checks an export file read from r: each line must link to
// the one before, starting from prev (nil: the start of the chain, or the
// previous file's last hash). It returns the last position and hash, to
// chain the next file and, finally, to compare with the database's anchor.
func VerifyExport(r io.Reader, prev []byte) (int64, []byte, error) {
	res, err := verifyExport(r, prev, nil)
	return res.last, res.lastHash, err
}

type exportResult struct {
	first, last int64
	lastHash    []byte
	// knownHash is the hash found at the position asked for, if the file
	// holds it.
	knownHash []byte
}

func verifyExport(r io.Reader, prev []byte, knownAt *int64) (exportResult, error) {
	if prev == nil {
		prev = genesis
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	res := exportResult{lastHash: prev}
	for line := 1; sc.Scan(); line++ {
		var e ExportedEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return res, fmt.Errorf("line %d: not an exported event: %w", line, err)
		}
		if res.last != 0 && e.Position != res.last+1 {
			return res, fmt.Errorf("line %d: position %d follows %d: events missing", line, e.Position, res.last)
		}
		if e.PrevHash != hexString(res.lastHash) {
			return res, fmt.Errorf("line %d (position %d): does not follow the event before it", line, e.Position)
		}
		h := Link(res.lastHash, e.Event)
		if hexString(h) != e.Hash {
			return res, fmt.Errorf("line %d (position %d): content does not match its hash: edited", line, e.Position)
		}
		if res.first == 0 {
			res.first = e.Position
		}
		if knownAt != nil && e.Position == *knownAt {
			res.knownHash = h
		}
		res.last, res.lastHash = e.Position, h
	}
	return res, sc.Err()
}
