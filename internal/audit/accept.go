package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/replicad/replicad/internal/domain"
	"github.com/replicad/replicad/store"
)

// Accept is the audit event of a request that may accept an operation
// (Replicate, Remove, Promote). The engine stores it in the transaction that
// accepts the operation (engine.AcceptAudit), so the operation is durable
// exactly when its request's event is, in one commit shared with concurrent
// accepts. If the request accepts nothing (a refusal, a replay), the event
// is recorded as any other, by the RPC's interceptor, once it knows the
// outcome: Stored says which happened.
type Accept struct {
	w     *Writer
	event Event
	began time.Time
	id    uuid.UUID
	// stored: the engine committed the event with the operation.
	stored atomic.Bool
}

// Accept returns the accept event of a request that began at began: e is
// the event as known before the request is handled; its outcome (success),
// operation and latency are filled in when the operation is accepted.
func (t *Trail) Accept(e Event, began time.Time) *Accept {
	return &Accept{w: t.w, event: e, began: began, id: uuid.Must(uuid.NewV7())}
}

// AcceptRow returns the event's row for the accepted op. strict renders it
// in its strict form (Event.strict), for when the database refused a value
// of the full one. Every call returns the same event id: only one of the
// transactions trying to store it commits.
func (a *Accept) AcceptRow(op domain.Operation, strict bool) (store.AuditRow, error) {
	e := a.event
	// The principal as authenticated (inside this event's interceptor).
	e.ID, e.Time, e.OperationID, e.Principal = a.id, time.Now(), op.ID.String(), op.Principal
	e.Code, e.Message, e.Routine = 0, "", false
	e.LatencyMicros = e.Time.Sub(a.began).Microseconds()
	if strict {
		return e.strict().row()
	}
	return e.Row()
}

// Stored is called once row has committed with its operation.
func (a *Accept) Stored(row store.AuditRow) {
	a.stored.Store(true)
	a.w.logStored(row.Body, false)
}

// WasStored reports whether the engine stored the event.
func (a *Accept) WasStored() bool { return a.stored.Load() }

// logStored writes the SIEM line of a stored event.
func (w *Writer) logStored(body string, routine bool) {
	if w.cfg.Log == nil {
		return
	}
	level := slog.LevelInfo
	if routine {
		level = slog.LevelDebug
	}
	w.cfg.Log.Log(context.Background(), level, "audit_event", "event", json.RawMessage(body))
}
