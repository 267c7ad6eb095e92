package daemon

import (
	"context"

	"github.com/replicad/replicad/internal/audit"
	"github.com/replicad/replicad/internal/engine"
	"github.com/replicad/replicad/store"
)

// approvalAudit records the engine's approval events in the audit trail,
// which knows nothing of the engine.
type approvalAudit struct{ trail *audit.Trail }

func (a approvalAudit) RecordApproval(ctx context.Context, ev engine.ApprovalEvent) error {
	return a.trail.Record(ctx, a.event(ev))
}

func (a approvalAudit) ApprovalRow(ev engine.ApprovalEvent) (store.AuditRow, error) {
	return a.event(ev).Row()
}

func (a approvalAudit) ApprovalStored(row store.AuditRow) { a.trail.Stored(row) }

func (a approvalAudit) event(ev engine.ApprovalEvent) audit.Event {
	return audit.Event{
		Kind:        ev.Kind,
		Principal:   ev.Principal,
		Method:      ev.Method,
		Secret:      ev.Secret,
		Code:        int32(ev.Code),
		Message:     a.trail.Redactor().Text(ev.Message),
		OperationID: ev.OperationID.String(),
		Transport:   audit.TransportWorker,
	}
}
