package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/internal/redact"
	"github.com/replicad/replicad/store"
)

// Stored is an event as the trail holds it: its content and its place in
// the chain.
type Stored struct {
	Event
	// Seq orders events by insertion; page tokens resume after it.
	Seq int64
	// ChainPos and Hash are zero while the event awaits chaining.
	ChainPos int64
	Hash     []byte
}

// Reader queries and verifies the stored trail.
type Reader struct {
	db        *pgxpool.Pool
	red       *redact.Redactor
	exportDir string
}

// NewReader returns a Reader on db; red must be the trail's redactor, so
// that a filter's secret matches the form events record it in; exportDir
// is where retention exports go ("" if unknown), to verify anchors
// against.
func NewReader(db *pgxpool.Pool, red *redact.Redactor, exportDir string) *Reader {
	return &Reader{db: db, red: red, exportDir: exportDir}
}

// List returns events newest first.
func (r *Reader) List(ctx context.Context, f domain.AuditFilter) ([]Stored, error) {
	secret := ""
	if f.SecretID != "" {
		secret = r.red.ARN(f.SecretID)
	}
	rows, err := store.ListAuditEvents(ctx, r.db, f, secret)
	if err != nil {
		return nil, err
	}
	out := make([]Stored, 0, len(rows))
	for _, row := range rows {
		var e Event
		if err := json.Unmarshal([]byte(row.Body), &e); err != nil {
			return nil, fmt.Errorf("audit event %s: %w", row.ID, err)
		}
		out = append(out, Stored{Event: e, Seq: row.Seq, ChainPos: row.ChainPos, Hash: row.Hash})
	}
	return out, nil
}

// Verify walks the chain (see the package function Verify).
func (r *Reader) Verify(ctx context.Context, known *Known) (Report, error) {
	return Verify(ctx, r.db, known, r.exportDir)
}
