package daemon

import (
	"context"

	"github.com/replicad/replicad/internal/audit"
	"github.com/replicad/replicad/internal/engine"
)

// approvalAudit records the engine's approval events in the audit trail,
// which knows nothing of the engine.
type approvalAudit struct{ trail *audit.Trail }

func (a approvalAudit) RecordApproval(ctx context.Context, ev engine.ApprovalEvent) error {
	return a.trail.Record(ctx, audit.Event{
		Kind:        ev.Kind,
		Principal:   ev.Principal,
		Method:      ev.Method,
		Secret:      ev.Secret,
		Code:        int32(ev.Code),
		Message:     a.trail.Redactor().Text(ev.Message),
		OperationID: ev.OperationID.String(),
		Transport:   audit.TransportWorker,
	})
}
